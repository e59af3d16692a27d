"""``lesion_metrics``: the eleven per-case figures by which hashemi2018 and salehi2017 judge a lesion segmentation.

- hashemi2018: Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018), "Asymmetric similarity loss function to
  balance precision and recall in highly unbalanced deep medical image segmentation", arXiv:1803.11078, section IV.A
  (DSC, sensitivity, specificity, F2, APR, and the ISBI 2015 metrics Jaccard, PPV, LTPR, LFPR, VD, SD).
- salehi2017: Salehi, Erdogmus, Gholipour (2017), "Tversky loss function for image segmentation using 3D fully
  convolutional deep networks", arXiv:1706.05721, section 2.4 (DSC, sensitivity, specificity, F2, APR).
- Carass et al. (2017), "Longitudinal multiple sclerosis lesion segmentation: Resource and challenge", NeuroImage
  148:77-102 (the ISBI 2015 challenge: lesion-wise LTPR / LFPR by connected components, VD, SD).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.utils import convert_to_numpy, ensure_tuple

from .lesion_detection import lesion_detection_counts, lesion_detection_rates, lesion_structure
from .precision_recall import average_precision
from .symmetric_surface_distance import average_symmetric_surface_distance
from .voxel_overlap import voxel_confusion_counts, voxel_overlap_scores

__all__ = ["LESION_METRIC_KEYS", "lesion_metrics", "check_metric_names", "resolve_spacing"]

LESION_METRIC_KEYS: tuple[str, ...] = (
    "dsc",
    "sensitivity",
    "specificity",
    "f2",
    "apr",
    "jaccard",
    "ppv",
    "ltpr",
    "lfpr",
    "vd",
    "sd",
)
_VOXEL_KEYS = frozenset({"dsc", "sensitivity", "specificity", "f2", "jaccard", "ppv", "vd"})
_LESION_KEYS = frozenset({"ltpr", "lfpr"})


def check_metric_names(metric_name: str | Sequence[str] | None) -> tuple[str, ...]:
    """
    Validate a selection of :data:`LESION_METRIC_KEYS` (``None``: all of them, in their order).

    Raises:
        ValueError: when a name is not a lesion metric key, is repeated, or the selection is empty.
    """
    if metric_name is None:
        return LESION_METRIC_KEYS
    names = tuple(str(n).lower() for n in ensure_tuple(metric_name))
    unknown = [n for n in names if n not in LESION_METRIC_KEYS]
    if unknown:
        raise ValueError(f"unknown lesion metric name(s) {unknown}; choose from {list(LESION_METRIC_KEYS)}.")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"metric_name must be a non-empty selection without repeats, got {list(names)}.")
    return names


def _spatial_dims(*inputs: object) -> int:
    """Spatial rank of a case: a MetaTensor's ``spatial_ndim`` when one fits, else 3 for 4D input, else its ndim."""
    for x in inputs:
        if isinstance(x, MetaTensor) and x.spatial_ndim in (2, 3) and x.ndim in (x.spatial_ndim, x.spatial_ndim + 1):
            return int(x.spatial_ndim)
    ndim = len(np.shape(convert_to_numpy(inputs[0]))) if inputs else 0
    return 3 if ndim == 4 else ndim


def _spatial_array(x: NdarrayOrTensor, name: str, spatial_dims: int | None = None) -> np.ndarray:
    """One case as a NumPy array without its channel: (H, W[, D]) from itself or from channel-first (1, H, W[, D])."""
    spatial_dims = _spatial_dims(x) if spatial_dims is None else spatial_dims
    arr = np.asarray(convert_to_numpy(x))
    if spatial_dims in (2, 3) and arr.ndim == spatial_dims + 1 and arr.shape[0] == 1:
        arr = arr[0]  # a channel-first single-channel case
    if spatial_dims not in (2, 3) or arr.ndim != spatial_dims:
        raise ValueError(
            f"{name} must be one 2D (H, W) or 3D (H, W, D) case, or channel-first with one channel (1, H, W, D), "
            f"got shape {tuple(arr.shape)}."
        )
    return arr


def _binary_mask(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == bool:
        return arr
    valid = (arr == 0) | (arr == 1)
    if not valid.all():
        examples = np.unique(arr[~valid])[:3].tolist()
        hint = (
            "; threshold probabilities first (e.g. monai.transforms.AsDiscrete(threshold=0.5)) and pass them as prob"
            if name == "pred"
            else ""
        )
        raise ValueError(f"{name} must be binary (0/1 or bool), found values such as {examples}{hint}.")
    return arr.astype(bool)


def resolve_spacing(
    spacing: float | Sequence[float] | np.ndarray | None, spatial_dims: int, *sources: object
) -> tuple[float, ...]:
    """
    The voxel size to use, as a tuple of ``spatial_dims`` positive floats.

    Args:
        spacing: a number (isotropic), a sequence of ``spatial_dims`` numbers, or ``None``: then the spacing of the
            first of ``sources`` that is a ``MetaTensor`` (from its affine, as ``MetaTensor.pixdim``), else 1.0.
        spatial_dims: number of spatial dimensions, 2 or 3.
        sources: candidate inputs to read the spacing from when ``spacing`` is ``None``.

    Raises:
        ValueError: when the spacing has the wrong length, is not finite and positive, or a source's affine is of
            lower rank than ``spatial_dims``.
    """
    if spacing is None:
        for src in sources:
            if isinstance(src, MetaTensor):
                affine = src.affine
                if affine.ndim == 3 and affine.shape[0] == 1:
                    affine = affine[0]
                if affine.ndim != 2 or affine.shape[-1] - 1 < spatial_dims:
                    raise ValueError(
                        f"cannot read a {spatial_dims}D spacing from a MetaTensor affine of shape "
                        f"{tuple(affine.shape)}; pass spacing explicitly."
                    )
                spacing = convert_to_numpy(affine_to_spacing(affine, r=spatial_dims))
                break
        else:
            return (1.0,) * spatial_dims
    values = np.asarray(convert_to_numpy(spacing), dtype=np.float64).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, spatial_dims)
    if values.size != spatial_dims:
        raise ValueError(f"spacing must be one number or {spatial_dims} numbers, got {values.size}.")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"spacing must be finite and positive, got {values.tolist()}.")
    return tuple(float(v) for v in values)


def lesion_metrics(
    pred: NdarrayOrTensor,
    label: NdarrayOrTensor,
    prob: NdarrayOrTensor | None = None,
    spacing: float | Sequence[float] | np.ndarray | None = None,
    *,
    connectivity: int | None = None,
    metric_name: str | Sequence[str] | None = None,
) -> dict[str, float]:
    """
    Per-case lesion segmentation metrics of hashemi2018 (IV.A) and salehi2017 (2.4), with the ISBI 2015 lesion-wise
    rates of Carass et al. (2017).

    Keys (in this order) and their values for the cases that make a formula 0/0:

    =============== ======================================================= ==========================================
    key             definition                                              empty label and/or empty prediction
    =============== ======================================================= ==========================================
    ``dsc``         2TP / (2TP + FP + FN)                                   both empty: 1.0; one empty: 0.0
    ``sensitivity`` TP / (TP + FN) (TPR, recall)                            empty label: NaN
    ``specificity`` TN / (TN + FP)                                          NaN only if every voxel is lesion
    ``f2``          5TP / (5TP + 4FN + FP)                                  both empty: 1.0; one empty: 0.0
    ``apr``         area under the voxel-wise precision-recall curve of     empty label: NaN; ``prob=None``: NaN
                    ``prob`` (= sklearn ``average_precision_score``)
    ``jaccard``     TP / (TP + FP + FN)                                     both empty: 1.0; one empty: 0.0
    ``ppv``         TP / (TP + FP) (precision)                              empty prediction: NaN
    ``ltpr``        fraction of label lesions overlapped by the prediction  empty label: NaN
    ``lfpr``        fraction of predicted lesions overlapping no label one  empty prediction: NaN
    ``vd``          abs(V_pred - V_label) / V_label                         both empty: 0.0; empty label only: inf
    ``sd``          average symmetric surface distance, in mm               both empty: 0.0; one empty: inf
    =============== ======================================================= ==========================================

    Conventions: both masks empty means identical masks, so the agreement scores take their best value (as MONAI's
    ``DiceMetric(ignore_empty=False)`` does for Dice). NaN is kept for ratios that are truly 0/0 (a rate over an
    empty set, as MONAI's ``ConfusionMatrixMetric`` returns) and for ``apr`` without probabilities: a hard mask has
    no precision-recall curve, and the degenerate two-point "APR" of a binary score would not be the paper's APR.
    ``inf`` marks a positive quantity over zero (MONAI's surface distance gives inf when one mask is empty).
    MONAI's metric reductions skip NaN; ``inf`` propagates.

    A lesion is a connected component, as in the ISBI 2015 challenge (Carass et al. 2017); the connectivity is
    configurable. The default is full connectivity (8 in 2D, 26 in 3D), as ``connectivity=None`` in MONAI's
    ``KeepLargestConnectedComponent`` and the fully connected components of the WMH challenge's evaluation script
    (``hjkuijf/wmhchallenge``, ``evaluation.py``), so a thin oblique lesion counts once. ``connectivity=1`` (face
    connectivity) splits diagonally touching voxels into separate lesions.
    ``lfpr`` deliberately follows Carass et al. (2017), the fraction of predicted lesions overlapping no label
    lesion, although hashemi2018 prints LFPR as the voxel ratio FP / (FP + TN).
    Computed on the CPU with NumPy/SciPy (tensors are copied there); the cost does not grow with the lesion count.

    Args:
        pred: binary prediction of one case (0/1 or bool): (H, W) or (H, W, D), or channel-first with one channel,
            (1, H, W, D), or (1, H, W) when one of the inputs is a 2D ``MetaTensor`` (its affine is 3x3); without
            one, 3-dimensional input is read as a 3D case. NumPy array, torch tensor or ``MetaTensor``.
        label: binary ground truth, the same shape as ``pred``.
        prob: optional lesion probabilities (or scores), the same shape as ``pred``, for ``apr``. Defaults to
            ``None`` (``apr`` is NaN).
        spacing: voxel size in mm for ``sd``: a number or one per spatial axis. ``None`` (default) reads it from
            the affine of ``label`` (else ``pred``, else ``prob``) when that is a ``MetaTensor``, else uses 1.0.
        connectivity: lesion connectivity for ``ltpr``/``lfpr``, 1 to the number of spatial dimensions
            (skimage meaning: maximum orthogonal hops). ``None`` (default) is full connectivity.
        metric_name: compute only these keys (a name or a sequence of names); ``None`` (default) computes all
            eleven. The expensive ones are ``sd`` (surface distances), ``apr`` (one sort) and ``ltpr``/``lfpr``
            (connected components).

    Returns:
        a dict of Python floats with exactly the keys of :data:`LESION_METRIC_KEYS` (or of ``metric_name``).

    Raises:
        ValueError: when ``pred`` or ``label`` is not binary, the shapes differ, an input is not one 2D/3D case,
            ``prob`` is not finite, ``spacing``/``connectivity``/``metric_name`` is invalid.
    """
    keys = check_metric_names(metric_name)
    spatial_dims = _spatial_dims(label, pred, prob)
    pred_np = _binary_mask(_spatial_array(pred, "pred", spatial_dims), "pred")
    label_np = _binary_mask(_spatial_array(label, "label", spatial_dims), "label")
    if pred_np.shape != label_np.shape:
        raise ValueError(f"pred and label must have the same spatial shape, got {pred_np.shape} and {label_np.shape}.")
    lesion_structure(spatial_dims, connectivity)  # validates connectivity whatever keys are asked for
    prob_np = None
    if prob is not None:
        prob_np = _spatial_array(prob, "prob", spatial_dims)
        if prob_np.shape != pred_np.shape:
            raise ValueError(f"prob must have the shape of pred, got {prob_np.shape} and {pred_np.shape}.")
    spacing_t = resolve_spacing(spacing, spatial_dims, label, pred, prob)

    values: dict[str, float] = {}
    if _VOXEL_KEYS.intersection(keys):
        values.update(voxel_overlap_scores(voxel_confusion_counts(pred_np, label_np)))
    if _LESION_KEYS.intersection(keys):
        values.update(lesion_detection_rates(lesion_detection_counts(pred_np, label_np, connectivity)))
    if "apr" in keys:
        values["apr"] = float("nan") if prob_np is None else average_precision(prob_np, label_np)
    if "sd" in keys:
        values["sd"] = average_symmetric_surface_distance(pred_np, label_np, spacing_t)
    return {k: float(values[k]) for k in keys}
