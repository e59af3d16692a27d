"""Tests of the B-spline window weights (hashemi2018, section III.C) and the padded window grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from monai_tversky.inferers import WindowGrid, bspline_weight_map, bspline_window, cardinal_bspline, padded_window_grid


def _quadratic_bspline(u: np.ndarray) -> np.ndarray:
    """The centred quadratic B-spline written out by hand."""
    a = np.abs(u)
    return np.where(a < 0.5, 0.75 - a**2, np.where(a < 1.5, 0.5 * (a - 1.5) ** 2, 0.0))


@pytest.mark.parametrize("order", range(6))
def test_cardinal_bspline_matches_scipy(order):
    x = np.linspace(-(order + 2) / 2, (order + 2) / 2, 97) + 0.01  # off the knots: β⁰ is discontinuous there
    reference = BSpline.basis_element(np.arange(order + 2) - (order + 1) / 2, extrapolate=False)(x)
    np.testing.assert_allclose(cardinal_bspline(x, order), np.nan_to_num(reference), atol=1e-12)


def test_cardinal_bspline_integrates_to_one():
    x = np.linspace(-3, 3, 60001)
    for order in (1, 2, 3):
        assert abs(np.trapezoid(cardinal_bspline(x, order), x) - 1.0) < 1e-6


@pytest.mark.parametrize("roi_size", [(64, 64, 64), (5, 8, 3), (7, 12)])
def test_weight_map_is_the_analytic_quadratic_bspline(roi_size):
    axes = []
    for r in roi_size:  # voxel centres i + 1/2 mapped onto the support (-3/2, 3/2) of the quadratic B-spline
        u = (np.arange(r) + 0.5 - r / 2) * 3 / r
        values = _quadratic_bspline(u)
        axes.append(values / values.max())
    expected = np.ones(())
    for values in axes:
        expected = np.multiply.outer(expected, values)
    weights = bspline_weight_map(roi_size)
    assert weights.shape == roi_size and weights.dtype == torch.float32
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6, atol=0)
    assert float(weights.max()) == pytest.approx(1.0)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_window_is_positive_at_the_edges_and_symmetric(order):
    for size in (1, 2, 9, 64, 257):
        w = bspline_window(size, order)
        assert w.shape == (size,) and np.all(w > 0) and np.all(np.isfinite(w))
        np.testing.assert_allclose(w, w[::-1], rtol=1e-12)
        assert w.max() == pytest.approx(1.0)


def test_order_zero_is_constant_and_weight_map_is_a_cached_copy():
    np.testing.assert_array_equal(bspline_window(11, 0), np.ones(11))
    first = bspline_weight_map((6, 6), dtype=torch.float64)
    first.zero_()  # must not alter what the next call returns
    second = bspline_weight_map((6, 6), dtype=torch.float64)
    np.testing.assert_allclose(second.numpy(), np.multiply.outer(bspline_window(6), bspline_window(6)))


def test_weight_map_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        bspline_weight_map((4, 4), order=-1)
    with pytest.raises(TypeError, match="order"):
        bspline_weight_map((4, 4), order=1.5)
    with pytest.raises(ValueError, match="roi_size"):
        bspline_weight_map((4, 0))
    with pytest.raises(TypeError, match="roi_size"):
        bspline_weight_map("64")
    with pytest.raises(TypeError, match="dtype"):
        bspline_weight_map((4, 4), dtype=torch.int32)


def test_grid_of_the_paper():
    grid = padded_window_grid((128, 224, 256), (64, 64, 64), 0.5)
    assert isinstance(grid, WindowGrid)
    assert grid.num_windows == (5, 8, 9)
    assert grid.pad_before == (32, 32, 32) and grid.pad_after == (32, 32, 32)
    assert grid.scan_interval == (32, 32, 32)


def _coverage(grid: WindowGrid, image_size) -> np.ndarray:
    """How many windows cover each image voxel, counted window by window."""
    count = np.zeros(image_size, dtype=int)
    for start in itertools.product(*grid.starts):
        index = tuple(
            slice(max(0, s - b), max(0, min(n, s - b + r)))
            for s, b, n, r in zip(start, grid.pad_before, image_size, grid.roi_size)
        )
        count[index] += 1
    return count


@pytest.mark.parametrize(
    "image_size,roi_size",
    [((32, 56, 64), (16, 16, 16)), ((30, 17, 41), (16, 8, 12)), ((5, 40), (16, 16)), ((9,), (4,))],
)
def test_grid_covers_every_voxel_like_an_interior_one(image_size, roi_size):
    grid = padded_window_grid(image_size, roi_size, 0.5)
    for n, b, a, r, starts in zip(image_size, grid.pad_before, grid.pad_after, roi_size, grid.starts):
        assert starts[-1] + r == b + n + a  # the windows span the padded image exactly
        assert b >= r - r // 2 and a >= r - r // 2  # at least half a window of padding on each side
        assert b < r and a < r  # so no window lies in the padding only
    expected = 2 ** len(image_size) if all(r % 2 == 0 for r in roi_size) else None
    coverage = _coverage(grid, image_size)
    if expected is not None:
        assert np.all(coverage == expected)
    assert coverage.min() >= 1


def test_grid_without_border_padding_and_tiling():
    grid = padded_window_grid((128, 224, 256), (64, 64, 64), 0.5, pad_border=False)
    assert grid.num_windows == (3, 6, 7) and grid.pad_before == (0, 0, 0)  # as many windows as MONAI uses
    tiles = padded_window_grid((100, 64), (32, 32), 0.0)
    assert tiles.num_windows == (4, 2)
    assert np.all(_coverage(tiles, (100, 64)) == 1)


def test_grid_bad_arguments():
    with pytest.raises(ValueError, match="overlap"):
        padded_window_grid((10, 10), (4, 4), 1.0)
    with pytest.raises(ValueError, match="same length"):
        padded_window_grid((10, 10), (4, 4, 4), 0.5)
