"""benchmarks/focal_tversky_postprocessing.py's rules and scores (issue 24: normal breast ultrasound marked as lesion),
each checked on probability maps worked by hand here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import focal_tversky_postprocessing as pp  # noqa: E402


def _prob() -> np.ndarray:
    """10 x 10: a 3 x 3 blob at 0.9 (9 px), a 2 x 1 blob at 0.6 (2 px), a pixel touching the big blob only at a
    corner at 0.8, and 0.4 (below the threshold) in one more pixel."""
    p = np.zeros((10, 10), np.float32)
    p[1:4, 1:4] = 0.9
    p[7:9, 7] = 0.6
    p[4, 4] = 0.8  # diagonal neighbour of (3, 3): the same 8-connected component
    p[0, 9] = 0.4
    return p


def test_threshold_alone_is_prob_above_it():
    p = _prob()
    np.testing.assert_array_equal(pp.postprocess(p), p > 0.5)
    assert pp.postprocess(p).sum() == 9 + 2 + 1


def test_largest_component_is_8_connected():
    kept = pp.postprocess(_prob(), largest=True)
    assert kept.sum() == 10 and kept[4, 4] and not kept[7, 7]  # the corner pixel belongs to the 3 x 3 blob


def test_small_components_removed_by_fraction_of_the_image():
    p = _prob()
    assert pp.postprocess(p, min_fraction=0.02).sum() == 12  # 2 px = 2 % of 100 stays
    assert pp.postprocess(p, min_fraction=0.03).sum() == 10  # the 2 px blob goes, the 10 px one stays
    assert not pp.postprocess(p, min_fraction=0.11).any()


def test_gate_drops_the_whole_image_below_its_highest_probability():
    p = _prob()
    assert pp.postprocess(p, gate=0.9).sum() == 12  # max is 0.9: kept
    assert not pp.postprocess(p, gate=0.95).any()
    assert not pp.postprocess(np.zeros((4, 4)), largest=True).any()  # an empty prediction stays empty


def test_dice_and_score_against_hand_counts():
    truth = np.zeros((10, 10), bool)
    truth[1:4, 1:3] = True  # 6 px inside the 3 x 3 blob
    assert pp.dice(pp.postprocess(_prob()), truth) == pytest.approx(2 * 6 / (12 + 6))
    assert pp.dice(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    normal = [_prob(), np.zeros((10, 10), np.float32)]
    result = pp.score([(_prob(), truth)], normal, {"largest": True}, share=0.25)
    assert result["dsc"] == pytest.approx(2 * 6 / (10 + 6))
    assert (result["flagged"], result["normal"]) == (1, 2)
    assert result["area"] == pytest.approx(100 * (0.10 + 0.0) / 2)
    assert result["objective"] == pytest.approx(0.75 * 2 * 6 / 16 + 0.25 * 0.5)


def test_unused_normals_and_mask_union(tmp_path):
    normal = tmp_path / "normal"
    (normal / "images").mkdir(parents=True)
    (normal / "masks").mkdir()
    for name in ("normal_(1)", "normal_(2)", "normal_(3)"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(normal / "images" / f"{name}.png")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"modality": {"0": "US"}, "training": [{"case_id": "benign_(1)"}],
                                 "testing_normal": [{"case_id": "normal_(2)"}]}))  # fmt: skip
    assert [item["case_id"] for item in pp.unused_normals(split, normal)] == ["normal_(1)", "normal_(3)"]
    a, b = np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)
    a[0, 0], b[3, 3] = 255, 255
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    union = pp.read_mask([str(tmp_path / "a.png"), str(tmp_path / "b.png")], (4, 4))
    assert union.sum() == 2 and union[0, 0] and union[3, 3]
