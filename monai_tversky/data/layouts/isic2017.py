"""ISIC 2017 Task 1, skin lesion segmentation (Codella et al. 2018, arXiv:1710.05006): its 2,000 training images are
all among ISIC 2018 Task 1's, abraham2018's skin set; a public copy at 256 px is in ``../shared/data/isic2017_256``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._helpers import IMAGE_SUFFIXES_2D, child_dir, existing_dir, files_by_stem, layout_root, paired_items
from .isic2018 import ISIC2018_MASK_SUFFIX
from .layout import Layout

__all__ = ["isic2017_datalist", "ISIC2017_TASK1_FOLDERS", "LAYOUT"]

#: ISIC 2017 Task 1 as distributed: ``(images folder, masks folder)`` per subset (images ``ISIC_<id>.jpg`` beside
#: ``ISIC_<id>_superpixels.png``, masks ``ISIC_<id>_segmentation.png``); a copy with plain ``images/`` and
#: ``masks/`` folders is read too.
ISIC2017_TASK1_FOLDERS: dict[str, tuple[str, str]] = {
    "training": ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
    "validation": ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"),
    "test": ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth"),
}


def isic2017_datalist(
    dataset_dir: str | os.PathLike, subset: str = "training", label: bool = True
) -> list[dict[str, Any]]:
    """
    List the images (and masks) of the ISIC 2017 Task 1 challenge data::

        <dataset_dir>/ISIC-2017_Training_Data/ISIC_0000000.jpg, ISIC_0000000_superpixels.png, ...
        <dataset_dir>/ISIC-2017_Training_Part1_GroundTruth/ISIC_0000000_segmentation.png, ...

    (``..._Validation_...`` and ``ISIC-2017_Test_v2_...`` for the other subsets), or a copy with the images in
    ``images/`` and the masks in ``masks/`` (``ISIC_<id>.jpg``, ``ISIC_<id>_segmentation.png``). The folders are
    looked for in ``dataset_dir`` and its immediate sub-folders; ``*_superpixels.png`` files (Task 3's) are not
    images.

    Args:
        dataset_dir: the folder holding the ISIC 2017 folders (or ``images/`` and ``masks/``).
        subset: ``"training"``, ``"validation"`` or ``"test"`` (the official folder names; a plain copy is one
            subset). Defaults to ``"training"``.
        label: pair each image with its mask; ``False`` lists the images only. Defaults to ``True``.

    Returns:
        items ``{"image": path, "label": path, "case_id": "ISIC_0000000"}``, sorted by ``case_id``.

    Raises:
        FileNotFoundError: when the folders are missing or empty, or an image has no mask or a mask no image.
        ValueError: when ``subset`` is unknown.
    """
    key = subset.lower() if isinstance(subset, str) else subset
    if key not in ISIC2017_TASK1_FOLDERS:
        raise ValueError(f"subset must be one of {list(ISIC2017_TASK1_FOLDERS)} but got {subset!r}.")
    root = existing_dir(dataset_dir)
    input_name, mask_name = ISIC2017_TASK1_FOLDERS[key]
    base = layout_root(root, (input_name,))
    if base is None:
        input_name, mask_name = "images", "masks"
        base = layout_root(root, (input_name, mask_name), require_all=True)
    if base is None:
        raise FileNotFoundError(
            f"no ISIC 2017 Task 1 {key} images in {root}: expected {ISIC2017_TASK1_FOLDERS[key][0]}/ISIC_<id>.jpg "
            f"and {ISIC2017_TASK1_FOLDERS[key][1]}/ISIC_<id>_segmentation.png, or images/ and masks/ folders, in it "
            "or one of its sub-folders."
        )
    image_dir = child_dir(base, input_name)
    images = {k: v for k, v in files_by_stem(image_dir, IMAGE_SUFFIXES_2D).items()
              if not k.lower().endswith(("_superpixels", "_segmentation"))}  # fmt: skip
    if not images:
        raise FileNotFoundError(f"no image in {image_dir}: expected ISIC_<id>.jpg files.")
    return paired_items(
        "ISIC 2017", images, child_dir(base, mask_name), (ISIC2018_MASK_SUFFIX,), label,
        no_mask_folder=f"no ISIC 2017 Task 1 {key} masks in {root}: expected the folder {base / mask_name} holding "
                       f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files",
        mask_names=f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files",
        expected_mask=lambda stem: base / mask_name / f"{stem}{ISIC2018_MASK_SUFFIX}",
        expected_image=lambda stem: image_dir / f"{stem}.jpg",
    )  # fmt: skip


def is_isic2017(root: Path) -> bool:
    """An ISIC 2017 Task 1 folder, or ``images/`` beside ``masks/`` holding ``*_segmentation.png`` files."""
    if layout_root(root, [n for pair in ISIC2017_TASK1_FOLDERS.values() for n in pair]) is not None:
        return True
    plain = layout_root(root, ("images", "masks"), require_all=True)
    return plain is not None and any(p.name.lower().endswith(ISIC2018_MASK_SUFFIX) for p in child_dir(plain, "masks").iterdir())


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    return isic2017_datalist(root, "training", label=labels != "none")


def _inference_items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    """The first official subset present of test, validation, training (a plain copy: its one subset), with its
    masks when their folder is there."""
    for subset in ("test", "validation", "training"):
        input_name, mask_name = ISIC2017_TASK1_FOLDERS[subset]
        base = layout_root(root, (input_name,))
        if base is not None:
            label = labels == "required" or (labels == "optional" and child_dir(base, mask_name) is not None)
            return isic2017_datalist(root, subset=subset, label=label)
    return isic2017_datalist(root, label=labels != "none")


LAYOUT = Layout(
    name="isic2017",
    title="ISIC 2017 Task 1 data set",
    spatial_dims=2,
    detect=is_isic2017,
    items=_items,
    inference_items=_inference_items,
    kind="skin",
)
