"""Tests of the WMH 2017 and BraTS datalist builders and their wiring into detect_layout / build_datalist, on fake trees."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_tversky.data import (
    BRATS_MODALITIES,
    WMH2017_MODALITIES,
    brats_datalist,
    build_datalist,
    detect_layout,
    is_brats,
    is_wmh2017,
    lesion_label_map,
    resolve_channels,
    wmh2017_datalist,
)
from monai_tversky.data import DATALIST_LAYOUTS

SHAPE = (5, 6, 4)


def _nifti(path: Path, values: np.ndarray | float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.full(SHAPE, values, dtype=np.float32) if np.isscalar(values) else np.asarray(values, dtype=np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def _label(*values: int) -> np.ndarray:
    """A label volume holding exactly ``values`` (one voxel each, the rest 0)."""
    label = np.zeros(SHAPE, dtype=np.float32)
    label.flat[1 : 1 + len(values)] = values
    return label


def _wmh_tree(root: Path) -> list[str]:
    """Utrecht/0, Singapore/50, Amsterdam/GE3T/100 with labels 0/1/2; Utrecht/2 without a label. Returns the ids."""
    cases = {("Utrecht", "0"): _label(1, 2), ("Singapore", "50"): _label(1), ("Amsterdam", "GE3T", "100"): _label(2, 1)}
    for parts, label in cases.items():
        case = root.joinpath(*parts)
        _nifti(case / "pre" / "FLAIR.nii.gz", 1.0)
        _nifti(case / "pre" / "T1.nii.gz", 2.0)
        _nifti(case / "wmh.nii.gz", label)
    _nifti(root / "Utrecht" / "2" / "pre" / "FLAIR.nii.gz")
    _nifti(root / "Utrecht" / "2" / "pre" / "T1.nii.gz")
    return ["Amsterdam_GE3T_100", "Singapore_50", "Utrecht_0"]


_BRATS_2021 = {"FLAIR": "_flair", "T1": "_t1", "T1Gd": "_t1ce", "T2": "_t2", "label": "_seg"}
_BRATS_2023 = {"FLAIR": "-t2f", "T1": "-t1n", "T1Gd": "-t1c", "T2": "-t2w", "label": "-seg"}


def _brats_case(root: Path, name: str, names: dict[str, str], label: np.ndarray | None = None) -> Path:
    case = root / name
    for i, key in enumerate(("FLAIR", "T1", "T1Gd", "T2")):
        _nifti(case / f"{name}{names[key]}.nii.gz", float(i + 1))
    if label is not None:
        _nifti(case / f"{name}{names['label']}.nii.gz", label)
    return case


def test_wmh2017_layout_channels_ids_and_labels(tmp_path):
    ids = _wmh_tree(tmp_path)
    items = wmh2017_datalist(tmp_path)
    assert [i["case_id"] for i in items] == ids  # Utrecht/2 has no wmh.nii.gz: skipped
    assert [i["subject_id"] for i in items] == ids
    case = tmp_path / "Amsterdam" / "GE3T" / "100"
    assert items[0]["image"] == [str(case / "pre" / "T1.nii.gz"), str(case / "pre" / "FLAIR.nii.gz")]
    assert items[0]["label"] == str(case / "wmh.nii.gz")
    flair_first = wmh2017_datalist(tmp_path, modalities=("flair", "T1"))
    assert [Path(p).name for p in flair_first[0]["image"]] == ["FLAIR.nii.gz", "T1.nii.gz"]
    unlabelled = wmh2017_datalist(tmp_path, require_label=False)
    assert [i["case_id"] for i in unlabelled] == [*ids, "Utrecht_2"]
    assert all("label" not in i for i in unlabelled)
    # one site's folder: ids relative to it
    assert [i["case_id"] for i in wmh2017_datalist(tmp_path / "Amsterdam")] == ["GE3T_100"]
    assert WMH2017_MODALITIES == ("T1", "FLAIR")


def test_wmh2017_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        wmh2017_datalist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no WMH 2017 case .*pre/FLAIR\.nii\.gz.*wmh\.nii\.gz"):
        wmh2017_datalist(tmp_path)
    _nifti(tmp_path / "Utrecht" / "7" / "pre" / "FLAIR.nii.gz")
    with pytest.raises(FileNotFoundError, match="no WMH 2017 case"):
        wmh2017_datalist(tmp_path)  # a case without its label only counts with require_label=False
    assert [i["case_id"] for i in wmh2017_datalist(tmp_path, require_label=False)] == ["Utrecht_7"]
    with pytest.raises(ValueError, match=r"WMH 2017 .*\['T2'\]"):
        wmh2017_datalist(tmp_path, modalities=("FLAIR", "T2"), require_label=False)


def test_brats_layouts_2021_and_2023(tmp_path):
    _brats_case(tmp_path, "BraTS2021_00002", _BRATS_2021, _label(1, 2, 4))
    _brats_case(tmp_path, "BraTS2021_00000", _BRATS_2021, _label(4))
    _brats_case(tmp_path, "BraTS2021_00001", _BRATS_2021)  # no _seg: skipped
    _brats_case(tmp_path, "BraTS-GLI-00000-000", _BRATS_2023, _label(3))
    items = brats_datalist(tmp_path)
    assert [i["case_id"] for i in items] == ["BraTS-GLI-00000-000", "BraTS2021_00000", "BraTS2021_00002"]
    case = tmp_path / "BraTS2021_00000"
    assert items[1]["image"] == [str(case / f"BraTS2021_00000{s}.nii.gz") for s in ("_flair", "_t1", "_t1ce", "_t2")]
    assert items[1]["label"] == str(case / "BraTS2021_00000_seg.nii.gz")
    new = tmp_path / "BraTS-GLI-00000-000"
    assert items[0]["image"] == [str(new / f"BraTS-GLI-00000-000{s}.nii.gz") for s in ("-t2f", "-t1n", "-t1c", "-t2w")]
    assert items[0]["label"] == str(new / "BraTS-GLI-00000-000-seg.nii.gz")
    t2_t1ce = brats_datalist(tmp_path, modalities=("T2", "T1ce"))
    assert [Path(p).name for p in t2_t1ce[1]["image"]] == ["BraTS2021_00000_t2.nii.gz", "BraTS2021_00000_t1ce.nii.gz"]
    assert len(brats_datalist(tmp_path, require_label=False)) == 4
    assert BRATS_MODALITIES == ("FLAIR", "T1", "T1Gd", "T2")


def test_brats_nested_release_folder_and_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        brats_datalist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no BraTS case .*_flair\.nii\.gz.*-t2f"):
        brats_datalist(tmp_path)
    release = tmp_path / "BraTS2021_Training_Data"
    _brats_case(release, "BraTS2021_00000", _BRATS_2021, _label(1))
    assert [i["case_id"] for i in brats_datalist(tmp_path)] == ["BraTS2021_00000"]
    with pytest.raises(ValueError, match=r"BraTS provides .*\['PD'\]"):
        brats_datalist(tmp_path, modalities=("FLAIR", "PD"))
    # a missing channel is listed under the name its naming scheme gives it, for the check to report
    (release / "BraTS2021_00000" / "BraTS2021_00000_t1ce.nii.gz").unlink()
    assert brats_datalist(tmp_path)[0]["image"][2] == str(release / "BraTS2021_00000" / "BraTS2021_00000_t1ce.nii.gz")
    with pytest.raises(FileNotFoundError, match="BraTS2021_00000_t1ce"):
        build_datalist(dataset_dir=tmp_path, layout="brats", val_fraction=0.0, progress=False,
                       label_values=lesion_label_map("brats", 4).source_values)  # fmt: skip


def test_detection_and_resolved_channels(tmp_path):
    _wmh_tree(tmp_path / "wmh")
    _brats_case(tmp_path / "brats", "BraTS2021_00000", _BRATS_2021, _label(1))
    _brats_case(tmp_path / "brats23", "BraTS-GLI-00001-000", _BRATS_2023, _label(3))
    _nifti(tmp_path / "folder" / "case1" / "flair.nii.gz")
    assert (is_wmh2017(tmp_path / "wmh"), is_brats(tmp_path / "wmh")) == (True, False)
    assert (is_wmh2017(tmp_path / "brats"), is_brats(tmp_path / "brats")) == (False, True)
    assert is_brats(tmp_path / "brats23") and not is_brats(tmp_path / "folder")
    assert detect_layout(tmp_path / "wmh") == "wmh2017"
    assert detect_layout(tmp_path / "wmh" / "Amsterdam") == "wmh2017"
    assert detect_layout(tmp_path / "brats") == "brats"
    assert detect_layout(tmp_path / "brats23") == "brats"
    assert detect_layout(tmp_path / "folder") == "folder"
    assert {"wmh2017", "brats"} <= set(DATALIST_LAYOUTS)
    assert resolve_channels(dataset_dir=tmp_path / "wmh") == ("T1", "FLAIR")
    assert resolve_channels(dataset_dir=tmp_path / "brats") == ("FLAIR", "T1", "T1Gd", "T2")
    assert resolve_channels(dataset_dir=tmp_path / "brats", layout="brats") == ("FLAIR", "T1", "T1Gd", "T2")


def test_build_datalist_wmh2017_end_to_end(tmp_path):
    ids = _wmh_tree(tmp_path)
    label_map = lesion_label_map("wmh2017", 2)
    result = build_datalist(dataset_dir=tmp_path, val_fraction=1 / 3, seed=0, progress=False,
                            label_values=label_map.source_values)  # fmt: skip
    assert sorted(i["case_id"] for i in result["training"] + result["validation"]) == ids
    assert len(result["validation"]) == 1
    assert result["modality"] == {"0": "T1", "1": "FLAIR"}
    assert "WMH 2017" in result["source"]
    # a value outside 0/1/2 fails and names the file
    bad = tmp_path / "Singapore" / "50" / "wmh.nii.gz"
    _nifti(bad, _label(1, 5))
    with pytest.raises(ValueError, match=rf"{bad}.*\[5\]"):
        build_datalist(dataset_dir=tmp_path, layout="wmh2017", progress=False, label_values=label_map.source_values)
    # the binary check of the MS bundles refuses WMH's value 2: the label map is what makes it valid
    _nifti(bad, _label(1))
    with pytest.raises(ValueError, match="Utrecht/0/wmh.nii.gz|Amsterdam/GE3T/100/wmh.nii.gz"):
        build_datalist(dataset_dir=tmp_path, layout="wmh2017", progress=False, label_values="binary")


def test_build_datalist_brats_end_to_end(tmp_path):
    _brats_case(tmp_path, "BraTS2021_00000", _BRATS_2021, _label(1, 2, 4))
    _brats_case(tmp_path, "BraTS2021_00001", _BRATS_2021, _label(2))
    _brats_case(tmp_path, "BraTS-GLI-00002-000", _BRATS_2023, _label(1, 3))
    values = lesion_label_map("brats", 4).source_values
    result = build_datalist(dataset_dir=tmp_path, val_fraction=0.0, progress=False, label_values=values)
    assert [i["case_id"] for i in result["training"]] == ["BraTS-GLI-00002-000", "BraTS2021_00000", "BraTS2021_00001"]
    assert result["validation"] == []
    assert result["modality"] == {"0": "FLAIR", "1": "T1", "2": "T1Gd", "3": "T2"}
    t1_only = build_datalist(dataset_dir=tmp_path, modalities=["T1"], val_fraction=0.0, progress=False,
                             label_values=values)  # fmt: skip
    assert [Path(i["image"][0]).name for i in t1_only["training"]][1] == "BraTS2021_00000_t1.nii.gz"
    bad = tmp_path / "BraTS2021_00001" / "BraTS2021_00001_seg.nii.gz"
    _nifti(bad, _label(5))
    with pytest.raises(ValueError, match=rf"{bad}.*\[5\]"):
        build_datalist(dataset_dir=tmp_path, layout="brats", val_fraction=0.0, progress=False, label_values=values)
