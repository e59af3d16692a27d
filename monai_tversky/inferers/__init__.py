"""Inferers: B-spline weighted patch fusion with test-time rotations (hashemi2018) and their uncertainty, and mixed
precision / channels-last around any inferer (CPU training steps)."""

from __future__ import annotations

from .autocast import AutocastInferer, cpu_supports_bf16
from .bspline import bspline_weight_map, bspline_window, cardinal_bspline
from .spline_fusion import SplineFusionInferer
from .tta_uncertainty import tta_uncertainty_score
from .window_grid import WindowGrid, padded_window_grid

__all__ = [
    "AutocastInferer",
    "cpu_supports_bf16",
    "SplineFusionInferer",
    "WindowGrid",
    "bspline_weight_map",
    "bspline_window",
    "cardinal_bspline",
    "padded_window_grid",
    "tta_uncertainty_score",
]
