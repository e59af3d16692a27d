"""MONAI ``Cumulative`` metrics for lesion segmentation, for ``SupervisedEvaluator`` key / additional metrics.

- ``LesionMetric``: any of the eleven per-case figures of :py:func:`monai_tversky.metrics.lesion_metrics`
  (hashemi2018 IV.A, salehi2017 2.4, ISBI 2015), one value per case and channel, reduced like MONAI's metrics.
- ``PooledAveragePrecisionMetric``: the APR of the precision-recall curve pooled over all cases (salehi2017 Fig. 2a,
  hashemi2018 Fig. 6), from per-case probability histograms.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction, prepare_spacing
from monai.utils import MetricReduction, convert_to_numpy, look_up_option

from .lesion_detection import lesion_structure
from .lesion_metrics import check_metric_names, lesion_metrics, resolve_spacing
from .precision_recall import PrecisionRecallHistogram, _check_num_bins, precision_recall_histogram

__all__ = ["LesionMetric", "PooledAveragePrecisionMetric"]


def _check_batch_first(y_pred: torch.Tensor, y: torch.Tensor | None) -> None:
    if y is None:
        raise ValueError("y (the ground truth) is required.")
    if y_pred.shape != y.shape:
        raise ValueError(f"y_pred and y must have the same shape, got {tuple(y_pred.shape)} and {tuple(y.shape)}.")
    if y_pred.ndim not in (4, 5):
        raise ValueError(
            "y_pred and y must be batch-first, channel-first 2D (B, C, H, W) or 3D (B, C, H, W, D) tensors "
            f"(or lists of channel-first cases), got shape {tuple(y_pred.shape)}."
        )


def _selected_channels(n_channels: int, include_background: bool) -> range:
    if include_background or n_channels == 1:
        if not include_background:
            warnings.warn("single channel prediction, `include_background=False` ignored.", stacklevel=3)
        return range(n_channels)
    return range(1, n_channels)


def _case_spacings(
    spacing: Any, batch_size: int, spatial_dims: int, sources: Sequence[Any]
) -> list[tuple[float, ...]]:
    """One spacing per case: ``spacing`` (MONAI's ``prepare_spacing`` forms), else the MetaTensor affines, else 1."""
    if spacing is not None:
        return [resolve_spacing(s, spatial_dims) for s in prepare_spacing(spacing, batch_size, spatial_dims)]
    for src in sources:
        if isinstance(src, MetaTensor):
            affine = src.affine
            affines = [affine] * batch_size if affine.ndim == 2 else list(affine)
            if len(affines) != batch_size or affines[0].shape[-1] - 1 < spatial_dims:
                break
            return [
                resolve_spacing(convert_to_numpy(affine_to_spacing(a, r=spatial_dims)), spatial_dims) for a in affines
            ]
    return [(1.0,) * spatial_dims] * batch_size


class LesionMetric(CumulativeIterationMetric):
    """
    Lesion segmentation metrics of hashemi2018 / salehi2017 and the ISBI 2015 challenge as a MONAI
    ``CumulativeIterationMetric``: per case and channel it computes the chosen keys of
    :py:func:`monai_tversky.metrics.lesion_metrics` (DSC, sensitivity, specificity, F2, APR, Jaccard, PPV, LTPR,
    LFPR, VD, SD) and reduces them over the buffered cases like MONAI's metrics (NaN values are skipped).

    - hashemi2018: Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018), "Asymmetric similarity loss
      function to balance precision and recall in highly unbalanced deep medical image segmentation",
      arXiv:1803.11078, section IV.A.
    - salehi2017: Salehi, Erdogmus, Gholipour (2017), "Tversky loss function for image segmentation using 3D fully
      convolutional deep networks", arXiv:1706.05721, section 2.4.
    - Carass et al. (2017), "Longitudinal multiple sclerosis lesion segmentation: Resource and challenge",
      NeuroImage 148:77-102 (LTPR / LFPR by connected components).

    Inputs follow MONAI's convention: ``y_pred`` and ``y`` are batch-first one-hot tensors (B, C, H, W[, D]) or lists
    of channel-first cases; ``y_pred`` is binary unless ``threshold`` is set, in which case it holds probabilities
    (binarised at ``y_pred >= threshold``, and used as the scores of ``apr``). Without ``threshold`` the ``apr`` of
    every case is NaN. Empty-mask values are those documented in :py:func:`lesion_metrics`.

    Note:
        ``inf`` propagates through the reduction (only NaN is skipped): with ``reduction="mean"``, a single case
        with an inf ``sd`` (an empty prediction or an empty label, not both) or ``vd`` (an empty label with a
        non-empty prediction) makes that metric inf for the whole data set. For data sets with empty predictions,
        prefer the summary of :py:class:`monai_tversky.metrics.LesionReport`
        (:py:func:`monai_tversky.metrics.summarize_lesion_metrics`), which averages the finite values and counts
        the inf ones separately (``n_inf``).

    Example of the typical use in an evaluator (see also
    :py:class:`monai_tversky.metrics.LesionMetricHandler`)::

        from monai.handlers import IgniteMetricHandler, from_engine

        dsc = IgniteMetricHandler(LesionMetric("dsc"), output_transform=from_engine(["pred", "label"]))
        evaluator = SupervisedEvaluator(..., key_val_metric={"val_dsc": dsc})

    Args:
        metric_name: one key of :data:`LESION_METRIC_KEYS` or a sequence of them. Defaults to ``"dsc"``.
            With one name ``aggregate`` returns one tensor, with a sequence a list (like MONAI's
            ``ConfusionMatrixMetric``; an ``IgniteMetricHandler`` then records the first).
        include_background: whether to score the first channel. Defaults to ``True`` (a single sigmoid channel);
            set ``False`` for two-channel softmax outputs. Ignored, with a warning, for a single channel (as MONAI).
        threshold: ``None`` (default): ``y_pred`` must be binary. A float: ``y_pred`` holds probabilities,
            binarised at ``y_pred >= threshold`` (MONAI's ``AsDiscrete(threshold=...)``), and ``apr`` is computed.
        connectivity: lesion connectivity for ``ltpr``/``lfpr`` (1 = face; ``None``, the default, = full:
            8 in 2D, 26 in 3D).
        spacing: voxel size in mm for ``sd``: a number, one per spatial axis, or one such per case (as MONAI's
            ``SurfaceDistanceMetric``); a ``spacing=`` keyword in the call overrides it. ``None`` (default) reads
            each case's spacing from the ``MetaTensor`` affine of ``y`` (else ``y_pred``), else uses 1.0.
        reduction: MONAI metric reduction (``"mean"``, ``"sum"``, ``"mean_batch"``, ``"sum_batch"``,
            ``"mean_channel"``, ``"sum_channel"``, ``"none"``), applied to non-NaN values. Defaults to ``"mean"``.
        get_not_nans: whether ``aggregate`` also returns the not-NaN counts. Defaults to ``False``.

    Raises:
        ValueError: when ``metric_name``, ``threshold``, ``connectivity``, ``spacing`` or ``reduction`` is invalid;
            at call time, when shapes differ, inputs are not (B, C, spatial) 2D/3D tensors, or ``y_pred``/``y``
            are not binary.
    """

    def __init__(
        self,
        metric_name: str | Sequence[str] = "dsc",
        include_background: bool = True,
        threshold: float | None = None,
        connectivity: int | None = None,
        spacing: float | Sequence[float] | Sequence[Sequence[float]] | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        self.metric_name = check_metric_names(metric_name)
        self._single_name = isinstance(metric_name, str)
        if threshold is not None and (isinstance(threshold, bool) or not np.isfinite(float(threshold))):
            raise ValueError(f"threshold must be None or a finite number, got {threshold!r}.")
        self.threshold = None if threshold is None else float(threshold)
        if connectivity is not None:
            lesion_structure(3, connectivity)  # range re-checked against the data's dimensions at call time
        self.connectivity = connectivity
        if spacing is not None:
            values = np.asarray(spacing, dtype=np.float64)
            if not (np.isfinite(values).all() and (values > 0).all()):
                raise ValueError(f"spacing must be finite and positive, got {spacing!r}.")
        self.spacing = spacing
        self.include_background = include_background
        self.reduction = look_up_option(reduction, MetricReduction)
        self.get_not_nans = get_not_nans

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """
        Args:
            y_pred: (B, C, H, W[, D]) binary prediction, or probabilities when ``threshold`` is set.
            y: (B, C, H, W[, D]) binary ground truth.
            kwargs: ``spacing`` overrides the constructor's ``spacing`` for this call.

        Returns:
            a float32 tensor (B, C', K): K = number of metric names, C' = scored channels.
        """
        _check_batch_first(y_pred, y)
        spatial_dims = y_pred.ndim - 2
        lesion_structure(spatial_dims, self.connectivity)
        spacings = _case_spacings(kwargs.get("spacing", self.spacing), y_pred.shape[0], spatial_dims, (y, y_pred))
        scores = np.asarray(convert_to_numpy(y_pred))
        if self.threshold is None:
            if scores.dtype != bool and not ((scores == 0) | (scores == 1)).all():
                raise ValueError(
                    "y_pred must be binary (0/1); binarise it first (e.g. AsDiscrete(threshold=0.5)) or construct "
                    "LesionMetric(threshold=0.5) to pass probabilities."
                )
            pred, prob = scores, None
        else:
            pred, prob = scores >= self.threshold, scores
        label = np.asarray(convert_to_numpy(y))
        channels = _selected_channels(y_pred.shape[1], self.include_background)
        values = [
            [
                list(
                    lesion_metrics(
                        pred[b, c],
                        label[b, c],
                        None if prob is None else prob[b, c],
                        spacings[b],
                        connectivity=self.connectivity,
                        metric_name=self.metric_name,
                    ).values()
                )
                for c in channels
            ]
            for b in range(y_pred.shape[0])
        ]
        return torch.as_tensor(values, dtype=torch.float32, device=y_pred.device).reshape(
            y_pred.shape[0], len(channels), len(self.metric_name)
        )

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """
        Reduce the buffered per-case values of each metric name.

        Args:
            reduction: overrides the constructor's ``reduction``.

        Returns:
            one tensor (or ``(tensor, not_nans)`` with ``get_not_nans``) when ``metric_name`` was a single name,
            else a list of them in the order of ``metric_name``.

        Raises:
            ValueError: when nothing has been buffered.
        """
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("no results to aggregate: call the metric on at least one batch first.")
        results: list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = []
        for k in range(len(self.metric_name)):
            f, not_nans = do_metric_reduction(data[..., k].clone(), reduction or self.reduction)
            # MONAI's reduction returns 0 where every value is NaN (e.g. PPV when no case has a predicted lesion);
            # the per-case CSV says NaN there, and so does this (the console prints what the CSV holds)
            f = torch.where(not_nans > 0, f, torch.full_like(f, float("nan"))) if f.is_floating_point() else f
            results.append((f, not_nans) if self.get_not_nans else f)
        return results[0] if self._single_name else results


class PooledAveragePrecisionMetric(CumulativeIterationMetric):
    """
    APR (area under the voxel-wise precision-recall curve) pooled over every buffered case, as the whole-test-set
    curves of salehi2017 (Fig. 2a) and hashemi2018 (Fig. 6), as a MONAI ``CumulativeIterationMetric``.

    - salehi2017: Salehi, Erdogmus, Gholipour (2017), "Tversky loss function for image segmentation using 3D fully
      convolutional deep networks", arXiv:1706.05721.
    - hashemi2018: Hashemi et al. (2018), "Asymmetric similarity loss function to balance precision and recall in
      highly unbalanced deep medical image segmentation", arXiv:1803.11078.

    Each call buffers a probability histogram per case and channel (``num_bins`` bins of [0, 1]), not the voxels, so
    memory stays small over a large data set; the result equals scikit-learn's ``average_precision_score`` on all
    voxels with probabilities quantised to their bin (within 1 / ``num_bins`` of the exact pooled APR). Unlike the
    mean of per-case APRs (``LesionMetric("apr", threshold=...)``), cases with more lesion voxels weigh more.
    MONAI's ``AveragePrecisionMetric`` would buffer every voxel and walk them in a Python loop.

    Args:
        num_bins: number of probability bins (thresholds). Defaults to 1000.
        include_background: whether to score the first channel. Defaults to ``True``; ignored, with a warning,
            for a single channel.
        average: ``"macro"`` (default): mean over channels of the per-channel APRs (NaN channels skipped);
            ``"none"``: one APR per channel.

    Raises:
        ValueError: when ``num_bins`` is not a positive int or ``average`` is not ``"macro"``/``"none"``; at call
            time when shapes differ, ``y_pred`` is outside [0, 1] or ``y`` is not binary.
    """

    def __init__(self, num_bins: int = 1000, include_background: bool = True, average: str = "macro") -> None:
        super().__init__()
        self.num_bins = _check_num_bins(num_bins)
        self.include_background = include_background
        self.average = self._check_average(average)

    @staticmethod
    def _check_average(average: str) -> str:
        if average not in ("macro", "none"):
            raise ValueError(f"average must be 'macro' or 'none', got {average!r}.")
        return average

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            y_pred: (B, C, H, W[, D]) lesion probabilities in [0, 1].
            y: (B, C, H, W[, D]) binary ground truth.

        Returns:
            an int64 tensor (B, C', 2, num_bins): lesion-voxel and all-voxel counts per probability bin.
        """
        _check_batch_first(y_pred, y)
        prob = np.asarray(convert_to_numpy(y_pred))
        label = np.asarray(convert_to_numpy(y))
        channels = _selected_channels(y_pred.shape[1], self.include_background)
        counts = [
            [np.stack(precision_recall_histogram(prob[b, c], label[b, c], self.num_bins)) for c in channels]
            for b in range(y_pred.shape[0])
        ]
        return torch.as_tensor(np.asarray(counts, dtype=np.int64), device=y_pred.device)

    def histograms(self) -> list[PrecisionRecallHistogram]:
        """
        The pooled histograms, one per scored channel, for :py:meth:`PrecisionRecallHistogram.curve` or plotting.

        Raises:
            ValueError: when nothing has been buffered.
        """
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("no results to aggregate: call the metric on at least one batch first.")
        summed = data.sum(dim=0).cpu().numpy()
        return [PrecisionRecallHistogram.from_counts(ch[0], ch[1]) for ch in summed]

    def aggregate(self, average: str | None = None) -> torch.Tensor:
        """
        Args:
            average: overrides the constructor's ``average``.

        Returns:
            a 0-d tensor (``"macro"``) or a (C',) tensor (``"none"``); NaN where a channel has no lesion voxel.
        """
        average = self._check_average(average or self.average)
        aps = torch.tensor([h.average_precision() for h in self.histograms()], dtype=torch.float64)
        if average == "none":
            return aps
        valid = ~torch.isnan(aps)
        return aps[valid].mean() if valid.any() else torch.tensor(float("nan"), dtype=torch.float64)
