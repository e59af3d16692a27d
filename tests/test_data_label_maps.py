"""Tests of the label value -> class maps (WMH 2017, BraTS, phantom) with MONAI's MapLabelValued, and the phantom's
white-matter class."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai.transforms import MapLabelValued

from monai_tversky.data import (
    IGNORE_INDEX,
    PHANTOM_MANIFEST,
    PHANTOM_TISSUES,
    LabelMap,
    generate_phantom_dataset,
    lesion_label_map,
    make_ms_phantom,
    resolve_layout,
)

SHAPE = (24, 32, 32)


def _mapped(label_map: LabelMap, label: np.ndarray) -> np.ndarray:
    transform = MapLabelValued("label", orig_labels=label_map.source_values, target_labels=label_map.target_values)
    return np.asarray(transform({"label": label.astype(np.float32)})["label"])


def test_ignore_index_is_outside_every_class():
    assert IGNORE_INDEX == -1


def test_wmh2017_map_ignores_other_pathology():
    m = lesion_label_map("wmh2017", 2)
    assert (m.source_values, m.target_values) == ((0, 1, 2), (0, 1, -1))
    assert m.ignore_index == IGNORE_INDEX
    assert m.class_names == {0: "background", 1: "lesion"} and m.num_classes == 2
    assert m.foreground_names == {1: "lesion"}
    assert m.channel_def() == {"0": "background", "1": "lesion"}
    label = np.array([[[0, 1, 2], [2, 1, 0]]])
    np.testing.assert_array_equal(_mapped(m, label), [[[0, 1, -1], [-1, 1, 0]]])
    with pytest.raises(ValueError, match="num_classes must be 2, got 3"):
        lesion_label_map("wmh2017", 3)


def test_brats_maps_to_contiguous_classes_or_whole_tumour():
    label = np.array([[[0, 1, 2], [4, 3, 0]]])  # 4: BraTS 2021 enhancing tumour, 3: BraTS 2023's
    four = lesion_label_map("brats", 4)
    assert four.ignore_index is None and four.num_classes == 4
    assert four.class_names == {0: "background", 1: "necrotic core", 2: "oedema", 3: "enhancing tumour"}
    np.testing.assert_array_equal(_mapped(four, label), [[[0, 1, 2], [3, 3, 0]]])
    two = lesion_label_map("brats", 2)
    assert two.class_names == {0: "background", 1: "whole tumour"}
    np.testing.assert_array_equal(_mapped(two, label), [[[0, 1, 1], [1, 1, 0]]])
    with pytest.raises(ValueError, match="must be 4 or 2, got 3"):
        lesion_label_map("brats", 3)


def test_phantom_and_generic_maps():
    label = np.array([[[0, 1, 2, 2]]])
    three = lesion_label_map("phantom", 3)
    assert three.class_names == {0: "background", 1: "lesion", 2: "white matter"}
    np.testing.assert_array_equal(_mapped(three, label), label)
    two = lesion_label_map()  # the phantom, two classes: white matter is background
    assert two.class_names == {0: "background", 1: "lesion"}
    np.testing.assert_array_equal(_mapped(two, label), [[[0, 1, 0, 0]]])
    with pytest.raises(ValueError, match="at most 3 classes"):
        lesion_label_map("phantom", 4)
    for layout in ("msseg2016", "isbi2015", "folder", "datalist"):
        m = lesion_label_map(layout, 3)
        assert (m.source_values, m.target_values) == ((0, 1, 2), (0, 1, 2))
        assert m.class_names == {0: "background", 1: "lesion", 2: "class 2"} and m.ignore_index is None


def test_class_names_override_and_errors():
    m = lesion_label_map("brats", 2, class_names={"1": "tumour"})
    assert m.class_names == {0: "background", 1: "tumour"}
    assert m.source_values == (0, 1, 2, 3, 4)
    assert lesion_label_map("wmh2017", 2, {1: "WMH"}).ignore_index == IGNORE_INDEX  # kept through the override
    with pytest.raises(ValueError, match=r"classes \[2\] outside 0..1"):
        lesion_label_map("wmh2017", 2, {2: "other"})
    for bad in (1, True, 2.0, "2"):
        with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
            lesion_label_map("phantom", bad)


def test_resolve_layout(tmp_path):
    assert resolve_layout() == "phantom"
    assert resolve_layout(dataset_dir="", datalist=None) == "phantom"
    assert resolve_layout(dataset_dir=tmp_path, datalist="list.json") == "datalist"
    assert resolve_layout(dataset_dir=tmp_path, layout="brats") == "brats"
    case = tmp_path / "Utrecht" / "0" / "pre"
    case.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), str(case / "FLAIR.nii.gz"))
    assert resolve_layout(dataset_dir=tmp_path) == "wmh2017"


def test_phantom_white_matter_class_labels_the_tissue_map():
    image, label, affine, tissue = make_ms_phantom(SHAPE, seed=7, return_tissue=True, white_matter_class=True)
    image0, label0, affine0, tissue0 = make_ms_phantom(SHAPE, seed=7, return_tissue=True)
    np.testing.assert_array_equal(image, image0)
    np.testing.assert_array_equal(tissue, tissue0)
    np.testing.assert_array_equal(affine, affine0)
    expected = np.zeros(SHAPE, np.uint8)
    expected[tissue == PHANTOM_TISSUES["white_matter"]] = 2
    expected[tissue == PHANTOM_TISSUES["lesion"]] = 1
    assert label.dtype == np.uint8 and label.shape == (1, *SHAPE)
    np.testing.assert_array_equal(label[0], expected)
    np.testing.assert_array_equal(label0[0], (tissue == PHANTOM_TISSUES["lesion"]).astype(np.uint8))
    n_lesion, n_wm = int((label == 1).sum()), int((label == 2).sum())
    assert 0 < n_lesion < n_wm  # the second class is the larger one (the imbalance GDL re-balances)


def test_generated_data_set_records_the_switch(tmp_path):
    plain = generate_phantom_dataset(tmp_path / "plain", num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0,
                                     progress=False)  # fmt: skip
    wm = generate_phantom_dataset(tmp_path / "wm", num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0,
                                  progress=False, white_matter_class=True)  # fmt: skip
    assert plain["labels"] == {"0": "background", "1": "lesion"}
    assert wm["labels"] == {"0": "background", "1": "lesion", "2": "white matter"}
    params = json.loads((tmp_path / "wm" / PHANTOM_MANIFEST).read_text())["params"]
    assert params["white_matter_class"] is True
    for plain_item, wm_item in zip(plain["training"], wm["training"]):
        lesion_only = np.asarray(nib.load(plain_item["label"]).dataobj)
        with_wm = np.asarray(nib.load(wm_item["label"]).dataobj)
        assert set(np.unique(with_wm)) == {0, 1, 2}
        np.testing.assert_array_equal(with_wm == 1, lesion_only == 1)
        np.testing.assert_array_equal(nib.load(plain_item["image"][0]).dataobj, nib.load(wm_item["image"][0]).dataobj)
    with pytest.raises(FileExistsError, match="white_matter_class: None there, True now"):
        generate_phantom_dataset(tmp_path / "plain", num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0,
                                 progress=False, white_matter_class=True)  # fmt: skip


def test_data_set_without_the_switch_is_reused_unchanged(tmp_path):
    generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0, progress=False)
    manifest = json.loads((tmp_path / PHANTOM_MANIFEST).read_text())
    assert "white_matter_class" not in manifest["params"]  # the params of a data set made before the switch existed
    label_file = tmp_path / "case_000" / "label.nii.gz"
    stamp = label_file.stat().st_mtime_ns
    again = generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0, progress=False)
    assert json.loads((tmp_path / PHANTOM_MANIFEST).read_text()) == manifest
    assert label_file.stat().st_mtime_ns == stamp  # not regenerated
    assert again["labels"] == {"0": "background", "1": "lesion"}
