"""2D data routing of the focal_tversky bundle (build_datalist_2d, build_inference_datalist_2d, resolve_kind_2d,
resolve_channels_2d) and rows-first PNG/JPEG reading and writing (PILReaderHW, PILWriterHW)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai.transforms import LoadImage, LoadImaged, SaveImage
from monai_tversky.data import (
    PHANTOM2D_CHANNELS,
    PILReaderHW,
    PILWriterHW,
    build_datalist_2d,
    build_inference_datalist_2d,
    describe_source_2d,
    paper_image_size_2d,
    pil_mode_for_channels,
    resolve_channels_2d,
    resolve_kind_2d,
)


def _rgb(path: Path, size=(12, 16), **kwargs) -> Path:
    """An RGB image of ``size`` (H, W) whose pixel (r, c) holds (r, c, 7)."""
    rows, cols = np.mgrid[: size[0], : size[1]]
    Image.fromarray(np.stack([rows, cols, np.full_like(rows, 7)], -1).astype(np.uint8)).save(path, **kwargs)
    return path


def _mask(path: Path, size=(12, 16), value=255, mode="L") -> Path:
    mask = np.zeros(size, np.uint8)
    mask[2:6, 3:9] = value
    image = Image.fromarray(mask)
    (image if mode == "L" else image.convert(mode)).save(path)
    return path


def _isic(root: Path, ids=("ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000003"), masks=True) -> Path:
    images, gts = root / "ISIC2018_Task1-2_Training_Input", root / "ISIC2018_Task1_Training_GroundTruth"
    images.mkdir(parents=True)
    for i, case in enumerate(ids):
        _rgb(images / f"{case}.jpg", size=(12 + i, 16), quality=95)
        if masks:
            gts.mkdir(exist_ok=True)
            _mask(gts / f"{case}_segmentation.png", size=(12 + i, 16))
    return root


def _bus(root: Path, n=4) -> Path:
    (root / "original").mkdir(parents=True)
    (root / "GT").mkdir()
    for i in range(1, n + 1):
        _mask(root / "original" / f"{i:06d}.png", size=(20, 24), value=120)
        _mask(root / "GT" / f"{i:06d}.png", size=(20, 24))
    return root


# ---- kinds and channels ----


def test_kind_and_channels_follow_the_source(tmp_path):
    isic, bus = _isic(tmp_path / "isic"), _bus(tmp_path / "bus")
    assert resolve_kind_2d() == "skin" and resolve_kind_2d(kind="ultrasound") == "ultrasound"
    assert resolve_kind_2d(isic, kind="ultrasound") == "skin"
    assert resolve_kind_2d(bus) == "ultrasound" and resolve_kind_2d(bus, layout="bus2017") == "ultrasound"
    assert resolve_channels_2d("auto", isic) == ("R", "G", "B") == PHANTOM2D_CHANNELS["skin"]
    assert resolve_channels_2d("auto", bus) == ("US",)
    assert resolve_channels_2d("auto", kind="ultrasound") == ("US",)
    assert resolve_channels_2d(["gray"], isic) == ("gray",)  # a grayscale model of ISIC images
    declared = tmp_path / "list.json"
    declared.write_text(json.dumps({"training": [{"image": "a.png", "label": "b.png"}], "modality": {"0": "US"}}))
    assert resolve_kind_2d(datalist=declared) == "ultrasound" and resolve_channels_2d(datalist=declared) == ("US",)
    undeclared = tmp_path / "plain.json"
    undeclared.write_text(json.dumps({"training": [{"image": "a.png", "label": "b.png"}]}))
    assert resolve_kind_2d(datalist=undeclared, kind="ultrasound") == "ultrasound"
    assert paper_image_size_2d("skin") == (192, 256) and paper_image_size_2d("ultrasound") == (128, 128)


def test_kind_and_channel_errors(tmp_path):
    with pytest.raises(ValueError, match="phantom_kind"):
        resolve_kind_2d(kind="xray")
    with pytest.raises(ValueError, match="3 channels \\(RGB\\) or 1 \\(grayscale\\), not 2"):
        resolve_channels_2d(["T1", "T2"])
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="in none of the 2D layouts, ISIC 2018 Task 1 .* BUS 2017 dataset B .* BUSI .* --datalist"):
        resolve_kind_2d(tmp_path / "nothing")
    with pytest.raises(ValueError, match="layout must be one of"):
        resolve_kind_2d(tmp_path / "nothing", layout="msseg2016")
    assert pil_mode_for_channels(("R", "G", "B")) == "RGB" and pil_mode_for_channels(1) == "L"


# ---- training data ----


def test_phantom_by_default_split_75_25_and_checked(tmp_path):
    data = build_datalist_2d(phantom_dir=tmp_path / "p", phantom_cases=8, phantom_shape=(32, 48), seed=3,
                             progress=False)
    assert (len(data["training"]), len(data["validation"])) == (6, 2)
    assert data["modality"] == {"0": "R", "1": "G", "2": "B"} and data["kind"] == "skin"
    assert data["source"] == f"synthetic 2D skin phantom {(tmp_path / 'p').resolve()}"
    assert data["source"] == describe_source_2d(phantom_dir=tmp_path / "p", kind="skin")
    us = build_datalist_2d(kind="ultrasound", phantom_dir=tmp_path / "u", phantom_cases=4, phantom_shape=(32, 32),
                           progress=False)
    assert us["modality"] == {"0": "US"} and us["kind"] == "ultrasound"
    assert np.asarray(Image.open(us["training"][0]["image"])).shape == (32, 32)


def test_isic_and_bus_as_distributed(tmp_path):
    isic = build_datalist_2d(dataset_dir=_isic(tmp_path / "isic"), val_fraction=0.25, seed=0)
    assert len(isic["training"]) == 3 and len(isic["validation"]) == 1
    assert isic["kind"] == "skin" and isic["source"].startswith("ISIC 2018 Task 1 data set ")
    assert all(i["label"].endswith("_segmentation.png") for i in isic["training"])
    bus = build_datalist_2d(dataset_dir=_bus(tmp_path / "bus"))
    assert bus["modality"] == {"0": "US"} and bus["source"].startswith("BUS 2017 dataset B ")


def test_an_image_mask_size_mismatch_stops_naming_both_files(tmp_path):
    root = _isic(tmp_path / "isic")
    bad = root / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000002_segmentation.png"
    _mask(bad, size=(40, 16))
    with pytest.raises(ValueError, match=re.escape(f"label {bad} does not match image")) as info:
        build_datalist_2d(dataset_dir=root)
    assert "ISIC_0000002.jpg" in str(info.value) and "spatial shape" in str(info.value)


def test_an_unreadable_image_stops_naming_it(tmp_path):
    root = _bus(tmp_path / "bus")
    broken = root / "original" / "000003.png"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(ValueError, match=re.escape(str(broken))):
        build_datalist_2d(dataset_dir=root)


def test_a_mask_that_is_not_binary_stops(tmp_path):
    root = _bus(tmp_path / "bus")
    three = np.zeros((20, 24), np.uint8)
    three[1:4, 1:4], three[8:10, 8:10] = 128, 255
    Image.fromarray(three).save(root / "GT" / "000002.png")
    with pytest.raises(ValueError, match="is not a binary lesion mask"):
        build_datalist_2d(dataset_dir=root)


def test_datalist_json_with_validation_section_and_rgb_masks(tmp_path):
    for name in ("a", "b", "c"):
        _rgb(tmp_path / f"{name}.png")
        rgb_mask = np.repeat(np.asarray(Image.open(_mask(tmp_path / f"{name}_m.png")))[..., None], 3, -1)
        Image.fromarray(rgb_mask).save(tmp_path / f"{name}_m.png")  # an RGB mask: read as grayscale
    content = {"training": [{"image": "a.png", "label": "a_m.png"}, {"image": "b.png", "label": "b_m.png"}],
               "validation": [{"image": "c.png", "label": "c_m.png"}]}
    (tmp_path / "list.json").write_text(json.dumps(content))
    data = build_datalist_2d(datalist=tmp_path / "list.json")
    assert [Path(i["image"]).name for i in data["validation"]] == ["c.png"]
    assert data["modality"] == {"0": "R", "1": "G", "2": "B"}  # no "modality": the kind's (skin) channels
    with pytest.raises(ValueError, match="not both"):
        build_datalist_2d(dataset_dir=tmp_path, datalist=tmp_path / "list.json")
    with pytest.raises(ValueError, match="give dataset_dir, datalist or phantom_dir"):
        build_datalist_2d()


# ---- inference inputs ----


def test_inference_on_a_folder_of_images_of_any_size(tmp_path):
    _rgb(tmp_path / "b.jpg", size=(30, 20), quality=90)
    _rgb(tmp_path / "a.png", size=(7, 9))
    _mask(tmp_path / "c.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    items = build_inference_datalist_2d(tmp_path)
    assert [i["case_id"] for i in items] == ["a", "b", "c"] and all("label" not in i for i in items)
    with pytest.raises(ValueError, match="evaluation needs a label for every case"):
        build_inference_datalist_2d(tmp_path, require_label=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image in"):
        build_inference_datalist_2d(tmp_path / "empty")


def test_inference_on_isic_and_bus_folders_pairs_masks_when_present(tmp_path):
    with_masks = build_inference_datalist_2d(_isic(tmp_path / "isic"), require_label=True)
    assert len(with_masks) == 4 and all(i["label"].endswith("_segmentation.png") for i in with_masks)
    without = build_inference_datalist_2d(_isic(tmp_path / "isic_images", masks=False))
    assert len(without) == 4 and all("label" not in i for i in without)
    bus = build_inference_datalist_2d(_bus(tmp_path / "bus"))
    assert [i["case_id"] for i in bus] == ["000001", "000002", "000003", "000004"] and all("label" in i for i in bus)


def test_inference_on_files_and_a_datalist(tmp_path):
    one = _rgb(tmp_path / "one.jpg", quality=90)
    assert build_inference_datalist_2d(str(one)) == [{"image": str(one.resolve()), "case_id": "one"}]
    (tmp_path / "x").mkdir()
    other = _rgb(tmp_path / "x" / "one.png")
    items = build_inference_datalist_2d([str(one), str(other)])  # a list: one case per file, ids kept unique
    assert [i["case_id"] for i in items] == ["one", "one_2"]
    (tmp_path / "list.json").write_text(json.dumps({"testing": [{"image": "one.jpg", "case_id": "p1"}]}))
    assert build_inference_datalist_2d(tmp_path / "list.json")[0]["case_id"] == "p1"
    with pytest.raises(FileNotFoundError, match="image file not found"):
        build_inference_datalist_2d([str(tmp_path / "missing.png")])


# ---- rows-first reading and writing ----


def test_pil_reader_hw_loads_rows_first_and_records_that_shape(tmp_path):
    path = _rgb(tmp_path / "img.png", size=(12, 16))
    image = LoadImage(reader=PILReaderHW(), image_only=True, ensure_channel_first=True)(str(path))
    assert tuple(image.shape) == (3, 12, 16)
    assert image[0, 5, 9] == 5 and image[1, 5, 9] == 9  # (channel, row, column)
    assert tuple(image.meta["spatial_shape"]) == (12, 16)
    default = LoadImage(reader="PILReader", image_only=True, ensure_channel_first=True)(str(path))
    assert tuple(default.shape) == (3, 16, 12) and tuple(default.meta["spatial_shape"]) == (16, 12)  # MONAI's own


@pytest.mark.parametrize(
    "mode, source, channels",
    [("RGB", "gray", 3), ("L", "rgb", 1), ("L", "gray", 1), ("label", "rgb", 1), ("label", "palette", 1)],
)
def test_pil_reader_hw_converts_to_the_network_format(mode, source, channels, tmp_path):
    path = {"gray": lambda: _mask(tmp_path / "g.png"), "rgb": lambda: _rgb(tmp_path / "c.png"),
            "palette": lambda: _mask(tmp_path / "p.png", mode="P")}[source]()
    image = LoadImage(reader=PILReaderHW(mode=mode), image_only=True, ensure_channel_first=True)(str(path))
    assert tuple(image.shape) == (channels, 12, 16)
    if mode == "label" and source == "palette":
        assert set(torch.unique(image).tolist()) == {0.0, 255.0}  # the palette indices, as PILReader loads them


def test_pil_reader_hw_arguments():
    with pytest.raises(ValueError, match="mode must be one of"):
        PILReaderHW(mode="CMYK")
    with pytest.raises(ValueError, match="not both"):
        PILReaderHW(mode="L", converter=lambda im: im)


def test_pil_writer_hw_writes_a_rows_first_array_as_it_was_read(tmp_path):
    path = _rgb(tmp_path / "img.png", size=(12, 16))
    data = LoadImaged("image", reader=PILReaderHW(mode="L"), ensure_channel_first=True, image_only=True)(
        {"image": str(path)})
    prob = data["image"] / 255.0
    saver = SaveImage(output_dir=tmp_path / "out", output_postfix="prob", output_ext=".png", writer=PILWriterHW,
                      scale=255, output_dtype=np.uint8, separate_folder=False, print_log=False)
    saver(prob)
    written = Image.open(tmp_path / "out" / "img_prob.png")
    assert written.size == (16, 12) and written.mode == "L"  # PIL: (width, height)
    np.testing.assert_array_equal(np.asarray(written), np.asarray(Image.open(path).convert("L")))
