"""Training machinery for the bundles: hashemi2018's and abraham2018's learning-rate schedules, progress, bundle
paths, run checks, per-iteration training curves (sudre2017) and the 3D bundles' training recipes."""

from __future__ import annotations

from .bundle_paths import latest_checkpoint, resolve_bundle_root
from .checkpoint_files import UntrustedCheckpointError, load_checkpoint
from .command_line import (
    check_command_line,
    check_save_uncertainty,
    lowercase_bool_overrides,
    none_overrides,
    reject_none_overrides,
)
from .error_summary import install_error_summary, root_cause
from .lesion_report_handler import LesionReportHandler
from .model_checkpoint import (
    ModelCheckpointLoader,
    ModelCheckpointSaver,
    checkpoint_mismatch,
    model_channels,
    model_info_path,
    model_info_value,
    read_model_info,
)
from .lr_schedule import IntervalDoublingStepLR, InverseTimeDecayLR, interval_doubling_decays
from .nonfinite_loss import (
    NonFiniteGradientError,
    NonFiniteLossError,
    SkipNonFiniteGradients,
    StopOnNonFiniteLoss,
    batch_case_names,
)
from .progress import EvaluationProgress, TrainingProgressBar, format_duration, stream_is_terminal
from .run_record import RUN_RECORD, case_ids, record_training_run, resume_checkpoint, run_signature
from .training_recipe import TRAINING_RECIPES, TrainingRecipe, training_recipe
from .training_curve import TrainingCurveRecorder, read_training_curve
from .validation_schedule import PeriodicValidationHandler

__all__ = [
    "EvaluationProgress",
    "ModelCheckpointLoader",
    "ModelCheckpointSaver",
    "PeriodicValidationHandler",
    "RUN_RECORD",
    "case_ids",
    "checkpoint_mismatch",
    "format_duration",
    "model_channels",
    "model_info_path",
    "model_info_value",
    "read_model_info",
    "record_training_run",
    "resume_checkpoint",
    "run_signature",
    "stream_is_terminal",
    "IntervalDoublingStepLR",
    "InverseTimeDecayLR",
    "LesionReportHandler",
    "NonFiniteGradientError",
    "NonFiniteLossError",
    "SkipNonFiniteGradients",
    "StopOnNonFiniteLoss",
    "TrainingProgressBar",
    "TrainingCurveRecorder",
    "TRAINING_RECIPES",
    "TrainingRecipe",
    "training_recipe",
    "UntrustedCheckpointError",
    "read_training_curve",
    "batch_case_names",
    "check_command_line",
    "check_save_uncertainty",
    "lowercase_bool_overrides",
    "install_error_summary",
    "interval_doubling_decays",
    "latest_checkpoint",
    "load_checkpoint",
    "none_overrides",
    "reject_none_overrides",
    "resolve_bundle_root",
    "root_cause",
]
