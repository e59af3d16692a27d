"""Training machinery for the bundles: hashemi2018's learning-rate schedule, a progress bar, bundle paths."""

from __future__ import annotations

from .bundle_paths import latest_checkpoint, resolve_bundle_root
from .lesion_report_handler import LesionReportHandler
from .lr_schedule import IntervalDoublingStepLR, interval_doubling_decays
from .progress import TrainingProgressBar

__all__ = ["IntervalDoublingStepLR", "LesionReportHandler", "TrainingProgressBar", "interval_doubling_decays", "latest_checkpoint", "resolve_bundle_root"]
