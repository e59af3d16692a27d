"""Speed of ``monai_tversky.metrics.lesion_metrics`` on a hashemi2018-sized case, against what a user would use
instead (MONAI's DiceMetric / ConfusionMatrixMetric / SurfaceDistanceMetric plus scikit-learn's
average_precision_score) and against the floors of its parts.

The case: a 128 x 224 x 256 volume (the ISBI 2015 size of hashemi2018 III.C) with ~100 ball-shaped lesions, a noisy
probability map and its 0.5-thresholded prediction. Variants run interleaved over several rounds after a warm-up,
with equal torch threads; each output is dropped. Peak memory: ``ru_maxrss`` of a fresh subprocess per variant
(which loads the saved case), minus that process's peak before the variant runs.

    python benchmarks/metrics.py            # full size, 5 rounds (one to two minutes on 2 cores)
    python benchmarks/metrics.py --quick    # small case, 2 rounds (well under a minute, mostly imports)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from scipy import ndimage

FULL_SHAPE, FULL_LESIONS = (128, 224, 256), 100
QUICK_SHAPE, QUICK_LESIONS = (48, 64, 64), 15


def make_case(shape: tuple[int, int, int], n_lesions: int, seed: int = 0):
    """Label with ``n_lesions`` balls (radius 1.5-6 voxels), probabilities = shifted smoothed label + noise."""
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, dtype=bool)
    centres = rng.integers(8, np.array(shape) - 8, size=(n_lesions, 3))
    radii = rng.uniform(1.5, 6.0, n_lesions)
    grid = np.mgrid[-7:8, -7:8, -7:8]
    for c, r in zip(centres, radii):
        ball = (grid**2).sum(0) <= r * r
        sl = tuple(slice(ci - 7, ci + 8) for ci in c)
        label[sl] |= ball
    prob = ndimage.gaussian_filter(label.astype(np.float32), 1.5) * 1.3
    prob = np.roll(prob, 1, axis=0) + 0.08 * rng.random(shape, dtype=np.float32)
    prob = np.clip(prob, 0.0, 1.0).astype(np.float32)
    return prob >= 0.5, label, prob


def variants(pred: np.ndarray, label: np.ndarray, prob: np.ndarray, spacing=(1.0, 1.0, 1.0)):
    """name -> zero-argument callable. Imports here so that the memory children pay only for what they run."""
    from monai.metrics import ConfusionMatrixMetric, DiceMetric, compute_average_surface_distance
    from sklearn.metrics import average_precision_score

    from monai_tversky.metrics import (
        average_precision,
        average_symmetric_surface_distance,
        lesion_detection_counts,
        lesion_metrics,
    )

    y_pred = torch.as_tensor(pred)[None, None].float()
    y = torch.as_tensor(label)[None, None].float()
    structure = np.ones((3, 3, 3), dtype=bool)

    def monai_sklearn_set():
        # the closest a user gets with MONAI + scikit-learn: no LTPR/LFPR, no VD
        dice = DiceMetric(include_background=True, ignore_empty=False)
        dice(y_pred, y)
        cm = ConfusionMatrixMetric(include_background=True, metric_name=("sensitivity", "specificity", "precision"))
        cm(y_pred, y)
        out = [dice.aggregate(), *cm.aggregate()]
        out.append(compute_average_surface_distance(y_pred, y, include_background=True, symmetric=True,
                                                    spacing=list(spacing)))
        out.append(average_precision_score(label.ravel(), prob.ravel()))
        return out

    return {
        "lesion_metrics (all 11 keys)": lambda: lesion_metrics(pred, label, prob, spacing),
        "MONAI Dice+ConfusionMatrix+ASSD + sklearn AP": monai_sklearn_set,
        "  ours: ltpr/lfpr (components)": lambda: lesion_detection_counts(pred, label),
        "  floor: 2 x scipy.ndimage.label": lambda: (ndimage.label(pred, structure), ndimage.label(label, structure)),
        "  ours: apr": lambda: average_precision(prob, label),
        "  sklearn average_precision_score": lambda: average_precision_score(label.ravel(), prob.ravel()),
        "  floor: np.sort(prob)": lambda: np.sort(prob, axis=None),
        "  ours: sd": lambda: average_symmetric_surface_distance(pred, label, spacing),
        "  MONAI compute_average_surface_distance": lambda: compute_average_surface_distance(
            y_pred, y, include_background=True, symmetric=True, spacing=list(spacing)
        ),
    }


def time_interleaved(fns: dict, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for name in names:  # warm-up
        fns[name]()
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate the order each round
        for name in order:
            t0 = time.perf_counter()
            fns[name]()  # the result is dropped at once
            times[name].append(time.perf_counter() - t0)
    return times


def peak_memory_child(variant: str, case_file: str, threads: int) -> None:
    torch.set_num_threads(threads)
    with np.load(case_file) as f:  # loading the saved case keeps the baseline peak at the case's own size
        case = (f["pred"], f["label"], f["prob"])
    fns = variants(*case)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fns[variant]()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) / 1024.0)  # MiB (ru_maxrss is in KiB on Linux)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small case and 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5, quick 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for every variant (default 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-memory subprocesses")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--make-case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--case-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    shape, n = (QUICK_SHAPE, QUICK_LESIONS) if args.quick else (FULL_SHAPE, FULL_LESIONS)
    if args.make_case:
        pred, label, prob = make_case(shape, n)
        np.savez(args.make_case, pred=pred, label=label, prob=prob)
        return
    if args.memory_child:
        peak_memory_child(args.memory_child, args.case_file, args.threads)
        return

    torch.set_num_threads(args.threads)
    mem: dict[str, str] = {}
    if not args.no_memory:
        # before this process grows: Linux carries a parent's peak RSS into ru_maxrss of the children it starts
        with tempfile.TemporaryDirectory() as tmp:
            case_file = os.path.join(tmp, "case.npz")
            quick = ["--quick"] if args.quick else []
            subprocess.run([sys.executable, __file__, "--make-case", case_file, *quick], check=True)
            for name in ("lesion_metrics (all 11 keys)", "MONAI Dice+ConfusionMatrix+ASSD + sklearn AP"):
                cmd = [sys.executable, __file__, "--memory-child", name, "--case-file", case_file,
                       "--threads", str(args.threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                mem[name] = f"{float(out):8.0f} MiB"
    rounds = args.rounds or (2 if args.quick else 5)
    pred, label, prob = make_case(shape, n)
    n_lesions = ndimage.label(label, np.ones((3, 3, 3)))[1]
    print(f"case {shape}, {n_lesions} lesions (26-connected), {int(label.sum())} lesion voxels; "
          f"torch threads {args.threads}; {rounds} interleaved rounds after a warm-up")
    fns = variants(pred, label, prob)
    times = time_interleaved(fns, rounds)
    ours = statistics.median(times["lesion_metrics (all 11 keys)"])
    print(f"{'variant':48s} {'median s':>9s} {'min s':>8s} {'÷ total':>7s} {'peak +RSS':>12s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:48s} {med:9.3f} {min(ts):8.3f} {med / ours:7.2f} {mem.get(name, ''):>12s}")


if __name__ == "__main__":
    main()
