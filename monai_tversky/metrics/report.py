"""Evaluation report of a lesion segmentation run: per-case CSV, summary (mean ± sd), PR curve and overlay PNGs.

The figures are those of hashemi2018 (Hashemi et al. 2018, "Asymmetric similarity loss function to balance
precision and recall in highly unbalanced deep medical image segmentation", arXiv:1803.11078: Tables I-II, Fig. 6,
Fig. 8) and salehi2017 (Salehi, Erdogmus, Gholipour 2017, "Tversky loss function for image segmentation using 3D
fully convolutional deep networks", arXiv:1706.05721: Table 1, Fig. 2).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from monai.config import NdarrayOrTensor

from monai_tversky.data.case_paths import case_output_path, safe_case_name

from .figures import save_lesion_overlay, save_precision_recall_plot, select_lesion_slices
from .lesion_metrics import LESION_METRIC_KEYS, _spatial_array, check_metric_names, lesion_metrics, resolve_spacing
from .precision_recall import PrecisionRecallHistogram

__all__ = ["summarize_lesion_metrics", "save_lesion_metrics_csv", "save_lesion_summary_csv", "LesionReport"]


def summarize_lesion_metrics(
    rows: Iterable[Mapping[str, float]], keys: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """
    Mean ± standard deviation of each metric over cases.

    Statistics use the finite values only; NaN (undefined, e.g. sensitivity of a case without lesions) and inf
    (e.g. the surface distance of an empty prediction) are counted apart, so one such case neither hides nor
    swamps the others.

    Args:
        rows: one mapping per case from metric name to value (extra keys such as ``"case"`` are ignored).
        keys: the metric names to summarise. Defaults to ``None``: :data:`LESION_METRIC_KEYS`.

    Returns:
        ``{key: {"mean", "sd", "n", "n_nan", "n_inf"}}``: ``sd`` is the sample standard deviation (ddof = 1, NaN
        for fewer than two finite values), ``n`` the number of finite values (``mean`` is NaN when it is 0).

    Raises:
        ValueError: when a row lacks one of ``keys``.
    """
    keys = LESION_METRIC_KEYS if keys is None else tuple(keys)
    rows = list(rows)
    summary: dict[str, dict[str, float]] = {}
    for key in keys:
        try:
            values = np.asarray([float(row[key]) for row in rows], dtype=np.float64)
        except KeyError as e:
            raise ValueError(f"every row must hold the metric {key!r}.") from e
        finite = values[np.isfinite(values)]
        summary[key] = {
            "mean": float(finite.mean()) if finite.size else float("nan"),
            "sd": float(finite.std(ddof=1)) if finite.size > 1 else float("nan"),
            "n": int(finite.size),
            "n_nan": int(np.isnan(values).sum()),
            "n_inf": int(np.isinf(values).sum()),
        }
    return summary


def save_lesion_metrics_csv(
    rows: Iterable[Mapping[str, object]], path: str | os.PathLike, keys: Sequence[str] | None = None
) -> Path:
    """
    Write one row per case: a ``case`` column then one column per metric (full float precision; ``nan``/``inf`` as
    Python writes them, so ``float()`` reads every cell back).

    Args:
        rows: one mapping per case with a ``"case"`` name and the metric values.
        path: the CSV file to write (parent folders are created).
        keys: the metric columns. Defaults to ``None``: :data:`LESION_METRIC_KEYS`.

    Returns:
        the path written.

    Raises:
        ValueError: when a row lacks ``"case"`` or a metric.
    """
    keys = LESION_METRIC_KEYS if keys is None else tuple(keys)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case", *keys])
        for row in rows:
            missing = [k for k in ("case", *keys) if k not in row]
            if missing:
                raise ValueError(f"row {row.get('case', '?')!r} lacks {missing}.")
            writer.writerow([row["case"], *(repr(float(row[k])) for k in keys)])  # type: ignore[arg-type]
    return path


def _format(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def save_lesion_summary_csv(summary: Mapping[str, Mapping[str, float]], path: str | os.PathLike) -> Path:
    """
    Write :py:func:`summarize_lesion_metrics` output: columns ``metric, mean, sd, n, n_nan, n_inf, mean ± sd``.

    Args:
        summary: ``{metric: {"mean", "sd", "n", "n_nan", "n_inf"}}``.
        path: the CSV file to write (parent folders are created).

    Returns:
        the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "mean", "sd", "n", "n_nan", "n_inf", "mean ± sd"])
        for key, stats in summary.items():
            mean, sd = float(stats["mean"]), float(stats["sd"])
            writer.writerow([
                key, repr(mean), repr(sd), int(stats["n"]), int(stats["n_nan"]), int(stats["n_inf"]),
                f"{_format(mean)} ± {_format(sd)}",
            ])
    return path


class LesionReport:
    """
    Collects the evaluation of a lesion segmentation run case by case and writes its report, in the form of
    hashemi2018 (Tables I-II, Fig. 6, Fig. 8) and salehi2017 (Table 1, Fig. 2):

    - ``metrics.csv``: :py:func:`monai_tversky.metrics.lesion_metrics` per case;
    - ``summary.csv``: mean ± sd per metric (:py:func:`summarize_lesion_metrics`), plus the row ``apr_pooled``: the
      APR of the precision-recall curve pooled over all cases given ``prob`` (its ``sd`` is NaN);
    - ``pr_curve.png``: that pooled curve (written when some case had ``prob``);
    - ``pr_histogram.csv``: the counts behind it (:py:meth:`PrecisionRecallHistogram.save_csv`), so that runs
      evaluated separately can be drawn on one plot later;
    - ``overlays/<case>_axis<a>_slice<k>.png``: chosen slices with TP green, FN blue, FP red.

    Cases are reduced to their metrics and a probability histogram as they are added, so a large test set does not
    stay in memory. To compare runs on one plot, pass their :py:attr:`pr_histogram` (or, for runs evaluated in
    separate processes, ``PrecisionRecallHistogram.load_csv(".../pr_histogram.csv")``) to
    :py:func:`monai_tversky.metrics.save_precision_recall_plot` as ``{"run name": histogram, ...}``.

    Example::

        report = LesionReport("eval/tversky")
        for name, pred, label, prob, image in cases:
            report.add_case(name, pred, label, prob=prob, image=image, overlay_slices="auto")
        paths = report.write()

    Args:
        output_dir: folder of the report files (created when writing).
        connectivity: lesion connectivity for LTPR/LFPR, see :py:func:`lesion_metrics`. Defaults to ``None`` (full).
        num_bins: probability bins of the pooled precision-recall curve. Defaults to 1000.
        run_name: the legend entry of the PR curve. Defaults to ``None`` (no name).
        overlay_axis: slicing axis of the overlays of 3D cases. Defaults to -1.
        overlay_alpha: colour opacity of the overlays. Defaults to 0.6.
        overlay_rot90: quarter turns applied to overlay slices for display (see :py:func:`save_lesion_overlay`).
            Defaults to 0.
        overlay_max_size: the longer side of an overlay image, in PNG pixels, at most (voxels are drawn 4 pixels
            wide, fewer for larger slices; a multi-megapixel 2D image, e.g. an ISIC 2018 photograph of
            2166 x 3188, is shown downsampled). Defaults to 1024.

    Raises:
        ValueError: when ``num_bins`` is invalid.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        connectivity: int | None = None,
        num_bins: int = 1000,
        run_name: str | None = None,
        overlay_axis: int = -1,
        overlay_alpha: float = 0.6,
        overlay_rot90: int = 0,
        overlay_max_size: int = 1024,
    ) -> None:
        if isinstance(overlay_max_size, bool) or int(overlay_max_size) != overlay_max_size or overlay_max_size < 1:
            raise ValueError(f"overlay_max_size must be a positive integer, got {overlay_max_size!r}.")
        self.output_dir = Path(output_dir)
        self.connectivity = connectivity
        self.run_name = run_name
        self.overlay_axis = overlay_axis
        self.overlay_alpha = overlay_alpha
        self.overlay_rot90 = overlay_rot90
        self.overlay_max_size = int(overlay_max_size)
        self.pr_histogram = PrecisionRecallHistogram(num_bins)
        self.rows: list[dict[str, object]] = []
        self.overlay_paths: list[Path] = []
        self._cases_with_prob = 0

    def add_case(
        self,
        name: str,
        pred: NdarrayOrTensor,
        label: NdarrayOrTensor,
        prob: NdarrayOrTensor | None = None,
        image: NdarrayOrTensor | None = None,
        spacing: float | Sequence[float] | None = None,
        overlay_slices: str | int | Sequence[int] | None = None,
    ) -> dict[str, float]:
        """
        Score one case, add its probabilities to the pooled PR curve and write its overlays.

        Args:
            name: the case name (the CSV's ``case`` column); must be unique. The overlay files are named by
                :func:`~monai_tversky.data.safe_case_name` of it, under ``<output_dir>/overlays`` whatever it holds
                (``/abs/x``, ``../x``).
            pred: binary prediction of one case, see :py:func:`lesion_metrics` (not a batch: add each case).
            label: binary ground truth, the shape of ``pred``.
            prob: optional lesion probabilities in [0, 1], the shape of ``pred`` (for ``apr`` and the PR curve).
            image: optional intensities (one channel), the shape of ``pred``, shown under the overlays.
            spacing: voxel size in mm, see :py:func:`lesion_metrics` (also sets the overlays' aspect ratio).
            overlay_slices: ``None`` (default): no overlay; ``"auto"``: the slice with the most lesion voxels;
                an index or a sequence of indices along ``overlay_axis``. For a 2D case any value but ``None``
                writes the one image.

        Returns:
            the case's metrics.

        Raises:
            ValueError: when ``name`` is repeated, or an input is invalid (see :py:func:`lesion_metrics`).
        """
        name = str(name)
        if any(row["case"] == name for row in self.rows):
            raise ValueError(f"case {name!r} was already added.")
        if overlay_slices is not None:  # overlays are files named after the case: one name per case, inside the folder
            clash = [row["case"] for row in self.rows if safe_case_name(row["case"]) == safe_case_name(name)]
            if clash:
                raise ValueError(
                    f"cases {clash[0]!r} and {name!r} would write the same overlay files ({safe_case_name(name)}*.png)."
                )
        if isinstance(overlay_slices, str) and overlay_slices != "auto":
            raise ValueError(f"overlay_slices must be None, 'auto', an int or ints, got {overlay_slices!r}.")
        # one row per call: refuse the batches (B, 1, ...) that lesion_metrics also accepts, before scoring them
        _spatial_array(pred, "pred")
        _spatial_array(label, "label")
        values = lesion_metrics(pred, label, prob=prob, spacing=spacing, connectivity=self.connectivity)
        if prob is not None:
            self.pr_histogram.update(_spatial_array(prob, "prob"), _spatial_array(label, "label"))
            self._cases_with_prob += 1
        self.rows.append({"case": name, **values})
        if overlay_slices is not None:
            self._write_overlays(name, pred, label, image, spacing, overlay_slices)
        return values

    def _write_overlays(
        self,
        name: str,
        pred: NdarrayOrTensor,
        label: NdarrayOrTensor,
        image: NdarrayOrTensor | None,
        spacing: float | Sequence[float] | None,
        overlay_slices: str | int | Sequence[int],
    ) -> None:
        pred_np, label_np = _spatial_array(pred, "pred"), _spatial_array(label, "label")
        spacing_t = resolve_spacing(spacing, pred_np.ndim, label, pred)
        if pred_np.ndim == 2:
            pixel_size = spacing_t if self.overlay_rot90 % 2 == 0 else spacing_t[::-1]
            self.overlay_paths.append(save_lesion_overlay(
                case_output_path(self.output_dir, name, ".png", subfolder="overlays"), pred_np, label_np, image, alpha=self.overlay_alpha, rot90=self.overlay_rot90,
                pixel_size=pixel_size, title=name, scale=self._overlay_scale(pred_np.shape, spacing_t),
            ))
            return
        if isinstance(overlay_slices, str):
            indices = select_lesion_slices(pred_np, label_np, axis=self.overlay_axis)
        else:
            indices = [int(i) for i in np.atleast_1d(overlay_slices)]
        axis = self.overlay_axis % 3
        in_plane = tuple(s for a, s in enumerate(spacing_t) if a != axis)
        pixel_size = in_plane if self.overlay_rot90 % 2 == 0 else in_plane[::-1]
        plane = tuple(s for a, s in enumerate(pred_np.shape) if a != axis)
        scale = self._overlay_scale(plane, in_plane)
        for k in indices:
            self.overlay_paths.append(save_lesion_overlay(
                case_output_path(self.output_dir, name, f"_axis{axis}_slice{k}.png", subfolder="overlays"), pred_np, label_np, image, slice_index=k, axis=axis,
                alpha=self.overlay_alpha, rot90=self.overlay_rot90, pixel_size=pixel_size,  # type: ignore[arg-type]
                title=f"{name}: axis {axis}, slice {k}", scale=scale,
            ))

    def _overlay_scale(self, shape: Sequence[int], spacing: Sequence[float]) -> float:
        """PNG pixels per voxel: 4, or fewer so that the longer side stays within ``overlay_max_size``."""
        finest = min(spacing)
        longest = max(n * s / finest for n, s in zip(shape, spacing))
        return min(4.0, self.overlay_max_size / longest) if longest > 0 else 4.0

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean ± sd per metric over the cases added (see :py:func:`summarize_lesion_metrics`) and ``apr_pooled``."""
        summary = summarize_lesion_metrics(self.rows)
        summary["apr_pooled"] = {
            "mean": self.pr_histogram.average_precision(), "sd": float("nan"),
            "n": self._cases_with_prob, "n_nan": 0, "n_inf": 0,
        }
        return summary

    def write(self, keys: Sequence[str] | None = None) -> dict[str, Path]:
        """
        Write ``metrics.csv``, ``summary.csv`` and, when some case had ``prob``, ``pr_histogram.csv`` and
        ``pr_curve.png`` to ``output_dir``.

        Args:
            keys: metric columns of ``metrics.csv``. Defaults to ``None``: all of :data:`LESION_METRIC_KEYS`.

        Returns:
            ``{"metrics_csv": path, "summary_csv": path[, "pr_histogram_csv": path, "pr_curve_png": path]}``.

        Raises:
            ValueError: when no case was added.
        """
        if not self.rows:
            raise ValueError("no case was added to the report.")
        keys = check_metric_names(keys)
        paths = {
            "metrics_csv": save_lesion_metrics_csv(self.rows, self.output_dir / "metrics.csv", keys),
            "summary_csv": save_lesion_summary_csv(self.summary(), self.output_dir / "summary.csv"),
        }
        if self._cases_with_prob:
            paths["pr_histogram_csv"] = self.pr_histogram.save_csv(self.output_dir / "pr_histogram.csv")
        if self.pr_histogram.num_positive > 0:
            curves = {self.run_name: self.pr_histogram} if self.run_name else self.pr_histogram
            paths["pr_curve_png"] = save_precision_recall_plot(self.output_dir / "pr_curve.png", curves)
        return paths
