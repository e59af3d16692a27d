"""Transforms: lesion-aware training patch selection (hashemi2018)."""

from __future__ import annotations

from .lesion_patch import RandLesionPatchd, lesion_voxels_per_patch

__all__ = ["RandLesionPatchd", "lesion_voxels_per_patch"]
