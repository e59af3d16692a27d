"""
Data for the bundles: a synthetic multiple-sclerosis lesion phantom (hashemi2018's MSSEG 2016 set-up) and a 2D skin /
breast-ultrasound lesion phantom (abraham2018), datalist builders for the MSSEG 2016, ISBI 2015, WMH 2017, BraTS,
ISIC 2018, BUS 2017 and generic folder layouts, the map from stored label values to classes (sudre2017's multi-class
set-up, ignored values included) and for MONAI-style JSON datalists, rows-first PNG/JPEG reading and writing, and up-front
checks that name the offending file.
"""

from __future__ import annotations

from .case_paths import OutsideOutputFolderError, case_output_path, safe_case_name
from .datalists import (
    DATALIST_LAYOUTS,
    DATALIST_PATH_KEYS,
    build_datalist,
    build_inference_datalist,
    describe_source,
    load_datalist,
    resolve_channels,
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
from .label_maps import IGNORE_INDEX, LabelMap, lesion_label_map, resolve_layout
from .layouts_wmh_brats import (
    BRATS_FILE_SUFFIXES,
    BRATS_MODALITIES,
    WMH2017_MODALITIES,
    brats_datalist,
    is_brats,
    is_wmh2017,
    wmh2017_datalist,
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
from .validation import (
    DATALIST_SECTIONS,
    ImageHeader,
    check_datalist,
    check_image_values,
    check_label_values,
    read_image_header,
    read_image_voxels,
)
from .phantom2d import (
    PHANTOM2D_CHANNELS,
    PHANTOM2D_KINDS,
    PHANTOM2D_LESION_FRACTION_RANGE,
    PHANTOM2D_SHAPES,
    PHANTOM2D_VERSION,
    make_lesion_phantom_2d,
)
from .phantom2d_dataset import (
    PHANTOM2D_IMAGE_NAME,
    PHANTOM2D_LABEL_NAME,
    PHANTOM2D_LABEL_VALUE,
    generate_phantom_dataset_2d,
)
from .image2d import PIL_MODES, PILReaderHW, PILWriterHW, pil_mode_for_channels
from .datalists2d import (
    LAYOUT_KINDS_2D,
    build_datalist_2d,
    build_inference_datalist_2d,
    describe_source_2d,
    paper_image_size_2d,
    resolve_channels_2d,
    resolve_kind_2d,
)
from .layouts2d import (
    BUS2017_FOLDERS,
    IMAGE_SUFFIXES_2D,
    ISIC2018_MASK_SUFFIX,
    ISIC2018_TASK1_FOLDERS,
    LAYOUTS_2D,
    bus2017_datalist,
    detect_layout_2d,
    isic2018_datalist,
)

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
    "wmh2017_datalist",
    "brats_datalist",
    "is_wmh2017",
    "is_brats",
    "WMH2017_MODALITIES",
    "BRATS_MODALITIES",
    "BRATS_FILE_SUFFIXES",
    # label values -> classes (generalised_dice bundle)
    "LabelMap",
    "lesion_label_map",
    "resolve_layout",
    "IGNORE_INDEX",
    # output paths named after case ids
    "safe_case_name",
    "case_output_path",
    "OutsideOutputFolderError",
    # datalists
    "load_datalist",
    "save_datalist",
    "split_datalist",
    "build_datalist",
    "build_inference_datalist",
    "resolve_channels",
    "describe_source",
    "DATALIST_LAYOUTS",
    "DATALIST_PATH_KEYS",
    "DATALIST_SECTIONS",
    # validation
    "check_datalist",
    "read_image_header",
    "read_image_voxels",
    "check_image_values",
    "check_label_values",
    "ImageHeader",
    # 2D phantom (abraham2018)
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
    # 2D layouts
    "isic2018_datalist",
    "bus2017_datalist",
    "detect_layout_2d",
    "ISIC2018_TASK1_FOLDERS",
    "ISIC2018_MASK_SUFFIX",
    "BUS2017_FOLDERS",
    "IMAGE_SUFFIXES_2D",
    "LAYOUTS_2D",
    # 2D data routing and PNG/JPEG reading/writing (focal_tversky bundle)
    "build_datalist_2d",
    "build_inference_datalist_2d",
    "describe_source_2d",
    "paper_image_size_2d",
    "resolve_channels_2d",
    "resolve_kind_2d",
    "LAYOUT_KINDS_2D",
    "PILReaderHW",
    "PILWriterHW",
    "PIL_MODES",
    "pil_mode_for_channels",
]
