"""Transforms: lesion-aware training patch selection (hashemi2018) and input checks that name the offending file."""

from __future__ import annotations

from .input_checks import CheckFinited, CheckLabelValuesd
from .lesion_patch import RandLesionPatchd, lesion_voxels_per_patch

__all__ = ["CheckFinited", "CheckLabelValuesd", "RandLesionPatchd", "lesion_voxels_per_patch"]
