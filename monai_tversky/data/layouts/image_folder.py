"""Any folder of 2D images (PNG, JPEG, BMP) to run inference on: one case per file, no masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._helpers import IMAGE_SUFFIXES_2D, image_files
from .layout import Layout

__all__ = ["LAYOUT"]


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    """Every image, without a label (evaluation then stops naming the cases without one)."""
    files = image_files(root)
    if not files:
        raise FileNotFoundError(
            f"no image in {root}: expected PNG, JPEG or BMP files ({', '.join(IMAGE_SUFFIXES_2D)}), a folder in one "
            "of the 2D layouts, or a datalist JSON."
        )
    return [{"image": str(p.resolve()), "case_id": p.stem} for p in files]


LAYOUT = Layout(
    name="image_folder",
    title="folder of images",
    spatial_dims=2,
    detect=lambda root: True,  # the last 2D layout: anything the others are not
    items=_items,
    training=False,
)
