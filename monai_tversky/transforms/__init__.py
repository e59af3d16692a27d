"""Transforms: lesion-aware training patch selection (hashemi2018), input checks that name the offending file, and
per-case output names."""

from __future__ import annotations

from .case_outputs import CASE_ID_META_KEY, StoreCaseIdd, case_output_name
from .input_checks import CheckFinited, CheckLabelValuesd
from .lesion_patch import RandLesionPatchd, lesion_voxels_per_patch

__all__ = [
    "CASE_ID_META_KEY",
    "CheckFinited",
    "CheckLabelValuesd",
    "RandLesionPatchd",
    "StoreCaseIdd",
    "case_output_name",
    "lesion_voxels_per_patch",
]
