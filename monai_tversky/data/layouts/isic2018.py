"""ISIC 2018 Task 1, skin lesion segmentation (Codella et al. 2018, Tschandl et al. 2018): abraham2018's skin set."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ._helpers import IMAGE_SUFFIXES_2D, child_dir, existing_dir, files_by_stem, layout_root, paired_items
from .layout import Layout

__all__ = ["isic2018_datalist", "ISIC2018_TASK1_FOLDERS", "ISIC2018_MASK_SUFFIX", "LAYOUT"]

logger = logging.getLogger("monai_tversky")

#: ISIC 2018 Task 1 as distributed: ``(images folder, masks folder)`` per subset; images ``ISIC_<id>.jpg``, masks
#: ``ISIC_<id>_segmentation.png``.
ISIC2018_TASK1_FOLDERS: dict[str, tuple[str, str]] = {
    "training": ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"),
    "validation": ("ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"),
    "test": ("ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth"),
}
ISIC2018_MASK_SUFFIX = "_segmentation.png"


def isic2018_datalist(
    dataset_dir: str | os.PathLike, subset: str = "training", label: bool = True
) -> list[dict[str, Any]]:
    """
    List the images (and masks) of the ISIC 2018 Task 1 challenge data in its distributed layout::

        <dataset_dir>/ISIC2018_Task1-2_Training_Input/ISIC_0000000.jpg, ..., ATTRIBUTION.txt, LICENSE.txt
        <dataset_dir>/ISIC2018_Task1_Training_GroundTruth/ISIC_0000000_segmentation.png, ..., LICENSE.txt

    and likewise ``ISIC2018_Task1-2_Validation_Input`` / ``ISIC2018_Task1_Validation_GroundTruth`` and
    ``ISIC2018_Task1-2_Test_Input`` / ``ISIC2018_Task1_Test_GroundTruth``. The two folders are looked for in
    ``dataset_dir`` and, failing that, in its immediate sub-folders; folder names are compared case-insensitively.
    Images are the files ending in one of ``.png``, ``.jpg``, ``.jpeg``, ``.bmp`` (the release has ``.jpg``); masks
    are the files ending in ``_segmentation.png``; other files (``ATTRIBUTION.txt``, ``LICENSE.txt``, hidden files)
    are ignored. abraham2018 used the 2,594 training images, resampled to 192 x 256.

    Args:
        dataset_dir: the folder holding the ISIC 2018 folders.
        subset: ``"training"``, ``"validation"`` or ``"test"``. Defaults to ``"training"``.
        label: pair each image with its mask; ``False`` lists the images only (e.g. to infer on an input folder
            whose ground truth is not at hand). Defaults to ``True``.

    Returns:
        items ``{"image": path, "label": path, "case_id": "ISIC_0000000"}`` (no ``"label"`` when ``label`` is
        ``False``), sorted by ``case_id``.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder, the subset's image folder (or, with ``label``, its
            mask folder) is missing or holds no image (mask), or an image has no mask or a mask no image (the
            message names each such file and where its partner was expected).
        ValueError: when ``subset`` is unknown, or two images (masks) share a case name.
    """
    key = subset.lower() if isinstance(subset, str) else subset
    if key not in ISIC2018_TASK1_FOLDERS:
        raise ValueError(f"subset must be one of {list(ISIC2018_TASK1_FOLDERS)} but got {subset!r}.")
    input_name, mask_name = ISIC2018_TASK1_FOLDERS[key]
    root = existing_dir(dataset_dir)
    base = layout_root(root, (input_name,)) or layout_root(root, (mask_name,)) or root
    image_dir = child_dir(base, input_name)
    if image_dir is None:
        raise FileNotFoundError(
            f"no ISIC 2018 Task 1 {key} images in {root}: expected the folder {base / input_name} "
            "(in it or one of its sub-folders) holding ISIC_<id>.jpg files."
        )
    images = files_by_stem(image_dir, IMAGE_SUFFIXES_2D)
    if not images:
        raise FileNotFoundError(
            f"no image in {image_dir}: expected ISIC_<id>.jpg files (or {', '.join(IMAGE_SUFFIXES_2D)})."
        )
    return paired_items(
        "ISIC 2018", images, child_dir(base, mask_name), (ISIC2018_MASK_SUFFIX,), label,
        no_mask_folder=f"no ISIC 2018 Task 1 {key} masks in {root}: expected the folder {base / mask_name} holding "
                       f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files",
        mask_names=f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files",
        expected_mask=lambda stem: base / mask_name / f"{stem}{ISIC2018_MASK_SUFFIX}",
        expected_image=lambda stem: image_dir / f"{stem}.jpg",
    )  # fmt: skip


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    return isic2018_datalist(root, "training", label=labels != "none")


def _inference_items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    """The first subset present of test, validation, training, with its masks when their folder is there."""
    for subset in ("test", "validation", "training"):
        input_name, mask_name = ISIC2018_TASK1_FOLDERS[subset]
        base = layout_root(root, (input_name,))
        if base is not None:
            label = labels == "required" or (labels == "optional" and child_dir(base, mask_name) is not None)
            logger.info(f"ISIC 2018 Task 1 {subset} images in {base}" + (" with their masks" if label else ""))
            return isic2018_datalist(root, subset=subset, label=label)
    return isic2018_datalist(root, label=labels == "required")


LAYOUT = Layout(
    name="isic2018",
    title="ISIC 2018 Task 1 data set",
    spatial_dims=2,
    detect=lambda root: layout_root(root, [n for pair in ISIC2018_TASK1_FOLDERS.values() for n in pair]) is not None,
    items=_items,
    inference_items=_inference_items,
    kind="skin",
)
