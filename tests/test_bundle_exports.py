"""Exports for every bundle (issue 25): ``python -m monai.bundle ckpt_export`` (TorchScript) and ``onnx_export`` (ONNX,
dynamic batch and spatial axes) of each bundle's ``network_def`` give the eager outputs within 1e-4 at two input
sizes; the scripted networks keep their input checks; ``configs/inference_onnx.json`` runs the ONNX model through the
bundle's own inference and matches it; ``configs/inference_trt.json`` layers on ``inference.json`` (TensorRT itself
only runs with a GPU: ``ci/gpu_check``).

The default tests use the tiny networks of ``ci/<bundle>_tiny_overrides.json`` with random weights; the ``slow`` one
runs the cards' commands on the shipped checkpoints at paper size."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from monai.engines import IterationEvents

from monai_tversky.networks import OnnxRuntimeNetwork
from monai_tversky.networks.export_check import (
    BundleExports,
    check_bundle_exports,
    check_shapes,
    export_bundle,
    onnx_converter_kwargs,
)

from bundle_catalog import BUNDLE_NAMES, bundle_dir, bundle_parser, tiny_overrides, tiny_overrides_file, root_cause

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

#: the networks of this package validate their input; MONAI's BasicUNet (tversky_unet3d) does not
VALIDATING = {"msseg", "generalised_dice", "focal_tversky"}
EXPORT_SECTION = "## Exported models (TorchScript, ONNX, TensorRT)"


@pytest.fixture(scope="module", params=BUNDLE_NAMES)
def exported(request, tmp_path_factory) -> tuple[str, BundleExports]:
    """The bundle's tiny network (random weights) exported by MONAI's ckpt_export and onnx_export."""
    name = request.param
    out = tmp_path_factory.mktemp(f"{name}_exports")
    return name, export_bundle(bundle_dir(name), out, args_file=tiny_overrides_file(name))


def test_exports_match_eager_at_two_sizes(exported):
    name, exports = exported
    assert exports.weights == "random" and exports.torchscript.is_file() and exports.onnx.is_file()
    first, second = exports.shapes
    assert first[0] == 1 and second[0] == 2 and first[2:] != second[2:]  # another batch and spatial size
    rows = check_bundle_exports(exports, tolerance=1e-4, rtol=0.0, num_threads=1)  # absolute only
    assert [(r["format"], r["shape"]) for r in rows] == [(f, s) for s in (first, second) for f in ("TorchScript", "ONNX")]
    assert all(r["max_abs_diff"] <= 1e-4 and r["max_abs_eager"] > 0 for r in rows), rows


def test_onnx_axes_are_dynamic_and_torchscript_carries_the_configs(exported):
    import onnx

    name, exports = exported
    model = onnx.load(str(exports.onnx))
    spatial = len(exports.shapes[0]) - 2
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims[0] == "batch" and dims[2:] == ["x", "y", "z"][:spatial], (value.name, dims)
        assert isinstance(dims[1], int) and dims[1] > 0  # channels stay static
    assert [model.graph.input[0].name, model.graph.output[0].name] == ["image", "pred"]
    extra = {"metadata.json": "", "inference.json": ""}
    torch.jit.load(str(exports.torchscript), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["network_data_format"]["inputs"]["image"]["num_channels"] == \
        exports.shapes[0][1]
    assert json.loads(extra["inference.json"])["network_def"]["_target_"]


def test_scripted_network_keeps_its_input_checks(exported):
    """Eager and scripted (ckpt_export) networks stop a wrong channel count with the same message; the scripted one
    raises it as ``torch.jit.Error``. MONAI's BasicUNet has no check: its error comes from a convolution."""
    name, exports = exported
    shape = list(exports.shapes[0])
    shape[1] += 1
    bad = torch.rand(shape)
    scripted = torch.jit.load(str(exports.torchscript))
    with torch.no_grad():
        if name in VALIDATING:
            with pytest.raises(ValueError, match="input channels") as eager_error:
                exports.network(bad)
            with pytest.raises(torch.jit.Error, match="input channels") as scripted_error:
                scripted(bad)
            assert "was built for" in str(eager_error.value) and "was built for" in str(scripted_error.value)
        else:
            with pytest.raises((RuntimeError, torch.jit.Error)):
                scripted(bad)


def test_onnx_runtime_network_checks_its_input(exported):
    name, exports = exported
    net = OnnxRuntimeNetwork(exports.onnx, size_divisor=4, num_threads=1)
    assert net.spatial_dims == len(exports.shapes[0]) - 2 and net.in_channels == exports.shapes[0][1]
    shape = list(exports.shapes[0])
    with pytest.raises(ValueError, match=r"OnnxRuntimeNetwork\(model.onnx\) was built for"):
        net(torch.rand([shape[0], shape[1] + 1, *shape[2:]]))
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.rand([*shape[:2], shape[2] + 2, *shape[3:]]))
    with pytest.raises(ValueError, match="expects a"):
        net(torch.rand(shape[:-1]))
    assert net(torch.rand(shape)).shape[0] == shape[0] and not list(net.parameters())
    with pytest.raises(FileNotFoundError, match="onnx_export"):
        OnnxRuntimeNetwork(exports.onnx.parent / "missing.onnx")
    with pytest.raises(ValueError, match="size_divisor"):
        OnnxRuntimeNetwork(exports.onnx, size_divisor=0)


def _raw_predictions(name, exports, tmp_path, configs, **overrides):
    """Run the bundle's inference (``configs`` layered) on its tiny phantom in this process; return what the inferer
    gave for each case (before post-processing), the network and the handlers' class names."""
    tiny = {k: v for k, v in tiny_overrides(name).items() if k != "tta"}
    parser = bundle_parser(name, *configs, **tiny, phantom_dir=str(tmp_path / "phantom"),
                           output_dir=str(tmp_path / "out" / "_".join(c.split(".")[0] for c in configs)),
                           ckpt_path=str(exports.checkpoint), **overrides)
    parser["device"] = torch.device("cpu")
    parser["use_amp"] = False
    if "cpu_bf16" in parser.get():  # eager in float32 (ONNX Runtime ignores torch's autocast), not bf16 on a bf16 CPU
        parser["cpu_bf16"] = False
    if "progress" in parser["inferer"]:
        parser["inferer#progress"] = False
    parser.get_parsed_content("datalist")  # generates the phantom
    evaluator = parser.get_parsed_content("evaluator")
    predictions: list[torch.Tensor] = []
    evaluator.add_event_handler(IterationEvents.FORWARD_COMPLETED,
                                lambda engine: predictions.append(torch.as_tensor(engine.state.output["pred"]).clone()))
    evaluator.run()
    network = parser.get_parsed_content("network")
    handlers = [type(h).__name__ for h in parser.get_parsed_content("handlers")]
    return predictions, network, handlers


def test_onnx_inference_config_matches_eager_inference(exported, tmp_path):
    """``--config_file "['configs/inference.json','configs/inference_onnx.json']"``: the same inference with the
    ONNX model in ONNX Runtime in place of network_def and its checkpoint."""
    name, exports = exported
    eager, eager_net, eager_handlers = _raw_predictions(name, exports, tmp_path, ["inference.json"])
    onnx, onnx_net, onnx_handlers = _raw_predictions(
        name, exports, tmp_path, ["inference.json", "inference_onnx.json"], onnx_path=str(exports.onnx),
        onnx_num_threads=1)
    assert isinstance(onnx_net, OnnxRuntimeNetwork) and not isinstance(eager_net, OnnxRuntimeNetwork)
    assert "ModelCheckpointLoader" in eager_handlers and "ModelCheckpointLoader" not in onnx_handlers
    assert onnx_net.size_divisor == getattr(exports.network, "size_divisor", 16 if name == "tversky_unet3d" else 1)
    assert eager and len(onnx) == len(eager)
    for a, b in zip(eager, onnx):
        assert a.shape == b.shape and float(a.std()) > 0
        assert float((a - b).abs().max()) <= 1e-4


def test_onnx_config_needs_the_exported_file(tmp_path):
    name = "generalised_dice"
    parser = bundle_parser(name, "inference.json", "inference_onnx.json", onnx_path=str(tmp_path / "none.onnx"))
    with pytest.raises(Exception) as error:
        parser.get_parsed_content("network")
    cause = root_cause(error.value)
    assert isinstance(cause, FileNotFoundError) and "onnx_export" in str(cause)


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_trt_config_layers_on_inference(name, caplog):
    """inference_trt.json wraps network_def with MONAI's trt_compile (an engine built on the first call and saved in
    ``output_dir``, rebuilt when the checkpoint is newer); without TensorRT or a GPU trt_compile leaves the network as
    it is, so the config still resolves and runs eagerly."""
    trt = json.loads((bundle_dir(name) / "configs" / "inference_trt.json").read_text())
    assert "$from monai.networks import trt_compile" in trt["+imports"]
    assert trt["network"].startswith("$trt_compile(@network_def.to(@device)")
    parser = bundle_parser(name, "inference.json", "inference_trt.json",
                           **{k: v for k, v in tiny_overrides(name).items() if k.startswith("network_def#")
                              or k in ("features", "patch_size", "sw_batch_size")})
    parser["device"] = torch.device("cpu")
    assert "$import os" in parser["imports"] and "$from monai.networks import trt_compile" in parser["imports"]
    args = parser.get_parsed_content("trt_args")
    assert args["precision"] == "fp16" and args["timestamp"] > 0  # the shipped checkpoint's mtime
    assert parser.get_parsed_content("trt_base_path").startswith(parser.get_parsed_content("output_dir"))
    if "sw_batch_size" in parser.get():  # the windowed inferers call the network with 1 .. sw_batch_size windows
        sw = parser.get_parsed_content("sw_batch_size")
        assert args["dynamic_batchsize"] == [1, sw, sw]
    network = parser.get_parsed_content("network")
    assert isinstance(network, torch.nn.Module)
    if not torch.cuda.is_available():
        assert not hasattr(network, "_trt_compiler")  # no effect on the CPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("tensorrt") is None
                    or importlib.util.find_spec("polygraphy") is None, reason="needs CUDA, tensorrt and polygraphy")
def test_trt_compile_matches_eager_on_gpu(tmp_path):
    """generalised_dice's tiny network through inference_trt.json's trt_compile, in fp32: the TensorRT engine's output
    matches eager PyTorch (ci/gpu_check measures the paper-size speed-up in fp16)."""
    name = "generalised_dice"
    torch.manual_seed(0)
    parser = bundle_parser(name, "inference.json", "inference_trt.json", trt_precision="fp32",
                           trt_base_path=str(tmp_path / "model"), device="$torch.device('cuda')",
                           **{k: v for k, v in tiny_overrides(name).items() if k in ("features", "sw_batch_size")})
    network = parser.get_parsed_content("network").eval()
    eager = parser.get_parsed_content("network_def", lazy=False).cuda().eval()
    eager.load_state_dict(network.state_dict())
    x = torch.rand(2, 3, 24, 24, 24, device="cuda")
    with torch.no_grad():
        got, expected = network(x), eager(x)
    assert hasattr(network, "_trt_compiler") and (tmp_path / "model.plan").is_file()
    assert float((got - expected).abs().max()) <= 1e-3


def test_cards_document_the_exports():
    for name in BUNDLE_NAMES:
        card = (bundle_dir(name) / "docs" / "README.md").read_text()
        assert card.count(EXPORT_SECTION) == 1, name
        section = card.split(EXPORT_SECTION)[1].split("\n## ")[0]
        for needle in ("ckpt_export network_def", "onnx_export network_def", "dynamic_axes", "inference_onnx.json",
                       "inference_trt.json", "| TorchScript |", "| ONNX |"):
            assert needle in section, (name, needle)


def _cli(name: str, command: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monai.bundle", command, "network_def", *args], cwd=bundle_dir(name),
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_card_commands_export_the_shipped_model(name, tmp_path):
    """The commands of the card's "Exported models" section, run from the bundle folder on the shipped checkpoint
    (paper-size network): both exports match eager within 1e-4 + 1e-6 |eager| at two sizes (the relative part for
    float32 rounding of large logits, see ``check_bundle_exports``)."""
    common = ["--ckpt_file", "models/model.pt", "--meta_file", "configs/metadata.json",
              "--config_file", "configs/inference.json", "--bundle_root", "."]
    parser = bundle_parser(name, "inference.json")
    shapes = check_shapes(parser)
    _cli(name, "ckpt_export", "--filepath", str(tmp_path / "model.ts"), *common)
    _cli(name, "onnx_export", "--filepath", str(tmp_path / "model.onnx"), *common,
         "--input_shape", json.dumps(list(shapes[0])),
         "--converter_kwargs", repr(onnx_converter_kwargs(len(shapes[0]) - 2)))
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(bundle_dir(name) / "models" / "model.pt", weights_only=True))
    exports = BundleExports(network.eval(), tmp_path / "model.ts", tmp_path / "model.onnx",
                            bundle_dir(name) / "models" / "model.pt", "checkpoint", shapes)
    rows = check_bundle_exports(exports, tolerance=1e-4, rtol=1e-6, num_threads=1)
    assert all(r["ok"] for r in rows)
    card = (bundle_dir(name) / "docs" / "README.md").read_text().split(EXPORT_SECTION)[1]
    assert repr(onnx_converter_kwargs(len(shapes[0]) - 2)) in card  # the card's command is the one tested
