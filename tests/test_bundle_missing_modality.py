"""A case that lacks a modality (issue 19, point 4), through ``python -m monai.bundle run`` in every bundle: with
``modalities auto`` a folder's channels narrow to those every case has, and the run says so in its log and in
``training_run.json``; a modality asked for (explicitly, or as the bundle's fixed channels) stops the run naming the
case and the channel. The 2D bundle's counterpart: an image without its mask stops the run naming both files."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from bundle_catalog import BUNDLE_NAMES, bundle_run, last_line, run_output, spatial_dims, tiny_overrides_file
from PIL import Image

pytestmark = pytest.mark.slow

SHAPE = (24, 32, 32)
BUNDLES_3D = [n for n in BUNDLE_NAMES if spatial_dims(n) == 3]


def _cases(root):
    """Four cases of FLAIR, T1, T2 and GT; case p02 has no T2."""
    rng = np.random.default_rng(0)
    label = np.zeros(SHAPE, np.uint8)
    label[8:14, 10:18, 12:20] = 1
    for case in ("p01", "p02", "p03", "p04"):
        (root / case).mkdir(parents=True)
        for m in ("FLAIR", "T1", "T2"):
            if case == "p02" and m == "T2":
                continue
            image = rng.normal(size=SHAPE).astype(np.float32) + 3 * label
            nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / case / f"{m}.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / case / "GT.nii.gz"))
    return root


def _train(name, tmp_path, *args):
    return bundle_run(f"bundles/{name}/train.json", "--args_file", str(tiny_overrides_file(name)), "--dataset_dir",
                      str(tmp_path / "cases"), "--output_dir", str(tmp_path / "out"), "--ckpt_dir",
                      str(tmp_path / "models"), "--max_epochs", "1", *args)  # fmt: skip


@pytest.mark.parametrize("name", BUNDLES_3D)
def test_a_missing_modality_is_said_or_stops_the_run(name, tmp_path):
    _cases(tmp_path / "cases")
    fixed = name == "tversky_unet3d"  # its modalities are [T1, T2, FLAIR], salehi2017's, not auto
    if not fixed:
        auto = _train(name, tmp_path, "--modalities", "auto")
        assert auto.returncode == 0, run_output(auto)[-3000:]
        record = json.loads((tmp_path / "out" / "training_run.json").read_text())
        assert record["channels"] == ["FLAIR", "T1"] and record["data"]["left_out"] == {"T2": ["p02"]}
        assert record["data"]["modalities"] == "auto"
        text = run_output(auto)
        assert "left out: T2 (lacking in p02)" in text and "T2 left out (cases without it: p02)" in text
    asked = _train(name, tmp_path, *([] if fixed else ["--modalities", "['FLAIR','T1','T2']"]),
                   "--output_dir", str(tmp_path / "out_asked"), "--ckpt_dir", str(tmp_path / "models_asked"))
    assert asked.returncode != 0
    last = last_line(asked)
    assert "case 'p02'" in last and "has no image for modalities ['T2']" in last, run_output(asked)[-3000:]
    assert not (tmp_path / "models_asked" / "model.pt").exists()


@pytest.mark.skipif("focal_tversky" not in BUNDLE_NAMES, reason="no 2D bundle")
def test_an_image_without_its_mask_stops_the_2d_bundle(tmp_path):
    root = tmp_path / "busi"
    rng = np.random.default_rng(0)
    for i in range(1, 5):
        Image.fromarray(rng.integers(0, 255, (40, 56), dtype=np.uint8)).save(_dir(root / "benign" / "images") /
                                                                            f"benign ({i}).png")  # fmt: skip
        if i != 3:
            Image.fromarray(np.zeros((40, 56), np.uint8)).save(_dir(root / "benign" / "masks") / f"benign ({i})_mask.png")
    result = bundle_run("bundles/focal_tversky/train.json", "--args_file", str(tiny_overrides_file("focal_tversky")),
                        "--dataset_dir", str(root), "--output_dir", str(tmp_path / "out"), "--ckpt_dir",
                        str(tmp_path / "models"))  # fmt: skip
    assert result.returncode != 0
    last = last_line(result)
    assert "benign (3).png has no mask" in last and "benign (3)_mask.png" in last, run_output(result)[-3000:]


def _dir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path
