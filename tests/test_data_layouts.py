"""Tests of the MSSEG 2016, ISBI 2015 and generic folder datalist builders, on fake trees and the real open MS case."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_tversky.data import (
    build_datalist,
    check_datalist,
    detect_layout,
    folder_datalist,
    isbi2015_datalist,
    msseg2016_datalist,
    read_image_header,
)

OPEN_MS_P19 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "open_ms_p19"


def _nifti(path: Path, shape=(6, 7, 8), value: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full(shape, value, dtype=np.float32), np.eye(4)), str(path))
    return path


def _msseg_tree(root: Path, suffix: str = ".nii.gz") -> None:
    for center, patient in (("Center_01", "Patient_01"), ("Center_01", "Patient_02"), ("Center_07", "Patient_01")):
        case = root / "Training" / center / patient
        for stem in ("FLAIR", "T1", "GADO", "DP", "T2"):
            _nifti(case / "Preprocessed_Data" / f"{stem}_preprocessed{suffix}")
        _nifti(case / "Masks" / f"Consensus{suffix}")
        _nifti(case / "Masks" / f"ManualSegmentation_1{suffix}")
    _nifti(root / "Testing" / "Center_03" / "Patient_01" / "Preprocessed_Data" / "FLAIR_preprocessed.nii.gz")


def _isbi_tree(root: Path, suffix: str = ".nii") -> None:
    for subject, time_points in (("training01", 2), ("training02", 1)):
        for tp in range(1, time_points + 1):
            case = f"{subject}_{tp:02d}"
            for stem in ("flair", "mprage", "pd", "t2"):
                _nifti(root / "training" / subject / "preprocessed" / f"{case}_{stem}_pp{suffix}")
            for rater in (1, 2):
                _nifti(root / "training" / subject / "masks" / f"{case}_mask{rater}{suffix}")


def test_msseg2016_layout(tmp_path):
    _msseg_tree(tmp_path)
    items = msseg2016_datalist(tmp_path)
    assert [i["case_id"] for i in items] == ["Center_01/Patient_01", "Center_01/Patient_02", "Center_07/Patient_01"]
    case = tmp_path / "Training" / "Center_01" / "Patient_01"
    expected = [case / "Preprocessed_Data" / f"{s}_preprocessed.nii.gz" for s in ("FLAIR", "T1", "GADO", "DP", "T2")]
    assert items[0]["image"] == [str(p) for p in expected]
    assert items[0]["label"] == str(case / "Masks" / "Consensus.nii.gz")
    check_datalist(items, modalities=("FLAIR", "T1", "T1Gd", "PD", "T2"))


def test_msseg2016_entry_points_options_and_suffixes(tmp_path):
    _msseg_tree(tmp_path, suffix=".nii")
    training = tmp_path / "Training"
    assert len(msseg2016_datalist(training)) == 3  # the Training folder itself
    one_center = msseg2016_datalist(training / "Center_07")
    assert [i["case_id"] for i in one_center] == ["Patient_01"]
    items = msseg2016_datalist(tmp_path, modalities=("T2", "GADO"), label="ManualSegmentation_1")
    assert [Path(p).name for p in items[0]["image"]] == ["T2_preprocessed.nii", "GADO_preprocessed.nii"]
    assert Path(items[0]["label"]).name == "ManualSegmentation_1.nii"
    assert "label" not in msseg2016_datalist(tmp_path, label=None)[0]
    testing = msseg2016_datalist(tmp_path, modalities=("FLAIR",), subset="Testing", label=None)
    assert [i["case_id"] for i in testing] == ["Center_03/Patient_01"]


def test_msseg2016_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MSSEG 2016 case"):
        msseg2016_datalist(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        msseg2016_datalist(tmp_path / "nowhere")
    _msseg_tree(tmp_path)
    with pytest.raises(ValueError, match="DWI"):
        msseg2016_datalist(tmp_path, modalities=("FLAIR", "DWI"))
    # a missing modality file is listed where the layout puts it; the check names it
    missing = tmp_path / "Training" / "Center_07" / "Patient_01" / "Preprocessed_Data" / "DP_preprocessed.nii.gz"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match="DP_preprocessed"):
        check_datalist(msseg2016_datalist(tmp_path))


def test_isbi2015_layout(tmp_path):
    _isbi_tree(tmp_path)
    items = isbi2015_datalist(tmp_path)
    assert [i["case_id"] for i in items] == ["training01_01", "training01_02", "training02_01"]
    assert [i["subject_id"] for i in items] == ["training01", "training01", "training02"]
    subject = tmp_path / "training" / "training01"
    assert items[1]["image"] == [
        str(subject / "preprocessed" / f"training01_02_{s}_pp.nii") for s in ("flair", "mprage", "pd", "t2")
    ]
    assert items[1]["label"] == str(subject / "masks" / "training01_02_mask1.nii")
    assert isbi2015_datalist(tmp_path, rater=2)[0]["label"].endswith("training01_01_mask2.nii")
    assert [i["case_id"] for i in isbi2015_datalist(subject)] == ["training01_01", "training01_02"]
    mprage = isbi2015_datalist(tmp_path, modalities=("MPRAGE",), rater=None)
    assert mprage[0]["image"][0].endswith("training01_01_mprage_pp.nii") and "label" not in mprage[0]
    check_datalist(items, modalities=("FLAIR", "T1", "PD", "T2"))


def test_isbi2015_gz_and_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ISBI 2015"):
        isbi2015_datalist(tmp_path)
    _isbi_tree(tmp_path, suffix=".nii.gz")
    assert isbi2015_datalist(tmp_path)[0]["label"].endswith("training01_01_mask1.nii.gz")
    with pytest.raises(ValueError, match="T1Gd"):
        isbi2015_datalist(tmp_path, modalities=("FLAIR", "T1POST"))
    with pytest.raises(ValueError, match="rater"):
        isbi2015_datalist(tmp_path, rater=3)


def test_detect_layout(tmp_path):
    _msseg_tree(tmp_path / "msseg")
    _isbi_tree(tmp_path / "isbi")
    _nifti(tmp_path / "generic" / "FLAIR.nii.gz")
    assert detect_layout(tmp_path / "msseg") == "msseg2016"
    assert detect_layout(tmp_path / "isbi") == "isbi2015"
    assert detect_layout(tmp_path / "generic") == "folder"


def test_folder_one_case_with_aliases(tmp_path):
    # the Ljubljana open MS data names: T1W, T1WKS (T1 post-contrast), T2W, consensus_gt; brainmask is not a label
    for name in ("FLAIR", "T1W", "T1WKS", "T2W", "consensus_gt", "brainmask"):
        _nifti(tmp_path / "patient01" / f"{name}.nii.gz")
    items = folder_datalist(tmp_path / "patient01", modalities=("FLAIR", "T1", "T1POST", "T2"), require_label=True)
    case = tmp_path / "patient01"
    assert items == [
        {
            "image": [str(case / f"{n}.nii.gz") for n in ("FLAIR", "T1W", "T1WKS", "T2W")],
            "label": str(case / "consensus_gt.nii.gz"),
            "case_id": "patient01",
        }
    ]


def test_folder_of_case_folders_and_prefixed_files(tmp_path):
    for case in ("a", "b"):
        for m in ("FLAIR", "T1", "T2"):
            _nifti(tmp_path / case / f"{m}.nii.gz")
        _nifti(tmp_path / case / "label.nii.gz")
    for case in ("p1", "p2"):
        for m in ("flair", "t1", "t2"):
            _nifti(tmp_path / f"{case}_{m}.nii")
        _nifti(tmp_path / f"{case}_seg.nii")
    _nifti(tmp_path / ".hidden" / "FLAIR.nii.gz")
    (tmp_path / "notes.txt").write_text("not an image")
    items = folder_datalist(tmp_path, modalities=("T2", "FLAIR"))
    assert [i["case_id"] for i in items] == ["p1", "p2", "a", "b"]
    assert items[0]["image"] == [str(tmp_path / "p1_t2.nii"), str(tmp_path / "p1_flair.nii")]
    assert items[0]["label"] == str(tmp_path / "p1_seg.nii")
    assert items[3]["image"] == [str(tmp_path / "b" / "T2.nii.gz"), str(tmp_path / "b" / "FLAIR.nii.gz")]
    # modalities inferred: those every case has, in the canonical order
    assert folder_datalist(tmp_path)[0]["image"] == [str(tmp_path / f"p1_{m}.nii") for m in ("flair", "t1", "t2")]


def test_folder_errors(tmp_path):
    for m in ("FLAIR", "T1"):
        _nifti(tmp_path / "a" / f"{m}.nii.gz")
    _nifti(tmp_path / "b" / "FLAIR.nii.gz")
    with pytest.raises(FileNotFoundError, match=r"'b'.*\['T1'\]"):
        folder_datalist(tmp_path, modalities=("FLAIR", "T1"))
    with pytest.raises(FileNotFoundError, match="no label"):
        folder_datalist(tmp_path / "a", modalities=("FLAIR", "T1"), require_label=True)
    with pytest.raises(FileNotFoundError, match="no image of modalities"):
        folder_datalist(tmp_path, modalities=("PD",))
    _nifti(tmp_path / "a" / "T1.nii")
    with pytest.raises(ValueError, match="T1.nii.gz"):
        folder_datalist(tmp_path / "a", modalities=("FLAIR", "T1"))


def test_folder_of_unnamed_files_for_inference(tmp_path):
    _nifti(tmp_path / "subject_7.nii.gz", shape=(6, 7, 8, 4))
    _nifti(tmp_path / "subject_8.nii.gz", shape=(6, 7, 8, 4))
    items = folder_datalist(tmp_path)
    assert items == [
        {"image": str(tmp_path / "subject_7.nii.gz"), "case_id": "subject_7"},
        {"image": str(tmp_path / "subject_8.nii.gz"), "case_id": "subject_8"},
    ]
    check_datalist(items, modalities=("FLAIR", "T1", "PD", "T2"))
    with pytest.raises(FileNotFoundError, match="named by a modality"):
        folder_datalist(tmp_path, require_label=True)


@pytest.mark.skipif(not OPEN_MS_P19.is_dir(), reason="the real open MS case is not available here")
def test_real_open_ms_case():
    items = folder_datalist(OPEN_MS_P19, modalities=("FLAIR", "T1", "T1POST", "T2"), require_label=True)
    assert len(items) == 1
    assert [Path(p).name for p in items[0]["image"]] == ["FLAIR.nii.gz", "T1.nii.gz", "T1POST.nii.gz", "T2.nii.gz"]
    assert Path(items[0]["label"]).name == "GT.nii.gz"
    header = read_image_header(items[0]["label"])
    assert header.spatial_shape == (182, 218, 182) and header.num_channels == 1
    np.testing.assert_allclose(header.affine, nib.load(items[0]["label"]).affine)
    with pytest.warns(UserWarning, match="single case"):
        datalist = build_datalist(dataset_dir=OPEN_MS_P19)  # layout and the four modalities detected, files checked
    assert datalist["modality"] == {"0": "FLAIR", "1": "T1", "2": "T1Gd", "3": "T2"}
    assert datalist["training"] == datalist["validation"] == items


def test_modality_names():
    from monai_tversky.data import canonical_modalities, canonical_modality

    assert [canonical_modality(n) for n in ("gado", "T1POST", "dp", "MPRAGE", "t2w", "3DFLAIR")] == [
        "T1Gd", "T1Gd", "PD", "T1", "T2", "FLAIR",
    ]  # fmt: skip
    assert canonical_modality(" SWI ") == "SWI"  # unknown names pass through
    assert canonical_modalities("flair") == ("FLAIR",)
    with pytest.raises(ValueError, match="more than once"):
        canonical_modalities(["T1POST", "GADO"])
    with pytest.raises(ValueError):
        canonical_modalities([])
    with pytest.raises(TypeError):
        canonical_modality(3)
