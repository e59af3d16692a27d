"""The focal_tversky bundle's own version of abraham2018 Table 1 (BUS 2017) on the synthetic ultrasound phantom: the
seven rows U-Net + DL / TL / FTL, Attn U-Net + DL, Attn U-Net + Multi-Input + DL / TL / FTL, each trained by the
bundle's ``train.json`` with one override pair (``--network_variant``, ``--loss_name``), then evaluated by its
``inference.json`` + ``evaluate.json`` on a separate test set of phantom images: DSC, precision and recall as
mean ± sd over the test images (the paper's columns), and a figure of a few test cases with every row's mask.

Everything runs through the bundle's own commands, as a user would (``bundle_runs.py``); each step is skipped when its
output is already there, so an interrupted run continues where it stopped (a training run resumes from its last
checkpoint).

- Data: ``--phantom_kind ultrasound`` (BUS-like: grayscale, speckle, one small hypoechoic lesion covering 1-12 % of
  the image), ``--phantom_cases`` images for training and validation (the last quarter validates; the best
  validation Dice is the checkpoint) and, generated apart with another seed, ``--test-cases`` test images written
  into a datalist (``<work>/test_datalist.json``) that every evaluation reads with ``--input``.
- Size: on a CPU, BUS's 128 x 128 with the paper-width network allows only ~80 iterations per model in the time a
  7-row table can take, so the phantom and the network input are 64 x 64 by default (``--size 128`` for the
  paper's), and ``--features`` narrows the network (the paper's 5 levels, gates, pyramid and outputs, fewer maps
  per level; default the paper's 32..512). Batch 16, SGD 0.01, momentum 0.9 and the Keras decay are the bundle's
  BUS defaults.
- Each evaluation takes the model's settings (network variant, width, channels, image size) from the
  ``model.json`` beside it: no flag is needed to evaluate a row.

    # the model card's table (half the paper's width, 120 epochs; about 1 hour on one core of a shared machine):
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/focal_tversky_ablation.py --work /tmp/ft/ablation \\
        --features "[16,32,64,128,256]" --size 64 --phantom-cases 80 --test-cases 40 --epochs 120 --val-interval 10
    # a few minutes, checks that it runs:
    python benchmarks/focal_tversky_ablation.py --work /tmp/t --epochs 1 --val-interval 1 --quick --figure ''

Rows can be trained by separate processes into the same ``--work`` (``--rows``; a finished row is skipped), but never
the same row by two at once.

The table goes to ``<work>/table.md`` (and stdout), the figure to ``<work>/cases.png`` and, unless ``--figure ''``,
the model card's ``bundles/focal_tversky/docs/ablation_cases_phantom.png``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from bundle_runs import (
    REPO,
    Timings,
    copy_figure,
    environment_line,
    evaluate,
    read_metrics,
    read_summary,
    train,
    write_table,
)
from monai_tversky.data import generate_phantom_dataset_2d

BUNDLE = "focal_tversky"
FIGURE = REPO / "bundles" / BUNDLE / "docs" / "ablation_cases_phantom.png"

#: abraham2018 Table 1/2: (row, --network_variant, --loss_name, parameters in the paper's naming, what it trains here)
ROWS = [
    ("U-Net + DL", "unet", "dice", "α = β = 0.5", "DL on the one output"),
    ("U-Net + TL", "unet", "tversky", "α = 0.7, β = 0.3", "TL on the one output"),
    ("U-Net + FTL", "unet", "focal_tversky", "α = 0.7, β = 0.3, γ = 4/3", "FTL on the one output"),
    ("Attn U-Net + DL", "attn_unet", "dice", "α = β = 0.5", "DL on all 4 outputs"),
    ("Attn U-Net + Multi-Input + DL", "attn_unet_pyramid", "dice", "α = β = 0.5", "DL on all 4 outputs"),
    ("Attn U-Net + Multi-Input + TL", "attn_unet_pyramid", "tversky", "α = 0.7, β = 0.3", "TL on all 4 outputs"),
    ("Attn U-Net + Multi-Input + FTL", "attn_unet_pyramid", "focal_tversky", "α = 0.7, β = 0.3, γ = 4/3",
     "FTL on the 3 side outputs, TL on the final"),
]
#: abraham2018 Table 1 (BUS 2017, 40 test images, 5-fold cross-validation): DSC, precision, recall
PAPER_BUS = {
    "U-Net + DL": ("0.547 ± 0.04", "0.653 ± 0.171", "0.658 ± 0.146"),
    "U-Net + TL": ("0.657 ± 0.02", "0.732 ± 0.072", "0.723 ± 0.074"),
    "U-Net + FTL": ("0.669 ± 0.033", "0.775 ± 0.047", "0.715 ± 0.057"),
    "Attn U-Net + DL": ("0.615 ± 0.020", "0.675 ± 0.042", "0.658 ± 0.049"),
    "Attn U-Net + Multi-Input + DL": ("0.716 ± 0.041", "0.759 ± 0.092", "0.751 ± 0.046"),
    "Attn U-Net + Multi-Input + TL": ("0.751 ± 0.042", "0.802 ± 0.073", "0.768 ± 0.056"),
    "Attn U-Net + Multi-Input + FTL": ("0.804 ± 0.024", "0.829 ± 0.027", "0.817 ± 0.022"),
}
COLUMNS = [("dsc", "DSC"), ("ppv", "Precision"), ("sensitivity", "Recall")]
#: feature maps per level of the authors' attn_reg (the bundle's default ``features``)
PAPER_FEATURES = [32, 64, 128, 256, 512]


def _slug(row: str) -> str:
    return row.lower().replace(" + ", "_").replace(" ", "_").replace("-", "")


def _mean_sd(summary: dict, key: str) -> str:
    mean, sd = float(summary[key]["mean"]), float(summary[key]["sd"])
    text = "nan" if math.isnan(mean) else f"{mean:.3f} ± {sd:.3f}"
    n_nan = int(summary[key]["n_nan"])
    return text + (f" ({n_nan} empty)" if n_nan else "")


def paired_difference(dsc: dict[str, dict[str, float]], row: str, baseline: str) -> str:
    """``row`` minus ``baseline`` in DSC over the same test images: mean ± standard error of the mean, and on how
    many images ``row`` is better / worse (by more than 0.005). The images differ far more among themselves than
    the rows do, so the paired difference is what tells the rows apart."""
    cases = sorted(set(dsc[row]) & set(dsc[baseline]))
    diff = np.array([dsc[row][c] - dsc[baseline][c] for c in cases])
    if row == baseline or diff.size < 2:
        return "—"
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    better, worse = int(np.sum(diff > 0.005)), int(np.sum(diff < -0.005))
    return f"{diff.mean():+.3f} ± {se:.3f} ({better} / {worse})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def test_datalist(work: Path, cases: int, size: int, seed: int) -> Path:
    """``cases`` phantom images generated apart from the training ones (another seed), as a ``"testing"`` datalist."""
    generated = generate_phantom_dataset_2d(
        work / "test_phantom", num_cases=cases, kind="ultrasound", shape=(size, size), seed=seed, val_fraction=0.0,
        progress=False,
    )  # fmt: skip
    path = work / "test_datalist.json"
    path.write_text(json.dumps({"modality": {"0": "US"}, "testing": generated["training"]}, indent=1))
    return path


def _pick_cases(test: list[dict], n: int) -> list[dict]:
    """``n`` test cases from the smallest lesion to the largest, evenly by lesion area."""
    areas = [int(np.count_nonzero(np.asarray(Image.open(item["label"])))) for item in test]
    order = np.argsort(areas, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))
    return [test[int(order[i])] for i in picks]


def save_cases_figure(path: Path, work: Path, test: list[dict], n_cases: int, dsc: dict[str, dict[str, float]]) -> Path:
    """Image, ground truth and every row's mask (the evaluation's ``_seg.png``) of ``n_cases`` test cases."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cases = _pick_cases(test, n_cases)
    columns = ["image", "ground truth", *[r[0] for r in ROWS]]
    fig = Figure(figsize=(1.45 * len(columns), 1.6 * len(cases) + 0.7), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(cases), len(columns), squeeze=False)
    for r, item in enumerate(cases):
        image = np.asarray(Image.open(item["image"]).convert("L"), dtype=np.float32) / 255.0
        label = np.asarray(Image.open(item["label"])) > 0
        panels = [("image", None), ("ground truth", label)]
        for row, *_ in ROWS:
            seg = work / _slug(row) / "eval" / item["case_id"] / f"{item['case_id']}_seg.png"
            panels.append((row, np.asarray(Image.open(seg)) > 0))
        for c, (name, mask) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if mask is not None:
                rgba = np.zeros((*mask.shape, 4))
                if name == "ground truth":
                    rgba[mask] = (1.0, 0.85, 0.0, 0.55)
                else:  # TP green, FN blue, FP red (hashemi2018 Fig. 8, as the bundle's overlays)
                    rgba[mask & label] = (0.0, 1.0, 0.0, 0.55)
                    rgba[~mask & label] = (0.0, 0.3, 1.0, 0.7)
                    rgba[mask & ~label] = (1.0, 0.0, 0.0, 0.7)
                ax.imshow(rgba, interpolation="nearest")
            if name not in ("image", "ground truth"):
                ax.text(0.03, 0.03, f"{dsc[name][item['case_id']]:.2f}", transform=ax.transAxes, color="white",
                        fontsize=6, va="bottom", bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "edgecolor": "none"})
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name.replace("Attn U-Net + Multi-Input", "Attn+MI").replace(" + ", "\n+ "), fontsize=6)
        axes[r][0].set_ylabel(f"{item['case_id']}\nlesion {100 * label.mean():.1f} %", fontsize=6)
    fig.suptitle("focal_tversky ablation on the ultrasound phantom (test cases; DSC bottom left; "
                 "green TP, blue FN, red FP)", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path, help="folder for the phantoms, checkpoints and reports")
    parser.add_argument("--size", type=int, default=64, help="phantom and network input size (square; default 64)")
    parser.add_argument("--phantom-cases", type=int, default=80,
                        help="training + validation phantom images (the last quarter validates; default 80)")
    parser.add_argument("--test-cases", type=int, default=40, help="test images (default 40, as BUS in abraham2018)")
    parser.add_argument("--test-seed", type=int, default=2019, help="seed of the test phantom (training: 2018)")
    parser.add_argument("--epochs", type=int, default=120, help="training epochs per row (default 120)")
    parser.add_argument("--val-interval", type=int, default=10,
                        help="epochs between validations; the best validation Dice is the checkpoint (default 10)")
    parser.add_argument("--features", default=json.dumps(PAPER_FEATURES),
                        help="--features of every row, maps per level (JSON list; default the paper's 32..512)")
    parser.add_argument("--batch", type=int, default=None, help="--batch_size (default: the bundle's, 16 for BUS)")
    parser.add_argument("--rows", nargs="+", default=None, help="train only these rows (names as in the table)")
    parser.add_argument("--figure-cases", type=int, default=4, help="test cases in the figure (default 4)")
    parser.add_argument("--figure", default=str(FIGURE),
                        help="where to copy the figure ('' for nowhere; default: the model card's)")
    parser.add_argument("--quick", action="store_true", help="tiny network and phantom (checks that it runs)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    size = 32 if args.quick else args.size
    cases = 8 if args.quick else args.phantom_cases
    n_test = 6 if args.quick else args.test_cases
    common = ["--phantom_kind", "ultrasound", "--phantom_dir", str(work / "phantom"), "--phantom_shape",
              json.dumps([size, size]), "--spatial_size", json.dumps([size, size])]
    features = [4, 8, 16, 32, 64] if args.quick else json.loads(args.features)
    training = ["--phantom_cases", str(cases), "--max_epochs", str(args.epochs), "--val_interval",
                str(args.val_interval), "--num_workers", "0", "--features", json.dumps(features)]
    if args.batch is not None:
        training += ["--batch_size", str(args.batch)]
    rows = [r for r in ROWS if args.rows is None or r[0] in args.rows]
    timings = Timings()
    datalist = test_datalist(work, n_test, size, args.test_seed)

    models = {}
    for row, variant, loss, *_ in rows:
        models[row] = train(BUNDLE, work / _slug(row), [
            "--network_variant", variant, "--loss_name", loss, *common, *training,
        ], timings, f"train {row}")  # fmt: skip

    results, per_case = [], {}
    for row, *_ in rows:
        # the model's model.json gives the network variant, width, channels and image size: no flag needed
        report = evaluate(BUNDLE, models[row], work / _slug(row) / "eval", [
            "--input", str(datalist),
        ], timings, f"evaluate {row}")  # fmt: skip
        results.append((row, read_summary(report)))
        per_case[row] = {m["case"]: float(m["dsc"]) for m in read_metrics(report)}

    trained = json.loads((work / _slug(rows[0][0]) / "train" / "training_run.json").read_text())
    settings = trained["settings"]
    by_row = {r[0]: r for r in ROWS}
    lines = [
        f"Ultrasound phantom at {size} x {size}: {len(trained['training'])} training and {len(trained['validation'])} "
        f"validation images (seed 2018; best validation Dice every {args.val_interval} epochs kept), "
        f"{n_test} test images (seed {args.test_seed}). AttentionPyramidUNet feature maps "
        f"{settings['features']}{' (the paper width)' if settings['features'] == PAPER_FEATURES else ''}, "
        f"{args.epochs} epochs of batch "
        f"{settings['batch_size']}, SGD lr {settings['learning_rate']} momentum {settings['momentum']}, Keras decay "
        f"{settings['lr_decay']} per iteration; α = 0.3 on FP, β = 0.7 on FN (the paper's α = 0.7, β = 0.3), "
        f"γ = 4/3. Mean ± sd over the test images (the paper's sd is over 5 folds). {environment_line()}.",
        "",
        *_table(["Model", "Parameters", "trains", *(name for _, name in COLUMNS),
                 f"ΔDSC vs {rows[0][0]}, paired (better / worse images)", "paper (BUS) DSC"],
                [[row, by_row[row][3], by_row[row][4], *(_mean_sd(s, k) for k, _ in COLUMNS),
                  paired_difference(per_case, row, rows[0][0]), PAPER_BUS[row][0]] for row, s in results]),
        "",
        "Precision is undefined on an image where the model predicts no lesion pixel; \"(n empty)\" counts those "
        "images, left out of that mean. ΔDSC: mean ± standard error of the per-image difference.",
        "",
    ]
    for row, *_ in rows:
        info = json.loads((work / _slug(row) / "models" / "model.json").read_text())
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["metrics"].items())
        lines.append(f"- {row}: best validation at epoch {info['epoch']} ({metrics})")
    write_table(work, lines, timings)
    if len(rows) == len(ROWS):
        test = json.loads(datalist.read_text())["testing"]
        copy_figure(save_cases_figure(work / "cases.png", work, test, args.figure_cases, per_case), args.figure)


if __name__ == "__main__":
    main()
