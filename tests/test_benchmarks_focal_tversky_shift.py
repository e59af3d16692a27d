"""benchmarks/focal_tversky_shift.py's image changes (issue 24's other-hospital proxy): each one what its name says,
checked against the formula or PIL directly on an image made here, and the shifted datalist keeps the masks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import focal_tversky_shift as shift  # noqa: E402


def _image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:80]
    return (40 + 150 * (x / 79.0) * (y / 63.0)).astype(np.float32)  # a smooth ramp, 40..190


def test_each_change_is_its_formula():
    x, rng = _image(), np.random.default_rng(0)
    np.testing.assert_array_equal(shift.SHIFTS["none"](x, rng), x)
    np.testing.assert_allclose(shift.SHIFTS["gamma 1.5 (darker mid-tones)"](x, rng), 255 * (x / 255) ** 1.5, rtol=1e-6)
    assert (shift.SHIFTS["gamma 0.67 (brighter mid-tones)"](x, rng) > x).all()  # every value in (0, 255) rises
    low = shift.SHIFTS["contrast x0.7 about the mean"](x, rng)
    assert low.mean() == pytest.approx(x.mean(), rel=1e-5) and low.std() == pytest.approx(0.7 * x.std(), rel=1e-5)
    np.testing.assert_allclose(shift.SHIFTS["brightness +25"](x, rng), x + 25)
    noisy = shift.SHIFTS["speckle (x Rayleigh-like noise, sd 0.2)"](x, np.random.default_rng(1))
    ratio = noisy / x
    assert ratio.mean() == pytest.approx(1.0, abs=0.02) and ratio.std() == pytest.approx(0.2, abs=0.02)
    half = shift.SHIFTS["half resolution (down and up)"](x, rng)
    assert half.shape == x.shape and np.abs(half - x).max() < 5  # a smooth ramp survives; its detail would not
    blur = shift.SHIFTS["blur (Gaussian, 1.5 px at 256 px)"](x, rng)
    expected = np.asarray(Image.fromarray(x.astype(np.uint8)).filter(shift.ImageFilter.GaussianBlur(1.5)), np.float32)
    np.testing.assert_array_equal(blur, expected)


def test_shifted_datalist_changes_the_images_only(tmp_path):
    image, mask = tmp_path / "a.png", tmp_path / "a_mask.png"
    Image.fromarray(_image().astype(np.uint8)).save(image)
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(mask)
    datalist = tmp_path / "split.json"
    datalist.write_text(json.dumps({"modality": {"0": "US"}, "testing": [
        {"image": str(image), "label": [str(mask)], "case_id": "a"}]}))  # fmt: skip
    path = shift.shifted_datalist(datalist, "brightness +25", tmp_path / "bright")
    content = json.loads(path.read_text())
    item = content["testing"][0]
    assert content["modality"] == {"0": "US"} and item["label"] == [str(mask)] and item["case_id"] == "a"
    out = np.asarray(Image.open(item["image"]), np.float32)
    np.testing.assert_array_equal(out, np.clip(_image().astype(np.uint8).astype(np.float32) + 25, 0, 255))
