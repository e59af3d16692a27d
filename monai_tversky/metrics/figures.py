"""Figures of a lesion segmentation: precision-recall curves and TP/FN/FP overlays, written as PNG files.

- Precision-recall curves over a whole test set, several runs on one plot: salehi2017 Fig. 2 (Salehi, Erdogmus,
  Gholipour 2017, "Tversky loss function for image segmentation using 3D fully convolutional deep networks",
  arXiv:1706.05721) and hashemi2018 Fig. 6 (Hashemi et al. 2018, "Asymmetric similarity loss function to balance
  precision and recall in highly unbalanced deep medical image segmentation", arXiv:1803.11078).
- Overlays with true positives green, false negatives blue, false positives red: hashemi2018 Fig. 8.

Drawing uses matplotlib's object API with the Agg canvas (``Figure`` + ``FigureCanvasAgg``), so it needs no display
and never changes the user's pyplot backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np
from monai.config import NdarrayOrTensor
from monai.utils import optional_import

from .lesion_metrics import _binary_mask, _spatial_array
from .precision_recall import PrecisionRecallHistogram

Figure, _ = optional_import("matplotlib.figure", name="Figure")
FigureCanvasAgg, _ = optional_import("matplotlib.backends.backend_agg", name="FigureCanvasAgg")
Patch, _ = optional_import("matplotlib.patches", name="Patch")

__all__ = [
    "OVERLAY_COLORS",
    "lesion_overlay_rgb",
    "select_lesion_slices",
    "save_lesion_overlay",
    "save_precision_recall_plot",
]

#: RGB colours of hashemi2018 Fig. 8.
OVERLAY_COLORS: dict[str, tuple[float, float, float]] = {
    "true positive": (0.0, 1.0, 0.0),
    "false negative": (0.0, 0.0, 1.0),
    "false positive": (1.0, 0.0, 0.0),
}

PrecisionRecallCurve = Union[PrecisionRecallHistogram, Sequence[np.ndarray]]


def _as_2d_slice(x: NdarrayOrTensor | None, name: str) -> np.ndarray | None:
    if x is None:
        return None
    arr = _spatial_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2D slice here, got shape {arr.shape}.")
    return arr


def _normalised_gray(image: np.ndarray | None, shape: tuple[int, ...], window: tuple[float, float]) -> np.ndarray:
    if image is None:
        return np.zeros(shape, dtype=np.float64)
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        raise ValueError("image must be finite.")
    low, high = np.percentile(image, window)
    if high <= low:
        return np.zeros(shape, dtype=np.float64)
    return np.clip((image - low) / (high - low), 0.0, 1.0)


def lesion_overlay_rgb(
    pred: NdarrayOrTensor,
    label: NdarrayOrTensor,
    image: NdarrayOrTensor | None = None,
    alpha: float = 0.6,
    window: tuple[float, float] = (1.0, 99.0),
) -> np.ndarray:
    """
    Colour one 2D slice as hashemi2018 Fig. 8: true positives green, false negatives blue, false positives red,
    blended over the grey-scale image.

    Args:
        pred: binary prediction slice (H, W).
        label: binary ground-truth slice (H, W).
        image: optional intensity slice (H, W), windowed to its ``window`` percentiles and shown in grey; ``None``
            (default) gives a black background.
        alpha: opacity of the colours over the image, in (0, 1]. Defaults to 0.6; 1.0 gives the pure colours.
        window: lower and upper percentiles of ``image`` mapped to black and white. Defaults to (1, 99).

    Returns:
        a float64 RGB array (H, W, 3) in [0, 1].

    Raises:
        ValueError: when the slices are not 2D or differ in shape, the masks are not binary, ``alpha`` is outside
            (0, 1] or ``window`` is not increasing within [0, 100].
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}.")
    if len(window) != 2 or not 0.0 <= window[0] < window[1] <= 100.0:
        raise ValueError(f"window must be two increasing percentiles in [0, 100], got {window}.")
    pred_2d = _binary_mask(_as_2d_slice(pred, "pred"), "pred")
    label_2d = _binary_mask(_as_2d_slice(label, "label"), "label")
    image_2d = _as_2d_slice(image, "image")
    for name, arr in (("label", label_2d), ("image", image_2d)):
        if arr is not None and arr.shape != pred_2d.shape:
            raise ValueError(f"{name} must have the shape of pred, got {arr.shape} and {pred_2d.shape}.")
    gray = _normalised_gray(image_2d, pred_2d.shape, window)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    masks = {
        "true positive": pred_2d & label_2d,
        "false negative": ~pred_2d & label_2d,
        "false positive": pred_2d & ~label_2d,
    }
    for kind, mask in masks.items():
        rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.asarray(OVERLAY_COLORS[kind])
    return rgb


def _spatial_axis(axis: int) -> int:
    if not -3 <= axis < 3:
        raise ValueError(f"axis must be in [-3, 2] for a 3D case, got {axis}.")
    return axis % 3


def select_lesion_slices(
    pred: NdarrayOrTensor, label: NdarrayOrTensor, axis: int = -1, num_slices: int = 1
) -> list[int]:
    """
    The slices along ``axis`` of a 3D case with the most lesion voxels (prediction or label), most first.

    Args:
        pred: binary prediction (H, W, D) (or (1, H, W, D)).
        label: binary ground truth, the same shape.
        axis: the slicing axis of the spatial dimensions. Defaults to -1.
        num_slices: how many slices to return (fewer if the case has fewer). Defaults to 1.

    Raises:
        ValueError: when the masks are not 3D binary masks of one shape, or ``num_slices < 1``.
    """
    pred_np = _binary_mask(_spatial_array(pred, "pred"), "pred")
    label_np = _binary_mask(_spatial_array(label, "label"), "label")
    if pred_np.ndim != 3 or pred_np.shape != label_np.shape:
        raise ValueError(f"pred and label must be 3D masks of one shape, got {pred_np.shape} and {label_np.shape}.")
    if num_slices < 1:
        raise ValueError(f"num_slices must be >= 1, got {num_slices}.")
    axis = _spatial_axis(axis)
    other = tuple(a for a in range(3) if a != axis)
    per_slice = np.count_nonzero(pred_np | label_np, axis=other)
    order = np.argsort(-per_slice, kind="stable")
    return [int(i) for i in order[: min(num_slices, order.size)]]


def _save(fig, path: str | os.PathLike, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def save_lesion_overlay(
    path: str | os.PathLike,
    pred: NdarrayOrTensor,
    label: NdarrayOrTensor,
    image: NdarrayOrTensor | None = None,
    slice_index: int | None = None,
    axis: int = -1,
    alpha: float = 0.6,
    rot90: int = 0,
    pixel_size: tuple[float, float] | None = None,
    title: str | None = None,
    scale: float = 4,
    dpi: int = 100,
) -> Path:
    """
    Write a PNG of one slice coloured by :py:func:`lesion_overlay_rgb` (TP green, FN blue, FP red), with a legend.

    The image fills the top left ``round(scale * W * sx)`` by ``round(scale * H * sy)`` pixels of the PNG for a
    displayed slice of H rows and W columns, where ``(sy, sx) = pixel_size / min(pixel_size)`` (1, 1 when
    ``pixel_size`` is ``None``), so anisotropic voxels keep their physical proportions; each voxel is drawn as a
    block (no interpolation). The legend is drawn in a white strip below the image, outside it, so it never covers
    a lesion: the PNG is taller than the image by the strip's height (one row of entries, or one column when the
    row is wider than the image), and wider only when the legend is wider than the image.

    Args:
        path: the PNG file to write (parent folders are created).
        pred: binary prediction, a 2D slice (H, W) or a 3D case (H, W, D) (channel-first single channel accepted).
        label: binary ground truth, the shape of ``pred``.
        image: optional intensities, the shape of ``pred``, shown in grey. Defaults to ``None`` (black).
        slice_index: for 3D input, the index along ``axis``; ``None`` (default) picks the slice with the most lesion
            voxels (:py:func:`select_lesion_slices`). Must be ``None`` for 2D input.
        axis: for 3D input, the slicing axis. Defaults to -1.
        alpha: colour opacity, see :py:func:`lesion_overlay_rgb`. Defaults to 0.6.
        rot90: number of counter-clockwise quarter turns applied to the slice for display (``np.rot90``); rows of
            the array are drawn top to bottom otherwise. Defaults to 0.
        pixel_size: physical size (rows, columns) of a voxel of the displayed slice (after ``rot90``), for the
            aspect ratio. Defaults to ``None`` (square voxels).
        title: text written at the top left of the image. Defaults to ``None`` (the slice position).
        scale: PNG pixels per voxel along the finer axis, > 0 (below 1 the slice is shown downsampled, e.g. a
            multi-megapixel 2D photograph). Defaults to 4.
        dpi: dots per inch of the PNG. Defaults to 100.

    Returns:
        the path of the written PNG.

    Raises:
        ValueError: when the inputs are not binary masks of one shape, ``slice_index`` is out of range (or given for
            2D input), or ``scale``, ``dpi``, ``alpha`` or ``pixel_size`` is invalid.
    """
    if not scale > 0 or dpi < 1:
        raise ValueError(f"scale must be > 0 and dpi >= 1, got scale={scale}, dpi={dpi}.")
    pred_np = _spatial_array(pred, "pred")
    label_np = _spatial_array(label, "label")
    image_np = None if image is None else _spatial_array(image, "image")
    if label_np.shape != pred_np.shape or (image_np is not None and image_np.shape != pred_np.shape):
        raise ValueError(
            f"pred, label and image must have one shape, got {pred_np.shape}, {label_np.shape} and "
            f"{None if image_np is None else image_np.shape}."
        )
    where = ""
    if pred_np.ndim == 3:
        if slice_index is None:
            slice_index = select_lesion_slices(pred_np, label_np, axis=axis)[0]
        axis_n = _spatial_axis(axis)
        if not 0 <= slice_index < pred_np.shape[axis_n]:
            raise ValueError(
                f"slice_index {slice_index} is out of range for axis {axis} of size {pred_np.shape[axis_n]}."
            )
        pred_np, label_np = np.take(pred_np, slice_index, axis=axis_n), np.take(label_np, slice_index, axis=axis_n)
        image_np = None if image_np is None else np.take(image_np, slice_index, axis=axis_n)
        where = f"axis {axis_n}, slice {slice_index}"
    elif slice_index is not None:
        raise ValueError("slice_index must be None for a 2D slice.")
    rgb = np.rot90(lesion_overlay_rgb(pred_np, label_np, image_np, alpha=alpha), k=rot90, axes=(0, 1))
    rows, cols = rgb.shape[:2]
    if pixel_size is None:
        pixel_size = (1.0, 1.0)
    if len(pixel_size) != 2 or min(pixel_size) <= 0:
        raise ValueError(f"pixel_size must be two positive numbers, got {pixel_size}.")
    finest = min(pixel_size)
    width_px = max(1, round(scale * cols * pixel_size[1] / finest))
    height_px = max(1, round(scale * rows * pixel_size[0] / finest))

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(rgb, interpolation="nearest" if scale >= 1 else "antialiased", aspect="auto")
    ax.set_axis_off()
    fontsize = max(5.0, min(10.0, 0.035 * min(width_px, height_px)))
    _legend_below(fig, ax, width_px, height_px, dpi, fontsize)
    text = title if title is not None else where
    if text:
        ax.text(0.01, 0.99, text, transform=ax.transAxes, va="top", ha="left", color="white", fontsize=fontsize,
                bbox={"facecolor": "black", "alpha": 0.5, "pad": 2, "edgecolor": "none"})
    return _save(fig, path, dpi)


def _legend_below(fig, ax, width_px: int, height_px: int, dpi: int, fontsize: float) -> None:
    """
    Add the TP/FN/FP legend in a strip below the image axes ``ax`` and grow ``fig`` to hold it, so that the legend
    never covers the image: the image keeps its ``width_px`` by ``height_px`` pixels at the top left.
    """
    handles = [Patch(facecolor=color, label=kind) for kind, color in OVERLAY_COLORS.items()]
    renderer = fig.canvas.get_renderer()
    for ncol in (len(handles), 1):  # one row if it fits the image width, else one column
        legend = fig.legend(handles=handles, loc="upper left", ncol=ncol, fontsize=fontsize, frameon=False,
                            borderaxespad=0.0, handlelength=1.0, columnspacing=1.0)
        box = legend.get_window_extent(renderer)  # display pixels: its size does not depend on the figure's
        if ncol == 1 or box.width <= width_px:
            break
        legend.remove()
    legend_w, legend_h = int(np.ceil(box.width)), int(np.ceil(box.height))
    total_w, total_h = max(width_px, legend_w), height_px + legend_h
    fig.set_size_inches(total_w / dpi, total_h / dpi)
    ax.set_position((0.0, legend_h / total_h, width_px / total_w, height_px / total_h))
    legend.set_bbox_to_anchor((0.0, legend_h / total_h), transform=fig.transFigure)  # its top at the image bottom


def _curve_arrays(name: str, curve: PrecisionRecallCurve) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(curve, PrecisionRecallHistogram):
        precision, recall, _ = curve.curve()
    else:
        if len(curve) < 2:
            raise ValueError(f"curve {name!r} must be a PrecisionRecallHistogram or (precision, recall[, thresholds]).")
        precision, recall = np.asarray(curve[0], dtype=np.float64), np.asarray(curve[1], dtype=np.float64)
    if precision.shape != recall.shape or precision.ndim != 1 or precision.size < 2:
        raise ValueError(f"curve {name!r}: precision and recall must be 1D arrays of one length >= 2.")
    if not (np.isfinite(precision).all() and np.isfinite(recall).all()):
        raise ValueError(f"curve {name!r} is not finite (a run without lesion voxels has no recall).")
    return precision, recall


def save_precision_recall_plot(
    path: str | os.PathLike,
    curves: PrecisionRecallCurve | Mapping[str, PrecisionRecallCurve],
    title: str | None = "Precision-recall",
    figsize: tuple[float, float] = (5.0, 5.0),
    dpi: int = 100,
) -> Path:
    """
    Write a PNG of voxel-wise precision-recall curves, one per run, as salehi2017 Fig. 2 / hashemi2018 Fig. 6.

    Each curve is drawn as the step function whose area is its APR, shown in the legend
    (APR = -sum(diff(recall) * precision[:-1]), scikit-learn's ``average_precision_score`` for exact curves).

    Args:
        path: the PNG file to write (parent folders are created). Its size is ``figsize * dpi`` pixels.
        curves: one curve, or a mapping from run name to curve. A curve is a
            :py:class:`PrecisionRecallHistogram` (e.g. pooled over a test set) or a ``(precision, recall[, ...])``
            tuple in scikit-learn's ``precision_recall_curve`` layout.
        title: the plot title; ``None`` for none. Defaults to ``"Precision-recall"``.
        figsize: figure size in inches. Defaults to (5, 5).
        dpi: dots per inch. Defaults to 100.

    Returns:
        the path of the written PNG.

    Raises:
        ValueError: when no curve is given, or a curve is malformed or has no lesion voxels.
    """
    runs = dict(curves) if isinstance(curves, Mapping) else {"": curves}
    if not runs:
        raise ValueError("curves must hold at least one curve.")
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    for name, curve in runs.items():
        precision, recall = _curve_arrays(name, curve)
        apr = max(0.0, float(-np.sum(np.diff(recall) * precision[:-1])))
        label = f"{name} (APR {apr:.3f})" if name else f"APR {apr:.3f}"
        ax.plot(recall, precision, drawstyle="steps-post", label=label)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("Recall (sensitivity)")
    ax.set_ylabel("Precision (PPV)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path, dpi)
