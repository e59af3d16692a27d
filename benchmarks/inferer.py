"""Benchmark: SplineFusionInferer against MONAI's SlidingWindowInferer(mode="gaussian") and the bare forward passes.

All three run the same windows: the hashemi2018 grid (pad by half a window, 50% overlap; 5x8x9 windows of 64^3 on a
1x1x128x224x256 volume). For MONAI the same padding is done with ``F.pad`` before the call and the output is cropped
(a view) after it, as a user would do to get those windows; it runs with its best settings
(``cache_roi_weight_map=True``). The bare variant calls the network on as many window batches of the same size,
reusing one input batch and dropping each output: the floor no inferer can beat.

Two networks: a small 3D encoder-decoder (end-to-end time) and a near-free per-voxel scale (the inferer's own
overhead). Timings are interleaved rounds after a warm-up, median and min. Peak memory is measured in a fresh
subprocess per variant running one inference: on the CPU the peak resident set (``VmHWM``, the ``ru_maxrss`` figure,
reset after the imports and setup through ``/proc/self/clear_refs`` so that it is the inference's own peak;
``ru_maxrss`` where that is unavailable), on a GPU ``torch.cuda.max_memory_allocated``.

    python benchmarks/inferer.py            # full size, a few minutes on 2 cores
    python benchmarks/inferer.py --quick    # 1x1x64x112x128 volume, 32^3 windows (same 5x8x9 grid)
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from peak_memory import reset_peak_rss, rss_mib  # benchmarks/ is on sys.path when run as a script
from monai.inferers import SlidingWindowInferer

from monai_tversky.inferers import SplineFusionInferer, padded_window_grid

VARIANTS = ("bare", "spline", "monai")


class SmallNet(torch.nn.Sequential):
    """A small 3D encoder-decoder: strided conv, conv, transposed conv, sigmoid (8 channels)."""

    def __init__(self) -> None:
        super().__init__(
            torch.nn.Conv3d(1, 8, 3, stride=2, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv3d(8, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.ConvTranspose3d(8, 1, 2, stride=2),
            torch.nn.Sigmoid(),
        )


class ScaleNet(torch.nn.Module):
    """A near-free network: one multiply per voxel, a fresh output like a real network's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5


def _setup(args: argparse.Namespace, network: str):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape, roi = ((64, 112, 128), (32,) * 3) if args.quick else ((128, 224, 256), (64,) * 3)
    device = torch.device(args.device)
    image = torch.rand(1, 1, *shape, device=device)
    net = (SmallNet() if network == "small" else ScaleNet()).to(device).eval()
    grid = padded_window_grid(shape, roi, 0.5)
    num_windows = math.prod(grid.num_windows)
    spline = SplineFusionInferer(roi, sw_batch_size=args.sw_batch_size, overlap=0.5, fusion="spline")
    monai = SlidingWindowInferer(
        roi, sw_batch_size=args.sw_batch_size, overlap=0.5, mode="gaussian", cache_roi_weight_map=True
    )
    window_batch = torch.rand(args.sw_batch_size, 1, *roi, device=device)
    crop = (..., *(slice(b, b + n) for b, n in zip(grid.pad_before, shape)))

    def bare() -> None:
        for first in range(0, num_windows, args.sw_batch_size):
            net(window_batch[: min(args.sw_batch_size, num_windows - first)])

    runs = {
        "bare": bare,
        "spline": lambda: spline(image, net),
        "monai": lambda: monai(F.pad(image, grid.torch_pad), net)[crop],  # padded for the same windows
    }
    return runs, grid, shape, roi


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(args: argparse.Namespace, network: str, rounds: int) -> dict[str, list[float]]:
    runs, *_ = _setup(args, network)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with torch.no_grad():
        for variant in VARIANTS:  # warm-up
            runs[variant]()
        for _ in range(rounds):
            for variant in VARIANTS:  # interleaved
                _sync(args.device)
                start = time.perf_counter()
                runs[variant]()
                _sync(args.device)
                times[variant].append(time.perf_counter() - start)
    return times


def _worker(args: argparse.Namespace) -> None:
    """One inference of one variant in this fresh process; prints its peak memory in MiB."""
    runs, *_ = _setup(args, "small")
    gc.collect()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated() / 2**20
    elif reset_peak_rss() and rss_mib("VmRSS") is not None:
        start = rss_mib("VmRSS")
    else:  # ru_maxrss cannot be reset: the peak may be the one of the imports
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with torch.no_grad():
        runs[args.worker]()
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = rss_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak, "setup_mib": start}))


def _memory(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    result = {}
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--worker", variant, "--threads", str(args.threads),
                   "--sw-batch-size", str(args.sw_batch_size), "--device", args.device]
        out = subprocess.run(command + (["--quick"] if args.quick else []), capture_output=True, text=True, check=True)
        result[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small volume and few rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (default 3, quick 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every variant")
    parser.add_argument("--sw-batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    rounds = args.rounds or (2 if args.quick else 3)
    _, grid, shape, roi = _setup(args, "scale")
    print(f"volume 1x1x{'x'.join(map(str, shape))}, windows {roi} at overlap 0.5 -> "
          f"{'x'.join(map(str, grid.num_windows))} = {math.prod(grid.num_windows)} windows, "
          f"sw_batch_size {args.sw_batch_size}, {args.threads} threads, {args.device}, {rounds} rounds after a warm-up")

    for network, label in (("small", "small 3D conv net (end to end)"), ("scale", "near-free net (own overhead)")):
        times = _time(args, network, rounds)
        med = {v: statistics.median(t) for v, t in times.items()}
        low = {v: min(t) for v, t in times.items()}
        print(f"\n{label}: seconds, median [min]")
        for v in VARIANTS:
            print(f"  {v:7s} {med[v]:8.3f} [{low[v]:8.3f}]")
        print(f"  spline / bare  {med['spline'] / med['bare']:.3f} (min {low['spline'] / low['bare']:.3f})"
              f"   target <= 1.05 (end to end)")
        print(f"  spline / monai {med['spline'] / med['monai']:.3f} (min {low['spline'] / low['monai']:.3f})"
              f"   target <= 1.0")
        if network == "scale":
            own = {v: med[v] - med["bare"] for v in ("spline", "monai")}
            print(f"  own overhead (median - bare): spline {own['spline'] * 1e3:.0f} ms, "
                  f"monai {own['monai'] * 1e3:.0f} ms")

    memory = _memory(args)
    unit = "torch.cuda.max_memory_allocated" if args.device.startswith("cuda") else "peak RSS, VmHWM reset after setup"
    print(f"\npeak memory of one inference, small net, fresh process per variant, MiB ({unit}): peak [above setup]")
    for v in VARIANTS:
        m = memory[v]
        print(f"  {v:7s} {m['peak_mib']:8.1f} [{m['peak_mib'] - m['setup_mib']:7.1f}]")
    s, m = memory["spline"], memory["monai"]
    print(f"  spline / monai peak {s['peak_mib'] / m['peak_mib']:.3f}, above setup "
          f"{(s['peak_mib'] - s['setup_mib']) / max(m['peak_mib'] - m['setup_mib'], 1e-9):.3f}   target <= 1.0")


if __name__ == "__main__":
    main()
