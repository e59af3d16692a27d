"""Nothing trains on garbage: check_datalist reads every file's voxels once (gzip stream and CRC verified), rejects
non-finite images and labels with unexpected values, and names the file; the transform-level checks do the same."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import Compose, LoadImage, LoadImaged

from monai_tversky.data import check_datalist, check_label_values, read_image_voxels
from monai_tversky.transforms import CheckFinited, CheckLabelValuesd


def _nifti(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _case(root: Path, image: np.ndarray | None = None, label: np.ndarray | None = None) -> dict:
    rng = np.random.default_rng(0)
    image = rng.standard_normal((16, 16, 16)).astype(np.float32) if image is None else image
    label = (rng.random((16, 16, 16)) > 0.9).astype(np.uint8) if label is None else label
    return {
        "image": [str(_nifti(root / "FLAIR.nii.gz", image)), str(_nifti(root / "T1.nii.gz", image * 2))],
        "label": str(_nifti(root / "label.nii.gz", label)),
        "case_id": root.name,
    }


def _corrupt_middle(path: Path) -> None:
    """Overwrite 8 bytes in the middle of the compressed stream (random float data: stored deflate blocks, so the
    stream still decodes and only the CRC-32 in the gzip trailer betrays the damage)."""
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 8] = b"\xff" * 8
    path.write_bytes(bytes(raw))


def test_intact_case_passes_and_reads_the_voxels_nibabel_reads(tmp_path):
    case = _case(tmp_path / "a")
    assert check_datalist([case], modalities=("FLAIR", "T1"), label_values="binary") == [case]
    np.testing.assert_array_equal(read_image_voxels(case["image"][0]), nib.load(case["image"][0]).get_fdata())


def test_gzip_corrupted_in_the_middle_loads_in_monai_but_is_stopped_here(tmp_path):
    case = _case(tmp_path / "a")
    t1 = Path(case["image"][1])
    _corrupt_middle(t1)
    LoadImage(image_only=True)(str(t1))  # the issue: MONAI's reader returns garbage without complaint
    assert not nib.load(str(t1)).header.get_data_shape() == ()  # and the header is intact
    with pytest.raises(ValueError, match=r"T1\.nii\.gz is truncated or corrupt.*CRC check failed"):
        check_datalist([case])
    check_datalist([case], verify_data="header")  # the trailer-only check cannot see it: documented


def test_gzip_cut_short_is_named(tmp_path):
    case = _case(tmp_path / "a")
    flair = Path(case["image"][0])
    flair.write_bytes(flair.read_bytes()[:-200])
    with pytest.raises(ValueError, match=r"FLAIR\.nii\.gz.*(truncated|corrupt)"):
        check_datalist([case])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_image_voxels_are_named_with_their_count(tmp_path, bad):
    image = np.random.default_rng(1).standard_normal((16, 16, 16)).astype(np.float32)
    image[3, 4, 5] = bad
    image[7, 7, 7] = bad
    case = _case(tmp_path / "a", image=image)
    with pytest.raises(ValueError, match=r"FLAIR\.nii\.gz holds 2 non-finite voxel\(s\).*index \(3, 4, 5\)"):
        check_datalist([case])


def test_non_finite_voxels_in_an_uncompressed_float64_file_are_seen(tmp_path):
    data = np.zeros((8, 8, 8))
    data[1, 2, 3] = np.nan
    path = _nifti(tmp_path / "s.nii", data)
    with pytest.raises(ValueError, match=r"s\.nii holds 1 non-finite voxel\(s\).*index \(1, 2, 3\)"):
        check_datalist([{"image": str(path)}])


@pytest.mark.parametrize(
    "values, ok",
    [
        ([0, 1], True),
        ([0.0, 0.25, 0.75, 1.0], True),  # partial volumes of a resampled mask
        ([0, 255], True),  # a 0/255 mask: binary after the 0.5 threshold
        ([0], True),  # an empty label is a normal input
        ([0, 1, 2], False),  # a multi-class map: thresholding would merge classes 1 and 2
        ([-1, 0, 1], False),
        ([0, 0.3], False),  # one foreground value below the threshold: the label would be empty
        ([0, 1, np.nan], False),
    ],
)
def test_binary_label_rule(tmp_path, values, ok):
    label = np.zeros((16, 16, 16), np.float32)
    for i, v in enumerate(values):
        label[i, :, :] = v
    case = _case(tmp_path / "a", label=label)
    if ok:
        check_datalist([case], label_values="binary")
        return
    with pytest.raises(ValueError, match=r"label\.nii\.gz"):
        check_datalist([case], label_values="binary")


def test_allowed_label_values_for_multi_class_maps(tmp_path):
    label = np.zeros((16, 16, 16), np.uint8)
    label[:4], label[4:8] = 1, 2
    case = _case(tmp_path / "a", label=label)
    check_datalist([case], label_values=[0, 1, 2])
    with pytest.raises(ValueError, match=r"holds the value\(s\) \[2\] outside the expected \[0, 1\]"):
        check_datalist([case], label_values=[0, 1])


def test_every_file_is_decoded_once(tmp_path, monkeypatch):
    """Cases sharing a file (the same label twice, say) do not read it twice."""
    case = _case(tmp_path / "a")
    calls = []
    import monai_tversky.data.validation as validation

    original = validation.read_image_voxels
    monkeypatch.setattr(validation, "read_image_voxels", lambda p: calls.append(p) or original(p))
    check_datalist({"training": [case, dict(case, case_id="again")], "validation": [case]})
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 3


def test_check_label_values_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="label_values must be 'binary' or a sequence"):
        check_label_values(np.zeros(3), "x", "multiclass")


def test_transforms_name_the_file_they_were_loaded_from(tmp_path):
    image = np.random.default_rng(1).standard_normal((16, 16, 16)).astype(np.float32)
    image[0, 0, 0] = np.nan
    label = np.zeros((16, 16, 16), np.uint8)
    label[1], label[2] = 1, 2
    case = _case(tmp_path / "a", image=image, label=label)
    load = LoadImaged(keys=["image", "label"], ensure_channel_first=True, image_only=True)
    # Compose re-raises a transform's error as "applying transform ..." with ours as the cause (the bundles print
    # the root cause last, see monai_tversky.engines.install_error_summary)
    with pytest.raises(RuntimeError) as info:
        Compose([load, CheckFinited(keys="image")])(case)
    assert isinstance(info.value.__cause__, ValueError)
    # a channel-stacked image keeps only its first file's name in MONAI's metadata (check_datalist names each file)
    assert "a/FLAIR.nii.gz holds 2 non-finite voxel(s)" in str(info.value.__cause__)
    with pytest.raises(ValueError, match=r"a/label\.nii\.gz is not a binary lesion mask: it holds the values \[0, 1, 2\]"):
        CheckLabelValuesd(keys="label")(load(case))
    good = _case(tmp_path / "b")
    out = Compose([load, CheckFinited(keys="image"), CheckLabelValuesd(keys="label")])(good)
    assert out["image"].shape == (2, 16, 16, 16)  # passes through unchanged
    assert torch.equal(out["image"], load(good)["image"])


def test_transforms_work_on_plain_arrays_without_metadata():
    with pytest.raises(ValueError, match="the 'image' of this item holds 1 non-finite"):
        CheckFinited(keys="image")({"image": torch.tensor([[0.0, float("nan")]])})
    assert CheckLabelValuesd(keys="label", label_values=[0, 1, 2])({"label": np.array([0, 2])})
