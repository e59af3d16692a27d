"""Tests of the 2D lesion phantom (monai_tversky.data.make_lesion_phantom_2d) and its cached PNG data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from monai_tversky.data import (
    PHANTOM2D_CHANNELS,
    PHANTOM2D_LESION_FRACTION_RANGE,
    PHANTOM2D_SHAPES,
    PHANTOM_DATALIST,
    PHANTOM_MANIFEST,
    check_datalist,
    generate_phantom_dataset_2d,
    load_datalist,
    make_lesion_phantom_2d,
)

KINDS = ("skin", "ultrasound")
SEEDS = range(20)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def phantoms():
    """20 default-size phantoms of each kind (a few milliseconds each)."""
    return {kind: [make_lesion_phantom_2d(kind=kind, seed=s) for s in SEEDS] for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_under_a_seed(kind):
    image, mask = make_lesion_phantom_2d(kind=kind, seed=7)
    again_image, again_mask = make_lesion_phantom_2d(kind=kind, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(mask, again_mask)
    other_image, _ = make_lesion_phantom_2d(kind=kind, seed=8)
    assert not np.array_equal(image, other_image)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dtypes_and_channels(kind, phantoms):
    h, w = PHANTOM2D_SHAPES[kind]
    n_channels = len(PHANTOM2D_CHANNELS[kind])
    assert n_channels == (3 if kind == "skin" else 1)
    for image, mask in phantoms[kind]:
        assert image.shape == (h, w, n_channels) and image.dtype == np.uint8
        assert mask.shape == (h, w) and mask.dtype == np.uint8
    image, mask = make_lesion_phantom_2d((48, 64), kind=kind, seed=0)
    assert image.shape == (48, 64, n_channels) and mask.shape == (48, 64)
    # the image uses the intensity range, it is not a flat or saturated picture
    assert image.std() > 10 and 0 < np.median(image) < 255


@pytest.mark.parametrize("kind", KINDS)
def test_mask_is_binary_and_not_empty(kind, phantoms):
    for _, mask in phantoms[kind]:
        assert set(np.unique(mask)) == {0, 1}


def test_skin_channels_differ_and_ultrasound_lesions_lie_inside(phantoms):
    image, _ = phantoms["skin"][0]
    assert image[..., 0].mean() > image[..., 2].mean() + 20  # skin tones: red above blue
    for _, mask in phantoms["ultrasound"]:
        border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        assert not border.any()


@pytest.mark.parametrize("kind", KINDS)
def test_lesion_fraction_distribution(kind, phantoms):
    lo, hi = PHANTOM2D_LESION_FRACTION_RANGE[kind]
    fractions = np.array([mask.mean() for _, mask in phantoms[kind]])
    n_pixels = phantoms[kind][0][1].size
    assert np.all(fractions >= lo - 1.0 / n_pixels) and np.all(fractions <= hi + 1.0 / n_pixels)
    # the spread covers small and large lesions; the mean is near abraham2018's (ISIC 21.4%, BUS 4.84%)
    if kind == "skin":
        assert fractions.min() < 0.1 and fractions.max() > 0.3 and 0.1 < fractions.mean() < 0.3
    else:
        assert fractions.min() < 0.02 and fractions.max() > 0.08 and 0.02 < fractions.mean() < 0.08


@pytest.mark.parametrize("kind", KINDS)
def test_lesion_fraction_argument_is_met_to_the_pixel(kind):
    for fraction in (0.02, 0.1):
        _, mask = make_lesion_phantom_2d(kind=kind, lesion_fraction=fraction, seed=3)
        assert int(mask.sum()) == round(fraction * mask.size)


@pytest.mark.parametrize("kind", KINDS)
def test_lesion_is_darker_than_its_surroundings(kind, phantoms):
    ratios = []
    for image, mask in phantoms[kind]:
        luminance = image.astype(np.float64).mean(axis=-1)
        inside = mask.astype(bool)
        ring = ndimage.binary_dilation(inside, iterations=6) & ~inside
        ratios.append(luminance[inside].mean() / luminance[ring].mean())
    ratios = np.array(ratios)
    assert np.all(ratios < (0.95 if kind == "skin" else 0.75)), ratios
    assert ratios.mean() < (0.85 if kind == "skin" else 0.5)


def test_number_of_lesions():
    _, mask = make_lesion_phantom_2d(kind="skin", n_lesions=0, seed=0)
    assert not mask.any()
    _, mask = make_lesion_phantom_2d(kind="ultrasound", n_lesions=0, seed=0)
    assert not mask.any()
    _, mask = make_lesion_phantom_2d(kind="ultrasound", n_lesions=1, seed=0)
    assert ndimage.label(mask)[1] == 1
    counts = {ndimage.label(make_lesion_phantom_2d(kind="skin", n_lesions=3, seed=s)[1])[1] for s in range(5)}
    assert counts <= {1, 2, 3} and max(counts) > 1  # satellites may touch the main lesion


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "mri"}, "kind must be one of"),
        ({"shape": (16, 64)}, "shape must be 2 ints"),
        ({"shape": (64, 64, 3)}, "shape must be 2 ints"),
        ({"n_lesions": -1}, "n_lesions must be >= 0"),
        ({"n_lesions": 1.5}, "n_lesions must be None or an int"),
        ({"lesion_fraction": 0.0}, "lesion_fraction must be None or in"),
        ({"lesion_fraction": 0.9}, "lesion_fraction must be None or in"),
        ({"kind": "ultrasound", "shape": (32, 128), "lesion_fraction": 0.5}, "does not fit inside"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lesion_phantom_2d(seed=0, **kwargs)


def test_invalid_seed_type():
    with pytest.raises(TypeError, match="seed must be"):
        make_lesion_phantom_2d(seed="0")


# ---- the cached PNG data set ----


@pytest.mark.parametrize("kind", KINDS)
def test_dataset_files_and_datalist(kind, tmp_path):
    datalist = generate_phantom_dataset_2d(tmp_path, num_cases=4, kind=kind, seed=2, progress=False)
    assert [i["case_id"] for i in datalist["training"]] == ["case_000", "case_001", "case_002"]
    assert [i["case_id"] for i in datalist["validation"]] == ["case_003"]  # abraham2018's 75-25 split
    assert datalist["modality"] == {str(i): c for i, c in enumerate(PHANTOM2D_CHANNELS[kind])}
    assert datalist["labels"] == {"0": "background", "255": "lesion"}
    on_disk = json.loads((tmp_path / PHANTOM_DATALIST).read_text())
    assert on_disk["training"][0] == {"image": "case_000/image.png", "label": "case_000/label.png", "case_id": "case_000"}
    loaded = load_datalist(tmp_path / PHANTOM_DATALIST)
    assert loaded["training"] == datalist["training"] and loaded["validation"] == datalist["validation"]

    item = datalist["training"][1]
    assert Path(item["image"]).is_absolute()
    image, mask = make_lesion_phantom_2d(kind=kind, seed=np.random.default_rng(np.random.SeedSequence(2, spawn_key=(1,))))
    with Image.open(item["image"]) as png:
        assert png.format == "PNG" and png.mode == ("RGB" if kind == "skin" else "L")
        np.testing.assert_array_equal(np.asarray(png).reshape(image.shape), image)
    with Image.open(item["label"]) as png:
        assert png.mode == "L"
        np.testing.assert_array_equal(np.asarray(png), mask * 255)
    # the header check passes with the channels the datalist declares (3 for RGB, 1 for grayscale)
    check_datalist(datalist, modalities=list(datalist["modality"].values()))


@pytest.mark.parametrize("kind", KINDS)
def test_monai_load_imaged_round_trip(kind, tmp_path):
    from monai.transforms import LoadImaged

    datalist = generate_phantom_dataset_2d(tmp_path, num_cases=1, kind=kind, seed=4, progress=False)
    item = datalist["training"][0]
    image, mask = make_lesion_phantom_2d(kind=kind, seed=np.random.default_rng(np.random.SeedSequence(4, spawn_key=(0,))))
    data = LoadImaged(keys=["image", "label"], ensure_channel_first=True)(dict(item))
    loaded_image, loaded_label = np.asarray(data["image"]), np.asarray(data["label"])
    h, w = image.shape[:2]
    assert loaded_image.shape == (image.shape[-1], w, h)  # PILReader: spatial axes (W, H), channel first
    assert loaded_label.shape == (1, w, h)
    assert loaded_image.shape[1:] == loaded_label.shape[1:]
    np.testing.assert_array_equal(loaded_image, image.transpose(2, 1, 0))
    np.testing.assert_array_equal(loaded_label[0], mask.T * 255.0)
    # the label covers the lesion of the loaded image: darker inside than in a ring around it
    luminance = loaded_image.mean(axis=0)
    inside = loaded_label[0] > 127.5
    ring = ndimage.binary_dilation(inside, iterations=6) & ~inside
    assert luminance[inside].mean() < 0.95 * luminance[ring].mean()


def test_dataset_second_call_rewrites_nothing(tmp_path):
    first = generate_phantom_dataset_2d(tmp_path, num_cases=3, kind="ultrasound", progress=False)
    before = _mtimes(tmp_path)
    second = generate_phantom_dataset_2d(tmp_path, num_cases=3, kind="ultrasound", progress=False)
    assert second == first
    assert _mtimes(tmp_path) == before


def test_dataset_more_cases_generates_only_the_new_ones(tmp_path):
    generate_phantom_dataset_2d(tmp_path, num_cases=2, kind="skin", val_fraction=0.0, progress=False)
    before = {k: v for k, v in _mtimes(tmp_path).items() if k.startswith("case_")}
    datalist = generate_phantom_dataset_2d(tmp_path, num_cases=3, kind="skin", val_fraction=0.0, progress=False)
    after = _mtimes(tmp_path)
    assert all(after[k] == v for k, v in before.items())
    assert len(datalist["training"]) == 3 and (tmp_path / "case_002" / "label.png").is_file()
    manifest = json.loads((tmp_path / PHANTOM_MANIFEST).read_text())
    assert sorted(manifest["cases"]) == ["case_000", "case_001", "case_002"]


def test_dataset_other_parameters_refuse_then_overwrite(tmp_path):
    generate_phantom_dataset_2d(tmp_path, num_cases=1, kind="skin", progress=False)
    with pytest.raises(FileExistsError, match="kind: 'skin' there, 'ultrasound' now"):
        generate_phantom_dataset_2d(tmp_path, num_cases=1, kind="ultrasound", progress=False)
    datalist = generate_phantom_dataset_2d(tmp_path, num_cases=1, kind="ultrasound", overwrite=True, progress=False)
    with Image.open(datalist["training"][0]["image"]) as png:
        assert png.mode == "L" and png.size == (128, 128)


def test_dataset_damaged_case_is_regenerated(tmp_path):
    datalist = generate_phantom_dataset_2d(tmp_path, num_cases=2, kind="ultrasound", progress=False)
    label = Path(datalist["training"][0]["label"])
    content = label.read_bytes()
    label.write_bytes(content[: len(content) // 2])  # an interrupted copy
    generate_phantom_dataset_2d(tmp_path, num_cases=2, kind="ultrasound", progress=False)
    assert label.read_bytes() == content


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_cases": 0}, "num_cases must be"),
        ({"seed": -1}, "seed must be"),
        ({"val_fraction": 1.0}, "val_fraction must be"),
        ({"kind": "ct"}, "kind must be one of"),
    ],
)
def test_dataset_invalid_arguments(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        generate_phantom_dataset_2d(tmp_path, progress=False, **kwargs)
