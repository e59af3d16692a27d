"""Average symmetric surface distance (SD) in millimetres, through MONAI's surface-distance code.

hashemi2018 section IV.A (after the ISBI 2015 challenge, Carass et al. 2017): SD is the average of the distances
from the predicted lesion surface to the nearest ground-truth surface and from the ground-truth surface to the
nearest predicted surface.

- hashemi2018: Hashemi et al. (2018), "Asymmetric similarity loss function to balance precision and recall in highly
  unbalanced deep medical image segmentation", arXiv:1803.11078.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.metrics.utils import get_mask_edges, get_surface_distance

__all__ = ["average_symmetric_surface_distance"]


def average_symmetric_surface_distance(
    pred: np.ndarray, label: np.ndarray, spacing: Sequence[float] | None = None
) -> float:
    """
    Mean of all surface-to-surface distances in both directions:
    (sum_{p in dP} d(p, dG) + sum_{g in dG} d(g, dP)) / (|dP| + |dG|), with dP, dG the boundary voxels of the masks
    (a mask minus its erosion), Euclidean distances scaled by ``spacing``.

    This is ``monai.metrics.compute_average_surface_distance(..., symmetric=True, spacing=spacing)`` on one mask:
    the edges come from MONAI's ``get_mask_edges`` (cropped to the union of the masks) and the distances from its
    ``get_surface_distance`` (a KD-tree over the edge voxels on the CPU). Called directly rather than through
    ``get_edge_surface_distance``, which passes a deprecated argument and warns on every call in MONAI 1.5-1.6.

    Args:
        pred: boolean prediction mask, shape (H, W) or (H, W, D).
        label: boolean ground-truth mask, the same shape.
        spacing: voxel size per spatial axis in mm (length 2 or 3); ``None`` means 1.0 on every axis.

    Returns:
        the distance in the units of ``spacing``. Both masks empty: 0.0 (identical masks). One mask empty:
        ``inf`` (there is no surface to reach), the value MONAI's surface distance gives.

    Raises:
        ValueError: when the shapes differ.
    """
    if pred.shape != label.shape:
        raise ValueError(f"pred and label must have the same shape, got {pred.shape} and {label.shape}.")
    has_pred, has_label = bool(pred.any()), bool(label.any())
    if not has_pred and not has_label:
        return 0.0
    if not has_pred or not has_label:
        return float("inf")
    edges_pred, edges_label = get_mask_edges(np.asarray(pred, dtype=bool), np.asarray(label, dtype=bool), crop=True)
    spacing_list = None if spacing is None else [float(s) for s in spacing]
    to_label = get_surface_distance(edges_pred, edges_label, distance_metric="euclidean", spacing=spacing_list)
    to_pred = get_surface_distance(edges_label, edges_pred, distance_metric="euclidean", spacing=spacing_list)
    distances = np.concatenate([np.asarray(to_label, dtype=np.float64), np.asarray(to_pred, dtype=np.float64)])
    return float(distances.mean())
