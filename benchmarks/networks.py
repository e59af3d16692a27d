"""Benchmark: the papers' networks against MONAI's networks of similar size, one training step each.

One step = forward + backward of a batch (loss: the mean of every output, so that its cost is negligible; deep
supervision outputs all count), gradients dropped between steps as ``optimizer.zero_grad()`` does. Two groups:

- 3D patches, batch 2 x 64^3 with 5 channels (hashemi2018's MSSEG patches): ``PatchDenseNet3D`` with the paper's
  sizes next to MONAI's ``BasicUNet`` with about as many parameters, and
  ``AttentionPyramidUNet`` (3D, channels 16..128) next to MONAI's ``AttentionUnet`` with the same channels;
- 2D images, batch 2 x 192x256 RGB (abraham2018's ISIC 2018 image size; the paper's batch is 8, kept at 2 here so
  that the full run stays within a few minutes on 2 cores): ``AttentionPyramidUNet`` with its default
  channels (32..512, the authors' ``attn_reg``), MONAI's ``AttentionUnet`` with channels 32..256 and ``BasicUNet``.

Timings are interleaved rounds after a warm-up, same ``torch.set_num_threads`` for all; the ratio column is against
the group's first MONAI network. Peak memory is measured in a fresh subprocess per variant running one step: on
the CPU the peak resident set (``VmHWM``, the ``ru_maxrss`` figure, reset after the imports and set-up through
``/proc/self/clear_refs`` so it is the step's own peak; ``ru_maxrss`` where unavailable), on a GPU
``torch.cuda.max_memory_allocated``.

    python benchmarks/networks.py            # full size, a few minutes on 2 cores
    python benchmarks/networks.py --quick    # 32^3 patches and 32x32 images, 1 round (checks that it runs)
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from peak_memory import reset_peak_rss, rss_mib  # benchmarks/ is on sys.path when run as a script
from monai.networks.nets import AttentionUnet, BasicUNet

from monai_tversky.networks import AttentionPyramidUNet, PatchDenseNet3D

# name -> (group, constructor); the first MONAI network of a group is its reference
VARIANTS: dict[str, tuple[str, Callable[[], torch.nn.Module]]] = {
    "PatchDenseNet3D (paper sizes)": ("3d", lambda: PatchDenseNet3D(in_channels=5)),
    "BasicUNet (9,9,18,36,72,9)": ("3d", lambda: BasicUNet(3, 5, 1, features=(9, 9, 18, 36, 72, 9))),
    "AttentionPyramidUNet 3D (16..128)": ("3d", lambda: AttentionPyramidUNet(3, 5, 1, channels=(16, 32, 64, 128))),
    "AttentionUnet 3D (16..128)": ("3d", lambda: AttentionUnet(3, 5, 1, (16, 32, 64, 128), (2, 2, 2))),
    "AttentionPyramidUNet 2D (32..512)": ("2d", lambda: AttentionPyramidUNet(2, 3, 1)),
    "AttentionUnet 2D (32..256)": ("2d", lambda: AttentionUnet(2, 3, 1, (32, 64, 128, 256), (2, 2, 2))),
    "BasicUNet 2D (16,32,64,128,256,16)": ("2d", lambda: BasicUNet(2, 3, 1, features=(16, 32, 64, 128, 256, 16))),
}
REFERENCE = {"3d": "BasicUNet (9,9,18,36,72,9)", "2d": "AttentionUnet 2D (32..256)"}


def _input_shape(group: str, quick: bool) -> tuple[int, ...]:
    if group == "3d":
        return (2, 5, 32, 32, 32) if quick else (2, 5, 64, 64, 64)
    return (2, 3, 32, 32) if quick else (2, 3, 192, 256)


def _setup(args: argparse.Namespace, name: str) -> tuple[Callable[[], None], torch.nn.Module, tuple[int, ...]]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    group, build = VARIANTS[name]
    device = torch.device(args.device)
    net = build().to(device).train()
    shape = _input_shape(group, args.quick)
    x = torch.rand(*shape, device=device)

    def step() -> None:
        out = net(x)
        outputs = out if isinstance(out, (list, tuple)) else [out]
        loss = sum(o.float().mean() for o in outputs)
        loss.backward()
        net.zero_grad(set_to_none=True)  # drop the gradients as the optimizer would; outputs go out of scope

    return step, net, shape


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(args: argparse.Namespace, names: list[str], rounds: int) -> dict[str, list[float]]:
    steps = {name: _setup(args, name)[0] for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up
        steps[name]()
    for _ in range(rounds):
        for name in names:  # interleaved
            _sync(args.device)
            start = time.perf_counter()
            steps[name]()
            _sync(args.device)
            times[name].append(time.perf_counter() - start)
    return times


def _worker(args: argparse.Namespace) -> None:
    """One training step of one variant in this fresh process; prints its peak memory in MiB."""
    step, _, _ = _setup(args, args.worker)
    gc.collect()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated() / 2**20
    elif reset_peak_rss() and rss_mib("VmRSS") is not None:
        start = rss_mib("VmRSS")
    else:  # ru_maxrss cannot be reset: the peak may be the one of the imports
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step()
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = rss_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak, "setup_mib": start}))


def _memory(args: argparse.Namespace, name: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", name, "--threads", str(args.threads), "--device", args.device]
    out = subprocess.run(command + (["--quick"] if args.quick else []), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs and 1 round")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for every variant")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    rounds = args.rounds or (1 if args.quick else 3)
    started = time.perf_counter()
    unit = "cuda max_memory_allocated" if args.device.startswith("cuda") else "peak RSS above set-up"
    print(f"one training step (forward + backward), {args.threads} threads, {args.device}, "
          f"{rounds} interleaved rounds after a warm-up; memory: one step in a fresh process ({unit})")
    for group, title in (("3d", "3D patches"), ("2d", "2D images")):
        names = [n for n, (g, _) in VARIANTS.items() if g == group]
        shape = _input_shape(group, args.quick)
        times = _time(args, names, rounds)
        ref = statistics.median(times[REFERENCE[group]])
        print(f"\n{title}, input {'x'.join(map(str, shape))} (batch {shape[0]}); "
              f"ratio = time / time of {REFERENCE[group]}")
        print(f"  {'network':36s} {'params':>9s} {'s/step med [min]':>18s} {'patches/s':>9s} {'ratio':>6s} {'MiB':>7s}")
        for name in names:
            n_params = sum(p.numel() for p in VARIANTS[name][1]().parameters())
            med, low = statistics.median(times[name]), min(times[name])
            memory = _memory(args, name)
            mib = memory["peak_mib"] - (0.0 if args.device.startswith("cuda") else memory["setup_mib"])
            print(f"  {name:36s} {n_params:9,d} {med:8.3f} [{low:7.3f}] {shape[0] / med:9.2f} {med / ref:6.2f} "
                  f"{mib:7.0f}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
