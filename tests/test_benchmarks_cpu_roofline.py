"""benchmarks/cpu_roofline.py's pure parts (issue 25): the peak computed from hand-written ``lscpu`` and
``/proc/cpuinfo`` texts against peaks computed by hand, the FLOP count of a convolution against its formula, the
masks and the bundle's window. No timing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import cpu_roofline  # noqa: E402

SAPPHIRE_RAPIDS = """\
Architecture:            x86_64
Vendor ID:               GenuineIntel
Model name:              Intel(R) Xeon(R) Platinum 8480+
CPU family:              6
Model:                   143
Thread(s) per core:      2
Core(s) per socket:      56
Socket(s):               2
CPU max MHz:             3800.0000
CPU min MHz:             800.0000
Flags:                   fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""

ZEN4_VM = """\
Architecture:                            x86_64
Vendor ID:                               AuthenticAMD
Model name:                              AMD EPYC
CPU family:                              25
Model:                                   17
Thread(s) per core:                      1
Core(s) per socket:                      2
Socket(s):                               1
BogoMIPS:                                5192.28
Flags:                                   fpu sse2 avx fma avx2 avx512f avx512dq avx512_bf16 avx512_vnni
Hypervisor vendor:                       KVM
"""
ZEN4_CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\ncpu MHz\t\t: 2596.140\n"

COFFEE_LAKE = """\
Vendor ID:               GenuineIntel
Model name:              Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
CPU family:              6
Thread(s) per core:      2
Core(s) per socket:      6
Socket(s):               1
CPU max MHz:             4600,0000
Flags:                   fpu sse2 avx avx2 fma
"""

CPUINFO_ONLY = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel name\t: Xeon test\nphysical id\t: 0\n"
    f"siblings\t: 4\ncore id\t\t: {i // 2}\ncpu cores\t: 2\ncpu MHz\t\t: 2000.000\nflags\t\t: fpu avx2 fma avx512f\n\n"
    for i in range(4)
)


def test_sapphire_rapids_peak_fp32_bf16_and_amx():
    cpu = cpu_roofline.parse_cpu(SAPPHIRE_RAPIDS)
    assert (cpu.sockets, cpu.cores_per_socket, cpu.threads_per_core, cpu.physical_cores) == (2, 56, 2, 112)
    assert cpu.max_mhz == 3800.0 and cpu.model == "Intel(R) Xeon(R) Platinum 8480+"
    peak = cpu_roofline.peak_gflops(cpu, threads=8)
    # 8 cores x 16 lanes (AVX-512) x 2 FMA units x 2 FLOP x 3.8 GHz
    assert peak.fp32 == pytest.approx(8 * 16 * 2 * 2 * 3.8) == pytest.approx(1945.6)
    assert peak.bf16 == pytest.approx(2 * 1945.6)
    assert peak.amx == pytest.approx(8 * 1024 * 3.8)  # 31129.6
    assert peak.for_precision("bf16") == (peak.amx, "AMX bf16")
    assert peak.for_precision("fp32") == (peak.fp32, "fp32")
    assert "8 cores x 16 fp32 lanes x 2 FMA units x 2 FLOP/FMA x 3.800 GHz = 1945.6 GFLOP/s" in peak.formula
    assert cpu_roofline.native_bf16(cpu)


def test_zen4_vm_takes_the_cpuinfo_clock_and_the_256_bit_datapath():
    cpu = cpu_roofline.parse_cpu(ZEN4_VM, ZEN4_CPUINFO)
    assert cpu.max_mhz is None and cpu.mhz == pytest.approx(2596.14)
    peak = cpu_roofline.peak_gflops(cpu, threads=2)
    # 2 cores x 8 lanes (AVX-512 double-pumped on 256-bit units) x 2 FMA units x 2 FLOP x 2.59614 GHz
    assert peak.lanes == 8
    assert peak.fp32 == pytest.approx(2 * 8 * 2 * 2 * 2.59614) == pytest.approx(166.153, abs=1e-3)
    assert peak.bf16 == pytest.approx(2 * peak.fp32) and peak.amx is None
    assert "cpuinfo" in peak.clock_source
    # the options override the flags and the clock
    forced = cpu_roofline.peak_gflops(cpu, threads=2, fma_units=1, ghz=3.0, lanes=16)
    assert forced.fp32 == pytest.approx(2 * 16 * 1 * 2 * 3.0)


def test_avx2_desktop_counts_physical_cores_only():
    cpu = cpu_roofline.parse_cpu(COFFEE_LAKE)
    assert cpu.max_mhz == 4600.0  # a decimal comma read too
    peak = cpu_roofline.peak_gflops(cpu, threads=12)  # 12 threads on 6 cores with SMT
    assert peak.cores == 6 and peak.lanes == 8
    assert peak.fp32 == pytest.approx(6 * 8 * 2 * 2 * 4.6) == pytest.approx(883.2)
    assert peak.bf16 is None and peak.amx is None and not cpu_roofline.native_bf16(cpu)
    assert peak.for_precision("bf16") == (peak.fp32, "fp32")
    assert cpu_roofline.peak_gflops(cpu, threads=12, fma_units=1).fp32 == pytest.approx(441.6)


def test_cpuinfo_alone():
    cpu = cpu_roofline.parse_cpu("", CPUINFO_ONLY)
    assert (cpu.sockets, cpu.cores_per_socket, cpu.threads_per_core) == (1, 2, 2)
    assert cpu.model == "Xeon test" and "avx512f" in cpu.flags
    peak = cpu_roofline.peak_gflops(cpu, threads=4)
    assert peak.fp32 == pytest.approx(2 * 16 * 2 * 2 * 2.0)  # 256


def test_no_clock_needs_the_option():
    cpu = cpu_roofline.parse_cpu(ZEN4_VM)
    with pytest.raises(ValueError, match="--clock-ghz"):
        cpu_roofline.peak_gflops(cpu, threads=1)
    assert cpu_roofline.peak_gflops(cpu, threads=1, ghz=2.0).fp32 == pytest.approx(8 * 2 * 2 * 2.0)


@pytest.mark.parametrize("padding", [0, 1])
def test_conv3d_flops_match_the_formula(padding):
    cin, cout, k, size = 3, 8, 3, 10
    conv = torch.nn.Conv3d(cin, cout, k, padding=padding)
    out = size - k + 1 + 2 * padding
    assert cpu_roofline.window_flops(conv, (cin, size, size, size)) == 2 * cin * cout * k**3 * out**3


def test_masks_and_comparison():
    ref = torch.tensor([[[-1.0, 2.0, 0.5]]])  # one channel: sigmoid > 0.5 is logit > 0
    out = torch.tensor([[[0.1, 2.0, 0.4]]])
    diff, agree = cpu_roofline.compare(out, ref)
    assert diff == pytest.approx(1.1) and agree == pytest.approx(200 / 3)
    two = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]).permute(1, 0, 2)  # (1, 2, 2): argmax over the channels
    assert cpu_roofline.masks(two).tolist() == [[0, 1]]


def test_bundle_window_and_batch_from_inference_json():
    info = json.loads((REPO / "bundles" / "tversky_unet3d" / "models" / "model.json").read_text())
    setup = cpu_roofline.bundle_setup("tversky_unet3d")
    assert setup.window == tuple(info["patch_size"]) and setup.batch == 4
    assert setup.in_channels == len(info["modalities"])
    assert cpu_roofline.bundle_setup("tversky_unet3d", window=[24]).window == (24, 24, 24)
    with pytest.raises(ValueError, match="3D"):
        cpu_roofline.bundle_setup("tversky_unet3d", window=[24, 24])
    x = cpu_roofline.make_input(setup)
    assert x.shape == (4, setup.in_channels, *setup.window) and x.dtype == torch.float32
