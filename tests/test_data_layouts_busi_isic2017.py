"""The two layouts added through the registry (issue 20) as their public copies distribute them: BUSI (class folders,
extra lesion masks merged, near-duplicates grouped) and ISIC 2017 Task 1 (official folder names and a plain
images/masks copy); the near-duplicate groups; the mask union transform; and, where ``../shared/data`` is beside the
clone, the real copies and the committed splits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_catalog import REPO
from PIL import Image

from monai_tversky.data import (
    DataSource,
    build_inference_datalist,
    busi_datalist,
    check_datalist,
    detect_layout,
    detect_layout_2d,
    isic2017_datalist,
    near_duplicate_groups,
)
from monai_tversky.transforms import MergeMasksd

SHARED = REPO.parent / "shared" / "data"


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def _scan(seed: int, shape=(40, 56)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 255).astype(np.uint8)


def _mask(shape=(40, 56), box=(5, 15, 5, 20)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[box[0]:box[1], box[2]:box[3]] = 255
    return m


def _busi(root: Path, side_by_side: bool = False) -> Path:
    """benign (3 images, one with a second mask), malignant (2, one a copy of a benign image), normal (1)."""
    def folders(cls):
        base = root / cls
        return (base, base) if side_by_side else (base / "images", base / "masks")

    images, masks = folders("benign")
    for i in (1, 2, 10):
        _png(images / f"benign ({i}).png", _scan(i))
        _png(masks / f"benign ({i})_mask.png", _mask())
    _png(masks / "benign (2)_mask_1.png", _mask(box=(25, 35, 30, 50)))
    images, masks = folders("malignant")
    _png(images / "malignant (1).png", np.clip(_scan(10).astype(int) + 20, 0, 255))  # benign (10), brighter
    _png(masks / "malignant (1)_mask.png", _mask())
    _png(images / "malignant (2).png", _scan(99))
    _png(masks / "malignant (2)_mask.png", _mask())
    images, masks = folders("normal")
    _png(images / "normal (1).png", _scan(50))
    _png(masks / "normal (1)_mask.png", np.zeros((40, 56), np.uint8))
    return root


@pytest.mark.parametrize("side_by_side", [False, True], ids=["images-masks", "Dataset_BUSI_with_GT"])
def test_busi_layout(tmp_path, side_by_side):
    root = _busi(tmp_path / "busi", side_by_side)
    assert detect_layout(root, spatial_dims=2) == "busi" and detect_layout_2d(root) == "busi"
    items = busi_datalist(root)
    assert [i["case_id"] for i in items] == ["benign (1)", "benign (2)", "benign (10)", "malignant (1)", "malignant (2)"]
    two = items[1]["label"]
    assert isinstance(two, list) and [Path(p).name for p in two] == ["benign (2)_mask.png", "benign (2)_mask_1.png"]
    groups = {i["case_id"]: i["group_id"] for i in items}
    assert groups["benign (10)"] == groups["malignant (1)"]  # the same scan filed under two classes
    assert len({groups[c] for c in ("benign (1)", "benign (2)", "benign (10)", "malignant (2)")}) == 4
    everything = busi_datalist(root, classes=("benign", "malignant", "normal"))
    assert everything[-1]["class"] == "normal" and len(everything) == 6
    check_datalist(everything, label_values="binary", label_channels=None)  # lists and empty masks are fine
    source = DataSource(dataset_dir=root, spatial_dims=2)
    assert (source.layout_name, source.kind, source.channels) == ("busi", "ultrasound", ("US",))
    data = source.datalist(val_fraction=0.4, seed=0)
    sides = {i["group_id"]: side for side in ("training", "validation") for i in data[side]}
    assert len(sides) == 4  # each group on one side
    inference = build_inference_datalist(root, spatial_dims=2)
    assert len(inference) == 6  # inference takes every image, normal ones included


def test_busi_problems_name_the_file(tmp_path):
    root = _busi(tmp_path / "busi")
    (root / "malignant" / "masks" / "malignant (2)_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"malignant \(2\)\.png has no mask \(expected .*malignant \(2\)_mask"):
        busi_datalist(root)
    with pytest.raises(ValueError, match="classes must be some of"):
        busi_datalist(root, classes=("cyst",))
    second = root / "benign" / "masks" / "benign (2)_mask_1.png"
    _png(second, np.zeros((20, 20), np.uint8))  # the extra mask of another size: geometry names it
    with pytest.raises(ValueError, match=r"label .*benign \(2\)_mask_1\.png does not match image"):
        check_datalist(busi_datalist(root, classes=("benign",), group_duplicates=False), label_channels=None)


def _isic2017(root: Path, official: bool = True) -> Path:
    images = root / ("ISIC-2017_Training_Data" if official else "images")
    masks = root / ("ISIC-2017_Training_Part1_GroundTruth" if official else "masks")
    for i in range(3):
        stem = f"ISIC_000000{i}"
        _png(images / f"{stem}.png", np.stack([_scan(i)] * 3, -1))
        _png(masks / f"{stem}_segmentation.png", _mask())
        if official:
            _png(images / f"{stem}_superpixels.png", _scan(7))
    return root


@pytest.mark.parametrize("official", [True, False], ids=["official", "images-masks"])
def test_isic2017_layout(tmp_path, official):
    root = _isic2017(tmp_path / "isic", official)
    assert detect_layout(root, spatial_dims=2) == "isic2017"
    items = isic2017_datalist(root)
    assert [i["case_id"] for i in items] == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002"]  # no superpixels
    source = DataSource(dataset_dir=root, spatial_dims=2)
    assert (source.kind, source.channels, source.image_size()) == ("skin", ("R", "G", "B"), (192, 256))
    assert len(build_inference_datalist(root, spatial_dims=2, require_label=True)) == 3


def test_an_isic2018_folder_stays_isic2018(tmp_path):
    root = tmp_path / "isic2018"
    _png(root / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000000.jpg", np.stack([_scan(0)] * 3, -1))
    _png(root / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000000_segmentation.png", _mask())
    assert detect_layout(root, spatial_dims=2) == "isic2018"


def test_near_duplicate_groups(tmp_path):
    a = _png(tmp_path / "a.png", _scan(1))
    brighter = _png(tmp_path / "b.png", np.clip(_scan(1).astype(int) + 30, 0, 255))
    shifted = _png(tmp_path / "c.png", np.roll(_scan(1), 1, axis=0))  # one row moved: correlation drops
    other = _png(tmp_path / "d.png", _scan(2))
    groups = near_duplicate_groups([a, brighter, other, shifted])
    assert groups[0] == groups[1] == 0 and groups[2] == 1 and groups[3] not in (0, 1)
    assert near_duplicate_groups([a, brighter, other], threshold=1.0) == [0, 1, 2]  # clipped: not exactly equal
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_groups([a], threshold=0)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="bad.png"):
        near_duplicate_groups([tmp_path / "bad.png"])


def test_merge_masks_is_the_union():
    two = torch.zeros(2, 4, 4)
    two[0, 0, 0] = 1
    two[1, 3, 3] = 1
    merged = MergeMasksd("label")({"label": two})["label"]
    assert merged.shape == (1, 4, 4) and merged.sum() == 2 and merged[0, 0, 0] == merged[0, 3, 3] == 1
    one = torch.rand(1, 4, 4)
    assert MergeMasksd("label")({"label": one})["label"] is one
    as_numpy = MergeMasksd("label")({"label": two.numpy()})["label"]
    np.testing.assert_array_equal(as_numpy, merged.numpy())
    with pytest.raises(ValueError, match="channel-first"):
        MergeMasksd("label")({"label": torch.zeros(4)})


def test_a_list_label_loads_as_one_mask(tmp_path):
    """LoadImaged stacks the files of a list label as channels; MergeMasksd gives the one mask (the bundle's order)."""
    from monai.transforms import Compose, LoadImaged

    from monai_tversky.data import PILReaderHW

    first = _png(tmp_path / "m.png", _mask(box=(0, 5, 0, 5)))
    second = _png(tmp_path / "m_1.png", _mask(box=(30, 40, 40, 56)))
    load = Compose([LoadImaged("label", reader=PILReaderHW(mode="label"), ensure_channel_first=True, image_only=True),
                    MergeMasksd("label")])  # fmt: skip
    mask = load({"label": [str(first), str(second)]})["label"]
    expected = (np.asarray(Image.open(first)) | np.asarray(Image.open(second)))[None]
    np.testing.assert_array_equal(np.asarray(mask), expected)


@pytest.mark.skipif(not (SHARED / "busi_256").is_dir(), reason="../shared/data/busi_256 is not beside the clone")
def test_the_real_busi_copy():
    lesions = busi_datalist(SHARED / "busi_256")
    normal = busi_datalist(SHARED / "busi_256", classes=("normal",))
    assert len(lesions) == 647 and len(normal) == 133
    assert sum(isinstance(i["label"], list) for i in lesions) == 17
    assert len({i["group_id"] for i in lesions}) < len(lesions)  # BUSI's near-duplicates are grouped
    ids = {i["case_id"]: i["group_id"] for i in busi_datalist(SHARED / "busi_256", classes=("benign", "malignant",
                                                                                             "normal"))}  # fmt: skip
    assert ids["benign_(433)"] == ids["malignant_(145)"]  # the scan filed as benign and as malignant


@pytest.mark.skipif(not (SHARED / "isic2017_256").is_dir(), reason="../shared/data/isic2017_256 is not beside it")
def test_the_real_isic2017_copy():
    items = isic2017_datalist(SHARED / "isic2017_256")
    assert len(items) == 2000 and detect_layout(SHARED / "isic2017_256", spatial_dims=2) == "isic2017"


@pytest.mark.skipif(not (SHARED / "busi_256").is_dir() or not (SHARED / "isic2017_256").is_dir(),
                    reason="../shared/data is not beside the clone")  # fmt: skip
def test_the_committed_splits_are_reproduced(tmp_path):
    """benchmarks/real_data_splits.py --check: the model card's splits come out of the layouts as committed."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "real_data_splits.py"), "--work", str(tmp_path),
                             "--check"], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    split = json.loads((REPO / "bundles" / "focal_tversky" / "docs" / "busi_split.json").read_text())["case_ids"]
    assert not set(split["training"]) & set(split["testing"])
