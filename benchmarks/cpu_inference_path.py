"""Whole-volume CPU inference, float32 against the bundles' CPU path (bf16 autocast + channels-last where the CPU
has native bf16, ``cpu_inferer`` in ``inference.json``), as a user runs it: ``python -m monai.bundle run
--config_file bundles/<b>/configs/inference.json --input <case>`` with ``--cpu_bf16 False`` and ``--cpu_bf16 True``,
the two interleaved over ``--rounds`` (A B, B A, ...), on the same machine in one run.

It prints, per bundle, the wall time of each path (median over the rounds), the speed-up, and how far the bf16
segmentation is from the float32 one: voxel agreement of the written masks (issue 25's bar: at least 99.9 %),
the Dice between them and the lesion voxels each calls; plus the largest probability difference.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/cpu_inference_path.py --bundle tversky_unet3d msseg \\
        --input ../shared/data/open_ms_p07 --work /work/runs/cpu_path --extra msseg='--tta none'

``--extra <bundle>='<overrides>'`` adds overrides to both paths of one bundle (e.g. msseg's test-time rotations
off). The figures are wall times of whole commands (loading, writing included), the time a user waits.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_runs import REPO, environment_line, run_command  # noqa: E402

PATHS = {"float32": "False", "bf16": "True"}


def _outputs(out: Path, postfix: str) -> Path:
    found = sorted(out.rglob(f"*_{postfix}.nii.gz")) or sorted(out.rglob(f"*_{postfix}.png"))
    if len(found) != 1:
        raise SystemExit(f"cpu_inference_path: expected one *_{postfix} file under {out}, found {found}")
    return found[0]


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".png":
        from PIL import Image

        return np.asarray(Image.open(path))
    return np.asarray(nib.load(path).dataobj)


def compare(reference: Path, other: Path) -> dict[str, float]:
    """Voxel agreement (%), Dice and lesion voxels of two runs' masks, and their largest probability difference."""
    a, b = _read(_outputs(reference, "seg")) > 0, _read(_outputs(other, "seg")) > 0
    if a.shape != b.shape:
        raise SystemExit(f"cpu_inference_path: the two masks differ in shape, {a.shape} and {b.shape}")
    both = a.sum() + b.sum()
    pa, pb = _read(_outputs(reference, "prob")).astype(np.float64), _read(_outputs(other, "prob")).astype(np.float64)
    return {
        "agreement": 100.0 * float((a == b).mean()),
        "dice": float(2.0 * (a & b).sum() / both) if both else 1.0,
        "voxels_a": int(a.sum()),
        "voxels_b": int(b.sum()),
        "max_prob_diff": float(np.abs(pa - pb).max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", nargs="+", default=["tversky_unet3d", "msseg", "generalised_dice"])
    ap.add_argument("--input", required=True, help="one case (folder, file or datalist) every bundle can read")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=1, help="A/B pairs per bundle, order alternating (default 1)")
    ap.add_argument("--extra", action="append", default=[], help="<bundle>='<overrides for both paths>'")
    args = ap.parse_args()
    extra = {k: shlex.split(v) for k, _, v in (e.partition("=") for e in args.extra)}
    print(environment_line())
    rows = []
    for bundle in args.bundle:
        times: dict[str, list[float]] = {p: [] for p in PATHS}
        for r in range(args.rounds):
            order = list(PATHS) if r % 2 == 0 else list(PATHS)[::-1]
            for path in order:
                out = args.work / bundle / f"{path}_{r}"
                cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
                       str(REPO / "bundles" / bundle / "configs" / "inference.json"), "--input", args.input,
                       "--output_dir", str(out), "--cpu_bf16", PATHS[path], *extra.get(bundle, [])]
                t0 = time.perf_counter()
                run_command(cmd, args.work / bundle / f"{path}_{r}.log")
                times[path].append(time.perf_counter() - t0)
                print(f"  {bundle} {path} round {r}: {times[path][-1]:.1f} s", flush=True)
        diff = compare(args.work / bundle / "float32_0", args.work / bundle / "bf16_0")
        fp32, bf16 = statistics.median(times["float32"]), statistics.median(times["bf16"])
        rows.append((bundle, fp32, bf16, diff))
    print("\n| bundle | float32 (s) | bf16 + channels-last (s) | speed-up | voxel agreement | Dice bf16 vs fp32 "
          "| lesion voxels fp32 / bf16 | max prob diff |")
    print("|---|---|---|---|---|---|---|---|")
    for bundle, fp32, bf16, d in rows:
        print(f"| {bundle} | {fp32:.1f} | {bf16:.1f} | {fp32 / bf16:.2f}x | {d['agreement']:.4f} % | {d['dice']:.4f} "
              f"| {d['voxels_a']} / {d['voxels_b']} | {d['max_prob_diff']:.3f} |")


if __name__ == "__main__":
    main()
