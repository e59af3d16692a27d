"""Lesion-wise detection rates (LTPR, LFPR) by connected components, as in the ISBI 2015 challenge.

- Carass et al. (2017), "Longitudinal multiple sclerosis lesion segmentation: Resource and challenge",
  NeuroImage 148:77-102, doi:10.1016/j.neuroimage.2016.12.064: LTPR = the fraction of ground-truth lesions that
  the segmentation overlaps; LFPR = the fraction of segmented lesions that overlap no ground-truth lesion.
- hashemi2018: Hashemi et al. (2018), "Asymmetric similarity loss function to balance precision and recall in highly
  unbalanced deep medical image segmentation", arXiv:1803.11078, section IV.A and Table II (these metrics on ISBI 2015).

A lesion is a connected component of the mask; two lesions "overlap" when they share at least one voxel.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

__all__ = ["LesionDetectionCounts", "lesion_structure", "lesion_detection_counts", "lesion_detection_rates"]


class LesionDetectionCounts(NamedTuple):
    """Connected-component counts of a prediction against a label."""

    label_lesions: int  # lesions (components) in the label
    detected_label_lesions: int  # label lesions that share at least one voxel with the prediction
    pred_lesions: int  # lesions (components) in the prediction
    false_pred_lesions: int  # predicted lesions that share no voxel with the label


def lesion_structure(spatial_dims: int, connectivity: int | None = None) -> np.ndarray:
    """
    The neighbourhood that joins voxels into one lesion, with scikit-image's (and MONAI's
    ``KeepLargestConnectedComponent``'s) meaning of ``connectivity``.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        connectivity: maximum number of orthogonal hops between neighbours: 1 is face connectivity (4 in 2D,
            6 in 3D), ``spatial_dims`` (the default, ``None``) is full connectivity (8 in 2D, 26 in 3D).

    Raises:
        ValueError: when ``spatial_dims`` is not 2 or 3, or ``connectivity`` is not in ``[1, spatial_dims]``.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    if connectivity is None:
        connectivity = spatial_dims
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)):
        raise TypeError(f"connectivity must be None or an int, got {type(connectivity).__name__}.")
    if not 1 <= connectivity <= spatial_dims:
        raise ValueError(f"connectivity must be in [1, {spatial_dims}] for {spatial_dims}D masks, got {connectivity}.")
    return ndimage.generate_binary_structure(spatial_dims, int(connectivity))


def lesion_detection_counts(
    pred: np.ndarray, label: np.ndarray, connectivity: int | None = None
) -> LesionDetectionCounts:
    """
    Label the connected components of ``pred`` and ``label`` and count which of them overlap.

    The counting is vectorised (one ``scipy.ndimage.label`` per mask and one ``bincount`` over the shared voxels),
    so its cost does not grow with the number of lesions.

    Args:
        pred: boolean prediction mask, shape (H, W) or (H, W, D).
        label: boolean ground-truth mask, the same shape as ``pred``.
        connectivity: see :py:func:`lesion_structure`; defaults to full connectivity (8 in 2D, 26 in 3D).

    Raises:
        ValueError: when the shapes differ, the masks are not 2D or 3D, or ``connectivity`` is out of range.
    """
    if pred.shape != label.shape:
        raise ValueError(f"pred and label must have the same shape, got {pred.shape} and {label.shape}.")
    structure = lesion_structure(pred.ndim, connectivity)
    label_components, n_label = ndimage.label(label, structure=structure)
    pred_components, n_pred = ndimage.label(pred, structure=structure)
    shared = pred & label
    detected = np.count_nonzero(np.bincount(label_components[shared], minlength=n_label + 1)[1:])
    pred_true = np.count_nonzero(np.bincount(pred_components[shared], minlength=n_pred + 1)[1:])
    return LesionDetectionCounts(
        label_lesions=int(n_label),
        detected_label_lesions=int(detected),
        pred_lesions=int(n_pred),
        false_pred_lesions=int(n_pred - pred_true),
    )


def lesion_detection_rates(counts: LesionDetectionCounts) -> dict[str, float]:
    """
    LTPR and LFPR from the component counts.

    - ``ltpr`` = detected label lesions / label lesions; NaN when the label has no lesion (0/0).
    - ``lfpr`` = predicted lesions overlapping no label lesion / predicted lesions; NaN when the prediction has no
      lesion (0/0).

    Args:
        counts: see :py:func:`lesion_detection_counts`.

    Returns:
        ``{"ltpr": float, "lfpr": float}``.
    """
    nan = float("nan")
    return {
        "ltpr": counts.detected_label_lesions / counts.label_lesions if counts.label_lesions else nan,
        "lfpr": counts.false_pred_lesions / counts.pred_lesions if counts.pred_lesions else nan,
    }
