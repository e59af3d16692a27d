"""Tests of the 2D datalist builders (ISIC 2018 Task 1, BUS 2017 dataset B), their detection, and of
monai_tversky.data.check_datalist on PNG and JPEG files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_tversky.data import (
    ISIC2018_TASK1_FOLDERS,
    bus2017_datalist,
    check_datalist,
    detect_layout,
    detect_layout_2d,
    isic2018_datalist,
)

ISIC_IDS = ("ISIC_0000000", "ISIC_0000001", "ISIC_0000003")
BUS_IDS = ("000001", "000002", "000010")


def _rgb(path: Path, size=(8, 8), **save_kwargs) -> Path:
    """Write a small RGB image; ``size`` is (H, W)."""
    rng = np.random.default_rng(len(str(path)))
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, **save_kwargs)
    return path


def _gray(path: Path, size=(8, 8), mode="L") -> Path:
    """Write a small 0/255 mask (``mode`` "L", or "P" for a palette image); ``size`` is (H, W)."""
    mask = np.zeros(size, dtype=np.uint8)
    mask[2:5, 3:6] = 255
    image = Image.fromarray(mask)
    (image if mode == "L" else image.convert(mode)).save(path)
    return path


def _isic_tree(root: Path, subset: str = "training", ids=ISIC_IDS, masks=ISIC_IDS) -> Path:
    input_name, mask_name = ISIC2018_TASK1_FOLDERS[subset]
    (root / input_name).mkdir(parents=True)
    (root / mask_name).mkdir(parents=True)
    for case in ids:
        _rgb(root / input_name / f"{case}.jpg", quality=95)
    for case in masks:
        _gray(root / mask_name / f"{case}_segmentation.png")
    for name in ("ATTRIBUTION.txt", "LICENSE.txt"):  # shipped in both folders
        (root / input_name / name).write_text("CC-BY-NC\n")
        (root / mask_name / name).write_text("CC-BY-NC\n")
    return root


def _bus_tree(root: Path, ids=BUS_IDS, masks=BUS_IDS) -> Path:
    (root / "original").mkdir(parents=True)
    (root / "GT").mkdir(parents=True)
    for case in ids:
        _gray(root / "original" / f"{case}.png")
    for case in masks:
        _gray(root / "GT" / f"{case}.png")
    return root


# ---- ISIC 2018 ----


def test_isic2018_training_items(tmp_path):
    root = _isic_tree(tmp_path)
    items = isic2018_datalist(root)
    assert [i["case_id"] for i in items] == list(ISIC_IDS)
    first = items[0]
    assert set(first) == {"image", "label", "case_id"}
    assert first["image"] == str(root / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000000.jpg")
    assert first["label"] == str(root / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000000_segmentation.png")
    # RGB JPEG images with grayscale PNG masks of the same size pass the header check
    check_datalist(items)


@pytest.mark.parametrize("subset", ["validation", "test", "Validation"])
def test_isic2018_other_subsets(subset, tmp_path):
    root = _isic_tree(tmp_path, subset.lower(), ids=ISIC_IDS[:2], masks=ISIC_IDS[:2])
    items = isic2018_datalist(root, subset=subset)
    input_name = ISIC2018_TASK1_FOLDERS[subset.lower()][0]
    assert [Path(i["image"]).parent.name for i in items] == [input_name, input_name]
    with pytest.raises(FileNotFoundError, match="ISIC2018_Task1-2_Training_Input"):
        isic2018_datalist(root)  # the training folders are not there
    with pytest.raises(ValueError, match="subset must be one of"):
        isic2018_datalist(root, subset="testing")


def test_isic2018_image_without_mask(tmp_path):
    root = _isic_tree(tmp_path, masks=ISIC_IDS[:2])
    with pytest.raises(FileNotFoundError) as info:
        isic2018_datalist(root)
    message = str(info.value)
    assert "ISIC_0000003.jpg has no mask" in message
    expected = root / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000003_segmentation.png"
    assert f"(expected {expected})" in message
    # without labels the images are listed
    items = isic2018_datalist(root, label=False)
    assert [i["case_id"] for i in items] == list(ISIC_IDS) and all("label" not in i for i in items)


def test_isic2018_mask_without_image(tmp_path):
    root = _isic_tree(tmp_path, ids=ISIC_IDS[:2])
    with pytest.raises(FileNotFoundError) as info:
        isic2018_datalist(root)
    message = str(info.value)
    assert "ISIC_0000003_segmentation.png has no image" in message
    assert f"(expected {root / 'ISIC2018_Task1-2_Training_Input' / 'ISIC_0000003.jpg'})" in message


def test_isic2018_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        isic2018_datalist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "ISIC2018_Task1-2_Training_Input"))):
        isic2018_datalist(tmp_path)
    (tmp_path / "ISIC2018_Task1-2_Training_Input").mkdir()
    (tmp_path / "ISIC2018_Task1-2_Training_Input" / "LICENSE.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="no image in .*ISIC2018_Task1-2_Training_Input: expected ISIC_<id>.jpg"):
        isic2018_datalist(tmp_path)
    _rgb(tmp_path / "ISIC2018_Task1-2_Training_Input" / "ISIC_0000000.jpg")
    with pytest.raises(FileNotFoundError, match="expected the folder .*ISIC2018_Task1_Training_GroundTruth"):
        isic2018_datalist(tmp_path)
    (tmp_path / "ISIC2018_Task1_Training_GroundTruth").mkdir()
    with pytest.raises(FileNotFoundError, match="no mask in .*GroundTruth: expected ISIC_<id>_segmentation.png"):
        isic2018_datalist(tmp_path)


def test_isic2018_in_a_sub_folder(tmp_path):
    _isic_tree(tmp_path / "ISIC2018")
    items = isic2018_datalist(tmp_path)
    assert len(items) == 3 and Path(items[0]["image"]).parent.parent.name == "ISIC2018"
    assert detect_layout_2d(tmp_path) == "isic2018"


# ---- BUS 2017 dataset B ----


def test_bus2017_items(tmp_path):
    root = _bus_tree(tmp_path)
    (root / "original" / "readme.txt").write_text("")
    (root / "GT" / "Thumbs.db").write_bytes(b"\0")
    items = bus2017_datalist(root)
    assert items == [
        {"image": str(root / "original" / f"{c}.png"), "label": str(root / "GT" / f"{c}.png"), "case_id": c}
        for c in BUS_IDS
    ]
    check_datalist(items)


def test_bus2017_unpaired_files(tmp_path):
    root = _bus_tree(tmp_path, ids=BUS_IDS[:2], masks=BUS_IDS[1:])
    with pytest.raises(FileNotFoundError) as info:
        bus2017_datalist(root)
    message = str(info.value)
    assert "2 BUS 2017 file(s) without a partner" in message
    assert f"image {root / 'original' / '000001.png'} has no mask (expected {root / 'GT' / '000001.png'})" in message
    assert f"mask {root / 'GT' / '000010.png'} has no image (expected {root / 'original' / '000010.png'})" in message
    assert [i["case_id"] for i in bus2017_datalist(root, label=False)] == list(BUS_IDS[:2])


def test_bus2017_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"expected the folder {tmp_path / 'original'}")):
        bus2017_datalist(tmp_path)
    (tmp_path / "original").mkdir()
    with pytest.raises(FileNotFoundError, match="no image in .*original: expected 000001.png"):
        bus2017_datalist(tmp_path)
    _gray(tmp_path / "original" / "000001.png")
    with pytest.raises(FileNotFoundError, match=re.escape(f"expected the folder {tmp_path / 'GT'}")):
        bus2017_datalist(tmp_path)
    (tmp_path / "gt").mkdir()  # folder names are matched case-insensitively
    with pytest.raises(FileNotFoundError, match="no mask in .*gt: expected 000001.png"):
        bus2017_datalist(tmp_path)


def test_bus2017_two_images_of_one_case(tmp_path):
    root = _bus_tree(tmp_path)
    _gray(root / "original" / "000001.bmp")
    with pytest.raises(ValueError, match="name case '000001': 000001.bmp and 000001.png"):
        bus2017_datalist(root)


# ---- detection ----


def test_detect_layout_2d(tmp_path):
    assert detect_layout_2d(_isic_tree(tmp_path / "isic")) == "isic2018"
    assert detect_layout_2d(_bus_tree(tmp_path / "bus")) == "bus2017"
    assert detect_layout_2d(_bus_tree(tmp_path / "nested" / "Dataset_B")) == "bus2017"
    (tmp_path / "empty").mkdir()
    assert detect_layout_2d(tmp_path / "empty") is None
    (tmp_path / "only_original" / "original").mkdir(parents=True)
    assert detect_layout_2d(tmp_path / "only_original") is None
    (tmp_path / "msseg" / "Center_01" / "Patient_01" / "Preprocessed_Data").mkdir(parents=True)
    assert detect_layout_2d(tmp_path / "msseg") is None
    assert detect_layout(tmp_path / "isic") == "folder"  # the 3D detector leaves 2D layouts to this one
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        detect_layout_2d(tmp_path / "nowhere")


# ---- check_datalist on PNG and JPEG files (PIL header reads, as MONAI's PILReader) ----


def test_check_datalist_size_mismatch_names_both_files(tmp_path):
    image = _rgb(tmp_path / "ISIC_1.jpg", size=(8, 8))
    mask = _gray(tmp_path / "ISIC_1_segmentation.png", size=(8, 10))
    with pytest.raises(ValueError) as info:
        check_datalist([{"image": str(image), "label": str(mask), "case_id": "ISIC_1"}])
    message = str(info.value)
    assert f"label {mask} does not match image {image}" in message and "spatial shape" in message


def test_check_datalist_rgb_image_with_grayscale_mask_is_no_mismatch(tmp_path):
    items = [
        {"image": str(_rgb(tmp_path / "a.jpg", size=(12, 16))), "label": str(_gray(tmp_path / "a.png", (12, 16)))},
        {"image": str(_rgb(tmp_path / "b.png", size=(12, 16))), "label": str(_gray(tmp_path / "b_m.png", (12, 16)))},
    ]
    assert check_datalist(items, modalities=["R", "G", "B"]) is items


@pytest.mark.parametrize("name", ["garbage.jpg", "garbage.png", "empty.png"])
def test_check_datalist_unreadable_file_is_named(name, tmp_path):
    bad = tmp_path / name
    bad.write_bytes(b"" if name.startswith("empty") else b"this is not an image file\n" * 8)
    mask = _gray(tmp_path / "mask.png")
    with pytest.raises(ValueError, match=re.escape(f"cannot read image file {bad}")):
        check_datalist([{"image": str(bad), "label": str(mask)}])


def _truncated(source: Path, target: Path) -> Path:
    content = source.read_bytes()
    target.write_bytes(content[: len(content) // 2])  # the header survives, the pixel data is cut
    return target


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_check_datalist_truncated_file_is_named(suffix, tmp_path):
    whole = _rgb(tmp_path / f"whole{suffix}", size=(64, 64), **({"quality": 95} if suffix == ".jpg" else {}))
    bad = _truncated(whole, tmp_path / f"cut{suffix}")
    mask = _gray(tmp_path / "mask.png", size=(64, 64))
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        check_datalist([{"image": str(bad), "label": str(mask)}])  # verify_data=True decodes the pixels


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_check_datalist_header_mode_names_a_truncated_file(suffix, tmp_path):
    whole = _rgb(tmp_path / f"whole{suffix}", size=(64, 64), **({"quality": 95} if suffix == ".jpg" else {}))
    bad = _truncated(whole, tmp_path / f"cut{suffix}")
    mask = _gray(tmp_path / "mask.png", size=(64, 64))
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        check_datalist([{"image": str(bad), "label": str(mask)}], verify_data="header")


def test_check_datalist_jpeg_with_a_dpi_is_no_mismatch(tmp_path):
    image = _rgb(tmp_path / "ISIC_2.jpg", size=(8, 8), dpi=(72, 72))
    mask = _gray(tmp_path / "ISIC_2_segmentation.png")
    check_datalist([{"image": str(image), "label": str(mask)}])


def test_check_datalist_palette_mask_has_one_channel(tmp_path):
    image = _gray(tmp_path / "000001.png")
    mask = _gray(tmp_path / "000001_gt.png", mode="P")
    check_datalist([{"image": str(image), "label": str(mask)}])


# ---- the PIL header read: what MONAI's PILReader loads, and the cheap completeness check of header mode ----


def test_pil_header_is_what_monai_pilreader_loads(tmp_path):
    from monai.transforms import LoadImage

    from monai_tversky.data import read_image_header

    cases = {
        "rgb.jpg": _rgb(tmp_path / "rgb.jpg", size=(12, 20), dpi=(300, 300)),
        "rgb.png": _rgb(tmp_path / "rgb.png", size=(12, 20)),
        "mask.png": _gray(tmp_path / "mask.png", size=(12, 20)),
        "palette.png": _gray(tmp_path / "palette.png", size=(12, 20), mode="P"),
        "rgb.bmp": _rgb(tmp_path / "rgb.bmp", size=(12, 20)),
    }
    for name, path in cases.items():
        header = read_image_header(path)
        loaded = LoadImage(reader="PILReader", image_only=True)(str(path))
        assert header.spatial_shape == tuple(int(v) for v in loaded.meta["spatial_shape"]) == (20, 12), name
        assert header.num_channels == (3 if name.startswith("rgb") else 1), name
        assert header.num_channels == (loaded.shape[-1] if loaded.ndim == 3 else 1), name
        np.testing.assert_array_equal(header.affine, np.eye(4))  # no spacing from a JPEG's dots per inch


@pytest.mark.parametrize("kwargs", [{"progressive": True}, {"restart_marker_blocks": 2}, {"quality": 95}])
def test_jpeg_variants_pass_header_mode_and_their_truncations_do_not(kwargs, tmp_path):
    whole = _rgb(tmp_path / "whole.jpg", size=(64, 64), **kwargs)
    mask = _gray(tmp_path / "mask.png", size=(64, 64))
    check_datalist([{"image": str(whole), "label": str(mask)}], verify_data="header")
    padded = tmp_path / "padded.jpg"  # bytes after the end-of-image marker (some cameras write them) are harmless
    padded.write_bytes(whole.read_bytes() + b"\0" * 16)
    check_datalist([{"image": str(padded), "label": str(mask)}], verify_data="header")
    for fraction in (0.3, 0.9):
        cut = tmp_path / f"cut{fraction}.jpg"
        content = whole.read_bytes()
        cut.write_bytes(content[: int(len(content) * fraction)])
        with pytest.raises(ValueError, match=re.escape(f"image file {cut} is truncated or corrupt")):
            check_datalist([{"image": str(cut), "label": str(mask)}], verify_data="header")


def test_png_and_bmp_truncations_are_named_in_header_mode(tmp_path):
    mask = _gray(tmp_path / "mask.png", size=(64, 64))
    for suffix in (".png", ".bmp"):
        whole = _rgb(tmp_path / f"whole{suffix}", size=(64, 64))
        check_datalist([{"image": str(whole), "label": str(mask)}], verify_data="header")
        content = whole.read_bytes()
        for keep in (len(content) - 5, len(content) // 2):
            cut = tmp_path / f"cut{keep}{suffix}"
            cut.write_bytes(content[:keep])
            with pytest.raises(ValueError, match=re.escape(f"image file {cut} is truncated or corrupt")):
                check_datalist([{"image": str(cut), "label": str(mask)}], verify_data="header")
    # without verify_data only the header is read
    check_datalist([{"image": str(cut), "label": str(mask)}], verify_data=False)


def test_label_channels_none_accepts_an_rgb_mask(tmp_path):
    image = _rgb(tmp_path / "000001.png", size=(8, 8))
    rgb_mask = tmp_path / "000001_gt.png"
    Image.fromarray(np.repeat(np.asarray(Image.open(_gray(tmp_path / "m.png")))[..., None], 3, -1)).save(rgb_mask)
    items = [{"image": str(image), "label": str(rgb_mask)}]
    with pytest.raises(ValueError, match="has 3 channels, expected 1"):
        check_datalist(items)
    assert check_datalist(items, label_channels=None, label_values="binary") is items
