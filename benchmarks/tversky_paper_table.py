"""The tversky_unet3d bundle's own version of salehi2017 Table 1 on the synthetic phantom: the 3D U-Net trained with
the Tversky loss at (α, β) = (0.5, 0.5) (the Dice loss), (0.4, 0.6), (0.3, 0.7), (0.2, 0.8) and (0.1, 0.9), with DSC,
sensitivity, specificity, F2 and APR per row and the PR curves of the five models on one plot (salehi2017 Fig. 2a);
then the msseg bundle's shipped demo model and this bundle's α = 0.3 model on the same validation cases, with the
same metrics (hashemi2018 Table I reports the U-Net against the patch-wise DenseNet).

Everything runs through the bundles' own commands, as a user would (``bundle_runs.py``): ``configs/train.json``
once per row (same phantom, seed, patch size, epochs; only ``--alpha``/``--beta`` differ), then
``configs/inference.json`` + ``configs/evaluate.json`` on the phantom's validation cases (spline fusion, no test-time
augmentation). Each step is skipped when its output is already there, so an interrupted run continues where it
stopped.

The msseg comparison needs the same cases. Both bundles generate the phantom with the same seed, case count and size,
and the generator draws the anatomy and the lesions before the channels, so the labels are the same whatever the
channels; the script checks it, label file by label file. Each channel's contrasts, bias field and noise are drawn in
channel order, so a three-channel phantom's T1 is not the five-channel one's: this bundle's model is therefore
evaluated on the T1, T2 and FLAIR files of msseg's own phantom (a datalist written into ``<work>``), the very voxels
msseg's model sees.

    # the model card's table (and its demo checkpoint, the α = 0.3 row): 70 min on a shared core, 41 min of CPU
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/tversky_paper_table.py --work /tmp/tversky_table \
        --epochs 100 --val-interval 50 --learning-rate 1e-3
    # a few minutes, checks that it runs:
    python benchmarks/tversky_paper_table.py --work /tmp/t --epochs 1 --val-interval 1 --quick --figure ''

The figures go to ``<work>/table.md`` (and stdout), ``<work>/pr_curves.png`` and, unless ``--figure ''``, the
model card's ``bundles/tversky_unet3d/docs/pr_curves_phantom.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from bundle_runs import (
    copy_figure,
    REPO,
    Timings,
    environment_line,
    evaluate,
    percent,
    read_metrics,
    read_pr_curve,
    read_summary,
    save_pr_figure,
    train,
    write_table,
)

BUNDLE = "tversky_unet3d"
MSSEG = "msseg"
PAPER_ALPHAS = [0.5, 0.4, 0.3, 0.2, 0.1]  # salehi2017 Table 1, β = 1 − α
COLUMNS = [("dsc", "DSC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("f2", "F2"),
           ("apr", "APR (per case)"), ("apr_pooled", "APR (pooled)"), ("ppv", "PPV"), ("ltpr", "LTPR"),
           ("lfpr", "LFPR")]
PHANTOM_KEYS = ("phantom_cases", "phantom_shape", "seed")
FIGURE = REPO / "bundles" / BUNDLE / "docs" / "pr_curves_phantom.png"


def _config(bundle: str) -> dict:
    return json.loads((REPO / "bundles" / bundle / "configs" / "train.json").read_text())


def _rows(alphas: list[float]) -> list[tuple[float, float]]:
    return [(round(a, 6), round(1.0 - a, 6)) for a in alphas]


def _overrides(args: argparse.Namespace, phantom: Path) -> list[str]:
    out = ["--phantom_dir", str(phantom), "--patch_size", json.dumps([args.patch] * 3)]
    if args.quick:
        out += ["--phantom_shape", "[48,64,64]", "--phantom_cases", "5", "--features", "[4,4,8,8,16,4]"]
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def compare_labels(ours: Path, theirs: Path, modalities: list[str]) -> list[str]:
    """Lines saying whether the two phantoms' cases hold the same labels and the same images of ``modalities``."""
    ours_list = json.loads((ours / "datalist.json").read_text())
    theirs_list = json.loads((theirs / "datalist.json").read_text())
    cases = [i["case_id"] for s in ("training", "validation") for i in ours_list[s]]
    same_split = all(
        [i["case_id"] for i in ours_list[s]] == [i["case_id"] for i in theirs_list[s]] for s in ("training", "validation")
    )
    equal_labels, equal_images = 0, {m: 0 for m in modalities}
    for case in cases:
        a = np.asarray(nib.load(ours / case / "label.nii.gz").dataobj)
        b = np.asarray(nib.load(theirs / case / "label.nii.gz").dataobj)
        equal_labels += int(a.shape == b.shape and np.array_equal(a, b))
        for m in modalities:
            x = np.asarray(nib.load(ours / case / f"{m}.nii.gz").dataobj)
            y = np.asarray(nib.load(theirs / case / f"{m}.nii.gz").dataobj)
            equal_images[m] += int(np.array_equal(x, y))
    images = ", ".join(f"{m} {n}/{len(cases)}" for m, n in equal_images.items())
    return [
        f"labels identical in {equal_labels}/{len(cases)} cases; same training/validation split: {same_split}; "
        f"identical image files: {images}",
    ]


def msseg_cases_datalist(phantom: Path, channels: list[str], path: Path) -> Path:
    """A datalist of the msseg phantom's validation cases with only ``channels`` (in that order): the very files
    msseg's model sees, for this bundle's model."""
    datalist = json.loads((phantom / "datalist.json").read_text())
    items = [
        {"image": [str(phantom / item["case_id"] / f"{m}.nii.gz") for m in channels],
         "label": str(phantom / item["label"]), "case_id": item["case_id"]}
        for item in datalist["validation"]
    ]  # fmt: skip
    path.write_text(json.dumps({"modality": {str(i): m for i, m in enumerate(channels)}, "validation": items}, indent=2))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path, help="folder for the phantoms, checkpoints and reports")
    parser.add_argument("--alphas", type=float, nargs="+", default=PAPER_ALPHAS,
                        help="false-positive weights α of the rows; β = 1 − α (default: salehi2017's five)")
    parser.add_argument("--epochs", type=int, default=100, help="training epochs per row (default 100)")
    parser.add_argument("--val-interval", type=int, default=50,
                        help="epochs between validations; the best validation Dice is the checkpoint (default 50)")
    parser.add_argument("--patch", type=int, default=32, help="cubic training patch and inference window size")
    parser.add_argument("--batch", type=int, default=None, help="--batch_size of the training runs (default: the "
                        "bundle's)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="--learning_rate of the training runs (default 1e-3, 10x salehi2017's 1e-4, which does "
                             "not get far in the few hundred iterations a CPU affords; see the model card)")
    parser.add_argument("--patches-per-image", type=int, default=None,
                        help="--patches_per_image of the training runs (default: the bundle's)")
    parser.add_argument("--tta", default="none", help="test-time augmentation of the evaluations (none or rot180)")
    parser.add_argument("--compare-alpha", type=float, default=0.3,
                        help="the row compared with msseg's demo model (default 0.3, the demo checkpoint's)")
    parser.add_argument("--no-msseg", action="store_true", help="skip the comparison with the msseg bundle")
    parser.add_argument("--figure", default=str(FIGURE),
                        help="where to copy the PR figure of the rows ('' for nowhere; default: the model card's)")
    parser.add_argument("--quick", action="store_true", help="tiny phantom and network (checks that it runs)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    common = _overrides(args, work / "phantom")
    training = ["--max_epochs", str(args.epochs), "--val_interval", str(args.val_interval), "--num_workers", "0"]
    if args.batch is not None:
        training += ["--batch_size", str(args.batch)]
    if args.patches_per_image is not None:
        training += ["--patches_per_image", str(args.patches_per_image)]
    if args.learning_rate is not None:
        training += ["--learning_rate", f"{args.learning_rate:g}"]
    timings = Timings()
    rows = _rows(args.alphas)

    models = {}
    for alpha, beta in rows:
        models[alpha] = train(BUNDLE, work / f"alpha{alpha:g}_beta{beta:g}", [
            "--alpha", str(alpha), "--beta", str(beta), *common, *training,
        ], timings, f"train α {alpha:g} β {beta:g}")  # fmt: skip

    results, curves = [], {}
    for alpha, beta in rows:
        report = evaluate(BUNDLE, models[alpha], work / f"alpha{alpha:g}_beta{beta:g}" / "eval", [
            "--tta", args.tta, "--alpha_of_checkpoint", str(alpha), "--beta_of_checkpoint", str(beta), *common,
        ], timings, f"evaluate α {alpha:g} β {beta:g}")  # fmt: skip
        summary = read_summary(report)
        results.append((alpha, beta, summary))
        curves[f"α = {alpha:g}, β = {beta:g}"] = read_pr_curve(report)

    n_cases = results[0][2]["dsc"]["n"] if results else "0"
    trained = json.loads((work / f"alpha{rows[0][0]:g}_beta{rows[0][1]:g}" / "train" / "training_run.json").read_text())
    settings = trained["settings"]
    lines = [
        f"3D U-Net (features {settings['features']}) trained {args.epochs} epochs per row on {args.patch}^3 patches "
        f"({settings['batch_size']} images x {settings['patches_per_image']} patches per iteration, Adam "
        f"{settings['learning_rate']:g}, "
        f"{len(trained['training'])} training cases; best validation Dice every {args.val_interval} epochs kept); "
        f"evaluated on the phantom's {n_cases} validation cases with {args.patch}^3 windows, spline fusion, "
        f"tta={args.tta}. Mean over cases (%), APR (pooled) over all voxels of the set. {environment_line()}.",
        "",
        *_table(["α", "β", *(name for _, name in COLUMNS)],
                [[f"{a:g}", f"{b:g}", *(percent(s, k) for k, _ in COLUMNS)] for a, b, s in results]),
    ]
    for alpha, beta in rows:
        info = json.loads((work / f"alpha{alpha:g}_beta{beta:g}" / "models" / "model.json").read_text())
        lines.append(f"- α {alpha:g}: best validation at epoch {info['epoch']}, {info['metrics']}")

    if not args.no_msseg and args.compare_alpha in models:
        lines += ["", *compare_with_msseg(args, work, models[args.compare_alpha], common, timings)]

    write_table(work, lines, timings)
    if curves:
        path = save_pr_figure(work / "pr_curves.png", curves, title="tversky_unet3d, phantom validation set")
        copy_figure(path, args.figure)


def compare_with_msseg(args, work: Path, model: Path, common: list[str], timings: Timings) -> list[str]:
    """msseg's shipped demo model and this bundle's model on the same validation cases (msseg's phantom files)."""
    ours, theirs = _config(BUNDLE), _config(MSSEG)
    differ = [k for k in PHANTOM_KEYS if ours[k] != theirs[k]]
    if differ:
        return [f"msseg comparison skipped: the bundles' phantoms differ in {differ}"]
    phantom = work / "phantom_msseg"
    msseg_common = ["--phantom_dir", str(phantom), "--patch_size", json.dumps([args.patch] * 3)]
    if args.quick:
        msseg_common += ["--phantom_shape", "[48,64,64]", "--phantom_cases", "5"]
    report_msseg = evaluate(MSSEG, REPO / "bundles" / MSSEG / "models" / "model.pt", work / "msseg_demo" / "eval", [
        "--tta", args.tta, "--fusion", "spline", *msseg_common,
    ], timings, "evaluate msseg demo")  # fmt: skip
    channels = list(ours["modalities"])
    datalist = msseg_cases_datalist(phantom, channels, work / "msseg_cases_T1_T2_FLAIR.json")
    run = model.parent.parent
    report_ours = evaluate(BUNDLE, model, run / "eval_msseg_cases", [
        "--input", str(datalist), "--tta", args.tta, "--alpha_of_checkpoint", str(args.compare_alpha),
        "--beta_of_checkpoint", str(round(1.0 - args.compare_alpha, 6)), *common,
    ], timings, "evaluate tversky_unet3d on msseg's cases")  # fmt: skip
    own = run / "eval" / "report"
    rows = [
        ["msseg demo (PatchDenseNet3D, F-beta β = 1.5)", "FLAIR, T1, T1Gd, PD, T2 of msseg's phantom",
         *(percent(read_summary(report_msseg), k) for k, _ in COLUMNS)],
        [f"tversky_unet3d (3D U-Net, Tversky α = {args.compare_alpha:g})", "T1, T2, FLAIR of msseg's phantom",
         *(percent(read_summary(report_ours), k) for k, _ in COLUMNS)],
        [f"tversky_unet3d (3D U-Net, Tversky α = {args.compare_alpha:g})", "T1, T2, FLAIR of its own phantom",
         *(percent(read_summary(own), k) for k, _ in COLUMNS)],
    ]  # fmt: skip
    cases = ", ".join(r["case"] for r in read_metrics(report_msseg))
    return [
        f"msseg comparison on the validation cases {cases} ({args.patch}^3 windows, spline fusion, tta={args.tta}):",
        *compare_labels(work / "phantom", phantom, channels),
        "",
        *_table(["model", "input", *(name for _, name in COLUMNS)], rows),
    ]


if __name__ == "__main__":
    main()
