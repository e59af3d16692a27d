"""lesion_metrics: hand-worked values for every key, and agreement with scikit-learn, scipy and MONAI."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import DiceMetric, SurfaceDistanceMetric
from scipy import ndimage
from sklearn.metrics import average_precision_score

from monai_tversky.metrics import LESION_METRIC_KEYS, lesion_metrics


def _hand_case() -> tuple[np.ndarray, np.ndarray]:
    """6x6 case worked by hand below.

    label: lesion A = rows 0-1 x cols 0-1 (4 px), lesion B = (4, 4) (1 px)           -> 5 px, 2 lesions
    pred:  block rows 0-1 x cols 1-2 (4 px, overlaps A at (0,1), (1,1)), FP lesion (5,0)-(5,1) -> 6 px, 2 lesions
    TP = 2, FP = 2 + 2 = 4, FN = 2 + 1 = 3, TN = 36 - 9 = 27.
    """
    label = np.zeros((6, 6), dtype=np.uint8)
    label[0:2, 0:2] = 1
    label[4, 4] = 1
    pred = np.zeros((6, 6), dtype=np.uint8)
    pred[0:2, 1:3] = 1
    pred[5, 0:2] = 1
    return pred, label


def test_keys_are_exactly_the_papers_metrics():
    pred, label = _hand_case()
    assert tuple(lesion_metrics(pred, label)) == LESION_METRIC_KEYS
    assert LESION_METRIC_KEYS == ("dsc", "sensitivity", "specificity", "f2", "apr", "jaccard", "ppv", "ltpr", "lfpr",
                                  "vd", "sd")


def test_hand_worked_values_for_every_key():
    pred, label = _hand_case()
    m = lesion_metrics(pred, label)
    tp, fp, fn, tn = 2, 4, 3, 27
    assert m["dsc"] == pytest.approx(2 * tp / (2 * tp + fp + fn))  # 4/11
    assert m["dsc"] == pytest.approx(4 / 11)
    assert m["sensitivity"] == pytest.approx(2 / 5)
    assert m["specificity"] == pytest.approx(27 / 31)
    assert m["f2"] == pytest.approx(10 / 26)  # 5TP / (5TP + 4FN + FP)
    assert m["jaccard"] == pytest.approx(2 / 9)
    assert m["ppv"] == pytest.approx(2 / 6)
    assert m["ltpr"] == pytest.approx(1 / 2)  # A detected, B missed
    assert m["lfpr"] == pytest.approx(1 / 2)  # the (5, 0)-(5, 1) lesion touches no label lesion
    assert m["vd"] == pytest.approx(abs(6 - 5) / 5)
    assert math.isnan(m["apr"])  # no probabilities given
    # every voxel of these thin masks is a surface voxel; nearest distances (unit spacing):
    # pred -> label: 0, 0, 1, 1, (5,0)->(1,0) 4, (5,1)->(4,4) sqrt(10); label -> pred: 1, 1, 0, 0, (4,4)->(5,1) sqrt(10)
    assert m["sd"] == pytest.approx((8 + 2 * math.sqrt(10)) / 11)


def test_hand_worked_surface_distance_with_anisotropic_spacing():
    pred, label = _hand_case()
    # rows are 2 mm, columns 1 mm. pred -> label: 0, 0, 1, 1, (5,0)->(4,4) sqrt(4+16), (5,1)->(4,4) sqrt(4+9);
    # label -> pred: 1, 1, 0, 0, (4,4)->(5,1) sqrt(13)
    expected = (4 + math.sqrt(20) + 2 * math.sqrt(13)) / 11
    assert lesion_metrics(pred, label, spacing=(2.0, 1.0))["sd"] == pytest.approx(expected)
    # voxel counts, and so every other key, do not depend on the spacing
    iso, aniso = lesion_metrics(pred, label), lesion_metrics(pred, label, spacing=(2.0, 1.0))
    for key in LESION_METRIC_KEYS:
        if key not in ("sd", "apr"):
            assert aniso[key] == iso[key]


def test_hand_worked_apr():
    label = np.array([[1, 0, 1, 0, 0]])
    prob = np.array([[0.9, 0.8, 0.7, 0.2, 0.1]])
    # thresholds 0.9: P=1, R=1/2; 0.8: P=1/2, R=1/2; 0.7: P=2/3, R=1 -> AP = 1/2 * 1 + 1/2 * 2/3
    m = lesion_metrics(prob >= 0.5, label, prob=prob)
    assert m["apr"] == pytest.approx(5 / 6)


def test_apr_matches_sklearn_on_a_3d_case_with_ties():
    rng = np.random.default_rng(1)
    label = rng.random((12, 10, 8)) < 0.08
    prob = np.round(np.clip(0.4 * label + rng.random(label.shape) * 0.7, 0, 1), 2).astype(np.float32)
    m = lesion_metrics(prob >= 0.5, label, prob=prob)
    assert m["apr"] == pytest.approx(average_precision_score(label.ravel(), prob.ravel()), rel=1e-12)


def _blob_volume(rng: np.random.Generator, shape=(24, 20, 16), n=6, p=0.3) -> np.ndarray:
    return ndimage.binary_dilation(rng.random(shape) < p / 100, iterations=2) if n else np.zeros(shape, bool)


@pytest.mark.parametrize("connectivity", [1, 2, 3, None])
def test_lesion_counts_match_scipy_label(connectivity):
    # known layout: 5 label cubes, the prediction overlaps cubes 0, 2 and 4 and adds 2 separate false lesions
    label = np.zeros((30, 30, 30), dtype=bool)
    pred = np.zeros_like(label)
    for i in range(5):
        label[2 + 5 * i : 5 + 5 * i, 3:6, 3:6] = True
    for i in (0, 2, 4):
        pred[3 + 5 * i : 6 + 5 * i, 4:7, 4:7] = True
    pred[20:23, 20:23, 20:23] = True
    pred[25, 10, 25] = True
    m = lesion_metrics(pred, label, connectivity=connectivity)
    assert m["ltpr"] == pytest.approx(3 / 5)
    assert m["lfpr"] == pytest.approx(2 / 5)
    # the same through scipy.ndimage.label counts directly
    structure = ndimage.generate_binary_structure(3, connectivity or 3)
    lab_l, n_l = ndimage.label(label, structure)
    lab_p, n_p = ndimage.label(pred, structure)
    hit_l = len(set(lab_l[pred & label].tolist()) - {0})
    hit_p = len(set(lab_p[pred & label].tolist()) - {0})
    assert (n_l, n_p) == (5, 5)
    assert m["ltpr"] == pytest.approx(hit_l / n_l)
    assert m["lfpr"] == pytest.approx((n_p - hit_p) / n_p)


def test_connectivity_decides_whether_diagonal_voxels_are_one_lesion():
    label = np.zeros((5, 5, 5), dtype=bool)
    label[1, 1, 1] = label[2, 2, 2] = True  # touch at a corner only
    pred = np.zeros_like(label)
    pred[1, 1, 1] = True
    for connectivity, n_lesions in ((1, 2), (2, 2), (3, 1), (None, 1)):
        _, n = ndimage.label(label, ndimage.generate_binary_structure(3, connectivity or 3))
        assert n == n_lesions
        assert lesion_metrics(pred, label, connectivity=connectivity)["ltpr"] == pytest.approx(1 / n_lesions)
    label2d = np.zeros((4, 4), dtype=bool)
    label2d[0, 0] = label2d[1, 1] = True
    pred2d = np.zeros_like(label2d)
    pred2d[0, 0] = True
    assert lesion_metrics(pred2d, label2d)["ltpr"] == 1.0  # 8-connectivity by default in 2D
    assert lesion_metrics(pred2d, label2d, connectivity=1)["ltpr"] == 0.5


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (0.5, 1.2, 3.0)])
def test_dsc_and_sd_agree_with_monai(spacing):
    rng = np.random.default_rng(3)
    label = _blob_volume(rng)
    pred = ndimage.binary_dilation(label, iterations=1) & (rng.random(label.shape) < 0.9)
    pred[0:3, 0:3, 0:3] = True
    m = lesion_metrics(pred, label, spacing=spacing)
    y_pred, y = torch.as_tensor(pred)[None, None].float(), torch.as_tensor(label)[None, None].float()
    dice = DiceMetric(include_background=True, ignore_empty=False)
    dice(y_pred, y)
    assert m["dsc"] == pytest.approx(dice.aggregate().item(), rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asd = SurfaceDistanceMetric(include_background=True, symmetric=True)
        asd(y_pred, y, spacing=list(spacing) if spacing else None)
    assert m["sd"] == pytest.approx(asd.aggregate().item(), rel=1e-5)


def test_sd_is_in_millimetres():
    pred, label = _hand_case()
    assert lesion_metrics(pred, label, spacing=2.5)["sd"] == pytest.approx(2.5 * lesion_metrics(pred, label)["sd"])


def test_both_empty():
    empty = np.zeros((8, 8, 8), dtype=bool)
    m = lesion_metrics(empty, empty, prob=np.zeros((8, 8, 8)))
    assert (m["dsc"], m["jaccard"], m["f2"]) == (1.0, 1.0, 1.0)
    assert (m["vd"], m["sd"]) == (0.0, 0.0)
    assert m["specificity"] == 1.0
    for key in ("sensitivity", "ppv", "ltpr", "lfpr", "apr"):
        assert math.isnan(m[key]), key
    dice = DiceMetric(include_background=True, ignore_empty=False)
    dice(torch.zeros(1, 1, 8, 8, 8), torch.zeros(1, 1, 8, 8, 8))
    assert m["dsc"] == dice.aggregate().item()


def test_empty_label_with_a_prediction():
    label = np.zeros((8, 8), dtype=bool)
    pred = np.zeros_like(label)
    pred[2:4, 2:4] = True  # 4 FP voxels, one lesion
    m = lesion_metrics(pred, label, prob=pred.astype(float))
    assert (m["dsc"], m["jaccard"], m["f2"], m["ppv"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["specificity"] == pytest.approx(60 / 64)
    assert m["lfpr"] == 1.0
    assert math.isinf(m["vd"]) and math.isinf(m["sd"])
    for key in ("sensitivity", "ltpr", "apr"):
        assert math.isnan(m[key]), key


def test_empty_prediction_with_a_label():
    label = np.zeros((8, 8), dtype=bool)
    label[2:4, 2:4] = True
    label[6, 6] = True
    pred = np.zeros_like(label)
    m = lesion_metrics(pred, label, prob=np.full(label.shape, 0.3))
    assert (m["dsc"], m["jaccard"], m["f2"], m["sensitivity"], m["ltpr"]) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert m["specificity"] == 1.0
    assert m["vd"] == 1.0
    assert math.isinf(m["sd"])
    assert math.isnan(m["ppv"]) and math.isnan(m["lfpr"])
    # constant probabilities: one threshold, precision = prevalence, recall 1
    assert m["apr"] == pytest.approx(5 / 64)
    assert m["apr"] == pytest.approx(average_precision_score(label.ravel(), np.full(64, 0.3)))


def test_all_lesion_label():
    label = np.ones((4, 4), dtype=bool)
    rng = np.random.default_rng(0)
    prob = rng.random(label.shape)
    m = lesion_metrics(prob >= 0.5, label, prob=prob)
    assert math.isnan(m["specificity"])  # no negative voxel: TN + FP = 0
    assert m["apr"] == 1.0 == average_precision_score(label.ravel(), prob.ravel())


def test_torch_metatensor_and_channel_first_inputs_match_numpy():
    pred, label = _hand_case()
    prob = ndimage.gaussian_filter(pred.astype(np.float64), 1.0)
    ref = lesion_metrics(pred, label, prob)
    out = lesion_metrics(torch.as_tensor(pred), torch.as_tensor(label).bool(), torch.as_tensor(prob))
    assert out == pytest.approx(ref, nan_ok=True)
    rng = np.random.default_rng(5)
    label3 = _blob_volume(rng, (12, 12, 12))
    pred3 = ndimage.binary_dilation(label3)
    assert lesion_metrics(pred3[None], label3[None]) == pytest.approx(lesion_metrics(pred3, label3), nan_ok=True)
    # a 2D MetaTensor with a channel: (1, H, W)
    meta2d = MetaTensor(torch.as_tensor(label)[None].float(), affine=torch.eye(3))
    assert lesion_metrics(torch.as_tensor(pred)[None], meta2d, prob[None]) == pytest.approx(ref, nan_ok=True)


def test_spacing_defaults_from_metatensor_affine():
    rng = np.random.default_rng(7)
    label = _blob_volume(rng, (16, 14, 12))
    pred = np.roll(label, 1, axis=2)
    affine = torch.diag(torch.tensor([0.8, 1.5, 3.0, 1.0], dtype=torch.float64))
    label_meta = MetaTensor(torch.as_tensor(label)[None].float(), affine=affine)
    from_meta = lesion_metrics(pred, label_meta)["sd"]
    explicit = lesion_metrics(pred, label, spacing=(0.8, 1.5, 3.0))["sd"]
    assert from_meta == pytest.approx(explicit)
    assert from_meta != pytest.approx(lesion_metrics(pred, label)["sd"])
    # an explicit spacing wins over the affine
    assert lesion_metrics(pred, label_meta, spacing=1.0)["sd"] == pytest.approx(lesion_metrics(pred, label)["sd"])


def test_metric_name_selects_keys():
    pred, label = _hand_case()
    full = lesion_metrics(pred, label)
    part = lesion_metrics(pred, label, metric_name=["ltpr", "dsc"])
    assert list(part) == ["ltpr", "dsc"]
    assert part == {"ltpr": full["ltpr"], "dsc": full["dsc"]}
    assert list(lesion_metrics(pred, label, metric_name="sd")) == ["sd"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 5))}, "same spatial shape"),
        ({"pred": np.full((4, 4), 0.5), "label": np.zeros((4, 4))}, "pred must be binary"),
        ({"pred": np.zeros((4, 4)), "label": np.full((4, 4), 2)}, "label must be binary"),
        ({"pred": np.full((4, 4), np.nan), "label": np.zeros((4, 4))}, "pred must be binary"),
        ({"pred": np.zeros(4), "label": np.zeros(4)}, "one 2D"),
        ({"pred": np.zeros((2, 4, 4, 4)), "label": np.zeros((2, 4, 4, 4))}, "one channel"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "prob": np.zeros((4, 3))}, "prob must have"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "prob": np.full((4, 4), np.nan)}, "finite"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "spacing": (1.0, 1.0, 1.0)}, "spacing must be"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "spacing": (1.0, -1.0)}, "finite and positive"),
        ({"pred": np.zeros((4, 4, 4)), "label": np.zeros((4, 4, 4)), "connectivity": 4}, "connectivity"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "connectivity": 0}, "connectivity"),
        ({"pred": np.zeros((4, 4)), "label": np.zeros((4, 4)), "metric_name": "dice"}, "unknown lesion metric"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    label = np.zeros((4, 4))
    label[1, 1] = 1
    if "label" in kwargs and kwargs["label"].shape == (4, 4) and not kwargs["label"].any():
        kwargs["label"] = label
    with pytest.raises(ValueError, match=match):
        lesion_metrics(**kwargs)
