"""Any bundle's models on any real cases, as the papers tabulate them (issue 21): each model is evaluated by the
bundle's own ``inference.json`` + ``evaluate.json`` on the cases (``--input``: a folder in any layout, a datalist
JSON, or files), and the table gives the papers' columns, mean ± sd over the cases, beside the paper's numbers:

- 3D bundles (hashemi2018 Table III/IV, salehi2017 Table 1): DSC, sensitivity, specificity, F2, APR, PPV, lesion-wise
  TPR and FPR (LTPR, LFPR), volume difference (VD) and average symmetric surface distance (SD, mm), in %;
- focal_tversky (abraham2018 Tables 1-2): DSC, precision, recall.

Each model's ``model.json`` gives its channels (and, for focal_tversky, its image size, variant and width), so models
trained with other settings sit in one table. Anyone with more cases (MSSEG 2016, ISBI 2015, a folder of MS cases)
gets the table in one command:

    python benchmarks/real_data_table.py --bundle msseg --input /data/MSSEG2016/Testing --work /tmp/msseg_table \\
        --model shipped=bundles/msseg/models/model.pt --model mine=/runs/msseg/models/model.pt
    python benchmarks/real_data_table.py --bundle tversky_unet3d --input ../shared/data/open_ms_p19 --work /tmp/p19

(``--model`` defaults to the bundle's shipped model; ``--bundle-args`` go to every evaluation, e.g. ``--tta none``.)
The table goes to ``<work>/table.md`` and stdout; per-case values stay in each model's ``report/metrics.csv``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from bundle_runs import REPO, Timings, environment_line, evaluate, read_metrics, read_summary, write_table

#: the papers' headline numbers, per bundle (the closest configuration), as printed
PAPER = {
    "msseg": "hashemi2018, MSSEG 2016, β = 1.5, spline fusion: DSC 69.8, APR 73.59 (ISBI 2015: DSC 65.74)",
    "tversky_unet3d": "salehi2017 Table 1, MSSEG 2016, α = 0.3, β = 0.7: DSC 56.42, APR 56.04 (Dice loss: DSC 53.42)",
    "generalised_dice": "sudre2017 reports training DSC only (no held-out table)",
    "focal_tversky": "abraham2018, Attn U-Net + Multi-Input + FTL: BUS DSC 0.804, ISIC DSC 0.856",
}
COLUMNS_3D = [("dsc", "DSC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("f2", "F2"),
              ("apr", "APR"), ("ppv", "PPV"), ("ltpr", "LTPR"), ("lfpr", "LFPR"), ("vd", "VD"), ("sd", "SD mm")]
COLUMNS_2D = [("dsc", "DSC"), ("ppv", "Precision"), ("sensitivity", "Recall")]
PERCENT = {"dsc", "sensitivity", "specificity", "f2", "apr", "ppv", "ltpr", "lfpr", "vd"}


def cell(summary: dict, key: str, percent: bool) -> str:
    if key not in summary:
        return "—"
    mean, sd = float(summary[key]["mean"]), float(summary[key]["sd"])
    if math.isnan(mean):
        return "nan"
    scale = 100.0 if percent else 1.0
    text = f"{scale * mean:.2f}" if percent else f"{mean:.3f}"
    if not math.isnan(sd) and int(summary[key].get("n", 1)) > 1:
        text += f" ± {scale * sd:.2f}" if percent else f" ± {sd:.3f}"
    return text


def table(bundle: str, results: list[tuple[str, dict]], n_cases: int) -> list[str]:
    three_d = bundle != "focal_tversky"
    columns = COLUMNS_3D if three_d else COLUMNS_2D
    header = ["Model", *(name for _, name in columns)]
    rows = [[name, *(cell(s, k, three_d and k in PERCENT) for k, _ in columns)] for name, s in results]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows),
            "", f"{n_cases} case(s); mean ± sd over the cases{' (in %, SD in mm)' if three_d else ''}. "
            f"Paper: {PAPER.get(bundle, '—')}."]  # fmt: skip


def model_lines(models) -> list[str]:
    """A line per ``(name, checkpoint)``: what its ``model.json`` says it was trained on (data, channels, epoch,
    validation metrics)."""
    lines = []
    for name, path in models:
        info = Path(path).with_suffix(".json")
        if info.is_file():
            r = json.loads(info.read_text())
            lines.append(f"- {name}: {path} (trained on {r.get('data', '?')}; channels {r.get('modalities')}; epoch "
                         f"{r.get('epoch')}; {r.get('metrics')})")  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, choices=sorted(PAPER))
    ap.add_argument("--input", required=True, help="the cases: a folder (any layout), a datalist JSON or a file")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--model", action="append", default=[], help="NAME=path/to/model.pt (repeat; default: shipped)")
    ap.add_argument("--bundle-args", nargs=argparse.REMAINDER, default=[], help="overrides for every evaluation")
    args = ap.parse_args()
    work = args.work.resolve()
    models = [m.split("=", 1) for m in args.model] or [["shipped", str(REPO / "bundles" / args.bundle / "models" /
                                                                          "model.pt")]]  # fmt: skip
    timings = Timings()
    results = []
    for name, path in models:
        report = evaluate(args.bundle, Path(path).resolve(), work / name, ["--input", str(Path(args.input).resolve()),
                          *args.bundle_args], timings, f"evaluate {name}")  # fmt: skip
        results.append((name, read_summary(report)))
    n_cases = len(read_metrics(work / models[0][0] / "report"))
    lines = [f"{args.bundle} on {args.input}: the bundle's inference.json + evaluate.json per model "
             f"({' '.join(args.bundle_args) or 'the bundle defaults'}). {environment_line()}.", "",
             *table(args.bundle, results, n_cases), ""]  # fmt: skip
    write_table(work, lines + model_lines(models), timings)


if __name__ == "__main__":
    main()
