"""The 3D bundles' shipped models say how they do on patients they never saw (issue 24): ``models/model.json``
records the leave-one-patient-out folds of ``benchmarks/cross_patient.py`` and their mean, ``metadata.json``'s
``eval_metrics`` repeat the mean, and the card's "Real data" section opens with the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bundle_catalog import bundle_dir, metadata
from monai_tversky.engines import read_model_info

BUNDLES_3D = ("msseg", "tversky_unet3d", "generalised_dice")


def _info(bundle):
    return read_model_info(bundle_dir(bundle) / "models" / "model.pt")


def _shipped_real(bundle) -> bool:
    info = _info(bundle) or {}
    return "cross_patient" in info


@pytest.mark.parametrize("bundle", BUNDLES_3D)
def test_the_recorded_scores_are_the_mean_of_the_folds_and_metadata_repeats_them(bundle):
    if not _shipped_real(bundle):
        pytest.skip(f"{bundle} ships no real-data model yet (its card says why)")
    info = _info(bundle)
    folds = info["cross_patient"]
    assert "leave one patient out" in info["test_data"]
    # every patient is either a scored fold or named as not run
    assert len(folds) >= 1 and len(folds) + len(info.get("cross_patient_not_run", [])) >= 2
    for key, value in info["test_metrics"].items():
        values = [f[key] for f in folds.values() if key in f and not np.isnan(f[key])]
        assert value == pytest.approx(np.mean(values), abs=1e-4), key
    meta = metadata(bundle)
    test = info["test_metrics"]
    assert meta["eval_metrics"] == {"mean_dice": test["dsc"], "sensitivity": test["sensitivity"], "precision": test["ppv"]}
    # trained on every patient of the folds, by the recipe the folds scored
    record = json.loads((bundle_dir(bundle) / "models" / "training_run.json").read_text())
    assert sorted(i["case_id"] for i in record["training"]) == sorted([*folds, *info.get("cross_patient_not_run", [])])
    assert info.get("recipe") == record["settings"]["recipe"]


@pytest.mark.parametrize("bundle", BUNDLES_3D)
def test_the_card_reports_the_cross_patient_scores_first(bundle):
    if not _shipped_real(bundle):
        pytest.skip(f"{bundle} ships no real-data model yet")
    card = (bundle_dir(bundle) / "docs" / "README.md").read_text(encoding="utf-8")
    section = card[card.index("\n## Real data"):]
    section = section[: section.find("\n## ", 1)]
    dsc = f"{100 * _info(bundle)['test_metrics']['dsc']:.2f}"
    assert "leave one patient out" in section.lower() and dsc in section
    # the cross-patient table comes before any same-patient (hemisphere) number
    if "hemisphere" in section:
        assert section.index(dsc) < section.index("hemisphere")
        assert "same patient" in section.lower()
