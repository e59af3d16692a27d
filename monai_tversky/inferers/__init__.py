"""Inferers: B-spline weighted patch fusion with test-time rotations (hashemi2018) and their uncertainty."""

from __future__ import annotations

from .bspline import bspline_weight_map, bspline_window, cardinal_bspline
from .spline_fusion import SplineFusionInferer
from .tta_uncertainty import tta_uncertainty_score
from .window_grid import WindowGrid, padded_window_grid

__all__ = [
    "SplineFusionInferer",
    "WindowGrid",
    "bspline_weight_map",
    "bspline_window",
    "cardinal_bspline",
    "padded_window_grid",
    "tta_uncertainty_score",
]
