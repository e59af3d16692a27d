"""A quick same-patient check of a 3D bundle on one real MS case (issue 21), ``../shared/data/open_ms_p19``
(Lesjak et al. 2017, CC-BY; MNI space, 182 x 218 x 182 at 1 mm, FLAIR, T1, T1POST, T2 and a consensus mask).

The other hemisphere of the training patient is NOT held-out data (same patient, scanner, session, preprocessing
and raters): a model that scores 0.85 here scored 0.04 on a patient it never saw (issue 24). Judge a model with
``cross_patient.py`` (leave one patient out); this script is a smoke test of the real-data path. The volume is cut
at the mid-sagittal plane (voxel column 91 of 182), the network trains on one half (its only training and
validation image) and every model is scored on the other half, by the bundle's own ``inference.json`` + ``evaluate.json``
(``real_data_table.py``): DSC, sensitivity, specificity, F2, APR, PPV, lesion-wise TPR / FPR, VD, SD. The phantom
model (the bundle's shipped one, or ``--phantom-model``) is scored on the same half beside it.

    OMP_NUM_THREADS=1 python benchmarks/ms_real_case.py --bundle tversky_unet3d --work /work/runs/p19_tversky \\
        --bundle-args --patch_size "[32,32,32]" --patches_per_image 8 --batch_size 1 --max_epochs 1500 \\
        --val_interval 250 --sw_batch_size 8

Each half keeps the case's geometry (its affine is the case's, shifted by the cut), so the outputs overlay the
original. A finished training is skipped; an interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import nibabel as nib
import numpy as np

from bundle_runs import REPO, Timings, environment_line, evaluate, read_summary, train, write_table
from real_data_table import model_lines, table

CASE = REPO.parent / "shared" / "data" / "open_ms_p19"
MODALITY_FILES = ("FLAIR", "T1", "T1POST", "T2")


def write_halves(case: Path, out: Path, cut: int = 91) -> dict[str, Path]:
    """The case cut along its first voxel axis at ``cut``: ``out/{right,left}/<file>.nii.gz`` (in RAS, voxel columns
    below 91 of MNI space are the patient's right), affines shifted so each half lies where it lay."""
    halves = {"right": (0, cut), "left": (cut, None)}
    written = {}
    for name, (start, stop) in halves.items():
        folder = out / name / "p19"
        folder.mkdir(parents=True, exist_ok=True)
        for stem in (*MODALITY_FILES, "GT"):
            target = folder / f"{stem}.nii.gz"
            if target.is_file():
                continue
            img = nib.load(str(case / f"{stem}.nii.gz"))
            data = np.asarray(img.dataobj)[start:stop]
            affine = img.affine.copy()
            affine[:3, 3] = img.affine[:3, :3] @ np.array([start, 0, 0]) + img.affine[:3, 3]
            nib.save(nib.Nifti1Image(data, affine, img.header), str(target))
        written[name] = out / name
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, choices=("msseg", "tversky_unet3d", "generalised_dice"))
    ap.add_argument("--case", type=Path, default=CASE)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--train-half", default="right", choices=("right", "left"))
    ap.add_argument("--phantom-model", default="", help="the phantom model to compare (default: the shipped one)")
    ap.add_argument("--eval-args", default="", help="overrides for the evaluations, one string (e.g. '--tta none')")
    ap.add_argument("--bundle-args", nargs=argparse.REMAINDER, default=[], help="training overrides, as given")
    args = ap.parse_args()
    eval_args = shlex.split(args.eval_args)
    work = args.work.resolve()
    halves = write_halves(args.case.resolve(), work / "halves")
    test_half = "left" if args.train_half == "right" else "right"
    timings = Timings()
    model = train(args.bundle, work / "real", ["--dataset_dir", str(halves[args.train_half]), "--num_workers", "0",
                                               *args.bundle_args], timings, f"train on the {args.train_half} half")
    phantom = Path(args.phantom_model or REPO / "bundles" / args.bundle / "models" / "model.pt").resolve()
    models = [("phantom model", phantom), (f"p19 {args.train_half} half", model)]
    results = []
    for name, path in models:
        info = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
        if info.get("modalities") and "PD" in info["modalities"]:
            results.append((f"{name} (needs PD, which p19 lacks: not run)", {}))
            continue
        out = work / name.replace(" ", "_")
        try:
            report = evaluate(args.bundle, path, out, ["--input", str(halves[test_half]), *eval_args], timings,
                              f"evaluate {name}")  # fmt: skip
        except SystemExit:  # e.g. a model without model.json whose default channels the case lacks
            last = out.parent.joinpath(f"{out.name}.log").read_text().strip().splitlines()[-1]
            results.append((f"{name} (not run: {last})", {}))
            continue
        results.append((name, read_summary(report)))
    record = json.loads((work / "real" / "train" / "training_run.json").read_text())
    lines = [
        f"SAME PATIENT (not held-out data; see cross_patient.py). "
        f"{args.bundle} on open_ms_p19: trained on the {args.train_half} hemisphere (voxel columns "
        f"{'0-90' if args.train_half == 'right' else '91-181'}, its only training and validation image), scored on "
        f"the {test_half} hemisphere by the bundle's inference.json + evaluate.json ({args.eval_args or 'defaults'}). "
        f"Training: {json.dumps(record['settings'])}. {environment_line()}.",
        "",
        *table(args.bundle, results, 1),
        "",
    ]  # fmt: skip
    write_table(work, lines + model_lines(models), timings)


if __name__ == "__main__":
    main()
