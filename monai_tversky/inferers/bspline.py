"""Cardinal B-spline window weights for patch prediction fusion (hashemi2018, section III.C).

Hashemi et al. (2018) weight each patch prediction by a second-order (quadratic) B-spline centred on the patch,
separable over the axes, so that predictions made near a patch border, where the network saw incomplete context,
count less than those made near its centre.

    Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018). Asymmetric similarity loss function to balance
    precision and recall in highly unbalanced deep medical image segmentation. arXiv:1803.11078 (IEEE Access).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

__all__ = ["cardinal_bspline", "bspline_window", "bspline_weight_map"]

# per-axis floor: keeps every weight (a product of d factors) a normal float32 > 0 for high orders on large windows,
# so a voxel seen only by window edges still has a non-zero weight sum (nnU-Net clamps its Gaussian for the same reason)
_AXIS_FLOOR = 1e-10


def cardinal_bspline(x: np.ndarray | Sequence[float] | float, order: int = 2) -> np.ndarray:
    """
    The centred cardinal B-spline of degree ``order``, evaluated at ``x``.

    ``β⁰`` is the indicator of ``[-1/2, 1/2)`` and ``βⁿ = βⁿ⁻¹ * β⁰`` (convolution); ``βⁿ`` is supported on
    ``(-(n+1)/2, (n+1)/2)``, is positive inside it and integrates to 1. Evaluated with the Cox-de Boor recursion
    on the integer knots ``0, 1, ..., n+1`` (shifted by ``(n+1)/2``), which is stable for any degree.
    The quadratic (``order=2``) used by hashemi2018 is ``3/4 - x²`` for ``|x| < 1/2`` and ``(|x| - 3/2)² / 2``
    for ``1/2 <= |x| < 3/2``.

    Args:
        x: points at which to evaluate, any shape.
        order: the degree ``n >= 0`` of the B-spline. Defaults to 2 (quadratic).

    Returns:
        float64 array of the shape of ``x``.

    Raises:
        TypeError: when ``order`` is not an integer.
        ValueError: when ``order`` is negative.
    """
    order = _check_order(order)
    t = np.asarray(x, dtype=np.float64) + (order + 1) / 2.0
    # degree 0 basis functions on the unit intervals [i, i + 1), i = 0..order, stacked on the last axis
    knots = np.arange(order + 1, dtype=np.float64)
    basis = ((t[..., None] >= knots) & (t[..., None] < knots + 1)).astype(np.float64)
    for k in range(1, order + 1):  # Cox-de Boor: N_{i,k} = ((t-i) N_{i,k-1} + (i+k+1-t) N_{i+1,k-1}) / k
        i = knots[: order + 1 - k]
        basis = ((t[..., None] - i) * basis[..., :-1] + (i + k + 1 - t[..., None]) * basis[..., 1:]) / k
    return basis[..., 0]


def bspline_window(size: int, order: int = 2) -> np.ndarray:
    """
    One axis of the B-spline window: ``βⁿ`` stretched over ``size`` voxels and sampled at the voxel centres.

    Voxel ``i`` (centre ``i + 1/2``) maps to ``u = (i + 1/2 - size/2) · (n+1) / size``, strictly inside the support
    of ``βⁿ``, so every weight is positive, including the first and last voxel of the window (a window that reaches
    zero at its edges gives 0/0 = NaN where a voxel is covered by window edges only). The result is scaled to a
    maximum of 1, as MONAI's ``compute_importance_map`` and nnU-Net's Gaussian are; values are floored at 1e-10 so
    that their product over the axes stays a normal float32 (only reached by high orders on large windows).

    Args:
        size: number of voxels of the window along the axis, ``>= 1``.
        order: the degree ``n >= 0`` of the B-spline. Defaults to 2 (quadratic); 0 gives a constant window.

    Returns:
        float64 array of shape ``(size,)``.

    Raises:
        TypeError: when ``size`` or ``order`` is not an integer.
        ValueError: when ``size < 1`` or ``order < 0``.
    """
    return _bspline_window(_check_size(size), _check_order(order)).copy()


def bspline_weight_map(
    roi_size: Sequence[int] | int,
    order: int = 2,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """
    The separable (tensor-product) B-spline weight map of a window, as used by hashemi2018 for weighted soft voting.

    ``w[i_1, ..., i_d] = Π_k bspline_window(roi_size[k], order)[i_k]``: the cardinal B-spline of degree ``order``
    stretched over the window, sampled at the voxel centres (so positive everywhere, edges included) and scaled
    to a maximum of 1. It can be passed to MONAI's ``sliding_window_inference(roi_weight_map=...)`` as is.
    The map is computed once per ``(roi_size, order, dtype, device)`` and cached; each call returns a copy, so
    modifying the result does not alter the cache.

    Args:
        roi_size: the window's spatial size, e.g. ``(64, 64, 64)``; an int means a 1D window of that size.
        order: the degree of the B-spline, ``>= 0``. Defaults to 2 (quadratic, hashemi2018).
        dtype: floating point dtype of the returned map. Defaults to ``torch.float32``.
        device: device of the returned map. Defaults to the CPU.

    Returns:
        tensor of shape ``roi_size``.

    Raises:
        TypeError: when ``roi_size`` or ``order`` is not made of integers, or ``dtype`` is not a floating dtype.
        ValueError: when a component of ``roi_size`` is ``< 1`` or ``order < 0``.
    """
    return _cached_weight_map(*_check_map_args(roi_size, order, dtype, device)).clone()


@lru_cache(maxsize=16)
def _bspline_window(size: int, order: int) -> np.ndarray:
    centres = (np.arange(size, dtype=np.float64) + 0.5 - size / 2.0) * (order + 1) / size
    values = cardinal_bspline(centres, order)
    values = np.maximum(values / values.max(), _AXIS_FLOOR)
    values.flags.writeable = False  # shared by the cache
    return values


@lru_cache(maxsize=8)
def _cached_weight_map(roi_size: tuple[int, ...], order: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    weights = np.ones((), dtype=np.float64)
    for size in roi_size:
        weights = np.multiply.outer(weights, _bspline_window(size, order))
    return torch.as_tensor(weights, dtype=dtype, device=device)


def _check_map_args(
    roi_size: Sequence[int] | int, order: int, dtype: torch.dtype, device: torch.device | str | None
) -> tuple[tuple[int, ...], int, torch.dtype, torch.device]:
    sizes = (roi_size,) if isinstance(roi_size, (int, np.integer)) else roi_size
    if not isinstance(sizes, Sequence) or isinstance(sizes, str) or len(sizes) == 0:
        raise TypeError(f"roi_size must be an int or a non-empty sequence of ints, got {roi_size!r}.")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating point torch.dtype, got {dtype!r}.")
    return tuple(_check_size(s, "roi_size") for s in sizes), _check_order(order), dtype, torch.device(device or "cpu")


def _check_size(size: int, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"{name} must be made of ints, got {size!r} ({type(size).__name__}).")
    if size < 1:
        raise ValueError(f"{name} must be made of positive ints, got {size}.")
    return int(size)


def _check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"B-spline order must be an int, got {order!r} ({type(order).__name__}).")
    if order < 0:
        raise ValueError(f"B-spline order must be >= 0, got {order}.")
    return int(order)
