"""The msseg bundle's own version of hashemi2018 Table I on the synthetic phantom: β = 1 vs β = 1.5, and tiling vs
uniform vs B-spline patch fusion (DSC, sensitivity, specificity, F2, APR), plus the PR curves of every run on one
plot (hashemi2018 Fig. 6).

Everything runs through the bundle's own commands, as a user would (``bundle_runs.py``): ``configs/train.json`` once
per β (same phantom, seed, patch size and epochs; only ``--f_beta`` differs), then ``configs/inference.json`` +
``configs/evaluate.json`` once per checkpoint and fusion mode on the phantom's validation cases. Each step is skipped
when its output is already there, so an interrupted run continues where it stopped.

    python benchmarks/msseg_paper_table.py --work /tmp/msseg_table              # the model card's table
    # a few minutes, checks that it runs:
    python benchmarks/msseg_paper_table.py --work /tmp/t --epochs 1 --val-interval 1 --quick

The figures go to ``<work>/table.md`` (and stdout) and ``<work>/pr_curves.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bundle_runs import (
    Timings,
    copy_figure,
    evaluate,
    percent,
    read_pr_curve,
    read_summary,
    save_pr_figure,
    train,
    write_table,
)

BUNDLE = "msseg"
COLUMNS = [("dsc", "DSC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("f2", "F2"),
           ("apr", "APR (per case)"), ("apr_pooled", "APR (pooled)"), ("ltpr", "LTPR"), ("lfpr", "LFPR")]
FUSION_NAMES = {"tile": "tiling", "uniform": "uniform", "spline": "spline"}


def _overrides(args: argparse.Namespace, work: Path) -> list[str]:
    out = ["--phantom_dir", str(work / "phantom"), "--patch_size", json.dumps([args.patch] * 3)]
    if args.quick:
        out += ["--phantom_shape", "[48,64,64]", "--phantom_cases", "5",
                "--network_def#num_blocks", "2", "--network_def#growth_rate", "4"]
    return out


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
    common = _overrides(args, work)
    timings = Timings()

    models = {}
    for beta in args.betas:
        models[beta] = train(BUNDLE, work / f"beta{beta:g}", [
            "--f_beta", str(beta), *common, "--max_epochs", str(args.epochs), "--val_interval", str(args.val_interval),
            "--num_workers", "0",
        ], timings, f"train beta {beta:g}")  # fmt: skip

    rows, curves = [], {}
    for beta in args.betas:
        run = work / f"beta{beta:g}"
        for fusion in args.fusions:
            report = evaluate(BUNDLE, models[beta], run / f"eval_{fusion}", [
                "--fusion", fusion, "--tta", args.tta, "--f_beta_of_checkpoint", str(beta), *common,
            ], timings, f"evaluate beta {beta:g} {fusion}")  # fmt: skip
            summary = read_summary(report)
            rows.append((beta, fusion, summary))
            curves[f"β = {beta:g}, {FUSION_NAMES[fusion]}"] = read_pr_curve(report)

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
        cells = [percent(summary, key) for key, _ in COLUMNS]
        lines.append(f"| {beta:g} | {FUSION_NAMES[fusion]} | " + " | ".join(cells) + " |")
    write_table(work, lines, timings)
    if curves:
        copy_figure(save_pr_figure(work / "pr_curves.png", curves, title="msseg, phantom validation set"), None)


if __name__ == "__main__":
    main()
