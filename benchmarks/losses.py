"""Forward + backward time and peak memory of each loss against monai.losses.TverskyLoss.

Usage::

    python benchmarks/losses.py            # (4, 2, 64, 64, 64) batch, 15 interleaved rounds
    python benchmarks/losses.py --quick    # (2, 2, 32, 32, 32), 5 rounds

Method (../shared/BENCHMARKING.md): every variant runs on the same input with the same thread count; rounds are
interleaved (A B C ... A B C ...) after a warm-up and the median and minimum are reported as ratios to MONAI's
TverskyLoss. Peak memory is the resident-set high-water mark of a fresh process per variant, reset once the inputs
are built, minus the resident set at that moment (the memory the loss's forward and backward add).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from monai.losses import GeneralizedDiceLoss, TverskyLoss

from monai_tversky.losses import (
    FBetaLoss,
    FocalTverskyLoss,
    SensitivitySpecificityLoss,
    TwoClassDiceLoss,
    WeightedCrossEntropyLoss,
)

VARIANTS = {
    "monai.TverskyLoss(0.3, 0.7)": lambda: TverskyLoss(alpha=0.3, beta=0.7, softmax=True, to_onehot_y=True),
    "FBetaLoss(beta=1.5)": lambda: FBetaLoss(beta=1.5, softmax=True, to_onehot_y=True),
    "FocalTverskyLoss(gamma=4/3)": lambda: FocalTverskyLoss(softmax=True, to_onehot_y=True),
    "monai.GeneralizedDiceLoss(square)": lambda: GeneralizedDiceLoss(w_type="square", softmax=True, to_onehot_y=True),
    "SensitivitySpecificityLoss": lambda: SensitivitySpecificityLoss(softmax=True, to_onehot_y=True),
    "TwoClassDiceLoss": lambda: TwoClassDiceLoss(softmax=True, to_onehot_y=True),
    "WeightedCrossEntropyLoss": lambda: WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True),
}
BASELINE = "monai.TverskyLoss(0.3, 0.7)"


def make_inputs(shape):
    torch.manual_seed(0)
    logits = torch.randn(shape, requires_grad=True)
    labels = (torch.rand(shape[0], 1, *shape[2:]) < 0.01).long()  # ~1% lesion voxels
    return logits, labels


def step(loss, logits, labels):
    logits.grad = None
    loss(logits, labels).backward()


def time_all(shape, rounds, threads):
    torch.set_num_threads(threads)
    logits, labels = make_inputs(shape)
    losses = {k: f() for k, f in VARIANTS.items()}
    for loss in losses.values():  # warm-up
        step(loss, logits, labels)
    times = {k: [] for k in losses}
    for _ in range(rounds):
        for k, loss in losses.items():  # interleaved
            t0 = time.perf_counter()
            step(loss, logits, labels)
            times[k].append(time.perf_counter() - t0)
    return times


def peak_rss_mib(variant, shape, threads):
    """Peak resident memory (MiB) of forward+backward of ``variant`` ("" = nothing) above a fresh process's set-up.

    ru_maxrss is inherited from the parent process, so the child resets its own high-water mark (VmHWM) through
    /proc/self/clear_refs once torch, the loss and the inputs are in place, and reports VmHWM minus VmRSS then.
    """
    code = (
        "import sys, torch; sys.path.insert(0, 'benchmarks'); import losses as b;"
        f"torch.set_num_threads({threads}); x, y = b.make_inputs({tuple(shape)!r}); v = {variant!r};"
        "loss = b.VARIANTS[v]() if v else None;"
        "kb = lambda k: int([l for l in open('/proc/self/status') if l.startswith(k)][0].split()[1]);"
        "open('/proc/self/clear_refs', 'w').write('5'); base = kb('VmRSS');"
        "[b.step(loss, x, y) for _ in range(2)] if v else None;"
        "print((kb('VmHWM') - base) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small batch and few rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    shape = (2, 2, 32, 32, 32) if args.quick else (4, 2, 64, 64, 64)
    rounds = args.rounds or (5 if args.quick else 15)

    print(f"input {shape} float32, labels ~1% foreground, softmax + to_onehot_y, torch {torch.__version__}, "
          f"threads={args.threads}, {rounds} interleaved rounds after warm-up")
    times = time_all(shape, rounds, args.threads)
    mem = {k: peak_rss_mib(k, shape, args.threads) for k in VARIANTS}
    b_med, b_min = statistics.median(times[BASELINE]), min(times[BASELINE])
    print(f"{'loss':36s} {'median ms':>10s} {'min ms':>8s} {'x median':>9s} {'x min':>7s} {'peak MiB':>9s} {'x mem':>6s}")
    for k, t in times.items():
        med, mn = statistics.median(t), min(t)
        mem_ratio = f"{mem[k] / mem[BASELINE]:6.2f}" if mem[BASELINE] > 0 else "     -"  # below RSS resolution
        print(f"{k:36s} {med * 1e3:10.1f} {mn * 1e3:8.1f} {med / b_med:9.3f} {mn / b_min:7.3f} {mem[k]:9.1f} {mem_ratio}")
    print(json.dumps({"ratios_median": {k: round(statistics.median(t) / b_med, 3) for k, t in times.items()}}))


if __name__ == "__main__":
    main()
