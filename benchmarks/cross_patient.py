"""Leave-one-patient-out evaluation of a 3D bundle (issue 24): the way to judge a model meant for patients it never
saw. For every patient of ``--patients`` (a folder of patient folders, e.g. one per MS case with ``FLAIR.nii.gz``,
``T1.nii.gz``, ..., ``GT.nii.gz``), the bundle's own ``train.json`` trains on all the other patients and its
``inference.json`` + ``evaluate.json`` score the model on the one left out; the table gives the papers' columns
(``real_data_table.py``: DSC, sensitivity, specificity, F2, APR, PPV, LTPR, LFPR, VD, SD) and the predicted / true
lesion-volume ratio, per fold and as the mean over the folds, beside the paper's held-out numbers.

Each ``--recipe NAME`` is one row group: ``--recipe paper`` trains with the paper's recipe (lesion patches only, no
augmentation: ``--recipe paper`` is also the bundle override), ``--recipe robust`` with the cross-patient recipe
(the bundles' default on real data); anything else in ``--bundle-args`` changes the row (give it its own
``--label``). ``--final`` trains the model to ship, on every patient, with the same arguments. Runs are resumable and a finished fold is skipped, so several processes can share a ``--work`` folder
(``--folds p07`` in one, ``--folds p19`` in the other; then ``--report`` alone prints the table of every row there).

    OMP_NUM_THREADS=1 python benchmarks/cross_patient.py --bundle tversky_unet3d --patients /data/ms_patients \\
        --work /work/runs/lopo_tversky --label paper --eval-args '--sw_batch_size 8' \\
        --bundle-args --recipe paper --patch_size "[32,32,32]" --patches_per_image 8 --batch_size 1 \\
        --max_epochs 3000 --val_interval 3000 --sw_batch_size 8 --learning_rate 0.0005
    python benchmarks/cross_patient.py --bundle tversky_unet3d --patients /data/ms_patients \\
        --work /work/runs/lopo_tversky --report

A training patient is the model's only validation data in a fold (the folds hold out whole patients), so the folds'
``--val_interval`` should equal their length: the model scored is then the last one, not one chosen on the patient
it trained on. Two patients of one site and scanner (``../shared/data/open_ms_p19`` and ``open_ms_p07``) show how a
model carries to an unseen patient, not to another site.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
from pathlib import Path

import nibabel as nib
import numpy as np

from bundle_runs import REPO, Timings, environment_line, evaluate, read_pr_curve, read_summary, train, write_table
from real_data_table import COLUMNS_3D, PAPER, PERCENT, cell

SHARED = REPO.parent / "shared" / "data"
#: the open MS patients at hand (Lesjak et al. 2018, CC-BY), used when --patients is not given
DEFAULT_PATIENTS = {"p19": SHARED / "open_ms_p19", "p07": SHARED / "open_ms_p07"}
LABEL_STEMS = ("GT", "label", "consensus_gt", "Consensus")


def list_patients(folder: Path | None) -> dict[str, Path]:
    """``{name: folder}`` of the patients: the sub-folders of ``folder`` (each one patient), else the open MS pair."""
    if folder is None:
        return {name: path for name, path in DEFAULT_PATIENTS.items() if path.is_dir()}
    patients = {p.name: p.resolve() for p in sorted(Path(folder).iterdir()) if p.is_dir()}
    if len(patients) < 2:
        raise SystemExit(f"{folder} holds {len(patients)} patient folder(s); leave-one-patient-out needs two or more.")
    return patients


def patient_set(work: Path, name: str, patients: dict[str, Path]) -> Path:
    """A folder ``<work>/patients/<name>`` of links to ``patients`` (the bundle's folder layout: one case per
    sub-folder), made once."""
    folder = work / "patients" / name
    folder.mkdir(parents=True, exist_ok=True)
    for patient, path in patients.items():
        link = folder / patient
        if not link.exists():
            link.symlink_to(path, target_is_directory=True)
    return folder


def lesion_volume_ratio(eval_dir: Path, patient: Path) -> float:
    """Predicted / true lesion volume of a fold: the voxels of the mask the bundle's inference wrote (``*_seg.nii.gz``
    under ``eval_dir``) over those of the patient's label."""
    masks = sorted(p for p in eval_dir.rglob("*_seg.nii.gz"))
    labels = [patient / f"{stem}.nii.gz" for stem in LABEL_STEMS if (patient / f"{stem}.nii.gz").is_file()]
    if len(masks) != 1 or not labels:
        return math.nan
    predicted = int(np.count_nonzero(np.asarray(nib.load(str(masks[0])).dataobj)))
    true = int(np.count_nonzero(np.asarray(nib.load(str(labels[0])).dataobj)))
    return predicted / true if true else math.inf


def best_threshold(report: Path) -> tuple[float, float]:
    """``(threshold, DSC)``: the probability threshold with the best DSC on the fold's held-out patient (from the
    report's pooled precision-recall histogram, DSC = 2PR / (P + R)), to see what a threshold other than the
    model's would give; (nan, nan) without a histogram."""
    if not (report / "pr_histogram.csv").is_file():
        return math.nan, math.nan
    precision, recall, thresholds = read_pr_curve(report).curve()
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        dsc = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if dsc.size == 0 or np.all(np.isnan(dsc)):
        return math.nan, math.nan
    k = int(np.nanargmax(dsc))
    return float(thresholds[k]), float(dsc[k])


def final_datalist(work: Path, patients: dict[str, Path], channels: list[str]) -> Path:
    """A datalist of every patient, each one in ``"training"`` and in ``"validation"`` (no patient is held out of the
    model meant to ship; its selection was the folds'), with the bundle's ``channels`` in order."""
    from monai_tversky.data import canonical_modalities, folder_datalist, save_datalist

    channels = list(canonical_modalities(channels))
    items = folder_datalist(patient_set(work, "all", patients), modalities=channels, require_label=True)
    path = work / "patients" / f"all_{'_'.join(channels)}.json"
    save_datalist({"modality": {str(i): m for i, m in enumerate(channels)}, "training": items, "validation": items,
                   "source": f"patients {', '.join(patients)}"}, path, relative=False)  # fmt: skip
    return path


def bundle_channels(bundle: str, train_args: list[str]) -> list[str]:
    """The channels a run of the bundle takes: ``--modalities`` of ``train_args``, else train.json's ``modalities``
    (or its ``default_modalities`` when that is ``auto``)."""
    if "--modalities" in train_args:
        return list(json.loads(train_args[train_args.index("--modalities") + 1].replace("'", '"')))
    config = json.loads((REPO / "bundles" / bundle / "configs" / "train.json").read_text())
    channels = config["modalities"]
    return list(config["default_modalities"] if channels == "auto" else channels)


TEST_METRIC_KEYS = ("dsc", "sensitivity", "ppv", "apr", "ltpr", "lfpr", "vd", "sd", "volume_ratio")


def ship(bundle: str, work: Path, label: str, patients: dict[str, Path], timings_line: str) -> Path:
    """Copy ``<work>/<label>/final``'s model into ``bundles/<bundle>/models/`` with the folds' cross-patient scores:
    ``model.json`` gains ``test_data``, ``test_metrics`` (mean over the finished folds), ``cross_patient`` (per fold)
    and, when some fold was not run, ``cross_patient_not_run`` (its test patients), and
    metadata.json's ``eval_metrics`` repeat the mean DSC, sensitivity and precision."""
    import shutil

    final = work / label / "final"
    rows = {test: fold_row(work, label, test, patients) for test in patients}
    cut = sorted(test for test, row in rows.items() if row is None)
    rows = {test: row for test, row in rows.items() if row is not None}
    if not (final / "models" / "model.json").is_file() or not rows:
        raise SystemExit(f"--ship {label}: the final model and at least one fold of {label} must be finished first")
    mean = mean_row(list(rows.values()))
    pick = lambda s: {k: round(float(s[k]["mean"]), 4) for k in TEST_METRIC_KEYS if k in s}  # noqa: E731
    models = REPO / "bundles" / bundle / "models"
    info = json.loads((final / "models" / "model.json").read_text())
    info["test_data"] = (f"leave one patient out over {', '.join(patients)} (open MS data, Lesjak et al. 2018, "
                         f"CC-BY): each fold trained with the same arguments on the other patient(s) and scored on "
                         f"the one left out; benchmarks/cross_patient.py --label {label}")  # fmt: skip
    info["test_metrics"] = pick(mean)
    info["cross_patient"] = {test: pick(row) for test, row in rows.items()}
    if cut:  # folds not run (CPU time): the record says which patients were never scored as unseen
        info["cross_patient_not_run"] = cut
    if timings_line:
        info["training_time"] = timings_line
    shutil.copyfile(final / "models" / "model.pt", models / "model.pt")
    (models / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    record = final / "train" / "training_run.json"
    if record.is_file():
        shutil.copyfile(record, models / "training_run.json")
    meta_path = REPO / "bundles" / bundle / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["eval_metrics"] = {"mean_dice": info["test_metrics"]["dsc"], "sensitivity": info["test_metrics"]["sensitivity"],
                            "precision": info["test_metrics"]["ppv"]}  # fmt: skip
    meta_path.write_text(json.dumps(meta, indent=4, ensure_ascii=False) + "\n")
    return models / "model.pt"


def run_fold(bundle: str, work: Path, label: str, test: str, patients: dict[str, Path], train_args: list[str],
             eval_args: list[str], timings: Timings) -> None:  # fmt: skip
    """Train on every patient but ``test`` and score the model on ``test`` (both skipped when already done)."""
    others = {name: path for name, path in patients.items() if name != test}
    training = patient_set(work, "without_" + test, others)
    run = work / label / f"fold_{test}"
    model = train(bundle, run, ["--dataset_dir", str(training), "--num_workers", "0", *train_args], timings,
                  f"{label}: train without {test}")  # fmt: skip
    evaluate(bundle, model, run / f"eval_{test}", ["--input", str(patient_set(work, "only_" + test,
             {test: patients[test]})), *eval_args], timings, f"{label}: evaluate on {test}")  # fmt: skip


def fold_row(work: Path, label: str, test: str, patients: dict[str, Path]) -> dict[str, dict[str, str]] | None:
    """The fold's summary (one case) with ``volume_ratio`` added; ``None`` while the fold is not finished."""
    eval_dir = work / label / f"fold_{test}" / f"eval_{test}"
    if not (eval_dir / "report" / "summary.csv").is_file():
        return None
    summary = read_summary(eval_dir / "report")
    ratio = lesion_volume_ratio(eval_dir, patients[test])
    summary["volume_ratio"] = {"mean": str(ratio), "sd": "nan", "n": "1"}
    threshold, dsc = best_threshold(eval_dir / "report")
    summary["best_threshold"] = {"mean": str(threshold), "sd": "nan", "n": "1"}
    summary["dsc_at_best"] = {"mean": str(dsc), "sd": "nan", "n": "1"}
    return summary


def mean_row(rows: list[dict[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    """Mean and sd over the folds of each column (a fold's NaN left out, as MONAI's reductions do)."""
    out = {}
    for key in rows[0]:
        values = np.array([float(r[key]["mean"]) for r in rows if key in r], dtype=float)
        finite = values[~np.isnan(values)]
        mean = float(np.mean(finite)) if finite.size else math.nan
        sd = float(np.std(finite, ddof=1)) if finite.size > 1 else math.nan
        out[key] = {"mean": str(mean), "sd": str(sd), "n": str(finite.size)}
    return out


def ratio_cell(summary: dict) -> str:
    value = float(summary.get("volume_ratio", {}).get("mean", "nan"))
    if math.isnan(value):
        return "—"
    sd = float(summary["volume_ratio"].get("sd", "nan"))
    return f"{value:.2f}×" + (f" ± {sd:.2f}" if not math.isnan(sd) else "")


def report(bundle: str, work: Path, patients: dict[str, Path]) -> list[str]:
    """The table of every row (recipe label) in ``work``: one line per fold and the mean over the folds."""
    header = ["Recipe", "Test patient", *(name for _, name in COLUMNS_3D), "Volume pred/true",
              "Best threshold (DSC at it)"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label_dir in sorted(p for p in work.iterdir() if p.is_dir() and (p / "recipe.json").is_file()):
        rows = {test: fold_row(work, label_dir.name, test, patients) for test in patients}
        done = {k: v for k, v in rows.items() if v is not None}
        for test, summary in [*done.items(), *([("mean", mean_row(list(done.values())))] if len(done) > 1 else [])]:
            cells = [cell(summary, k, k in PERCENT) for k, _ in COLUMNS_3D]
            best = f"{cell(summary, 'best_threshold', False)} ({cell(summary, 'dsc_at_best', True)})"
            lines.append("| " + " | ".join([label_dir.name, test, *cells, ratio_cell(summary), best]) + " |")
        missing = sorted(set(rows) - set(done))
        if missing:
            lines.append(f"| {label_dir.name} | {', '.join(missing)}: not run | " + " | " * (len(COLUMNS_3D) + 1))
    lines += ["", f"In %, SD in mm. Each fold trains on the other patients and scores the one named at the model's "
              "threshold; the last column is the threshold that would have been best on that patient (chosen on the "
              "test patient itself: a diagnosis, not a score). "
              f"Paper (held-out patients of their data set): {PAPER.get(bundle, '—')}."]  # fmt: skip
    recipes = [(p.name, json.loads((p / "recipe.json").read_text())) for p in sorted(work.iterdir())
               if (p / "recipe.json").is_file()]  # fmt: skip
    lines += ["", *(f"- {name}: training `{' '.join(r['train_args'])}`; evaluation `{' '.join(r['eval_args']) or '—'}`"
                    for name, r in recipes)]  # fmt: skip
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, choices=("msseg", "tversky_unet3d", "generalised_dice"))
    ap.add_argument("--patients", type=Path, default=None, help="a folder of patient folders (default: p19 and p07)")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--label", default="robust", help="the row's name (a folder under --work)")
    ap.add_argument("--folds", nargs="*", default=None, help="the test patients to run (default: all)")
    ap.add_argument("--report", action="store_true", help="only print the table of what is finished in --work")
    ap.add_argument("--ship", action="store_true",
                    help="copy <work>/<label>/final's model into the bundle's models/ with the folds' scores")
    ap.add_argument("--final", action="store_true",
                    help="train the model to ship on every patient (into <work>/<label>/final) instead of the folds")
    ap.add_argument("--eval-args", default="", help="overrides for the evaluations, one string (e.g. '--tta none')")
    ap.add_argument("--bundle-args", nargs=argparse.REMAINDER, default=[], help="training overrides, as given")
    args = ap.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    patients = list_patients(args.patients)
    timings = Timings()
    if args.ship:
        print(f"shipped: {ship(args.bundle, work, args.label, patients, '')}")
        return
    if args.final:
        datalist = final_datalist(work, patients, bundle_channels(args.bundle, args.bundle_args))
        model = train(args.bundle, work / args.label / "final", ["--datalist", str(datalist), "--num_workers", "0",
                      *args.bundle_args], timings, f"{args.label}: train on {', '.join(patients)}")  # fmt: skip
        print(f"model trained on every patient: {model}\n{timings.line()}")
        return
    if not args.report:
        recipe = work / args.label / "recipe.json"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(json.dumps({"train_args": args.bundle_args, "eval_args": shlex.split(args.eval_args)}))
        for test in args.folds or list(patients):
            if test not in patients:
                raise SystemExit(f"--folds {test}: no such patient in {sorted(patients)}")
            run_fold(args.bundle, work, args.label, test, patients, list(args.bundle_args),
                     shlex.split(args.eval_args), timings)  # fmt: skip
    lines = [f"{args.bundle}, leave one patient out over {', '.join(f'{k} ({v})' for k, v in patients.items())}; "
             f"{environment_line()}.", "", *report(args.bundle, work, patients)]  # fmt: skip
    write_table(work, lines, timings)


if __name__ == "__main__":
    main()
