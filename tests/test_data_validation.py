"""Tests of monai_tversky.data.check_datalist / read_image_header: each error names the file."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import NibabelReader

from monai_tversky.data import check_datalist, read_image_header

MODALITIES = ("FLAIR", "T1", "T2")


def _nifti(path: Path, shape=(6, 7, 8), affine=None, dtype=np.float32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(0).random(shape).astype(dtype)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))
    return path


def _case(root: Path, name: str = "a", shape=(6, 7, 8), label_shape=None, label_affine=None) -> dict:
    images = [str(_nifti(root / name / f"{m}.nii.gz", shape=shape)) for m in MODALITIES]
    label = _nifti(root / name / "label.nii.gz", shape=label_shape or shape, affine=label_affine)
    return {"image": images, "label": str(label), "case_id": name}


def test_valid_datalist_passes_and_is_returned(tmp_path):
    datalist = {"training": [_case(tmp_path, "a")], "validation": [_case(tmp_path, "b")], "modality": {}}
    assert check_datalist(datalist, modalities=MODALITIES) is datalist
    items = [_case(tmp_path, "c")]
    assert check_datalist(items) is items
    assert check_datalist([{"image": items[0]["image"], "label": None}], modalities=MODALITIES)


def test_header_matches_monai_nibabel_reader(tmp_path):
    affine = np.array([[0, -1.2, 0, 30.0], [0.9, 0, 0, -12.0], [0, 0, 2.5, 4.0], [0, 0, 0, 1]])
    path = _nifti(tmp_path / "x.nii.gz", shape=(5, 6, 7, 3), affine=affine)
    header = read_image_header(path)
    reader = NibabelReader()
    _, meta = reader.get_data(reader.read(str(path)))
    np.testing.assert_allclose(header.affine, meta["affine"])
    assert header.spatial_shape == tuple(int(s) for s in meta["spatial_shape"]) == (5, 6, 7)
    assert header.num_channels == 3


def test_missing_file_is_named(tmp_path):
    case = _case(tmp_path)
    Path(case["image"][1]).unlink()
    with pytest.raises(FileNotFoundError, match=r"a/T1\.nii\.gz") as info:
        check_datalist([case], modalities=MODALITIES)
    assert "case 'a'" in str(info.value)
    case2 = _case(tmp_path, "b")
    Path(case2["label"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"b/label\.nii\.gz"):
        check_datalist({"training": [case2]})


def test_truncated_compressed_file_is_named(tmp_path):
    case = _case(tmp_path, shape=(20, 20, 20))
    data = Path(case["label"]).read_bytes()
    Path(case["label"]).write_bytes(data[: len(data) // 2])  # an interrupted copy
    assert nib.load(case["label"]).shape == (20, 20, 20)  # the header alone still reads
    with pytest.raises(ValueError, match=r"a/label\.nii\.gz.*truncated"):
        check_datalist([case])
    check_datalist([case], verify_data=False)  # header-only mode does not see it


def test_truncated_uncompressed_file_is_named(tmp_path):
    path = _nifti(tmp_path / "t.nii", shape=(10, 10, 10))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"t\.nii is truncated"):
        check_datalist([{"image": str(path)}])


def test_unreadable_file_is_named(tmp_path):
    case = _case(tmp_path)
    Path(case["image"][0]).write_bytes(b"this is not a NIfTI file at all" * 20)
    with pytest.raises(ValueError, match=r"cannot read image file .*a/FLAIR\.nii\.gz"):
        check_datalist([case])
    raw = tmp_path / "garbage.nii"
    raw.write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="garbage.nii"):
        read_image_header(raw)


def test_channel_count_mismatch_names_the_files(tmp_path):
    case = _case(tmp_path)
    with pytest.raises(ValueError, match=r"3 image channel\(s\) \(.*FLAIR\.nii\.gz.*\) but 4 modalities"):
        check_datalist([case], modalities=("FLAIR", "T1", "T2", "PD"))
    multi = {"image": str(_nifti(tmp_path / "multi.nii.gz", shape=(6, 7, 8, 4)))}
    check_datalist([multi], modalities=("FLAIR", "T1", "T2", "PD"))  # a 4D file holds 4 channels
    with pytest.raises(ValueError, match="multi.nii.gz"):
        check_datalist([multi], modalities=MODALITIES)


def test_label_geometry_mismatch_names_the_label(tmp_path):
    case = _case(tmp_path, label_shape=(6, 7, 9))
    expected = r"label .*a/label\.nii\.gz does not match image .*FLAIR.*\(6, 7, 9\) vs \(6, 7, 8\)"
    with pytest.raises(ValueError, match=expected):
        check_datalist([case])
    shifted = np.eye(4)
    shifted[0, 3] = 0.5
    case2 = _case(tmp_path, "b", label_affine=shifted)
    with pytest.raises(ValueError, match=r"b/label\.nii\.gz does not match.*affine differs by up to 0\.5"):
        check_datalist([case2])
    nearly = np.eye(4)
    nearly[0, 3] = 1e-4  # float rounding in another tool's header: within label_atol
    check_datalist([_case(tmp_path, "c", label_affine=nearly)])
    with pytest.raises(ValueError, match="c/label"):
        check_datalist([_case(tmp_path, "c", label_affine=nearly)], label_atol=1e-6)
    multi_label = dict(_case(tmp_path, "d"), label=str(_nifti(tmp_path / "d" / "two.nii.gz", shape=(6, 7, 8, 2))))
    with pytest.raises(ValueError, match="two.nii.gz has 2 channels"):
        check_datalist([multi_label])


def test_modality_geometry_mismatch_uses_monai_stacking_tolerance(tmp_path):
    case = _case(tmp_path)
    shifted = np.eye(4)
    shifted[2, 3] = 1e-4  # MONAI's LoadImaged would refuse to stack this channel
    _nifti(Path(case["image"][2]), affine=shifted)
    with pytest.raises(ValueError, match=r"image .*a/T2\.nii\.gz does not match image .*a/FLAIR\.nii\.gz"):
        check_datalist([case])
    _nifti(Path(case["image"][2]), shape=(6, 7, 7))
    with pytest.raises(ValueError, match=r"T2\.nii\.gz.*spatial shape \(6, 7, 7\)"):
        check_datalist([case])


def test_every_problem_is_listed_at_once(tmp_path):
    good, missing = _case(tmp_path, "good"), _case(tmp_path, "missing")
    short = _case(tmp_path, "short", label_shape=(2, 2, 2))
    Path(missing["image"][0]).unlink()
    with pytest.raises(ValueError) as info:
        check_datalist({"training": [good, missing], "validation": [short]}, modalities=MODALITIES)
    message = str(info.value)
    assert message.startswith("2 problem(s)")
    assert "validation[0] (case 'short')" in message and "training[1] (case 'missing')" in message
    assert "missing/FLAIR.nii.gz" in message


def test_malformed_input(tmp_path):
    with pytest.raises(TypeError):
        check_datalist("datalist.json")
    with pytest.raises(ValueError, match="no list"):
        check_datalist({"name": "x"})
    with pytest.raises(ValueError, match=r"items\[0\]: an item must be a dict"):
        check_datalist([{"label": "x"}])
    with pytest.raises(ValueError, match="lists no file"):
        check_datalist([{"image": []}])


def test_itk_format_header_matches_monai_itk_reader(tmp_path):
    itk = pytest.importorskip("itk")
    from monai.data import ITKReader

    image = itk.image_from_array(np.zeros((5, 6, 7), dtype=np.float32))  # ITK arrays are z, y, x
    image.SetSpacing([1.0, 2.0, 3.0])
    image.SetOrigin([10.0, -20.0, 30.0])
    path = tmp_path / "x.nrrd"
    itk.imwrite(image, str(path))
    header = read_image_header(path)
    reader = ITKReader()
    _, meta = reader.get_data(reader.read(str(path)))
    np.testing.assert_allclose(header.affine, meta["affine"])
    assert header.spatial_shape == (7, 6, 5) and header.num_channels == 1
    nifti = _nifti(tmp_path / "y.nii.gz", shape=(7, 6, 5))
    with pytest.raises(ValueError, match="x.nrrd does not match"):
        check_datalist([{"image": [str(nifti), str(path)]}])
