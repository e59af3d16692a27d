"""Serving helpers: a MONAI Label scoring method and active-learning strategy from the test-time augmentation
uncertainty of a bundle (:mod:`.monailabel_tta`), and MONAI Label studies from the bundles' data (:mod:`.studies`,
``python -m monai_tversky.serving.studies``). MONAI Label is imported only when ``TTAUncertaintyScoring`` or
``TTAUncertaintyStrategy`` is first used; this package is not imported by ``import monai_tversky``."""

from __future__ import annotations

from typing import Any

from .monailabel_tta import SCORE_KEY, most_uncertain, score_images
from .studies import bundle_input_channels, write_monailabel_studies

__all__ = ["SCORE_KEY", "most_uncertain", "score_images", "bundle_input_channels", "write_monailabel_studies"]


def __getattr__(name: str) -> Any:
    """``TTAUncertaintyScoring`` and ``TTAUncertaintyStrategy``, built (MONAI Label imported) on first access."""
    if name in ("TTAUncertaintyScoring", "TTAUncertaintyStrategy"):
        from . import monailabel_tta

        return getattr(monailabel_tta, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
