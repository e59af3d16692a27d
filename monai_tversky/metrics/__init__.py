"""Lesion segmentation metrics of hashemi2018 (IV.A), salehi2017 (2.4) and the ISBI 2015 challenge, MONAI
``Cumulative`` metric classes and an ignite handler for evaluators, per-class scores of a multi-class segmentation
(sudre2017), and a report writer (CSV, summary, PNG figures).
"""

from __future__ import annotations

from .cumulative import LesionMetric, PooledAveragePrecisionMetric
from .figures import (
    OVERLAY_COLORS,
    lesion_overlay_rgb,
    save_lesion_overlay,
    save_precision_recall_plot,
    select_lesion_slices,
)
from .lesion_detection import LesionDetectionCounts, lesion_detection_counts, lesion_detection_rates, lesion_structure
from .lesion_metric_handler import LesionMetricHandler
from .lesion_metrics import LESION_METRIC_KEYS, lesion_metrics
from .per_class import ClassChannel, class_dice_handlers
from .precision_recall import (
    PrecisionRecallHistogram,
    average_precision,
    precision_recall_curve,
    precision_recall_histogram,
)
from .report import LesionReport, save_lesion_metrics_csv, save_lesion_summary_csv, summarize_lesion_metrics
from .symmetric_surface_distance import average_symmetric_surface_distance
from .voxel_overlap import VoxelConfusionCounts, voxel_confusion_counts, voxel_overlap_scores

__all__ = [
    "LESION_METRIC_KEYS",
    "lesion_metrics",
    "LesionMetric",
    "PooledAveragePrecisionMetric",
    "LesionMetricHandler",
    "LesionReport",
    "ClassChannel",
    "class_dice_handlers",
    "summarize_lesion_metrics",
    "save_lesion_metrics_csv",
    "save_lesion_summary_csv",
    "OVERLAY_COLORS",
    "lesion_overlay_rgb",
    "select_lesion_slices",
    "save_lesion_overlay",
    "save_precision_recall_plot",
    "PrecisionRecallHistogram",
    "average_precision",
    "precision_recall_curve",
    "precision_recall_histogram",
    "LesionDetectionCounts",
    "lesion_structure",
    "lesion_detection_counts",
    "lesion_detection_rates",
    "average_symmetric_surface_distance",
    "VoxelConfusionCounts",
    "voxel_confusion_counts",
    "voxel_overlap_scores",
]
