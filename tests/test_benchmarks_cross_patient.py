"""benchmarks/cross_patient.py's arithmetic (issue 24): the volume ratio, the held-out best threshold and the mean
over folds, each against an independent computation on masks made here."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_tversky.metrics import PrecisionRecallHistogram

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import cross_patient  # noqa: E402


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))


def test_lesion_volume_ratio_is_predicted_over_true_voxels(tmp_path):
    label = np.zeros((10, 10, 10), np.uint8)
    label[2:4, 2:4, 2:4] = 1  # 8 voxels
    pred = np.zeros_like(label)
    pred[0:3, 0:4, 0:5] = 1  # 60 voxels
    _save(tmp_path / "patient" / "GT.nii.gz", label)
    _save(tmp_path / "eval" / "p" / "p_seg.nii.gz", pred)
    assert cross_patient.lesion_volume_ratio(tmp_path / "eval", tmp_path / "patient") == 60 / 8
    _save(tmp_path / "eval" / "q" / "q_seg.nii.gz", pred)  # two masks: not one fold's
    assert math.isnan(cross_patient.lesion_volume_ratio(tmp_path / "eval", tmp_path / "patient"))


def test_best_threshold_maximises_the_dice_of_the_thresholded_probabilities(tmp_path):
    rng = np.random.default_rng(0)
    label = rng.random((20, 20, 20)) < 0.05
    prob = np.clip(0.55 * label + 0.6 * rng.random(label.shape), 0, 0.999).astype(np.float32)
    hist = PrecisionRecallHistogram(num_bins=100)
    hist.update(prob, label)
    hist.save_csv(tmp_path / "pr_histogram.csv")
    threshold, dsc = cross_patient.best_threshold(tmp_path)
    # brute force over the same thresholds: DSC of prob >= t against the label
    grid = np.arange(100) / 100
    dice = [2 * np.sum((prob >= t) & label) / (np.sum(prob >= t) + np.sum(label)) for t in grid]
    k = int(np.argmax(dice))
    assert threshold == pytest.approx(grid[k]) and dsc == pytest.approx(dice[k], rel=1e-9)
    assert math.isnan(cross_patient.best_threshold(tmp_path / "none")[0])


def test_mean_row_skips_nan_and_gives_the_sample_sd():
    rows = [{"dsc": {"mean": "0.2"}}, {"dsc": {"mean": "0.6"}}, {"dsc": {"mean": "nan"}}]
    out = cross_patient.mean_row(rows)["dsc"]
    assert float(out["mean"]) == pytest.approx(0.4) and float(out["sd"]) == pytest.approx(np.std([0.2, 0.6], ddof=1))
    assert out["n"] == "2"


def test_the_final_datalist_trains_and_validates_on_every_patient_in_the_bundles_channel_order(tmp_path):
    patients = {}
    for name in ("pa", "pb"):
        for stem in ("FLAIR", "T1", "T1POST", "T2", "GT"):
            _save(tmp_path / "src" / name / f"{stem}.nii.gz", np.zeros((4, 4, 4), np.float32))
        patients[name] = tmp_path / "src" / name
    path = cross_patient.final_datalist(tmp_path / "work", patients, cross_patient.bundle_channels("tversky_unet3d", []))
    datalist = json.loads(path.read_text())
    assert datalist["modality"] == {"0": "T1", "1": "T2", "2": "FLAIR"}
    assert [i["case_id"] for i in datalist["training"]] == [i["case_id"] for i in datalist["validation"]] == ["pa", "pb"]
    assert [Path(f).name for f in datalist["training"][0]["image"]] == ["T1.nii.gz", "T2.nii.gz", "FLAIR.nii.gz"]
    assert cross_patient.bundle_channels("msseg", []) == ["FLAIR", "T1", "T1Gd", "T2"]
    assert cross_patient.bundle_channels("generalised_dice", ["--modalities", "['FLAIR']"]) == ["FLAIR"]
