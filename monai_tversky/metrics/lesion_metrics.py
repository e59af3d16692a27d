"""``lesion_metrics``: the eleven per-case figures by which hashemi2018 and salehi2017 judge a lesion segmentation,
for one case or for each case of a MONAI batch-first ``(B, 1, H, W[, D])`` batch.

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


def _affine_spacing(affine: NdarrayOrTensor, spatial_dims: int) -> np.ndarray:
    """The voxel size of one (N+1, N+1) affine (as ``MetaTensor.pixdim``), for its first ``spatial_dims`` axes."""
    if affine.ndim != 2 or affine.shape[-1] - 1 < spatial_dims:
        raise ValueError(
            f"cannot read a {spatial_dims}D spacing from a MetaTensor affine of shape "
            f"{tuple(affine.shape)}; pass spacing explicitly."
        )
    return np.asarray(convert_to_numpy(affine_to_spacing(affine, r=spatial_dims)))


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
                spacing = _affine_spacing(affine, spatial_dims)
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


_INPUT_FORMS = (
    "one 2D (H, W) or 3D (H, W, D) case, channel-first with one channel (1, H, W[, D]), "
    "or a batch-first batch (B, 1, H, W[, D])"
)


def _check_spatial_dims(spatial_dims: int | None) -> int | None:
    if spatial_dims is None:
        return None
    if isinstance(spatial_dims, bool) or spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be None, 2 or 3, got {spatial_dims!r}.")
    return int(spatial_dims)


def _input_spatial_dims(inputs: Sequence[object], label_ndim: int) -> int:
    """
    Spatial rank of ``lesion_metrics`` inputs (``label, pred, prob``) when ``spatial_dims`` is not given: that of a
    ``MetaTensor`` (its affine is (N+1, N+1)) whose ndim is N or N+1, else one whose ndim is N+2 (a batch), else 3
    for a 4D (1, H, W, D) or 5D (B, 1, H, W, D) ``label``, else its ndim.
    """
    for extra in (1, 2):  # the single-case forms first: where a MetaTensor fits one, the rank is what it always was
        for x in inputs:
            if isinstance(x, MetaTensor) and x.spatial_ndim in (2, 3) and 0 <= x.ndim - x.spatial_ndim <= extra:
                return int(x.spatial_ndim)
    return 3 if label_ndim in (4, 5) else label_ndim


def _case_layout_error(arr: np.ndarray, name: str, spatial_dims: int, rank_given: bool) -> ValueError:
    """The error for an input that is none of the accepted forms, with a hint for the likely intent."""
    msg = f"{name} must be {_INPUT_FORMS}, got shape {tuple(arr.shape)}"
    if arr.ndim == spatial_dims + 1 and arr.shape[0] == 2:
        msg += f"; for a two-channel one-hot (background, lesion) case pass the lesion channel, e.g. {name}[1:]"
    if arr.ndim == 4 and not rank_given:
        msg += "; a (B, C, H, W) batch of 2D cases needs spatial_dims=2 (or a MetaTensor with a 2D, 3x3 affine)"
    return ValueError(msg + ".")


def _batch_spacings(
    spacing: float | Sequence[float] | Sequence[Sequence[float]] | np.ndarray | None,
    batch_size: int,
    spatial_dims: int,
    *sources: object,
) -> list[tuple[float, ...]]:
    """
    One voxel size per case of a batch (each as :py:func:`resolve_spacing` returns it).

    ``spacing``: a number or ``spatial_dims`` numbers for every case, or one such per case as a (B, N) nested
    sequence or array (as MONAI's ``SurfaceDistanceMetric``); ``None``: from the first ``MetaTensor`` of
    ``sources``, one spacing per item of a batched (B, N+1, N+1) affine or one (N+1, N+1) affine for all cases;
    else 1.0.
    """
    if spacing is not None:
        try:
            values = np.asarray(convert_to_numpy(spacing), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"spacing must be a number, {spatial_dims} numbers or one such per case, got {spacing!r}."
            ) from err
        if values.ndim == 2:  # one spacing per case
            if values.shape[0] != batch_size:
                raise ValueError(
                    f"spacing given per case must have one row per case (B = {batch_size}), got shape "
                    f"{tuple(values.shape)}."
                )
            return [resolve_spacing(v, spatial_dims) for v in values]
        return [resolve_spacing(values, spatial_dims)] * batch_size
    for src in sources:
        if isinstance(src, MetaTensor):
            affine = src.affine
            if affine.ndim == 3 and affine.shape[0] in (1, batch_size):  # per item, as list_data_collate makes it
                return [resolve_spacing(_affine_spacing(affine[min(b, affine.shape[0] - 1)], spatial_dims),
                                        spatial_dims) for b in range(batch_size)]
            if affine.ndim == 2:
                return [resolve_spacing(_affine_spacing(affine, spatial_dims), spatial_dims)] * batch_size
            raise ValueError(
                f"cannot read {batch_size} spacings from a MetaTensor affine of shape {tuple(affine.shape)} "
                f"(expected ({batch_size}, N+1, N+1) or (N+1, N+1)); pass spacing explicitly."
            )
    return [(1.0,) * spatial_dims] * batch_size


def _case_metrics(
    pred: np.ndarray,
    label: np.ndarray,
    prob: np.ndarray | None,
    spacing: tuple[float, ...],
    connectivity: int | None,
    keys: tuple[str, ...],
) -> dict[str, float]:
    """The ``keys`` of one validated case: binary ``pred``/``label`` and optional ``prob`` of one spatial shape."""
    values: dict[str, float] = {}
    if _VOXEL_KEYS.intersection(keys):
        values.update(voxel_overlap_scores(voxel_confusion_counts(pred, label)))
    if _LESION_KEYS.intersection(keys):
        values.update(lesion_detection_rates(lesion_detection_counts(pred, label, connectivity)))
    if "apr" in keys:
        values["apr"] = float("nan") if prob is None else average_precision(prob, label)
    if "sd" in keys:
        values["sd"] = average_symmetric_surface_distance(pred, label, spacing)
    return {k: float(values[k]) for k in keys}


def _batch_lesion_metrics(
    arrays: dict[str, np.ndarray],
    sources: Sequence[object],
    spacing: float | Sequence[float] | Sequence[Sequence[float]] | np.ndarray | None,
    spatial_dims: int,
    connectivity: int | None,
    keys: tuple[str, ...],
) -> dict[str, float] | dict[str, np.ndarray]:
    """:py:func:`lesion_metrics` of (B, C, *spatial) ``arrays`` (``pred``, ``label`` and maybe ``prob``)."""
    shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items())
    batch_sizes = {a.shape[0] for a in arrays.values()}
    if len(batch_sizes) != 1:
        raise ValueError(f"{', '.join(arrays)} must have the same batch size B, got shapes {shapes}.")
    batch_size = batch_sizes.pop()
    if batch_size == 0:
        raise ValueError(f"the batch is empty (B == 0), got shapes {shapes}.")
    for name, a in arrays.items():
        # C must be 1. MONAI's functional metrics score every channel ((B, C) values), but the background channel
        # of a one-hot output is no lesion mask (its LTPR, LFPR, SD say nothing), so the caller picks the lesion
        # channel; LesionMetric(include_background=False) is the MONAI-style path for multi-channel outputs.
        if a.shape[1] != 1:
            raise ValueError(
                f"{name} must have one channel, a binary lesion mask (B, 1, H, W[, D]), got shape "
                f"{tuple(a.shape)}; for a one-hot (background, lesion) output pass the lesion channel, e.g. "
                f"{name}[:, 1:], or use LesionMetric(include_background=False)."
            )
    pred_np = _binary_mask(arrays["pred"][:, 0], "pred")
    label_np = _binary_mask(arrays["label"][:, 0], "label")
    if pred_np.shape != label_np.shape:
        raise ValueError(f"pred and label must have the same spatial shape, got shapes {shapes}.")
    lesion_structure(spatial_dims, connectivity)  # validates connectivity whatever keys are asked for
    prob_np = arrays["prob"][:, 0] if "prob" in arrays else None
    if prob_np is not None and prob_np.shape != pred_np.shape:
        raise ValueError(f"prob must have the shape of pred, got shapes {shapes}.")
    spacings = _batch_spacings(spacing, batch_size, spatial_dims, *sources)
    cases = [
        _case_metrics(
            pred_np[b], label_np[b], None if prob_np is None else prob_np[b], spacings[b], connectivity, keys
        )
        for b in range(batch_size)
    ]
    if batch_size == 1:
        return cases[0]
    return {k: np.asarray([case[k] for case in cases], dtype=np.float64) for k in keys}


def lesion_metrics(
    pred: NdarrayOrTensor,
    label: NdarrayOrTensor,
    prob: NdarrayOrTensor | None = None,
    spacing: float | Sequence[float] | Sequence[Sequence[float]] | np.ndarray | None = None,
    *,
    connectivity: int | None = None,
    metric_name: str | Sequence[str] | None = None,
    spatial_dims: int | None = None,
) -> dict[str, float] | dict[str, np.ndarray]:
    """
    Per-case lesion segmentation metrics of hashemi2018 (IV.A) and salehi2017 (2.4), with the ISBI 2015 lesion-wise
    rates of Carass et al. (2017), for one case or for each case of a batch-first MONAI batch.

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
    A batch is scored case by case, each case exactly as if it were passed alone.

    Input layouts: one case, (H, W) / (H, W, D) or channel-first (1, H, W) / (1, H, W, D); or a batch in MONAI's
    batch-first, channel-first layout (B, 1, H, W) / (B, 1, H, W, D), as networks, inferers and MONAI metrics use it.
    The spatial rank N decides which: ndim N is one case, N+1 a channel-first case and N+2 a batch (MONAI's
    convention). N is ``spatial_dims`` when given; else that of a ``MetaTensor`` input (its affine is (N+1, N+1)),
    first one whose ndim is N or N+1, then one whose ndim is N+2; else it follows the ndim of ``label``:
    2 -> (H, W), 3 -> (H, W, D), 4 -> (1, H, W, D), 5 -> (B, 1, H, W, D). An axis size never decides the layout,
    so a 4D input without a 2D ``MetaTensor`` is always one channel-first 3D case (as before batches were
    accepted); pass ``spatial_dims=2`` to read it as a (B, 1, H, W) batch of 2D cases. ``pred``, ``label`` and
    ``prob`` must be all batches (with one batch size B >= 1) or all single cases.

    Args:
        pred: binary prediction (0/1 or bool): one case, (H, W) or (H, W, D), or channel-first with one channel,
            (1, H, W) or (1, H, W, D); or a batch (B, 1, H, W) or (B, 1, H, W, D) (see the layouts above).
            NumPy array, torch tensor or ``MetaTensor``. The channel must be the lesion mask: pass ``pred[:, 1:]``
            for a two-channel one-hot (background, lesion) batch.
        label: binary ground truth, the layout and spatial shape of ``pred`` (a batch with the same B).
        prob: optional lesion probabilities (or scores), the layout and shape of ``pred``, for ``apr``. Defaults
            to ``None`` (``apr`` is NaN).
        spacing: voxel size in mm for ``sd``: a number or one per spatial axis (N numbers), for every case of a
            batch; for a batch also one such per case, a (B, N) nested sequence or array (as MONAI's
            ``SurfaceDistanceMetric``). ``None`` (default) reads it from the affine of ``label`` (else ``pred``,
            else ``prob``) when that is a ``MetaTensor``: for a batch, each case from its item of a (B, N+1, N+1)
            affine (as ``list_data_collate`` builds it), or one (N+1, N+1) affine for all cases. Else 1.0.
        connectivity: lesion connectivity for ``ltpr``/``lfpr``, 1 to the number of spatial dimensions
            (skimage meaning: maximum orthogonal hops). ``None`` (default) is full connectivity.
        metric_name: compute only these keys (a name or a sequence of names); ``None`` (default) computes all
            eleven. The expensive ones are ``sd`` (surface distances), ``apr`` (one sort) and ``ltpr``/``lfpr``
            (connected components).
        spatial_dims: the spatial rank N, 2 or 3, that decides the layout (see above). Defaults to ``None``
            (from a ``MetaTensor`` affine, else the ndim of ``label``).

    Returns:
        for one case, or a batch with B == 1: a dict of Python floats with exactly the keys of
        :data:`LESION_METRIC_KEYS` (or of ``metric_name``), in that order. For a batch with B > 1: a dict with the
        same keys, each value a float64 NumPy array of shape (B,) holding case b at index b (one value per batch
        item, like MONAI's metrics with ``reduction="none"``). Values follow the table above, so a case can be NaN
        (0/0) or inf: average over cases with ``np.nanmean`` (MONAI's reductions also skip NaN), and mind that inf
        propagates (:py:func:`monai_tversky.metrics.summarize_lesion_metrics` counts it apart).

    Raises:
        ValueError: when ``pred`` or ``label`` is not binary, the shapes differ, an input is none of the layouts
            above (a channel other than one: a one-hot two-channel input must be given as its lesion channel,
            e.g. ``pred[:, 1:]``), the inputs mix batch and single-case layouts, their batch sizes differ or
            B == 0 (the message names the shapes), ``prob`` is not finite, or ``spacing``/``connectivity``/
            ``metric_name``/``spatial_dims`` is invalid (also: a per-case spacing or a batched ``MetaTensor``
            affine without one entry per case).
    """
    keys = check_metric_names(metric_name)
    rank_given = spatial_dims is not None
    spatial_dims = _check_spatial_dims(spatial_dims)
    named = {"pred": pred, "label": label} if prob is None else {"pred": pred, "label": label, "prob": prob}
    arrays = {name: np.asarray(convert_to_numpy(x)) for name, x in named.items()}
    if spatial_dims is None:
        spatial_dims = _input_spatial_dims((label, pred, prob), arrays["label"].ndim)
    for name, arr in arrays.items():
        if spatial_dims not in (2, 3) or arr.ndim not in (spatial_dims, spatial_dims + 1, spatial_dims + 2):
            raise _case_layout_error(arr, name, spatial_dims, rank_given)
    batched = [arr.ndim == spatial_dims + 2 for arr in arrays.values()]
    if any(batched):
        if not all(batched):
            shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in arrays.items())
            raise ValueError(
                f"{', '.join(arrays)} must all be batches (B, 1, *spatial) or all single cases "
                f"({spatial_dims}D), got shapes {shapes}."
            )
        return _batch_lesion_metrics(arrays, (label, pred, prob), spacing, spatial_dims, connectivity, keys)
    for name, arr in arrays.items():
        if arr.ndim == spatial_dims + 1 and arr.shape[0] != 1:
            raise _case_layout_error(arr, name, spatial_dims, rank_given)

    pred_np = _binary_mask(_spatial_array(arrays["pred"], "pred", spatial_dims), "pred")
    label_np = _binary_mask(_spatial_array(arrays["label"], "label", spatial_dims), "label")
    if pred_np.shape != label_np.shape:
        raise ValueError(f"pred and label must have the same spatial shape, got {pred_np.shape} and {label_np.shape}.")
    lesion_structure(spatial_dims, connectivity)  # validates connectivity whatever keys are asked for
    prob_np = None
    if prob is not None:
        prob_np = _spatial_array(arrays["prob"], "prob", spatial_dims)
        if prob_np.shape != pred_np.shape:
            raise ValueError(f"prob must have the shape of pred, got {prob_np.shape} and {pred_np.shape}.")
    spacing_t = resolve_spacing(spacing, spatial_dims, label, pred, prob)
    return _case_metrics(pred_np, label_np, prob_np, spacing_t, connectivity, keys)
