"""Geometry of the padded sliding-window grid of hashemi2018 (section III.C).

Hashemi et al. (2018) pad the volume by half a patch on each side and slide 64³ windows with a stride of half a
patch, so that at 50% overlap a 128×224×256 volume gives 5×8×9 windows and every voxel, border voxels included,
lies in 2^d windows.

    Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018). Asymmetric similarity loss function to balance
    precision and recall in highly unbalanced deep medical image segmentation. arXiv:1803.11078 (IEEE Access).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["WindowGrid", "padded_window_grid"]


class WindowGrid(NamedTuple):
    """
    A regular grid of windows over a padded image (see :func:`padded_window_grid`).

    Attributes:
        roi_size: the window size per spatial axis.
        scan_interval: the stride between window starts per spatial axis.
        pad_before: voxels of padding before the image per spatial axis.
        pad_after: voxels of padding after the image per spatial axis.
        starts: per spatial axis, the window starts in padded coordinates; the windows are their Cartesian product.
    """

    roi_size: tuple[int, ...]
    scan_interval: tuple[int, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int, ...]
    starts: tuple[tuple[int, ...], ...]

    @property
    def num_windows(self) -> tuple[int, ...]:
        """Number of windows along each spatial axis (their product is the number of windows per image)."""
        return tuple(len(s) for s in self.starts)

    @property
    def torch_pad(self) -> list[int]:
        """The padding in the order of ``torch.nn.functional.pad`` (last axis first)."""
        return [p for b, a in zip(reversed(self.pad_before), reversed(self.pad_after)) for p in (b, a)]


def padded_window_grid(
    image_size: Sequence[int], roi_size: Sequence[int], overlap: Sequence[float] | float, pad_border: bool = True
) -> WindowGrid:
    """
    The window grid of hashemi2018: pad, then slide windows on a regular grid that exactly spans the padded image.

    Along each axis, with image size ``S``, window ``R`` and overlap ``o``, the stride is
    ``s = max(1, int(R · (1 - o)))`` (as MONAI's ``sliding_window_inference``). With ``pad_border`` the image is
    padded by ``R - s`` on each side (half a window at 50% overlap, as in the paper), so that a border voxel is
    covered by as many windows as an interior one; then by the few voxels (``< s``, split evenly between both
    sides) that make the padded size ``R + k·s``. Every window overlaps the image.

    Example: ``image_size=(128, 224, 256)``, ``roi_size=(64, 64, 64)``, ``overlap=0.5`` pads by 32 on each side
    and gives 5×8×9 windows. With ``overlap=0`` the windows tile the image (no border padding is needed).

    Args:
        image_size: spatial size of the image, e.g. ``(128, 224, 256)``.
        roi_size: window size, same length as ``image_size``.
        overlap: fraction of a window shared by two neighbours, in ``[0, 1)``, one value or one per axis.
        pad_border: pad each side by ``R - s`` (hashemi2018). If False, pad only to a whole number of strides
            (fewer windows, as many as MONAI uses). Defaults to True.

    Returns:
        the :class:`WindowGrid`.

    Raises:
        ValueError: when the lengths differ, a size is not positive or an overlap is outside ``[0, 1)``.
    """
    image_size, roi_size = tuple(image_size), tuple(roi_size)
    overlaps = tuple(overlap) if isinstance(overlap, Sequence) else (overlap,) * len(roi_size)
    if not len(image_size) == len(roi_size) == len(overlaps):
        raise ValueError(
            f"image_size {image_size}, roi_size {roi_size} and overlap {overlaps} must have the same length."
        )
    if min(image_size + roi_size, default=0) < 1:
        raise ValueError(f"image_size {image_size} and roi_size {roi_size} must be positive.")
    if any(not 0.0 <= o < 1.0 for o in overlaps):
        raise ValueError(f"overlap must be in [0, 1), got {overlaps}.")
    intervals, before, after, starts = [], [], [], []
    for size, roi, o in zip(image_size, roi_size, overlaps):
        stride = max(1, int(roi * (1.0 - o)))
        border = roi - stride if pad_border else 0
        n = max(0, math.ceil((size + 2 * border - roi) / stride)) + 1
        extra = roi + (n - 1) * stride - size - 2 * border
        intervals.append(stride)
        before.append(border + extra // 2)
        after.append(border + extra - extra // 2)
        starts.append(tuple(range(0, (n - 1) * stride + 1, stride)))
    return WindowGrid(roi_size, tuple(intervals), tuple(before), tuple(after), tuple(starts))
