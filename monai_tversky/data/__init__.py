"""
Data for the bundles: where a run's cases come from (:class:`DataSource`: a data set folder in one of the layouts of
:mod:`.layouts`, a datalist JSON, or the embedded phantom), the layouts in which data sets are distributed (MSSEG
2016, ISBI 2015, WMH 2017, BraTS, a folder of cases; ISIC 2018 and 2017, BUS 2017, BUSI), the synthetic phantoms
(:mod:`.phantoms`: a multiple-sclerosis lesion phantom, hashemi2018's MSSEG 2016 set-up, and 2D skin and
breast-ultrasound lesion phantoms, abraham2018), the map from stored label values to classes (sudre2017's
multi-class set-up, ignored values included), MONAI-style JSON datalists and their splits, rows-first PNG/JPEG
reading and writing, up-front checks that name the offending file, and the one function that turns a case id into
an output path.
"""

from __future__ import annotations

from .case_paths import OutsideOutputFolderError, case_output_path, safe_case_name
from .datalists import (
    build_datalist,
    build_datalist_2d,
    describe_source,
    describe_source_2d,
    paper_image_size_2d,
    resolve_channels,
    resolve_channels_2d,
    resolve_kind_2d,
)
from .inference_datalists import build_inference_datalist, build_inference_datalist_2d
from .image2d import PIL_MODES, PILReaderHW, PILWriterHW, pil_mode_for_channels
from .json_files import DATALIST_PATH_KEYS, DATALIST_SECTIONS, load_datalist, read_json, save_datalist, write_json_atomic
from .label_maps import IGNORE_INDEX, LabelMap
from .layouts import (
    BRATS_FILE_SUFFIXES,
    BRATS_MODALITIES,
    BUS2017_FOLDERS,
    BUSI_CLASSES,
    DATALIST_LAYOUTS,
    IMAGE_SUFFIXES,
    IMAGE_SUFFIXES_2D,
    ISBI2015_FILE_STEMS,
    ISBI2015_MODALITIES,
    ISIC2017_TASK1_FOLDERS,
    ISIC2018_MASK_SUFFIX,
    ISIC2018_TASK1_FOLDERS,
    LAYOUT_KINDS_2D,
    LAYOUTS,
    LAYOUTS_2D,
    MSSEG2016_FILE_STEMS,
    WMH2017_MODALITIES,
    ChannelSurvey,
    Layout,
    brats_datalist,
    bus2017_datalist,
    busi_datalist,
    detect_layout,
    detect_layout_2d,
    folder_datalist,
    get_layout,
    is_brats,
    is_wmh2017,
    isbi2015_datalist,
    isic2017_datalist,
    isic2018_datalist,
    layout_names,
    lesion_label_map,
    msseg2016_datalist,
    survey_folder,
    wmh2017_datalist,
)
from .modalities import LABEL_ALIASES, MODALITY_ALIASES, PHANTOM_MODALITIES, canonical_modalities, canonical_modality
from .near_duplicates import NEAR_DUPLICATE_THRESHOLD, image_signature, near_duplicate_groups
from .phantoms import (
    PHANTOM2D_CHANNELS,
    PHANTOM2D_IMAGE_NAME,
    PHANTOM2D_KINDS,
    PHANTOM2D_LABEL_NAME,
    PHANTOM2D_LABEL_VALUE,
    PHANTOM2D_LESION_FRACTION_RANGE,
    PHANTOM2D_SHAPES,
    PHANTOM2D_VERSION,
    PHANTOM_CI_SHAPE,
    PHANTOM_DATALIST,
    PHANTOM_LABEL_NAME,
    PHANTOM_LESION_LOAD_RANGE,
    PHANTOM_MANIFEST,
    PHANTOM_SHAPE,
    PHANTOM_TISSUES,
    PHANTOM_VERSION,
    generate_phantom_dataset,
    generate_phantom_dataset_2d,
    make_lesion_phantom_2d,
    make_ms_phantom,
)
from .source import DataSource, resolve_layout
from .splits import split_datalist
from .validation import (
    ImageHeader,
    check_datalist,
    check_image_values,
    check_label_values,
    problem_report,
    read_image_header,
    read_image_voxels,
)

__all__ = [
    # where a run's cases come from
    "DataSource",
    "resolve_layout",
    # layouts (one module each in data/layouts/, the ordered registry LAYOUTS)
    "Layout",
    "ChannelSurvey",
    "LAYOUTS",
    "get_layout",
    "layout_names",
    "detect_layout",
    "detect_layout_2d",
    "DATALIST_LAYOUTS",
    "LAYOUTS_2D",
    "LAYOUT_KINDS_2D",
    "msseg2016_datalist",
    "isbi2015_datalist",
    "wmh2017_datalist",
    "brats_datalist",
    "folder_datalist",
    "survey_folder",
    "is_wmh2017",
    "is_brats",
    "isic2018_datalist",
    "isic2017_datalist",
    "bus2017_datalist",
    "busi_datalist",
    "MSSEG2016_FILE_STEMS",
    "ISBI2015_FILE_STEMS",
    "ISBI2015_MODALITIES",
    "WMH2017_MODALITIES",
    "BRATS_MODALITIES",
    "BRATS_FILE_SUFFIXES",
    "ISIC2018_TASK1_FOLDERS",
    "ISIC2018_MASK_SUFFIX",
    "ISIC2017_TASK1_FOLDERS",
    "BUS2017_FOLDERS",
    "BUSI_CLASSES",
    "IMAGE_SUFFIXES",
    "IMAGE_SUFFIXES_2D",
    # label values -> classes
    "LabelMap",
    "lesion_label_map",
    "IGNORE_INDEX",
    # datalists
    "load_datalist",
    "save_datalist",
    "read_json",
    "write_json_atomic",
    "split_datalist",
    "near_duplicate_groups",
    "image_signature",
    "NEAR_DUPLICATE_THRESHOLD",
    "build_datalist",
    "build_inference_datalist",
    "resolve_channels",
    "describe_source",
    "build_datalist_2d",
    "build_inference_datalist_2d",
    "describe_source_2d",
    "paper_image_size_2d",
    "resolve_channels_2d",
    "resolve_kind_2d",
    "DATALIST_PATH_KEYS",
    "DATALIST_SECTIONS",
    # output paths named after case ids
    "safe_case_name",
    "case_output_path",
    "OutsideOutputFolderError",
    # validation
    "check_datalist",
    "problem_report",
    "read_image_header",
    "read_image_voxels",
    "check_image_values",
    "check_label_values",
    "ImageHeader",
    # modality names
    "MODALITY_ALIASES",
    "LABEL_ALIASES",
    "canonical_modality",
    "canonical_modalities",
    # phantoms
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
    # 2D PNG/JPEG reading and writing (focal_tversky bundle)
    "PILReaderHW",
    "PILWriterHW",
    "PIL_MODES",
    "pil_mode_for_channels",
]
