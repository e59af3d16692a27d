"""abraham2018 Tables 1 and 2 on real data (issue 21): rows of the ablation trained by the focal_tversky bundle's own
``train.json`` on a real data set's split (``benchmarks/real_data_splits.py``: its ``training`` and ``validation``
sections), each evaluated by ``inference.json`` + ``evaluate.json`` on the split's ``testing`` section: DSC,
precision and recall (mean ± sd over the test images) beside the paper's. For BUSI the test set's normal images
(``testing_normal``, empty masks) are evaluated apart: the fraction of them on which the model predicts any lesion
pixel, and the mean predicted area.

    python benchmarks/real_data_splits.py --work /tmp/real2d
    # one process per row is fine (a finished row is skipped; an interrupted one resumes):
    OMP_NUM_THREADS=1 python benchmarks/focal_tversky_real_data.py --data busi --datalist /tmp/real2d/busi_datalist.json \\
        --work /tmp/ft_real/busi --rows "Attn U-Net + Multi-Input + FTL"
    python benchmarks/focal_tversky_real_data.py --data busi --datalist /tmp/real2d/busi_datalist.json \\
        --work /tmp/ft_real/busi          # every finished row evaluated, the table written

The bundle's settings are the paper's for the data set's kind (BUS: 128 x 128, batch 16, 100 epochs; ISIC: 192 x 256,
batch 8, 50 epochs; SGD 0.01, momentum 0.9, Keras decay 1e-6; no augmentation), with the CPU speed settings on
(``cpu_bf16``, ``channels_last``) unless ``--fp32``; ``--features`` is the width (default: the bundle's); extra
``--bundle-args`` go to training as they are. The table goes to ``<work>/table.md``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from bundle_runs import Timings, environment_line, evaluate, read_metrics, read_summary, train, write_table
from focal_tversky_ablation import COLUMNS, PAPER_BUS, ROWS, _mean_sd, _slug, _table, paired_difference

BUNDLE = "focal_tversky"
#: abraham2018 Table 2 (ISIC 2018, 649 test images): DSC, precision, recall
PAPER_ISIC = {
    "U-Net + DL": ("0.820 ± 0.013", "0.849 ± 0.038", "0.867 ± 0.048"),
    "U-Net + TL": ("0.838 ± 0.026", "0.822 ± 0.051", "0.917 ± 0.033"),
    "U-Net + FTL": ("0.829 ± 0.027", "0.797 ± 0.040", "0.926 ± 0.012"),
    "Attn U-Net + DL": ("0.806 ± 0.033", "0.874 ± 0.080", "0.827 ± 0.055"),
    "Attn U-Net + Multi-Input + DL": ("0.827 ± 0.055", "0.896 ± 0.019", "0.829 ± 0.076"),
    "Attn U-Net + Multi-Input + TL": ("0.841 ± 0.012", "0.823 ± 0.038", "0.912 ± 0.026"),
    "Attn U-Net + Multi-Input + FTL": ("0.856 ± 0.007", "0.858 ± 0.020", "0.897 ± 0.014"),
}
DATA = {
    "busi": ("BUSI (Al-Dhabyani et al. 2020)", "BUS 2017 dataset B, 40 test images", PAPER_BUS),
    "isic2017": ("ISIC 2017 Task 1 training set", "ISIC 2018, 649 test images", PAPER_ISIC),
}


def normal_images(datalist: Path, work: Path) -> Path | None:
    """A datalist of the split's ``testing_normal`` images (BUSI), or None when it has none."""
    content = json.loads(datalist.read_text())
    normal = content.get("testing_normal")
    if not normal:
        return None
    path = work / "testing_normal.json"
    path.write_text(json.dumps({"modality": content.get("modality"), "testing": normal}, indent=1))
    return path


def false_positive_images(out: Path, datalist: Path) -> tuple[int, int, float]:
    """(normal images with any predicted lesion pixel, normal images, mean predicted area in %) of an inference."""
    items = json.loads(datalist.read_text())["testing"]
    flagged, areas = 0, []
    for item in items:
        seg = next((out / _case_folder(item["case_id"])).glob("*_seg.png"))
        mask = np.asarray(Image.open(seg)) > 0
        flagged += bool(mask.any())
        areas.append(100.0 * mask.mean())
    return flagged, len(items), float(np.mean(areas))


def _case_folder(case_id: str) -> str:
    from monai_tversky.data import safe_case_name

    return safe_case_name(case_id)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, choices=sorted(DATA))
    ap.add_argument("--datalist", required=True, type=Path, help="the split (benchmarks/real_data_splits.py)")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--rows", nargs="+", default=None, help="train these rows only (names as in the table)")
    ap.add_argument("--features", default="", help="--features (JSON list; default: the bundle's)")
    ap.add_argument("--epochs", type=int, default=None, help="--max_epochs (default: the paper's for the kind)")
    ap.add_argument("--val-interval", type=int, default=5)
    ap.add_argument("--fp32", action="store_true", help="train without the CPU speed settings (float32, contiguous)")
    ap.add_argument("--bundle-args", nargs=argparse.REMAINDER, default=[], help="more training overrides, as given")
    ap.add_argument("--report-only", action="store_true", help="train nothing: evaluate and report finished rows")
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    training = ["--datalist", str(args.datalist.resolve()), "--val_interval", str(args.val_interval),
                "--num_workers", "0", *args.bundle_args]  # fmt: skip
    if args.features:
        training += ["--features", args.features]
    if args.epochs is not None:
        training += ["--max_epochs", str(args.epochs)]
    if args.fp32:
        training += ["--cpu_bf16", "False", "--channels_last", "False"]
    chosen = [r for r in ROWS if args.rows is None or r[0] in args.rows]
    if not args.report_only:
        for row, variant, loss, *_ in chosen:
            train(BUNDLE, work / _slug(row), ["--network_variant", variant, "--loss_name", loss, *training], timings,
                  f"train {row}")  # fmt: skip
    finished = [r for r in chosen if (work / _slug(r[0]) / "models" / "model.json").is_file()]
    if not finished:
        return
    normal = normal_images(args.datalist, work)
    results, per_case, fp = [], {}, {}
    for row, *_ in finished:
        model = work / _slug(row) / "models" / "model.pt"
        report = evaluate(BUNDLE, model, work / _slug(row) / "eval", ["--input", str(args.datalist.resolve())],
                          timings, f"evaluate {row}")  # fmt: skip
        results.append((row, read_summary(report)))
        per_case[row] = {m["case"]: float(m["dsc"]) for m in read_metrics(report)}
        if normal is not None:
            out = work / _slug(row) / "normal"
            evaluate(BUNDLE, model, out, ["--input", str(normal)], timings, f"normal images {row}")
            fp[row] = false_positive_images(out, normal)
    title, paper_title, paper = DATA[args.data]
    first = json.loads((work / _slug(finished[0][0]) / "train" / "training_run.json").read_text())
    settings = first["settings"]
    by_row = {r[0]: r for r in ROWS}
    baseline = finished[0][0]
    header = ["Model", "Parameters", *(name for _, name in COLUMNS), f"ΔDSC vs {baseline}, paired (better / worse)",
              f"paper ({paper_title}): DSC, precision, recall"]  # fmt: skip
    rows = []
    for row, summary in results:
        rows.append([row, by_row[row][3], *(_mean_sd(summary, k) for k, _ in COLUMNS),
                     paired_difference(per_case, row, baseline), " / ".join(paper[row])])  # fmt: skip
    lines = [
        f"{title}: {len(first['training'])} training and {len(first['validation'])} validation images, "
        f"{int(results[0][1]['dsc']['n'])} test images ({args.datalist.name}); AttentionPyramidUNet feature maps "
        f"{settings['features']}, {settings['spatial_size'][0]} x {settings['spatial_size'][1]}, "
        f"{settings['max_epochs']} epochs of batch {settings['batch_size']}, SGD lr {settings['learning_rate']} "
        f"momentum {settings['momentum']}, Keras decay {settings['lr_decay']}, augmentation {settings['augment']}, "
        f"bf16 autocast {settings.get('cpu_bf16')}, channels-last {settings.get('channels_last')}; best validation "
        f"Dice every {args.val_interval} epochs kept. Mean ± sd over the test images (the paper's sd is over 5 "
        f"folds). {environment_line()}.",
        "",
        *_table(header, rows),
        "",
    ]
    if fp:
        lines += [
            "Normal test images (no lesion; not in the lesion metrics): images with any predicted lesion pixel, mean "
            "predicted area.",
            "",
            *_table(["Model", "normal images flagged", "mean predicted area"],
                    [[r, f"{f} / {n}", f"{a:.2f} %"] for r, (f, n, a) in fp.items()]),  # fmt: skip
            "",
        ]
    for row, *_ in finished:
        info = json.loads((work / _slug(row) / "models" / "model.json").read_text())
        record = json.loads((work / _slug(row) / "train" / "training_run.json").read_text())
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["metrics"].items() if isinstance(v, (int, float))
                            and not math.isnan(v))  # fmt: skip
        lines.append(f"- {row}: best validation at epoch {info['epoch']} of {record['settings']['max_epochs']} "
                     f"({metrics})")  # fmt: skip
    write_table(work, lines, timings)


if __name__ == "__main__":
    main()
