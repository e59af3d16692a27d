"""The embedded default data: a synthetic MS lesion phantom (3D, hashemi2018's MSSEG 2016 set-up) and synthetic 2D
skin and breast-ultrasound lesion phantoms (abraham2018), each generated once into a cached data set."""

from __future__ import annotations

from .cache import PHANTOM_DATALIST, PHANTOM_MANIFEST
from .datasets import (
    PHANTOM2D_IMAGE_NAME,
    PHANTOM2D_LABEL_NAME,
    PHANTOM2D_LABEL_VALUE,
    PHANTOM_LABEL_NAME,
    generate_phantom_dataset,
    generate_phantom_dataset_2d,
)
from .lesion_2d import (
    PHANTOM2D_CHANNELS,
    PHANTOM2D_KINDS,
    PHANTOM2D_LESION_FRACTION_RANGE,
    PHANTOM2D_SHAPES,
    PHANTOM2D_VERSION,
    make_lesion_phantom_2d,
)
from .ms_brain import (
    PHANTOM_CI_SHAPE,
    PHANTOM_LESION_LOAD_RANGE,
    PHANTOM_SHAPE,
    PHANTOM_TISSUES,
    PHANTOM_VERSION,
    make_ms_phantom,
)

__all__ = [
    "make_ms_phantom",
    "generate_phantom_dataset",
    "PHANTOM_SHAPE",
    "PHANTOM_CI_SHAPE",
    "PHANTOM_TISSUES",
    "PHANTOM_VERSION",
    "PHANTOM_LESION_LOAD_RANGE",
    "PHANTOM_MANIFEST",
    "PHANTOM_DATALIST",
    "PHANTOM_LABEL_NAME",
    "make_lesion_phantom_2d",
    "generate_phantom_dataset_2d",
    "PHANTOM2D_KINDS",
    "PHANTOM2D_SHAPES",
    "PHANTOM2D_CHANNELS",
    "PHANTOM2D_LESION_FRACTION_RANGE",
    "PHANTOM2D_VERSION",
    "PHANTOM2D_IMAGE_NAME",
    "PHANTOM2D_LABEL_NAME",
    "PHANTOM2D_LABEL_VALUE",
]
