"""Voxel-wise precision-recall curves and the area under them (APR) for lesion probability maps.

salehi2017 (section 2.4, Fig. 2) and hashemi2018 (section IV.A, Fig. 6) judge skewed lesion segmentations by the
precision-recall curve and its area, the APR score:

- salehi2017: Salehi, Erdogmus, Gholipour (2017), "Tversky loss function for image segmentation using 3D fully
  convolutional deep networks", arXiv:1706.05721.
- hashemi2018: Hashemi et al. (2018), "Asymmetric similarity loss function to balance precision and recall in highly
  unbalanced deep medical image segmentation", arXiv:1803.11078.

The APR here is scikit-learn's ``average_precision_score`` (the step-wise sum AP = sum_n (R_n - R_(n-1)) P_n over
the distinct probability thresholds, no interpolation), computed in NumPy without scikit-learn.
MONAI's ``compute_average_precision`` defines the same value but walks the sorted voxels in a Python loop
(minutes for one 3D volume), so it is not reused here.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from monai.config import NdarrayOrTensor
from monai.utils import convert_to_numpy

__all__ = [
    "precision_recall_curve",
    "average_precision",
    "precision_recall_histogram",
    "PrecisionRecallHistogram",
]


def _flat_scores_and_labels(prob: NdarrayOrTensor, label: NdarrayOrTensor) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(convert_to_numpy(prob))
    labels = np.asarray(convert_to_numpy(label))
    if scores.shape != labels.shape:
        raise ValueError(f"prob and label must have the same shape, got {scores.shape} and {labels.shape}.")
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if scores.size and not np.isfinite(scores).all():
        raise ValueError("prob must be finite (no NaN or inf).")
    if labels.dtype != bool:
        if not ((labels == 0) | (labels == 1)).all():
            raise ValueError("label must be binary (values 0 and 1 only).")
        labels = labels.astype(bool)
    return scores, labels


def precision_recall_curve(
    prob: NdarrayOrTensor, label: NdarrayOrTensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Voxel-wise precision-recall pairs at every distinct probability threshold; the same arrays as
    ``sklearn.metrics.precision_recall_curve(label.ravel(), prob.ravel())`` (``drop_intermediate=False``).

    A voxel is predicted lesion at threshold ``t`` when ``prob >= t``.

    Args:
        prob: lesion probabilities (or any real scores), any shape.
        label: binary ground truth, the same shape as ``prob``.

    Returns:
        ``(precision, recall, thresholds)``: ``thresholds`` ascending (n,), ``precision`` and ``recall`` (n + 1,)
        with a last point (precision 1, recall 0). ``recall`` is NaN when ``label`` has no lesion voxel
        (scikit-learn sets it to 1 with a warning).

    Raises:
        ValueError: when the shapes differ, ``label`` is not binary, ``prob`` is not finite or is empty.
    """
    scores, labels = _flat_scores_and_labels(prob, label)
    if scores.size == 0:
        raise ValueError("prob and label must not be empty.")
    order = np.argsort(scores, kind="stable")[::-1]
    sorted_scores = scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    tps = np.cumsum(labels[order], dtype=np.int64)[last_of_tie]
    fps = last_of_tie + 1 - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], sorted_scores[last_of_tie][::-1]


def average_precision(prob: NdarrayOrTensor, label: NdarrayOrTensor) -> float:
    """
    Area under the voxel-wise precision-recall curve (APR), equal to
    ``sklearn.metrics.average_precision_score(label.ravel(), prob.ravel())``.

    Only thresholds at which recall grows contribute, so the sum runs over the distinct scores of the lesion voxels:
    AP = (1 / P) * sum_t n_pos(prob == t) * n_pos(prob >= t) / n(prob >= t), with P the number of lesion voxels.
    It needs one sort of all scores (no Python loop over voxels).

    Args:
        prob: lesion probabilities (or any real scores), any shape.
        label: binary ground truth, the same shape as ``prob``.

    Returns:
        the APR in [0, 1]; NaN when ``label`` has no lesion voxel (recall is undefined; MONAI's
        ``AveragePrecisionMetric`` also gives NaN, scikit-learn gives 0 with a warning).

    Raises:
        ValueError: when the shapes differ, ``label`` is not binary or ``prob`` is not finite.
    """
    scores, labels = _flat_scores_and_labels(prob, label)
    positive_scores = np.sort(scores[labels])
    n_positive = positive_scores.size
    if n_positive == 0:
        return float("nan")
    all_sorted = np.sort(scores)
    thresholds, first, n_at = np.unique(positive_scores, return_index=True, return_counts=True)
    positive_at_or_above = n_positive - first
    all_at_or_above = scores.size - np.searchsorted(all_sorted, thresholds, side="left")
    return float(np.sum(n_at * (positive_at_or_above / all_at_or_above)) / n_positive)


def precision_recall_histogram(
    prob: NdarrayOrTensor, label: NdarrayOrTensor, num_bins: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """
    Histogram of lesion probabilities over ``num_bins`` equal bins of [0, 1], for lesion voxels and for all voxels.

    Bin ``k`` holds ``k / num_bins <= prob < (k + 1) / num_bins`` (the last bin includes 1.0). Summing these
    histograms over cases gives the precision-recall curve of a whole data set without keeping its voxels.

    Args:
        prob: lesion probabilities in [0, 1], any shape.
        label: binary ground truth, the same shape as ``prob``.
        num_bins: number of bins (thresholds), >= 1. Defaults to 1000.

    Returns:
        ``(positive_counts, total_counts)``, two int64 arrays of shape (num_bins,).

    Raises:
        ValueError: when the shapes differ, ``label`` is not binary, ``prob`` is outside [0, 1] or ``num_bins < 1``.
    """
    num_bins = _check_num_bins(num_bins)
    scores, labels = _flat_scores_and_labels(prob, label)
    if scores.size and (scores.min() < 0 or scores.max() > 1):
        raise ValueError(f"prob must lie in [0, 1] for a probability histogram, got [{scores.min()}, {scores.max()}].")
    bins = np.minimum(np.multiply(scores, num_bins, dtype=np.float64).astype(np.int64), num_bins - 1)
    total = np.bincount(bins, minlength=num_bins).astype(np.int64)
    positive = np.bincount(bins[labels], minlength=num_bins).astype(np.int64)
    return positive, total


def _check_num_bins(num_bins: int) -> int:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
        raise ValueError(f"num_bins must be a positive int, got {num_bins!r}.")
    return int(num_bins)


class PrecisionRecallHistogram:
    """
    A precision-recall curve pooled over a data set from per-case probability histograms
    (salehi2017 Fig. 2a, hashemi2018 Fig. 6: one curve for the whole test set).

    The thresholds are the bin edges ``k / num_bins``; the pooled :py:meth:`average_precision` equals scikit-learn's
    ``average_precision_score`` on the concatenated voxels of all cases with each probability replaced by its bin
    index, so it differs from the exact APR only by the quantisation of the probabilities (< 1 / num_bins).

    Example::

        pooled = PrecisionRecallHistogram(num_bins=1000)
        for prob, label in cases:
            pooled.update(prob, label)
        precision, recall, thresholds = pooled.curve()
        print(pooled.average_precision())

    Args:
        num_bins: number of equal probability bins of [0, 1]. Defaults to 1000.

    Raises:
        ValueError: when ``num_bins`` is not a positive int.
    """

    def __init__(self, num_bins: int = 1000) -> None:
        self.num_bins = _check_num_bins(num_bins)
        self.positive_counts = np.zeros(self.num_bins, dtype=np.int64)
        self.total_counts = np.zeros(self.num_bins, dtype=np.int64)

    @classmethod
    def from_counts(cls, positive_counts: Iterable[int], total_counts: Iterable[int]) -> PrecisionRecallHistogram:
        """
        Build from histograms made by :py:func:`precision_recall_histogram` (summed over cases).

        Raises:
            ValueError: when the two histograms differ in length, are negative, or count more lesion voxels
                than voxels in some bin.
        """
        positive = np.asarray(convert_to_numpy(positive_counts), dtype=np.int64).reshape(-1)
        total = np.asarray(convert_to_numpy(total_counts), dtype=np.int64).reshape(-1)
        if positive.shape != total.shape:
            raise ValueError(f"positive_counts and total_counts must have the same length, got {positive.shape} "
                             f"and {total.shape}.")
        if (positive < 0).any() or (positive > total).any():
            raise ValueError("counts must satisfy 0 <= positive_counts <= total_counts in every bin.")
        out = cls(num_bins=positive.size)
        out.positive_counts, out.total_counts = positive, total
        return out

    def save_csv(self, path: str | os.PathLike) -> Path:
        """
        Write the counts as CSV, one row per bin: ``bin_low, bin_high, lesion_voxels, voxels``.

        The file lets runs evaluated in separate processes (e.g. separate ``evaluate.json`` runs of a bundle) be
        drawn on one plot later: :py:meth:`load_csv` each and pass them to
        :py:func:`monai_tversky.metrics.save_precision_recall_plot`.

        Returns:
            the path written (parent folders are created).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        edges = np.arange(self.num_bins + 1) / self.num_bins
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["bin_low", "bin_high", "lesion_voxels", "voxels"])
            for k in range(self.num_bins):
                writer.writerow([f"{edges[k]:.6g}", f"{edges[k + 1]:.6g}", int(self.positive_counts[k]),
                                 int(self.total_counts[k])])
        return path

    @classmethod
    def load_csv(cls, path: str | os.PathLike) -> PrecisionRecallHistogram:
        """
        Read a histogram written by :py:meth:`save_csv`.

        Raises:
            ValueError: when the file is missing, has other columns, or holds invalid counts (it is named).
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"precision-recall histogram file not found: {path}")
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        header = ["bin_low", "bin_high", "lesion_voxels", "voxels"]
        if not rows or rows[0] != header or len(rows) < 2:
            raise ValueError(f"{path} is not a precision-recall histogram: expected the columns {header} and at "
                             "least one bin.")
        try:
            positive = [int(row[2]) for row in rows[1:]]
            total = [int(row[3]) for row in rows[1:]]
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}: malformed row ({e}).") from e
        try:
            return cls.from_counts(positive, total)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e

    def reset(self) -> None:
        """Clear the accumulated counts."""
        self.positive_counts[:] = 0
        self.total_counts[:] = 0

    def update(self, prob: NdarrayOrTensor, label: NdarrayOrTensor) -> None:
        """
        Add one case.

        Args:
            prob: lesion probabilities in [0, 1], any shape.
            label: binary ground truth, the same shape as ``prob``.

        Raises:
            ValueError: see :py:func:`precision_recall_histogram`.
        """
        positive, total = precision_recall_histogram(prob, label, self.num_bins)
        self.positive_counts += positive
        self.total_counts += total

    def merge(self, other: PrecisionRecallHistogram) -> None:
        """
        Add the counts of another histogram with the same ``num_bins``.

        Raises:
            ValueError: when the numbers of bins differ.
        """
        if other.num_bins != self.num_bins:
            raise ValueError(f"cannot merge histograms of {other.num_bins} and {self.num_bins} bins.")
        self.positive_counts += other.positive_counts
        self.total_counts += other.total_counts

    @property
    def num_positive(self) -> int:
        """Number of lesion voxels seen."""
        return int(self.positive_counts.sum())

    def curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        The pooled precision-recall curve, in scikit-learn's ``precision_recall_curve`` layout.

        Returns:
            ``(precision, recall, thresholds)``: ``thresholds`` ascending (the lower edges of the non-empty bins),
            ``precision`` and ``recall`` one longer, ending with (1, 0). ``recall`` is NaN when no lesion voxel
            was seen. All three are empty but for the end point when nothing was seen.
        """
        occupied = np.flatnonzero(self.total_counts)
        positive_at_or_above = np.cumsum(self.positive_counts[::-1])[::-1][occupied]
        all_at_or_above = np.cumsum(self.total_counts[::-1])[::-1][occupied]
        precision = positive_at_or_above / np.maximum(all_at_or_above, 1)
        n_positive = self.num_positive
        recall = positive_at_or_above / n_positive if n_positive else np.full(occupied.shape, np.nan)
        return np.r_[precision, 1.0], np.r_[recall, 0.0], occupied / self.num_bins

    def average_precision(self) -> float:
        """
        The pooled APR (see the class docstring); NaN when no lesion voxel was seen.
        """
        n_positive = self.num_positive
        if n_positive == 0:
            return float("nan")
        positive_at_or_above = np.cumsum(self.positive_counts[::-1])[::-1]
        all_at_or_above = np.cumsum(self.total_counts[::-1])[::-1]
        hit = self.positive_counts > 0
        return float(np.sum(self.positive_counts[hit] * positive_at_or_above[hit] / all_at_or_above[hit]) / n_positive)
