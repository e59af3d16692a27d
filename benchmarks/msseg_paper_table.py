"""The msseg bundle's own version of hashemi2018 Table I on the synthetic phantom: β = 1 vs β = 1.5, and tiling vs
uniform vs B-spline patch fusion (DSC, sensitivity, specificity, F2, APR), plus the PR curves of every run on one
plot (hashemi2018 Fig. 6).

Everything runs through the bundle's own commands, as a user would: ``configs/train.json`` once per β (same phantom,
seed, patch size and epochs; only ``--f_beta`` differs), then ``configs/inference.json`` + ``configs/evaluate.json``
once per checkpoint and fusion mode on the phantom's validation cases. Each step is skipped when its output is
already there, so an interrupted run continues where it stopped.

    python benchmarks/msseg_paper_table.py --work /tmp/msseg_table              # the model card's table
    # a few minutes, checks that it runs:
    python benchmarks/msseg_paper_table.py --work /tmp/t --epochs 1 --val-interval 1 --quick

The figures go to ``<work>/table.md`` (and stdout) and ``<work>/pr_curves.png``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from monai_tversky.metrics import PrecisionRecallHistogram, save_precision_recall_plot

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "msseg"
COLUMNS = [("dsc", "DSC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("f2", "F2"),
           ("apr", "APR (per case)"), ("apr_pooled", "APR (pooled)"), ("ltpr", "LTPR"), ("lfpr", "LFPR")]
FUSION_NAMES = {"tile": "tiling", "uniform": "uniform", "spline": "spline"}


def _run(cmd: list[str], log: Path) -> float:
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        result = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.exit(f"command failed (exit {result.returncode}); see {log}")
    return time.perf_counter() - t0


def _overrides(args: argparse.Namespace, work: Path) -> list[str]:
    out = ["--phantom_dir", str(work / "phantom"), "--patch_size", json.dumps([args.patch] * 3)]
    if args.quick:
        out += ["--phantom_shape", "[48,64,64]", "--phantom_cases", "5",
                "--network_def#num_blocks", "2", "--network_def#growth_rate", "4"]
    return out


def _summary(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["metric"]: row for row in csv.DictReader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path, help="folder for the phantom, checkpoints and reports")
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 1.5])
    parser.add_argument("--fusions", nargs="+", default=["tile", "uniform", "spline"], choices=list(FUSION_NAMES))
    parser.add_argument("--epochs", type=int, default=60, help="training epochs per β (default 60)")
    parser.add_argument("--val-interval", type=int, default=20,
                        help="epochs between validations; the best validation Dice is the checkpoint (default 20)")
    parser.add_argument("--patch", type=int, default=32, help="cubic training patch and inference window size")
    parser.add_argument("--tta", default="none", help="test-time augmentation of the evaluations (none or rot180)")
    parser.add_argument("--quick", action="store_true", help="tiny phantom and network (checks that it runs)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    bundle_run = [sys.executable, "-m", "monai.bundle", "run"]
    common = _overrides(args, work)
    timings: dict[str, float] = {}

    for beta in args.betas:
        run = work / f"beta{beta:g}"
        run.mkdir(exist_ok=True)
        if not (run / "models" / "model.pt").is_file() or not (run / "train.done").is_file():
            timings[f"train beta {beta:g}"] = _run([
                *bundle_run, "--config_file", str(BUNDLE / "configs" / "train.json"), "--f_beta", str(beta),
                "--ckpt_dir", str(run / "models"), "--output_dir", str(run / "train"), *common,
                "--max_epochs", str(args.epochs), "--val_interval", str(args.val_interval), "--num_workers", "0",
            ], run / "train.log")
            (run / "train.done").write_text("done\n")

    rows, curves = [], {}
    for beta in args.betas:
        run = work / f"beta{beta:g}"
        for fusion in args.fusions:
            report = run / f"eval_{fusion}" / "report"
            if not (report / "summary.csv").is_file():
                timings[f"evaluate beta {beta:g} {fusion}"] = _run([
                    *bundle_run, "--config_file",
                    str([str(BUNDLE / "configs" / "inference.json"), str(BUNDLE / "configs" / "evaluate.json")]),
                    "--ckpt_path", str(run / "models" / "model.pt"), "--output_dir", str(run / f"eval_{fusion}"),
                    "--fusion", fusion, "--tta", args.tta, "--f_beta_of_checkpoint", str(beta), *common,
                ], run / f"eval_{fusion}.log")
            summary = _summary(report / "summary.csv")
            rows.append((beta, fusion, summary))
            curves[f"β = {beta:g}, {FUSION_NAMES[fusion]}"] = PrecisionRecallHistogram.load_csv(
                report / "pr_histogram.csv")

    n_cases = rows[0][2]["dsc"]["n"] if rows else "0"
    lines = [
        f"PatchDenseNet3D trained {args.epochs} epochs on {args.patch}^3 patches per β; evaluated on the phantom's "
        f"{n_cases} validation cases with {args.patch}^3 windows, tta={args.tta}. Mean over cases (%), "
        "APR (pooled) over all voxels of the set.",
        "",
        "| β | fusion | " + " | ".join(name for _, name in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for beta, fusion, summary in rows:
        cells = []
        for key, _ in COLUMNS:
            mean = float(summary[key]["mean"])
            cells.append(f"{100 * mean:.2f}")
        lines.append(f"| {beta:g} | {FUSION_NAMES[fusion]} | " + " | ".join(cells) + " |")
    if timings:
        steps = ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())
        lines += ["", f"wall time of the steps run now: {steps}"]
    text = "\n".join(lines)
    (work / "table.md").write_text(text + "\n")
    print(text)
    if curves:
        path = save_precision_recall_plot(work / "pr_curves.png", curves,
                                          title="msseg, phantom validation set")
        print(f"PR curves: {path}")


if __name__ == "__main__":
    main()
