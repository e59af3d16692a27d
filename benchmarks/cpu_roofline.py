"""Each bundle's network on one inference window, measured against the CPU's peak (issue 25): the FLOPs of a window,
the peak GFLOP/s of the cores in use (computed from ``lscpu`` / ``/proc/cpuinfo``, the formula printed with its
numbers), and the GFLOP/s each CPU runtime achieves, side by side in one run (``../shared/BENCHMARKING.md``).

Per bundle (``--bundle``, all four by default): ``network_def`` of ``configs/inference.json`` built with MONAI's
``ConfigParser`` as the bundle builds it (channels, features and window from ``models/model.json`` when the bundle
reads them there), the shipped ``models/model.pt`` loaded (``weights_only=True``) when present; one call = the bundle's
inference batch (``sw_batch_size``; 1 for focal_tversky, whose ``SimpleInferer`` takes the whole 2D image) of windows
of the bundle's inference size (``patch_size``; focal_tversky: ``spatial_size``), or ``--window``. The generalised_dice
card evaluates 48^3 windows (its HighResNet never downsamples) where ``inference.json`` uses the 24^3 training patch:
``--bundle generalised_dice --window 48`` measures those.

Variants (the same contiguous float32 batch goes to each; whatever a caller must do besides, such as the channels-last
copy or the NumPy view, is timed with it):

- ``eager fp32``: ``network(x)`` under ``torch.inference_mode()``, as the bundles run it: the reference (1.00);
- ``eager fp32 + channels_last``: network and input in ``channels_last(_3d)``, to separate the layout from the dtype;
- ``eager bf16 + channels_last``: the same under ``torch.autocast("cpu", torch.bfloat16)``; marked "not native" on a
  CPU without AVX512-BF16 / AMX-BF16 (oneDNN then emulates bf16 with float32 arithmetic);
- ``TorchScript``: ``torch.jit.trace`` + ``torch.jit.freeze`` + ``torch.jit.optimize_for_inference``;
- ``ONNX Runtime``: ``torch.onnx.export`` (the dynamo exporter, else the TorchScript one), CPU provider, all graph
  optimisations, ``intra_op_num_threads`` = the torch threads;
- ``OpenVINO fp32`` (``INFERENCE_PRECISION_HINT=f32``: OpenVINO's CPU plugin would otherwise run bf16 on a CPU that
  has it) and, on a CPU with native bf16, ``OpenVINO bf16``: the same ONNX file, ``INFERENCE_NUM_THREADS`` = the torch
  threads; only when ``openvino`` imports.

Each variant is called once on the same seeded batch (``--input phantom``: windows of a phantom case, pre-processed
as the bundle does; ``noise``: N(0, 1), or U(0, 1) for focal_tversky's [0, 1] images) and compared with ``eager fp32``:
the largest absolute difference of the logits, and the voxels whose mask agrees (sigmoid > 0.5 for one output channel,
the argmax otherwise; the table says what share of the voxels eager fp32 calls foreground, so that an agreement on an
all-background batch is not taken for more than it is). Then the variants are timed interleaved
(their order rotated every round), after ``--warmup`` rounds: each round times ``--passes`` calls, each output dropped,
and the table gives the median (and minimum) over the rounds per window. GFLOP/s = the window's FLOPs (convolutions and
matrix products, ``torch.utils.flop_counter.FlopCounterMode``: element-wise work such as activations is not counted) /
its time; % of peak is against the fp32 peak for the fp32 variants and against the CPU's bf16 peak (AMX when it has
AMX, else AVX512-BF16 dot products) for the bf16 ones; % of matmul is against a 2048x2048 matrix product of the same
dtype measured at the start on the same threads (what the CPU's BLAS / oneDNN reach in practice). A matmul above the
computed peak means the clock used is too low (turbo; a VM's ``/proc/cpuinfo`` shows the nominal clock): the script
says what clock it implies, and ``--clock-ghz`` sets it.

    pip install onnxruntime openvino          # or: pip install -e .[bench]
    # the real measurement, on an otherwise idle machine (one thread, then all physical cores):
    OMP_NUM_THREADS=1 python benchmarks/cpu_roofline.py --threads 1 --rounds 7 --warmup 2 --json roofline_1t.json
    python benchmarks/cpu_roofline.py --rounds 7 --warmup 2 --json roofline.json
    python benchmarks/cpu_roofline.py --bundle generalised_dice --window 48 --rounds 7 --warmup 2
    # a quick check that it runs:
    OMP_NUM_THREADS=1 python benchmarks/cpu_roofline.py --bundle tversky_unet3d --threads 1 --rounds 1 --warmup 0

Not measured here: a whole volume through the bundle's inferer (``benchmarks/msseg_inference_speed.py`` does that for
msseg); the network's share of it is the time per window times the inferer's window count.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import logging
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
BUNDLES = ("msseg", "tversky_unet3d", "generalised_dice", "focal_tversky")
REFERENCE = "eager fp32"
FLOP_PER_FMA = 2
# Intel AMX: one TDPBF16PS multiplies 16x32 by 32x16 bf16 tiles (8192 multiply-adds) every 16 cycles per core
AMX_BF16_FLOP_PER_CYCLE = 1024
SHOWN_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16")

Run = Callable[[torch.Tensor], object]


# --------------------------------------------------------------------------------------------------- the CPU's peak
@dataclass
class CpuInfo:
    """What the peak is computed from, as ``lscpu`` (else ``/proc/cpuinfo``) reports it."""

    model: str = "unknown"
    vendor: str = ""
    family: int | None = None
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    flags: frozenset[str] = frozenset()
    max_mhz: float | None = None  # lscpu "CPU max MHz": the highest (turbo) clock
    mhz: float | None = None  # /proc/cpuinfo "cpu MHz": the current clock (in a VM, often the nominal one)

    @property
    def physical_cores(self) -> int:
        return self.sockets * self.cores_per_socket


def _fields(text: str) -> dict[str, str]:
    """``key: value`` lines, the first occurrence of each key (``/proc/cpuinfo``: the first processor's)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def _number(value: str | None, kind: type = float):
    try:
        return kind(value.replace(",", ".")) if value else None
    except ValueError:
        return None


def parse_cpu(lscpu: str = "", cpuinfo: str = "") -> CpuInfo:
    """The CPU from the text of ``LC_ALL=C lscpu`` and/or ``/proc/cpuinfo``; lscpu wins where both say something."""
    ls, ci = _fields(lscpu), _fields(cpuinfo)
    info = CpuInfo()
    info.model = ls.get("Model name") or ci.get("model name") or info.model
    info.vendor = ls.get("Vendor ID") or ci.get("vendor_id") or ""
    info.family = _number(ls.get("CPU family") or ci.get("cpu family"), int)
    info.flags = frozenset((ls.get("Flags") or ci.get("flags") or "").split())
    info.max_mhz = _number(ls.get("CPU max MHz"))
    info.mhz = _number(ci.get("cpu MHz") or ls.get("CPU MHz"))
    if "Core(s) per socket" in ls:
        info.cores_per_socket = _number(ls["Core(s) per socket"], int) or 1
        info.sockets = _number(ls.get("Socket(s)"), int) or 1
        info.threads_per_core = _number(ls.get("Thread(s) per core"), int) or 1
    elif cpuinfo:  # one "physical id" per socket, "cpu cores" per socket, "siblings" logical CPUs per socket
        info.sockets = max(1, len(set(re.findall(r"^physical id\s*:\s*(\d+)", cpuinfo, re.MULTILINE))))
        info.cores_per_socket = _number(ci.get("cpu cores"), int) or cpuinfo.count("processor\t") or 1
        siblings = _number(ci.get("siblings"), int)
        info.threads_per_core = max(1, (siblings or info.cores_per_socket) // info.cores_per_socket)
    return info


def read_cpu() -> CpuInfo:
    """This machine's :class:`CpuInfo` (``lscpu`` in the C locale, and ``/proc/cpuinfo``)."""
    lscpu = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        env = {**os.environ, "LC_ALL": "C"}  # English field names
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, env=env, check=False).stdout
    cpuinfo = ""
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
    return parse_cpu(lscpu, cpuinfo)


@dataclass
class Peak:
    """Peak GFLOP/s of ``cores`` cores: fp32 FMA, bf16 (AVX512-BF16 dot products) and AMX-BF16 (``None``: absent)."""

    cores: int
    lanes: int
    fma_units: int
    ghz: float
    clock_source: str
    fp32: float
    bf16: float | None
    amx: float | None
    formula: str
    notes: list[str] = field(default_factory=list)

    def for_precision(self, precision: str) -> tuple[float, str]:
        """The peak a variant of ``precision`` ("fp32"/"bf16") is measured against, and its name."""
        if precision == "bf16" and self.amx:
            return self.amx, "AMX bf16"
        if precision == "bf16" and self.bf16:
            return self.bf16, "bf16"
        return self.fp32, "fp32"


def vector_lanes(cpu: CpuInfo) -> tuple[int, str]:
    """fp32 lanes of one FMA unit, and why: its datapath width, which the ISA flags give but for AMD Zen 4."""
    if "avx512f" in cpu.flags:
        if cpu.vendor == "AuthenticAMD" and cpu.family == 25:  # Zen 3 has no AVX-512, so this is Zen 4
            return 8, "Zen 4 (AMD family 25 with avx512f) runs AVX-512 on 256-bit FMA units: 8 fp32 lanes per unit"
        return 16, "avx512f: 16 fp32 lanes"
    if "avx2" in cpu.flags or "avx" in cpu.flags:
        return 8, "avx2: 8 fp32 lanes"
    return 4, "sse: 4 fp32 lanes"


def peak_gflops(
    cpu: CpuInfo,
    threads: int,
    fma_units: int = 2,
    ghz: float | None = None,
    lanes: int | None = None,
) -> Peak:
    """
    The peak of the physical cores ``threads`` threads occupy: cores x lanes x FMA units x 2 FLOP x GHz.

    Args:
        cpu: the CPU (:func:`parse_cpu`).
        threads: the threads the work runs on (``torch.get_num_threads()``); at most one per physical core counts.
        fma_units: FMA units per core (2 on modern x86 server cores; 1 on some Xeon Bronze/Silver and older Atoms).
        ghz: the clock; defaults to lscpu's "CPU max MHz", else ``/proc/cpuinfo``'s "cpu MHz".
        lanes: fp32 lanes per FMA unit; defaults to :func:`vector_lanes`.

    Raises:
        ValueError: when no clock is known and none is given.
    """
    notes = []
    cores = max(1, min(threads, cpu.physical_cores))
    if threads > cpu.physical_cores:
        notes.append(f"{threads} threads on {cpu.physical_cores} physical cores: SMT siblings add no FMA units")
    if lanes is None:
        lanes, why = vector_lanes(cpu)
        notes.append(why)
    if ghz is not None:
        source = "--clock-ghz"
    elif cpu.max_mhz:
        ghz, source = cpu.max_mhz / 1000, 'lscpu "CPU max MHz" (the turbo clock; all-core AVX-512 runs lower)'
    elif cpu.mhz:
        ghz, source = cpu.mhz / 1000, '/proc/cpuinfo "cpu MHz" (no max MHz reported; in a VM often the nominal clock)'
    else:
        raise ValueError("no clock in lscpu or /proc/cpuinfo; pass --clock-ghz")
    flop = FLOP_PER_FMA if "fma" in cpu.flags or "avx512f" in cpu.flags else 1
    if flop == 1:
        notes.append("no FMA flag: one FLOP per lane and unit")
    fp32 = cores * lanes * fma_units * flop * ghz
    formula = (f"{cores} cores x {lanes} fp32 lanes x {fma_units} FMA units x {flop} FLOP/FMA x {ghz:.3f} GHz "
               f"= {fp32:.1f} GFLOP/s")  # fmt: skip
    bf16 = 2 * fp32 if "avx512_bf16" in cpu.flags else None  # VDPBF16PS: two bf16 products per fp32 lane
    amx = cores * AMX_BF16_FLOP_PER_CYCLE * ghz if {"amx_tile", "amx_bf16"} <= cpu.flags else None
    return Peak(cores, lanes, fma_units, ghz, source, fp32, bf16, amx, formula, notes)


def native_bf16(cpu: CpuInfo) -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16); oneDNN emulates it otherwise."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu.flags)


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the fastest of ``repeats`` ``n x n`` matrix products on the current torch threads: the ceiling the
    CPU's BLAS / oneDNN reaches in practice, a check on the computed peak (and on its clock)."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(dtype) for _ in range(2))
    best = float("inf")
    for i in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        out = a @ b
        del out
        best = min(best, time.perf_counter() - t0) if i else best
    return 2 * n**3 / best / 1e9


def cpu_lines(cpu: CpuInfo, peak: Peak, threads: int, matmul: Mapping[str, float] | None = None) -> list[str]:
    flags = " ".join(f if f in cpu.flags else f"[no {f}]" for f in SHOWN_FLAGS)
    lines = [
        f"CPU: {cpu.model} ({cpu.vendor} family {cpu.family}); {cpu.sockets} socket(s) x {cpu.cores_per_socket} "
        f"cores x {cpu.threads_per_core} threads; {threads} torch threads -> {peak.cores} physical core(s) in use",
        f"flags: {flags}",
        f"fp32 peak = {peak.formula}; clock from {peak.clock_source}",
        "bf16 peak (AVX512-BF16 dot products, 2x fp32) = "
        + (f"{peak.bf16:.1f} GFLOP/s" if peak.bf16 else "none (no avx512_bf16: bf16 is emulated, not native)"),
        f"AMX-BF16 peak = {peak.cores} cores x {AMX_BF16_FLOP_PER_CYCLE} FLOP/cycle x {peak.ghz:.3f} GHz = "
        f"{peak.amx:.1f} GFLOP/s" if peak.amx else "AMX: none (no amx_tile/amx_bf16)",
    ]
    notes = list(peak.notes)
    if matmul:
        lines.append("measured ceiling: 2048x2048 matmul, fastest of 5: " + ", ".join(
            f"{k} {v:.1f} GFLOP/s ({100 * v / peak.for_precision(k)[0]:.0f} % of the {peak.for_precision(k)[1]} peak)"
            for k, v in matmul.items()))  # fmt: skip
        if matmul.get("fp32", 0) > peak.fp32:
            per_cycle = peak.cores * peak.lanes * peak.fma_units * FLOP_PER_FMA
            notes.append(f"the fp32 matmul beats the computed peak: at {per_cycle} FLOP/cycle the cores run at >= "
                         f"{matmul['fp32'] / per_cycle:.2f} GHz, not {peak.ghz:.3f} (turbo; a VM's nominal clock); "
                         "pass --clock-ghz")  # fmt: skip
    return lines + [f"note: {n}" for n in notes]


# ------------------------------------------------------------------------------------------------ the bundle's window
@dataclass
class Setup:
    bundle: str
    network: torch.nn.Module
    network_name: str
    in_channels: int
    channels: tuple[str, ...]
    window: tuple[int, ...]
    config_window: tuple[int, ...]
    batch: int
    weights: str
    input_kind: str


def bundle_setup(bundle: str, window: Sequence[int] | None = None, batch: int | None = None) -> Setup:
    """The bundle's ``network_def`` (shipped weights loaded), window size and inference batch, from its
    ``configs/inference.json`` read as ``python -m monai.bundle run`` reads it."""
    from monai.bundle import ConfigParser

    from monai_tversky.engines import load_checkpoint

    root = REPO / "bundles" / bundle
    parser = ConfigParser()
    parser.read_config(str(root / "configs" / "inference.json"))
    parser["bundle_root"] = str(root)
    parser["device"] = torch.device("cpu")
    network = parser.get_parsed_content("network_def").eval()
    checkpoint = root / "models" / "model.pt"
    weights = "random (no models/model.pt)"
    if checkpoint.is_file():
        network.load_state_dict(load_checkpoint(checkpoint, what="model"))  # torch.load(..., weights_only=True)
        weights = str(checkpoint.relative_to(REPO))
    size_key = "patch_size" if parser.get("patch_size") is not None else "spatial_size"
    config_window = tuple(int(s) for s in parser.get_parsed_content(size_key))
    if window:
        window = tuple(window) * len(config_window) if len(window) == 1 else tuple(window)
        if len(window) != len(config_window):
            raise ValueError(f"--window {window} has {len(window)} sizes; {bundle} is {len(config_window)}D")
    if batch is None:  # the sliding-window batch; a bundle without one runs its data loader's batch whole
        key = "sw_batch_size" if parser.get("sw_batch_size") is not None else "dataloader#batch_size"
        batch = int(parser.get_parsed_content(key))
    # the pre-processing's intensity range: z-scored (NormalizeIntensityd) or scaled to [0, 1] (ScaleIntensityRanged)
    kind = "uniform" if "ScaleIntensityRanged" in json.dumps(parser.get("preprocessing")) else "normal"
    channels = tuple(parser.get_parsed_content("channels"))
    return Setup(bundle, network, type(network).__name__, len(channels), channels, tuple(window or config_window),
                 config_window, batch, weights, kind)  # fmt: skip


def make_input(setup: Setup, seed: int = 0, phantom: bool = True) -> torch.Tensor:
    """One call's batch, pre-processed as the bundle pre-processes it: windows of a phantom case (3D: cut along the
    diagonal of an MS head phantom, z-scored over its non-zero voxels per channel as ``NormalizeIntensityd`` does;
    2D: whole phantom images of the window's size, scaled to [0, 1]), or seeded noise of the same range."""
    if not phantom:
        generator = torch.Generator().manual_seed(seed)
        shape = (setup.batch, setup.in_channels, *setup.window)
        if setup.input_kind == "uniform":
            return torch.rand(shape, generator=generator)
        return torch.randn(shape, generator=generator)
    from monai_tversky.data import make_lesion_phantom_2d, make_ms_phantom

    if len(setup.window) == 2:
        kind = "skin" if setup.in_channels == 3 else "ultrasound"
        images = [make_lesion_phantom_2d(setup.window, kind=kind, seed=seed + i)[0] for i in range(setup.batch)]
        # (H, W, C) as PIL gives it; the bundle's PILReader yields (C, W, H)
        return torch.from_numpy(np.stack([im.transpose(2, 1, 0) for im in images]).astype(np.float32) / 255.0)
    margin = 16
    shape = [max(s, w + margin) for s, w in zip((48, 64, 64), setup.window)]
    image = make_ms_phantom(shape, modalities=setup.channels, seed=seed)[0].astype(np.float32)
    for c in image:
        inside = c != 0
        c[inside] = (c[inside] - c[inside].mean()) / max(float(c[inside].std()), 1e-8)
    windows = []
    for i in range(setup.batch):
        start = [round((s - w) / 2 + (i / max(1, setup.batch - 1) - 0.5) * margin) for s, w in zip(shape, setup.window)]
        windows.append(image[(slice(None), *(slice(a, a + w) for a, w in zip(start, setup.window)))])
    return torch.from_numpy(np.stack(windows))


def window_flops(network: torch.nn.Module, shape: Sequence[int]) -> int:
    """FLOPs of ``network`` on one input of ``shape`` (channels first, no batch axis): convolutions and matrix
    products, as ``FlopCounterMode`` counts them (2 per multiply-add)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, *shape))
    return int(counter.get_total_flops())


# -------------------------------------------------------------------------------------------------------- variants
@dataclass
class Variant:
    name: str
    precision: str  # "fp32" or "bf16": the peak it is measured against
    run: Run | None = None
    note: str = ""


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last_3d if x.ndim == 5 else torch.channels_last


def eager(network: torch.nn.Module, channels_last: bool = False, bf16: bool = False) -> Run:
    net = copy.deepcopy(network)
    if channels_last:
        net = net.to(memory_format=torch.channels_last_3d if _is_3d(net) else torch.channels_last)

    def run(x: torch.Tensor):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return net(x.contiguous(memory_format=_layout(x)) if channels_last else x)

    return run


def _is_3d(network: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)) for m in network.modules())


def torchscript(network: torch.nn.Module, x: torch.Tensor) -> Run:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings and torch.jit's deprecation notice
        module = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(copy.deepcopy(network), x)))

    def run(x: torch.Tensor):
        with torch.no_grad():
            return module(x)

    return run


def export_onnx(network: torch.nn.Module, x: torch.Tensor, path: Path) -> str:
    """Write ``network`` on inputs shaped as ``x`` to ``path``; return the exporter that worked."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    errors = []
    for dynamo in (True, False):
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(copy.deepcopy(network), (x,), str(path), input_names=["input"],
                                  output_names=["output"], dynamo=dynamo, opset_version=18)  # fmt: skip
            return "dynamo" if dynamo else "torchscript"
        except Exception as e:  # noqa: BLE001 - the other exporter may succeed; both errors are reported
            errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {type(e).__name__}: {e}"[:300])
    raise RuntimeError("; ".join(errors))


def onnxruntime_run(path: Path, threads: int) -> tuple[Run, str]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda x: session.run(None, {name: x.numpy()})[0]), ""


def openvino_run(path: Path, threads: int, precision: str) -> tuple[Run, str]:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32" if precision == "fp32" else "bf16",
    })  # fmt: skip
    request = compiled.create_infer_request()
    # the output array is the request's own buffer, overwritten by the next call: copied for the comparison only
    return (lambda x: request.infer({0: x.numpy()}, share_inputs=True)[0]), ""


def build_variants(network: torch.nn.Module, x: torch.Tensor, threads: int, cpu: CpuInfo, work: Path,
                   only: Sequence[str] | None = None) -> list[Variant]:  # fmt: skip
    """The variants of the module docstring, each built now; one that cannot be built keeps its reason in ``note``."""
    bf16_note = "" if native_bf16(cpu) else "not native (no avx512_bf16/amx_bf16: emulated)"
    specs: list[tuple[str, str, Callable[[], Run | tuple[Run, str]]]] = [
        (REFERENCE, "fp32", lambda: eager(network)),
        ("eager fp32 + channels_last", "fp32", lambda: eager(network, channels_last=True)),
        ("eager bf16 + channels_last", "bf16", lambda: eager(network, channels_last=True, bf16=True)),
        ("TorchScript", "fp32", lambda: torchscript(network, x)),
    ]
    onnx_path = work / "model.onnx"
    specs.append(("ONNX Runtime", "fp32", lambda: onnxruntime_run(onnx_path, threads)))
    specs.append(("OpenVINO fp32", "fp32", lambda: openvino_run(onnx_path, threads, "fp32")))
    if native_bf16(cpu):
        specs.append(("OpenVINO bf16", "bf16", lambda: openvino_run(onnx_path, threads, "bf16")))
    if only:
        specs = [s for s in specs if s[0] == REFERENCE or any(o.lower() in s[0].lower() for o in only)]
    exporter, exported = None, ""
    if any(name.startswith(("ONNX", "OpenVINO")) for name, _, _ in specs):
        try:
            t0 = time.perf_counter()
            exporter = export_onnx(network, x, onnx_path)
            exported = f"{exporter} export"
            print(f"ONNX: {exporter} exporter, {time.perf_counter() - t0:.0f} s", flush=True)
        except Exception as e:  # noqa: BLE001 - reported in the table
            exported = f"ONNX export failed: {e}"
    variants = []
    for name, precision, build in specs:
        variant = Variant(name, precision, note=bf16_note if precision == "bf16" and name.startswith("eager") else "")
        if exporter is None and name.startswith(("ONNX", "OpenVINO")):
            variant.note = exported
        else:
            try:
                built = build()
                variant.run, extra = built if isinstance(built, tuple) else (built, "")
                if name.startswith(("ONNX", "OpenVINO")):
                    extra = "; ".join(n for n in (extra, exported) if n)
                variant.note = "; ".join(n for n in (variant.note, extra) if n)
            except ImportError as e:
                variant.note = f"skipped: {e}"
            except Exception as e:  # noqa: BLE001 - reported in the table, the other variants still run
                variant.note = f"failed: {type(e).__name__}: {e}"[:300]
        variants.append(variant)
    return variants


# --------------------------------------------------------------------------------------------- comparing and timing
def as_tensor(out: object) -> torch.Tensor:
    """A variant's output as a float32 tensor of its own memory (a runtime may reuse its output buffer)."""
    if isinstance(out, (list, tuple)):
        out = out[0]
    if isinstance(out, torch.Tensor):
        return out.detach().float().contiguous().clone()
    return torch.from_numpy(np.array(out, dtype=np.float32, copy=True))


def masks(logits: torch.Tensor) -> torch.Tensor:
    """The segmentation the bundles' post-processing makes: sigmoid > 0.5 for one channel, the argmax otherwise."""
    return torch.sigmoid(logits[:, 0]) > 0.5 if logits.shape[1] == 1 else logits.argmax(1)


def compare(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max |out - ref|, % of voxels whose mask agrees)."""
    diff = float((out - ref).abs().max())
    return diff, 100.0 * float((masks(out) == masks(ref)).double().mean())


def time_variants(variants: Sequence[Variant], x: torch.Tensor, rounds: int, warmup: int, passes: int,
                  pause: float = 0.05) -> dict[str, list[float]]:  # fmt: skip
    """Seconds per window of each variant in each round: ``passes`` calls timed together, outputs dropped, the
    variants interleaved and their order rotated every round; ``warmup`` untimed rounds first."""
    timed = [v for v in variants if v.run is not None]
    times: dict[str, list[float]] = {v.name: [] for v in timed}
    for r in range(warmup + rounds):
        order = timed[r % len(timed):] + timed[: r % len(timed)]
        for v in order:
            time.sleep(pause)  # the previous runtime's idle workers stop spinning before this one's clock starts
            t0 = time.perf_counter()
            for _ in range(passes):
                out = v.run(x)
                del out
            if r >= warmup:
                times[v.name].append((time.perf_counter() - t0) / (passes * x.shape[0]))
    return times


# ---------------------------------------------------------------------------------------------------------- report
def measure_bundle(setup: Setup, cpu: CpuInfo, peak: Peak, matmul: Mapping[str, float],
                   args: argparse.Namespace) -> dict:  # fmt: skip
    x = make_input(setup, args.seed, args.input == "phantom")
    flops = window_flops(setup.network, x.shape[1:])
    with tempfile.TemporaryDirectory() as work:
        variants = build_variants(setup.network, x, args.threads, cpu, Path(work), args.variants)
        ref = None
        results = {}
        for v in variants:  # the comparison is also each variant's first call
            if v.run is None:
                continue
            out = as_tensor(v.run(x))
            ref = out if v.name == REFERENCE else ref
            results[v.name] = compare(out, ref)
        positive = 100.0 * float((masks(ref) > 0).double().mean())
        mask = "sigmoid > 0.5" if ref.shape[1] == 1 else "argmax"
        times = time_variants(variants, x, args.rounds, args.warmup, args.passes)
    ref_median = statistics.median(times[REFERENCE])
    rows = []
    for v in variants:
        row = {"variant": v.name, "precision": v.precision, "note": v.note}
        if v.run is not None:
            median, fastest = statistics.median(times[v.name]), min(times[v.name])
            value, peak_name = peak.for_precision(v.precision)
            gflops = flops / median / 1e9
            diff, agree = results[v.name]
            row.update(ms_median=1e3 * median, ms_min=1e3 * fastest, gflops=gflops, peak=peak_name,
                       percent_of_peak=100 * gflops / value, speedup=ref_median / median, max_abs_diff=diff,
                       mask_agreement=agree, percent_of_matmul=100 * gflops / matmul[v.precision])  # fmt: skip
        rows.append(row)
    return {"bundle": setup.bundle, "network": setup.network_name, "weights": setup.weights,
            "window": list(setup.window), "config_window": list(setup.config_window), "batch": setup.batch,
            "in_channels": setup.in_channels, "input": "phantom" if args.input == "phantom" else setup.input_kind,
            "flops_per_window": flops, "mask": mask, "reference_positive_percent": positive,
            "rows": rows}  # fmt: skip


def table(result: Mapping) -> list[str]:
    window = "x".join(map(str, result["window"]))
    config = "x".join(map(str, result["config_window"]))
    lines = [
        f"### {result['bundle']}: {result['network']}, {result['batch']} window(s) of {window} x "
        f"{result['in_channels']} channels per call (inference.json: {config}); "
        f"{result['flops_per_window'] / 1e9:.3f} GFLOP per window; weights {result['weights']}",
        "",
        "| variant | ms/window median (min) | GFLOP/s | % of peak | % of matmul | speed-up vs eager fp32 | "
        "max abs diff | mask agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        name = row["variant"] + (f" ({row['note']})" if row["note"] else "")
        if "ms_median" not in row:
            lines.append(f"| {name} | - | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {name} | {row['ms_median']:.1f} ({row['ms_min']:.1f}) | {row['gflops']:.1f} | "
            f"{row['percent_of_peak']:.1f} % of {row['peak']} | {row['percent_of_matmul']:.0f} % | "
            f"{row['speedup']:.2f} | {row['max_abs_diff']:.2e} | "
            f"{row['mask_agreement']:.3f} % |"
        )
    lines.append("")
    lines.append(f"mask: {result['mask']} of the logits; eager fp32 calls {result['reference_positive_percent']:.2f} "
                 f"% of the voxels foreground on the seeded {result['input']} input")  # fmt: skip
    return lines


def versions() -> str:
    parts = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    for module in ("monai", "onnxruntime", "openvino"):
        with contextlib.suppress(ImportError):
            parts.append(f"{module} {__import__(module).__version__.split('-')[0]}")
    return ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", nargs="+", choices=BUNDLES, default=list(BUNDLES))
    parser.add_argument("--window", type=int, nargs="+", help="window size (one number: every axis)")
    parser.add_argument("--batch", type=int, help="windows per call (default: the bundle's sw_batch_size)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch/ORT/OpenVINO threads")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--passes", type=int, default=3, help="calls timed together per variant and round")
    parser.add_argument("--variants", nargs="+", help="only the variants whose names contain these (and eager fp32)")
    parser.add_argument("--fma-units", type=int, default=2, help="FMA units per core (default 2)")
    parser.add_argument("--clock-ghz", type=float, help="the clock for the peak (default: lscpu max MHz, cpuinfo)")
    parser.add_argument("--lanes", type=int, help="fp32 lanes per FMA unit (default: from the CPU flags)")
    parser.add_argument("--input", choices=("phantom", "noise"), default="phantom",
                        help="what the windows hold, for the output comparison (the timing does not depend on it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.getLogger("monai_tversky").setLevel(logging.WARNING)

    cpu = read_cpu()
    peak = peak_gflops(cpu, args.threads, args.fma_units, args.clock_ghz, args.lanes)
    matmul = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    header = [f"$ {command}", versions(), *cpu_lines(cpu, peak, args.threads, matmul),
              f"{args.rounds} rounds (median, min) after {args.warmup} warm-up, {args.passes} calls per round, "
              f"variants interleaved; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", ""]  # fmt: skip
    print("\n".join(header), flush=True)
    results = []
    for bundle in args.bundle:
        setup = bundle_setup(bundle, args.window, args.batch)
        result = measure_bundle(setup, cpu, peak, matmul, args)
        results.append(result)
        print("\n".join([*table(result), ""]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"command": command, "versions": versions(),
                                         "cpu": {**asdict(cpu), "flags": sorted(cpu.flags)}, "peak": asdict(peak),
                                         "matmul_gflops": matmul,
                                         "threads": args.threads, "rounds": args.rounds, "warmup": args.warmup,
                                         "passes": args.passes, "bundles": results}, indent=2) + "\n")  # fmt: skip
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
