"""APR and precision-recall curves against scikit-learn and MONAI's own average precision."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_average_precision
from sklearn.metrics import average_precision_score
from sklearn.metrics import precision_recall_curve as sk_precision_recall_curve

from monai_tversky.metrics import (
    PrecisionRecallHistogram,
    average_precision,
    precision_recall_curve,
    precision_recall_histogram,
)


def _case(seed: int, shape=(10, 9, 8), prevalence=0.1, decimals=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    label = rng.random(shape) < prevalence
    prob = np.clip(0.35 * label + rng.random(shape) * 0.75, 0.0, 1.0)
    if decimals is not None:
        prob = np.round(prob, decimals)  # many ties
    return prob.astype(dtype), label


@pytest.mark.parametrize("seed, decimals, dtype", [(0, None, np.float64), (1, 2, np.float32), (2, 1, np.float64),
                                                   (3, 0, np.float32)])
def test_average_precision_equals_sklearn(seed, decimals, dtype):
    prob, label = _case(seed, decimals=decimals, dtype=dtype)
    assert average_precision(prob, label) == pytest.approx(average_precision_score(label.ravel(), prob.ravel()),
                                                            rel=1e-12, abs=1e-15)


def test_average_precision_equals_monai_compute_average_precision():
    prob, label = _case(4, shape=(300,), decimals=2)
    monai_ap = compute_average_precision(torch.as_tensor(prob), torch.as_tensor(label).long())
    assert average_precision(prob, label) == pytest.approx(float(monai_ap), rel=1e-12)


def test_average_precision_accepts_torch_and_integer_scores():
    prob, label = _case(5, decimals=1)
    scores = (prob * 10).astype(np.int64)
    expected = average_precision_score(label.ravel(), scores.ravel())
    assert average_precision(torch.as_tensor(scores), torch.as_tensor(label)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("decimals", [None, 2])
def test_precision_recall_curve_equals_sklearn(decimals):
    prob, label = _case(6, decimals=decimals)
    precision, recall, thresholds = precision_recall_curve(prob, label)
    sk_precision, sk_recall, sk_thresholds = sk_precision_recall_curve(label.ravel(), prob.ravel())
    np.testing.assert_allclose(precision, sk_precision, rtol=1e-12)
    np.testing.assert_allclose(recall, sk_recall, rtol=1e-12)
    np.testing.assert_allclose(thresholds, sk_thresholds, rtol=1e-12)
    # the step integral of the curve is the APR
    assert -np.sum(np.diff(recall) * precision[:-1]) == pytest.approx(average_precision(prob, label), rel=1e-12)


def test_no_lesion_voxel_gives_nan():
    prob = np.random.default_rng(0).random((5, 5))
    label = np.zeros((5, 5), dtype=bool)
    assert math.isnan(average_precision(prob, label))
    assert np.isnan(precision_recall_curve(prob, label)[1][:-1]).all()
    hist = PrecisionRecallHistogram(10)
    hist.update(prob, label)
    assert math.isnan(hist.average_precision())


@pytest.mark.parametrize("num_bins", [1, 7, 100])
def test_histogram_equals_sklearn_on_binned_probabilities(num_bins):
    cases = [_case(s, shape=(6, 7, 5), prevalence=0.05 * (s + 1)) for s in range(3)]
    hist = PrecisionRecallHistogram(num_bins)
    for prob, label in cases:
        hist.update(prob, label)
    prob_all = np.concatenate([p.ravel() for p, _ in cases])
    label_all = np.concatenate([lab.ravel() for _, lab in cases])
    binned = np.minimum(np.floor(prob_all * num_bins), num_bins - 1)
    assert hist.average_precision() == pytest.approx(average_precision_score(label_all, binned), rel=1e-12)
    precision, recall, thresholds = hist.curve()
    sk_precision, sk_recall, sk_thresholds = sk_precision_recall_curve(label_all, binned)
    np.testing.assert_allclose(precision, sk_precision, rtol=1e-12)
    np.testing.assert_allclose(recall, sk_recall, rtol=1e-12)
    np.testing.assert_allclose(thresholds * num_bins, sk_thresholds, rtol=1e-12)


def test_fine_histogram_is_close_to_the_exact_pooled_apr():
    cases = [_case(s, shape=(8, 8, 8)) for s in range(3)]
    hist = PrecisionRecallHistogram(10000)
    for prob, label in cases:
        hist.update(prob, label)
    exact = average_precision_score(
        np.concatenate([lab.ravel() for _, lab in cases]), np.concatenate([p.ravel() for p, _ in cases])
    )
    assert hist.average_precision() == pytest.approx(exact, abs=2e-3)


def test_histogram_merge_from_counts_and_reset():
    (p1, l1), (p2, l2) = _case(7), _case(8)
    a, b, both = PrecisionRecallHistogram(50), PrecisionRecallHistogram(50), PrecisionRecallHistogram(50)
    a.update(p1, l1)
    b.update(p2, l2)
    both.update(p1, l1)
    both.update(p2, l2)
    a.merge(b)
    np.testing.assert_array_equal(a.positive_counts, both.positive_counts)
    np.testing.assert_array_equal(a.total_counts, both.total_counts)
    pos, tot = precision_recall_histogram(p1, l1, 50)
    assert tot.sum() == p1.size and pos.sum() == l1.sum()
    rebuilt = PrecisionRecallHistogram.from_counts(pos, tot)
    assert rebuilt.num_bins == 50 and rebuilt.num_positive == l1.sum()
    a.reset()
    assert a.total_counts.sum() == 0
    with pytest.raises(ValueError, match="merge"):
        a.merge(PrecisionRecallHistogram(10))
    with pytest.raises(ValueError, match="positive_counts <= total_counts"):
        PrecisionRecallHistogram.from_counts([2, 0], [1, 0])


def test_probability_one_falls_in_the_last_bin():
    pos, tot = precision_recall_histogram(np.array([0.0, 0.5, 1.0]), np.array([0, 1, 1]), 4)
    np.testing.assert_array_equal(tot, [1, 0, 1, 1])
    np.testing.assert_array_equal(pos, [0, 0, 1, 1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: average_precision(np.zeros(4), np.zeros(5)), "same shape"),
        (lambda: average_precision(np.zeros(4), np.array([0, 2, 0, 1])), "binary"),
        (lambda: average_precision(np.array([0.1, np.nan, 0.2, 0.3]), np.array([0, 1, 0, 1])), "finite"),
        (lambda: precision_recall_curve(np.zeros(0), np.zeros(0)), "empty"),
        (lambda: precision_recall_histogram(np.array([0.2, 1.5]), np.array([0, 1])), r"\[0, 1\]"),
        (lambda: PrecisionRecallHistogram(0), "num_bins"),
        (lambda: PrecisionRecallHistogram(2.5), "num_bins"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
