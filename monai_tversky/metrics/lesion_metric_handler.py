"""Ignite handler for :py:class:`LesionMetric`, in the style of ``monai.handlers.MeanDice`` / ``SurfaceDistance``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monai.handlers import IgniteMetricHandler
from monai.utils import MetricReduction

from .cumulative import LesionMetric

__all__ = ["LesionMetricHandler"]


class LesionMetricHandler(IgniteMetricHandler):
    """
    Computes one lesion segmentation metric of hashemi2018 / salehi2017 / ISBI 2015 (see
    :py:class:`monai_tversky.metrics.LesionMetric`) over the iterations of an ignite engine, for the
    ``key_val_metric`` or ``additional_metrics`` of a ``monai.engines.SupervisedEvaluator``::

        key_val_metric = {"val_dsc": LesionMetricHandler("dsc", output_transform=from_engine(["pred", "label"]))}
        additional_metrics = {"val_ltpr": LesionMetricHandler("ltpr", output_transform=from_engine(["pred", "label"]))}

    - hashemi2018: Hashemi et al. (2018), "Asymmetric similarity loss function to balance precision and recall in
      highly unbalanced deep medical image segmentation", arXiv:1803.11078, section IV.A.

    Args:
        metric_name: one key of :data:`monai_tversky.metrics.LESION_METRIC_KEYS`. Defaults to ``"dsc"``.
        include_background: see :py:class:`LesionMetric`. Defaults to ``True``.
        threshold: see :py:class:`LesionMetric`; ``None`` (default) expects binary predictions.
        connectivity: see :py:class:`LesionMetric`; ``None`` (default) is full connectivity.
        spacing: see :py:class:`LesionMetric`; ``None`` (default) reads the ``MetaTensor`` affines, else 1.0.
        reduction: MONAI metric reduction over cases and channels. Defaults to ``"mean"``.
        output_transform: callable that extracts ``(y_pred, y)`` from ``engine.state.output``, for example
            ``monai.handlers.from_engine(["pred", "label"])``. Defaults to the identity.
        save_details: whether to save the per-case values to ``engine.state.metric_details[name]``.
            Defaults to ``True``.

    Raises:
        ValueError: when ``metric_name`` is not a single lesion metric name, or another argument is invalid
            (see :py:class:`LesionMetric`).
    """

    def __init__(
        self,
        metric_name: str = "dsc",
        include_background: bool = True,
        threshold: float | None = None,
        connectivity: int | None = None,
        spacing: float | Sequence[float] | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        if not isinstance(metric_name, str):
            raise ValueError(f"metric_name must be a single name for a handler, got {metric_name!r}.")
        metric_fn = LesionMetric(
            metric_name=metric_name,
            include_background=include_background,
            threshold=threshold,
            connectivity=connectivity,
            spacing=spacing,
            reduction=reduction,
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
