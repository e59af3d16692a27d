"""One output folder per case, named after the datalist's ``case_id``, so outputs of different cases never collide."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.data.meta_tensor import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import ImageMetaKey

from monai_tversky.data.case_paths import case_output_path, safe_case_name

__all__ = ["StoreCaseIdd", "case_output_name", "CASE_ID_META_KEY"]

#: Metadata key under which :class:`StoreCaseIdd` keeps the case id.
CASE_ID_META_KEY = "case_id"


class StoreCaseIdd(MapTransform):
    """
    Copy an item's ``case_id`` into the metadata of ``keys`` (MetaTensors), where it travels with the image through
    the network (an inferer that keeps the input's metadata, as ``SplineFusionInferer`` does, gives it to the
    prediction) to ``SaveImaged``, whose ``output_name_formatter=case_output_name`` then names the outputs after it.

    ``SaveImaged``'s default names come from the first image file, so two cases whose files share a name (every
    MSSEG 2016 case has ``Preprocessed_Data/FLAIR_preprocessed.nii.gz``; every case folder ``FLAIR.nii.gz``)
    would write to the same output.

    Args:
        keys: keys of the images whose metadata gets the id.
        case_key: the item's key holding the id. Defaults to ``"case_id"``.
        allow_missing_keys: don't raise when a key is missing.
    """

    def __init__(self, keys: KeysCollection, case_key: str = "case_id", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.case_key = case_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        case = d.get(self.case_key)
        if case is None:
            return d
        for key in self.key_iterator(d):
            if isinstance(d[key], MetaTensor):
                d[key].meta[CASE_ID_META_KEY] = str(case)
        return d


def case_output_name(metadict: Mapping[str, Any] | None, saver: Transform) -> dict[str, Any]:
    """
    ``output_name_formatter`` for MONAI's ``SaveImage(d)``: name the output after the case id that
    :class:`StoreCaseIdd` put in the metadata, as ``<output_dir>/<case>/<case>_<postfix>.nii.gz`` with
    ``separate_folder=True``; without an id, MONAI's default (the image file's base name).

    The name is :func:`~monai_tversky.data.safe_case_name` of the id (``/`` becomes ``_``, ``..`` and absolute
    parts are dropped), and the folder and file are checked with :func:`~monai_tversky.data.case_output_path` to
    lie inside the saver's output folder, symbolic links followed.

    Raises:
        ValueError: when the id gives no usable file name, or the output would lie outside the output folder.
    """
    metadict = metadict or {}
    case = metadict.get(CASE_ID_META_KEY)
    if case is None:
        subject = metadict.get(ImageMetaKey.FILENAME_OR_OBJ, getattr(saver, "_data_index", 0))
    else:
        name = safe_case_name(case)
        layout = getattr(saver, "folder_layout", None)
        if layout is not None:  # the case folder, then the file in it, must resolve inside the output folder
            case_output_path(layout.output_dir, case)
            ext = str(layout.ext or "")
            ext = ext if not ext or ext.startswith(".") else f".{ext}"
            postfix = f"_{layout.postfix}" if layout.postfix else ""
            case_output_path(layout.output_dir, case, suffix=f"{postfix}{ext}", subfolder=name)
        # a file-name-like subject: FolderLayout keeps its base name and strips one extension
        subject = f"{name}.case"
    return {"subject": f"{subject}", "idx": metadict.get(ImageMetaKey.PATCH_INDEX)}
