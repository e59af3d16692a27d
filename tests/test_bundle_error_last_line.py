"""The last line of a stopped run is one sentence naming the problem and the files (issue 19): image/label geometry
mismatches through ``python -m monai.bundle run`` in every bundle, in training, evaluation and (3D) inference. The
affines are printed above that line, never last."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from bundle_catalog import BUNDLE_NAMES, bundle_run, last_line, run_output, spatial_dims, tiny_overrides_file
from PIL import Image

pytestmark = pytest.mark.slow

SHAPE_3D = (24, 32, 32)


def _cases_3d(root, shifted_label: bool = True, shifted_channel: bool = False):
    """Three cases (FLAIR, T1, T2, GT); in the first the label (or T2) has the same shape and another affine."""
    rng = np.random.default_rng(0)
    for n, case in enumerate(("p01", "p02", "p03")):
        folder = root / case
        folder.mkdir(parents=True)
        label = np.zeros(SHAPE_3D, np.uint8)
        label[8:14, 10:18, 12:20] = 1
        for name in ("FLAIR", "T1", "T2"):
            affine = np.eye(4)
            if n == 0 and shifted_channel and name == "T2":
                affine[0, 3] = 2.0
            nib.save(nib.Nifti1Image(rng.normal(size=SHAPE_3D).astype(np.float32) + 3 * label, affine),
                     str(folder / f"{name}.nii.gz"))  # fmt: skip
        affine = np.eye(4)
        if n == 0 and shifted_label:
            affine[0, 3] = 2.0  # a label registered 2 mm off
        nib.save(nib.Nifti1Image(label, affine), str(folder / "GT.nii.gz"))
    return root / "p01"


def _cases_2d(root):
    """An ISIC 2018 Task 1 folder of three images; the first mask is smaller than its image."""
    images = root / "ISIC2018_Task1-2_Training_Input"
    masks = root / "ISIC2018_Task1_Training_GroundTruth"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(4):
        stem = f"ISIC_000000{n}"
        Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(images / f"{stem}.jpg")
        mask = np.zeros((30, 60) if n == 0 else (40, 60), np.uint8)
        mask[10:20, 10:30] = 255
        Image.fromarray(mask).save(masks / f"{stem}_segmentation.png")
    return images / "ISIC_0000000.jpg", masks / "ISIC_0000000_segmentation.png"


def _assert_sentence(result, *names):
    assert result.returncode != 0
    last = last_line(result)
    assert "does not match" in last and all(str(n) in last for n in names), run_output(result)[-4000:]
    assert last.rstrip().endswith(".") and not last.lstrip().startswith("[") and "]]" not in last[-5:]


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_train_and_evaluate_end_with_the_geometry_sentence(name, tmp_path):
    tiny = ["--args_file", str(tiny_overrides_file(name))]
    bundle = f"bundles/{name}"
    if spatial_dims(name) == 3:
        case = _cases_3d(tmp_path / "cases")
        first = "T1" if name == "tversky_unet3d" else "FLAIR"  # the image the label is compared with: channel 0
        names = (case / "GT.nii.gz", case / f"{first}.nii.gz")
        extra = ["--modalities", "['FLAIR','T1','T2']"] if name != "tversky_unet3d" else []
    else:
        image, mask = _cases_2d(tmp_path / "cases")
        names, extra = (mask, image), []
    train = bundle_run(f"{bundle}/train.json", *tiny, *extra, "--dataset_dir", str(tmp_path / "cases"),
                       "--output_dir", str(tmp_path / "train"), "--ckpt_dir", str(tmp_path / "models"))  # fmt: skip
    _assert_sentence(train, *names)
    assert not (tmp_path / "models" / "model.pt").exists()
    evaluate = bundle_run(f"['{bundle}/configs/inference.json','{bundle}/configs/evaluate.json']", *tiny, *extra,
                          "--input", str(tmp_path / "cases"), "--output_dir", str(tmp_path / "eval"))  # fmt: skip
    _assert_sentence(evaluate, *names)
    assert "affine" in run_output(train) or spatial_dims(name) == 2  # the matrices are printed, above the sentence


@pytest.mark.parametrize("name", [n for n in BUNDLE_NAMES if spatial_dims(n) == 3])
def test_inference_ends_with_the_channel_geometry_sentence(name, tmp_path):
    case = _cases_3d(tmp_path / "cases", shifted_label=False, shifted_channel=True)
    result = bundle_run(f"bundles/{name}/configs/inference.json", "--args_file", str(tiny_overrides_file(name)),
                        "--modalities", "['T1','T2','FLAIR']" if name == "tversky_unet3d" else "['FLAIR','T1','T2']",
                        "--input", str(case), "--output_dir", str(tmp_path / "out"))  # fmt: skip
    _assert_sentence(result, case / "T2.nii.gz")
    text = run_output(result)
    assert "[[1, 0, 0, 2], [0, 1, 0, 0]" in text  # the shifted affine, on one line above
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.nii.gz"))
