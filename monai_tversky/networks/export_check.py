"""Export a bundle's network with MONAI's own commands (``ckpt_export`` to TorchScript, ``onnx_export`` to ONNX with
dynamic batch and spatial axes) and check that the exported models give the eager network's outputs at two input
sizes. One copy for ``ci/verify_bundle``, the tests and the model cards' tables::

    python -m monai_tversky.networks.export_check bundles/msseg --args_file ci/msseg_tiny_overrides.json

The two sizes are the input that ``metadata.json`` declares (``network_data_format``: batch 1, ``spatial_shape``),
which is also the example input of the ONNX export, and a second, different one: batch 2 with the first spatial size
doubled (valid for any network that takes the first, whatever its downsampling factor).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

__all__ = [
    "BundleExports",
    "check_bundle_exports",
    "check_shapes",
    "export_bundle",
    "onnx_converter_kwargs",
    "onnx_dynamic_axes",
]

#: the axis names of the ONNX exports' dynamic spatial axes, in order
SPATIAL_AXIS_NAMES = ("x", "y", "z")


def onnx_dynamic_axes(spatial_dims: int, input_name: str = "image", output_name: str = "pred") -> dict:
    """
    ``dynamic_axes`` for ``torch.onnx.export`` (``onnx_export``'s ``--converter_kwargs``): batch and every spatial axis
    of the input and the output, named ``batch``, ``x``, ``y``, ``z``; the channel axis stays static.

    Raises:
        ValueError: when ``spatial_dims`` is not 1, 2 or 3.
    """
    if spatial_dims not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims!r}.")
    axes = {0: "batch", **{i + 2: SPATIAL_AXIS_NAMES[i] for i in range(spatial_dims)}}
    return {input_name: dict(axes), output_name: dict(axes)}


def onnx_converter_kwargs(spatial_dims: int) -> dict:
    """``converter_kwargs`` of ``monai.bundle onnx_export`` for the bundles: input ``image``, output ``pred`` (the
    names of ``metadata.json``'s ``network_data_format``) and :func:`onnx_dynamic_axes`."""
    return {"input_names": ["image"], "output_names": ["pred"], "dynamic_axes": onnx_dynamic_axes(spatial_dims)}


def check_shapes(parser) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """
    The two input shapes the exports are checked at: ``(1, C, *spatial_shape)`` from the bundle's metadata (MONAI's
    ``verify_net_in_out`` input), and ``(2, C, 2 * S_1, S_2, ...)``.

    Args:
        parser: a ``monai.bundle.ConfigParser`` holding the bundle's metadata (``read_meta``).
    """
    from monai.bundle.scripts import _get_fake_input_shape

    first = tuple(int(s) for s in _get_fake_input_shape(parser))
    second = (2, first[1], 2 * first[2], *first[3:])
    return first, second


def _parser(bundle_root: Path, config_file: Sequence[str], overrides: Mapping):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(c) for c in config_file])
    parser.read_meta(str(bundle_root / "configs" / "metadata.json"))
    parser["bundle_root"] = str(bundle_root)
    for key, value in overrides.items():
        parser[key] = value
    return parser


def _randomise_batch_norm_statistics(net: torch.nn.Module, generator: torch.Generator) -> None:
    """Running statistics other than (0, 1) and a small positive shift, so that an export which mishandles batch norm
    in eval mode shows (small: MONAI's HighResNet ends with batch norm and ReLU, which larger means would zero)."""
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            shape = module.running_mean.shape
            module.running_mean.copy_(0.02 * torch.randn(shape, generator=generator))
            module.running_var.copy_(0.75 + 0.5 * torch.rand(shape, generator=generator))
            if module.bias is not None:
                module.bias.copy_(0.05 + 0.02 * torch.randn(shape, generator=generator))


class BundleExports:
    """
    What :func:`export_bundle` wrote and what it was exported from.

    Attributes:
        network: the eager network (``network_def`` with the exported weights), in eval mode.
        torchscript: path of the TorchScript model (``ckpt_export``).
        onnx: path of the ONNX model (``onnx_export``, dynamic batch and spatial axes).
        checkpoint: the state dict file the exports were made from.
        weights: ``"checkpoint"`` (the bundle's ``models/model.pt`` or the one given) or ``"random"`` (freshly
            initialised: the given overrides change the network so the bundle's checkpoint does not fit it).
        shapes: the two input shapes of :func:`check_shapes`.
    """

    def __init__(self, network, torchscript, onnx, checkpoint, weights, shapes):
        self.network, self.torchscript, self.onnx = network, torchscript, onnx
        self.checkpoint, self.weights, self.shapes = checkpoint, weights, shapes


def export_bundle(
    bundle_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    args_file: str | os.PathLike | None = None,
    ckpt_file: str | os.PathLike | None = None,
    config_file: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    seed: int = 0,
    **overrides,
) -> BundleExports:
    """
    Export a bundle's ``network_def`` to ``out_dir/model.ts`` and ``out_dir/model.onnx`` with MONAI's
    ``ckpt_export`` and ``onnx_export`` (the functions behind ``python -m monai.bundle ckpt_export|onnx_export``).

    Args:
        bundle_root: the bundle folder.
        out_dir: where the exports (and, with random weights, their ``model.pt``) are written.
        args_file: a JSON file of config overrides, e.g. ``ci/<bundle>_tiny_overrides.json`` (tiny network).
        ckpt_file: the weights to export; ``None`` takes the bundle's ``models/model.pt`` when it fits the
            (overridden) network, else freshly initialised weights (seeded by ``seed``, batch-norm running statistics
            randomised) saved to ``out_dir/model.pt``.
        config_file: the config(s) defining ``network_def``; defaults to ``configs/inference.json``.
        seed: seed of the random weights.
        overrides: more config overrides (``key=value``, ``#`` in ids as ``network_def#num_blocks``).

    Returns:
        a :class:`BundleExports`.

    Raises:
        FileNotFoundError: when ``ckpt_file`` is given but missing.
        RuntimeError: when the given ``ckpt_file`` does not fit the network.
    """
    from monai.bundle import ckpt_export, onnx_export

    bundle_root = Path(bundle_root).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    configs = [config_file] if isinstance(config_file, (str, os.PathLike)) else config_file
    configs = [str(c) for c in (configs or [bundle_root / "configs" / "inference.json"])]
    all_overrides = dict(json.loads(Path(args_file).read_text())) if args_file else {}
    all_overrides.update(overrides)
    parser = _parser(bundle_root, configs, all_overrides)
    network = parser.get_parsed_content("network_def", instantiate=True)

    weights = "checkpoint"
    if ckpt_file is not None:
        if not Path(ckpt_file).is_file():
            raise FileNotFoundError(f"checkpoint {ckpt_file} not found.")
        network.load_state_dict(torch.load(ckpt_file, map_location="cpu", weights_only=True))
    else:
        ckpt_file = bundle_root / "models" / "model.pt"
        try:
            network.load_state_dict(torch.load(ckpt_file, map_location="cpu", weights_only=True))
        except (FileNotFoundError, RuntimeError):  # missing, or another network's (size mismatch, missing keys)
            weights = "random"
            with torch.random.fork_rng(devices=[]), torch.no_grad():  # seeded, the caller's RNG state untouched
                torch.manual_seed(seed)
                network = parser.get_parsed_content("network_def", instantiate=True, lazy=False)
                _randomise_batch_norm_statistics(network, torch.Generator().manual_seed(seed))
            ckpt_file = out_dir / "model.pt"
            torch.save(network.state_dict(), ckpt_file)
    network.eval()
    shapes = check_shapes(parser)

    common = dict(
        net_id="network_def",
        ckpt_file=str(ckpt_file),
        meta_file=str(bundle_root / "configs" / "metadata.json"),
        config_file=configs if len(configs) > 1 else configs[0],
        bundle_root=str(bundle_root),
        **all_overrides,
    )
    torchscript, onnx = out_dir / "model.ts", out_dir / "model.onnx"
    ckpt_export(filepath=str(torchscript), **common)
    onnx_export(
        filepath=str(onnx),
        input_shape=list(shapes[0]),
        converter_kwargs=onnx_converter_kwargs(len(shapes[0]) - 2),
        **common,
    )
    return BundleExports(network, torchscript, onnx, Path(ckpt_file), weights, shapes)


def check_bundle_exports(
    exports: BundleExports,
    tolerance: float = 1e-4,
    rtol: float = 1e-6,
    num_threads: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """
    Run the eager network, the TorchScript model (``torch.jit.load``) and the ONNX model (ONNX Runtime on the CPU,
    through :class:`~monai_tversky.networks.onnx_runtime.OnnxRuntimeNetwork`) on random inputs of the two shapes of
    :func:`check_shapes`, and compare the outputs.

    An output passes when every element satisfies ``|export - eager| <= tolerance + rtol * |eager|`` (as
    ``torch.testing.assert_close``). The relative term is for trained networks with large logits: float32 itself
    rounds at about ``1e-7 * |value|`` per operation, so eager PyTorch differs from the same network in float64 by
    about ``1e-6 * |logit|`` after a few dozen layers (8.7e-5 for tversky_unet3d's shipped model, logits up to 244,
    where ONNX Runtime differs from eager by 1.1e-4 and from float64 by 7.2e-5). With ``rtol=0`` the check is
    absolute.

    Args:
        exports: what :func:`export_bundle` returned.
        tolerance: the absolute difference allowed between an export's output and the eager one. Defaults to 1e-4.
        rtol: the difference allowed per unit of ``|eager|`` on top of ``tolerance``. Defaults to 1e-6.
        num_threads: ONNX Runtime's intra-op threads (``None``: its default).
        seed: seed of the random inputs.

    Returns:
        one row per format and shape: ``{"format", "shape", "max_abs_diff", "max_abs_eager", "eager_float64_diff",
        "ok"}``, the last but one the largest difference between eager in float32 and in float64 (the rounding floor
        the exports are compared against).

    Raises:
        AssertionError: when an output has another shape than the eager one or differs by more than ``tolerance``
            (the message lists every failure), or the eager output is constant (the comparison would be vacuous).
    """
    from .onnx_runtime import OnnxRuntimeNetwork

    scripted = torch.jit.load(str(exports.torchscript), map_location="cpu").eval()
    network64 = copy.deepcopy(exports.network).double()  # the float32 rounding floor: eager in float32 vs float64
    onnx_net = OnnxRuntimeNetwork(exports.onnx, num_threads=num_threads)
    generator = torch.Generator().manual_seed(seed)
    rows, failures = [], []
    for shape in exports.shapes:
        x = torch.rand(shape, generator=generator)
        with torch.no_grad():
            expected = exports.network(x)
            floor = float((expected.double() - network64(x.double())).abs().max())
            if float(expected.std()) == 0.0:
                raise AssertionError(f"the eager output at input {tuple(shape)} is constant ({float(expected[0].max())})"
                                     ": comparing the exports with it would prove nothing.")
            for name, model in (("TorchScript", scripted), ("ONNX", onnx_net)):
                got = model(x)
                same_shape = tuple(got.shape) == tuple(expected.shape)
                error = (got - expected).abs() if same_shape else None
                diff = float(error.max()) if error is not None else float("inf")
                ok = error is not None and bool((error <= tolerance + rtol * expected.abs()).all())
                rows.append({"format": name, "shape": tuple(shape), "max_abs_diff": diff,
                             "max_abs_eager": float(expected.abs().max()), "eager_float64_diff": floor, "ok": ok})
                if not ok:
                    failures.append(f"{name} at input {tuple(shape)}: " + (
                        f"max |export - eager| = {diff:.3g} > {tolerance:g} + {rtol:g} * |eager| (max |eager| "
                        f"{float(expected.abs().max()):.3g})" if same_shape
                        else f"output shape {tuple(got.shape)}, eager {tuple(expected.shape)}"))
    if failures:
        raise AssertionError("exported outputs differ from eager: " + "; ".join(failures))
    return rows


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_tversky.networks.export_check", description=__doc__.split("::")[0].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle_root", help="the bundle folder, e.g. bundles/msseg")
    parser.add_argument("--args_file", default=None, help="config overrides, e.g. ci/msseg_tiny_overrides.json")
    parser.add_argument("--ckpt_file", default=None, help="default: models/model.pt if it fits, else random weights")
    parser.add_argument("--out_dir", default=None, help="where to write the exports (default: a temporary folder)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance on top (default 1e-6; 0: none)")
    parser.add_argument("--num_threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="export_check_") as tmp:
        out_dir = args.out_dir or tmp
        exports = export_bundle(args.bundle_root, out_dir, args_file=args.args_file, ckpt_file=args.ckpt_file)
        try:
            rows = check_bundle_exports(exports, tolerance=args.tolerance, rtol=args.rtol,
                                        num_threads=args.num_threads)
        except AssertionError as e:
            print(f"export_check: {args.bundle_root}: {e}", file=sys.stderr)
            return 1
    name = Path(args.bundle_root).resolve().name
    print(f"export_check: {name} ({exports.weights} weights): TorchScript and ONNX (dynamic batch and spatial axes) "
          f"match eager within {args.tolerance:g} + {args.rtol:g} * |eager|")
    print("| bundle | weights | format | input shape | max abs diff | max abs eager output | eager float32 vs float64 |"
          "\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {name} | {exports.weights} | {row['format']} | {'x'.join(map(str, row['shape']))} | "
              f"{row['max_abs_diff']:.2e} | {row['max_abs_eager']:.3g} | {row['eager_float64_diff']:.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
