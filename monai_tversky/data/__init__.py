"""
Data for the msseg bundle and friends: a synthetic multiple-sclerosis lesion phantom (hashemi2018's MSSEG 2016
set-up), datalist builders for the MSSEG 2016, ISBI 2015 and generic folder layouts and for MONAI-style JSON
datalists, and cheap header checks that name the offending file.
"""

from __future__ import annotations

from .datalists import (
    DATALIST_LAYOUTS,
    DATALIST_PATH_KEYS,
    build_datalist,
    build_inference_datalist,
    load_datalist,
    save_datalist,
    split_datalist,
)
from .layouts import (
    IMAGE_SUFFIXES,
    ISBI2015_FILE_STEMS,
    ISBI2015_MODALITIES,
    MSSEG2016_FILE_STEMS,
    detect_layout,
    folder_datalist,
    isbi2015_datalist,
    msseg2016_datalist,
)
from .modalities import LABEL_ALIASES, MODALITY_ALIASES, PHANTOM_MODALITIES, canonical_modalities, canonical_modality
from .phantom import (
    PHANTOM_CI_SHAPE,
    PHANTOM_LESION_LOAD_RANGE,
    PHANTOM_SHAPE,
    PHANTOM_TISSUES,
    PHANTOM_VERSION,
    make_ms_phantom,
)
from .phantom_dataset import PHANTOM_DATALIST, PHANTOM_LABEL_NAME, PHANTOM_MANIFEST, generate_phantom_dataset
from .validation import DATALIST_SECTIONS, ImageHeader, check_datalist, read_image_header

__all__ = [
    # phantom
    "make_ms_phantom",
    "generate_phantom_dataset",
    "PHANTOM_SHAPE",
    "PHANTOM_CI_SHAPE",
    "PHANTOM_MODALITIES",
    "PHANTOM_TISSUES",
    "PHANTOM_VERSION",
    "PHANTOM_LESION_LOAD_RANGE",
    "PHANTOM_MANIFEST",
    "PHANTOM_DATALIST",
    "PHANTOM_LABEL_NAME",
    # modality names
    "MODALITY_ALIASES",
    "LABEL_ALIASES",
    "canonical_modality",
    "canonical_modalities",
    # layouts
    "msseg2016_datalist",
    "isbi2015_datalist",
    "folder_datalist",
    "detect_layout",
    "MSSEG2016_FILE_STEMS",
    "ISBI2015_FILE_STEMS",
    "ISBI2015_MODALITIES",
    "IMAGE_SUFFIXES",
    # datalists
    "load_datalist",
    "save_datalist",
    "split_datalist",
    "build_datalist",
    "build_inference_datalist",
    "DATALIST_LAYOUTS",
    "DATALIST_PATH_KEYS",
    "DATALIST_SECTIONS",
    # validation
    "check_datalist",
    "read_image_header",
    "ImageHeader",
]
