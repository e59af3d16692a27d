"""Transforms: lesion-aware training patch selection (hashemi2018), input checks that name the offending file,
per-case output names, clearing ignored label values before scoring (sudre2017's WMH task), and the test-time
augmentation variance with its per-case score, and the union of several masks of one image (BUSI)."""

from __future__ import annotations

from .case_outputs import CASE_ID_META_KEY, StoreCaseIdd, case_output_name
from .ignore_index import MaskIgnoreIndexd
from .input_checks import CheckFinited, CheckLabelValuesd
from .lesion_patch import LesionPatchIndices, LesionPatchIndicesd, RandLesionPatchd, lesion_voxels_per_patch
from .merge_masks import MergeMasksd
from .tta_variance import TTA_UNCERTAINTY_FILE, SplitVarianced, TTAUncertaintyScored

__all__ = [
    "CASE_ID_META_KEY",
    "CheckFinited",
    "CheckLabelValuesd",
    "LesionPatchIndices",
    "LesionPatchIndicesd",
    "MaskIgnoreIndexd",
    "MergeMasksd",
    "RandLesionPatchd",
    "SplitVarianced",
    "StoreCaseIdd",
    "TTAUncertaintyScored",
    "TTA_UNCERTAINTY_FILE",
    "case_output_name",
    "lesion_voxels_per_patch",
]
