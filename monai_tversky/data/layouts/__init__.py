"""
The layouts in which data sets are distributed, one module each, each ending in one :class:`Layout` record, and
:data:`LAYOUTS`, the ordered list :func:`detect_layout` walks (the first layout that recognises a folder wins).
2D and 3D layouts are one mechanism; a layout's ``spatial_dims`` says which bundles it serves.

Adding a layout is one file here (its builder and its ``LAYOUT = Layout(...)``), its name in :data:`LAYOUT_MODULES`,
and a test: detection, channels, datalists, splits, inference listings, label maps and the bundles' ``--layout`` then
know it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

from ..label_maps import LabelMap, identity_label_map, phantom_label_map
from ._helpers import IMAGE_SUFFIXES, IMAGE_SUFFIXES_2D, existing_dir, strip_image_suffix
from .brats import BRATS_FILE_SUFFIXES, BRATS_MODALITIES, brats_datalist, is_brats
from .bus2017 import BUS2017_FOLDERS, bus2017_datalist
from .busi import BUSI_CLASSES, busi_datalist
from .folder import folder_datalist, survey_folder
from .isbi2015 import ISBI2015_FILE_STEMS, ISBI2015_MODALITIES, isbi2015_datalist
from .isic2017 import ISIC2017_TASK1_FOLDERS, isic2017_datalist
from .isic2018 import ISIC2018_MASK_SUFFIX, ISIC2018_TASK1_FOLDERS, isic2018_datalist
from .layout import LABEL_MODES, ChannelSurvey, Layout
from .msseg2016 import MSSEG2016_FILE_STEMS, msseg2016_datalist
from .wmh2017 import WMH2017_MODALITIES, is_wmh2017, wmh2017_datalist

__all__ = [
    "Layout",
    "ChannelSurvey",
    "LABEL_MODES",
    "LAYOUTS",
    "LAYOUT_MODULES",
    "get_layout",
    "layout_names",
    "detect_layout",
    "detect_layout_2d",
    "lesion_label_map",
    "DATALIST_LAYOUTS",
    "LAYOUTS_2D",
    "LAYOUT_KINDS_2D",
    "IMAGE_SUFFIXES",
    "IMAGE_SUFFIXES_2D",
    "strip_image_suffix",
    # 3D
    "msseg2016_datalist",
    "isbi2015_datalist",
    "wmh2017_datalist",
    "brats_datalist",
    "folder_datalist",
    "survey_folder",
    "is_wmh2017",
    "is_brats",
    "MSSEG2016_FILE_STEMS",
    "ISBI2015_FILE_STEMS",
    "ISBI2015_MODALITIES",
    "WMH2017_MODALITIES",
    "BRATS_MODALITIES",
    "BRATS_FILE_SUFFIXES",
    # 2D
    "isic2018_datalist",
    "isic2017_datalist",
    "bus2017_datalist",
    "busi_datalist",
    "ISIC2018_TASK1_FOLDERS",
    "ISIC2018_MASK_SUFFIX",
    "ISIC2017_TASK1_FOLDERS",
    "BUS2017_FOLDERS",
    "BUSI_CLASSES",
]

#: The layout modules, in the order :func:`detect_layout` tries them (per ``spatial_dims``; the catch-all folders
#: last). Adding a layout is its module in this folder and its name here.
LAYOUT_MODULES: tuple[str, ...] = (
    "msseg2016",
    "isbi2015",
    "wmh2017",
    "brats",
    "folder",
    "isic2018",
    "isic2017",
    "bus2017",
    "busi",
    "image_folder",
)
#: Every layout's record, in :data:`LAYOUT_MODULES` order.
LAYOUTS: tuple[Layout, ...] = tuple(importlib.import_module(f"{__name__}.{m}").LAYOUT for m in LAYOUT_MODULES)


def layout_names(spatial_dims: int, training: bool = True) -> tuple[str, ...]:
    """The names of the layouts of ``spatial_dims`` dimensions (those a bundle trains on, unless ``training`` is
    False), in detection order."""
    return tuple(x.name for x in LAYOUTS if x.spatial_dims == spatial_dims and (x.training or not training))


#: ``--layout`` values of the 3D bundles.
DATALIST_LAYOUTS: tuple[str, ...] = ("auto", *layout_names(3))
#: The 2D layouts a bundle trains on (``--layout`` of the focal_tversky bundle, besides ``auto``).
LAYOUTS_2D: tuple[str, ...] = layout_names(2)
#: The kind of images each 2D layout holds.
LAYOUT_KINDS_2D: dict[str, str] = {x.name: x.kind for x in LAYOUTS if x.spatial_dims == 2 and x.kind}


def get_layout(name: str, spatial_dims: int | None = None) -> Layout:
    """
    The layout called ``name`` (of ``spatial_dims`` dimensions when given).

    Raises:
        ValueError: naming the layouts there are.
    """
    for layout in LAYOUTS:
        if layout.name == name and (spatial_dims is None or layout.spatial_dims == spatial_dims):
            return layout
    dims = (spatial_dims,) if spatial_dims else (3, 2)
    known = [n for d in dims for n in layout_names(d)]
    raise ValueError(f"layout must be one of {['auto', *known]} but got {name!r}.")


def detect_layout(dataset_dir: str | os.PathLike, spatial_dims: int = 3) -> str:
    """
    Tell which layout a data set folder is in: the first of :data:`LAYOUTS` of ``spatial_dims`` dimensions that
    recognises it. 3D: ``"msseg2016"`` (a ``Preprocessed_Data`` folder up to four levels down), ``"isbi2015"`` (a
    ``preprocessed`` folder with ``*_pp.nii`` files up to four levels down), ``"wmh2017"`` (a ``pre/FLAIR.nii.gz``
    up to four levels down), ``"brats"`` (``<case>/<case>_flair.nii.gz`` or ``-t2f``) or ``"folder"`` (anything
    else, see :func:`folder_datalist`); 2D: ``"isic2018"``, ``"isic2017"``, ``"bus2017"``, ``"busi"`` or
    ``"image_folder"`` (anything else: images to infer on).

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder.
    """
    root = existing_dir(dataset_dir)
    return next(x.name for x in LAYOUTS if x.spatial_dims == spatial_dims and x.detect(root))


def detect_layout_2d(dataset_dir: str | os.PathLike) -> str | None:
    """
    The 2D layout a folder is in, of those a bundle trains on (``"isic2018"``, ``"isic2017"``, ``"bus2017"``,
    ``"busi"``), in the folder itself or one of its immediate sub-folders; ``None`` for anything else.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder.
    """
    name = detect_layout(dataset_dir, spatial_dims=2)
    return name if get_layout(name, 2).training else None


def lesion_label_map(
    layout: str = "phantom", num_classes: int = 2, class_names: Mapping[int | str, str] | None = None
) -> LabelMap:
    """
    The classes of a data set in ``layout`` for a network with ``num_classes`` outputs (background included):
    the layout's own map where its stored values are not the classes (``"wmh2017"``: 2 is ignored; ``"brats"``:
    4 or 2 classes), the phantom's (``"phantom"``: 1 lesion, 2 white matter with 3 classes), else the labels hold
    the classes ``0 .. num_classes - 1`` (``"msseg2016"``, ``"isbi2015"``, ``"folder"``, ``"datalist"``, ...).

    Args:
        layout: a layout name, ``"phantom"`` or ``"datalist"`` (:func:`~monai_tversky.data.resolve_layout` gives it
            for a bundle's data arguments).
        num_classes: number of network outputs, >= 2.
        class_names: names of the classes, ``{index: name}``; defaults to the data set's own (``"lesion"`` for 1).

    Raises:
        ValueError: when ``num_classes`` does not suit the data set (e.g. 3 for WMH), naming what does.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (background and at least one class), got {num_classes!r}.")
    if layout == "phantom":
        result = phantom_label_map(num_classes)
    else:
        record = next((x for x in LAYOUTS if x.name == layout), None)
        result = record.label_map(num_classes) if record is not None and record.label_map else identity_label_map(num_classes)
    return result.with_class_names(class_names) if class_names else result
