"""Voxel-wise overlap scores of a binary lesion segmentation: DSC, sensitivity, specificity, F2, Jaccard, PPV, VD.

Definitions follow hashemi2018 section IV.A and salehi2017 section 2.4:

- hashemi2018: Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018), "Asymmetric similarity loss function to
  balance precision and recall in highly unbalanced deep medical image segmentation", arXiv:1803.11078.
- salehi2017: Salehi, Erdogmus, Gholipour (2017), "Tversky loss function for image segmentation using 3D fully
  convolutional deep networks", arXiv:1706.05721.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["VoxelConfusionCounts", "voxel_confusion_counts", "voxel_overlap_scores"]


class VoxelConfusionCounts(NamedTuple):
    """Voxel counts of a binary prediction against a binary label (true/false positives/negatives)."""

    tp: int
    fp: int
    fn: int
    tn: int


def voxel_confusion_counts(pred: np.ndarray, label: np.ndarray) -> VoxelConfusionCounts:
    """
    Count true positive, false positive, false negative and true negative voxels.

    Args:
        pred: boolean prediction mask, any shape.
        label: boolean ground-truth mask, the same shape as ``pred``.

    Raises:
        ValueError: when ``pred`` and ``label`` differ in shape.
    """
    if pred.shape != label.shape:
        raise ValueError(f"pred and label must have the same shape, got {pred.shape} and {label.shape}.")
    tp = int(np.count_nonzero(pred & label))
    n_pred = int(np.count_nonzero(pred))
    n_label = int(np.count_nonzero(label))
    fp, fn = n_pred - tp, n_label - tp
    return VoxelConfusionCounts(tp=tp, fp=fp, fn=fn, tn=int(pred.size) - tp - fp - fn)


def _ratio(numerator: float, denominator: float, if_empty: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else if_empty


def voxel_overlap_scores(counts: VoxelConfusionCounts) -> dict[str, float]:
    """
    The voxel-wise scores of hashemi2018 IV.A from the confusion counts.

    - ``dsc`` = 2TP / (2TP + FP + FN); ``jaccard`` = TP / (TP + FP + FN); ``f2`` = 5TP / (5TP + 4FN + FP).
      These agreement scores are 0/0 only when prediction and label are both empty, i.e. identical: they are then
      1.0, the value of MONAI's ``DiceMetric(ignore_empty=False)``. An empty label with a non-empty prediction
      (or the reverse) gives 0.0, as the formula does.
    - ``sensitivity`` = TP / (TP + FN) (NaN for an empty label), ``ppv`` = TP / (TP + FP) (NaN for an empty
      prediction), ``specificity`` = TN / (TN + FP) (NaN when every voxel is lesion): these ratios of counts are
      undefined (0/0) there; NaN is what MONAI's ``ConfusionMatrixMetric`` returns, and MONAI's reductions skip it.
    - ``vd`` = |V_pred - V_label| / V_label = |FP - FN| / (TP + FN), unitless (spacing cancels). Both empty: 0.0;
      empty label with a non-empty prediction: ``inf`` (a positive volume over zero, not an undefined 0/0).

    Args:
        counts: the voxel counts, see :py:func:`voxel_confusion_counts`.

    Returns:
        a dict with the keys ``dsc, sensitivity, specificity, f2, jaccard, ppv, vd`` and Python float values.
    """
    tp, fp, fn, tn = counts
    n_label = tp + fn
    if n_label > 0:
        vd = abs(fp - fn) / n_label
    else:
        vd = 0.0 if fp == 0 else float("inf")
    return {
        "dsc": _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
        "sensitivity": _ratio(tp, tp + fn, float("nan")),
        "specificity": _ratio(tn, tn + fp, float("nan")),
        "f2": _ratio(5 * tp, 5 * tp + 4 * fn + fp, 1.0),
        "jaccard": _ratio(tp, tp + fp + fn, 1.0),
        "ppv": _ratio(tp, tp + fp, float("nan")),
        "vd": float(vd),
    }
