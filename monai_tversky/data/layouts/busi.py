"""BUSI, the Breast Ultrasound Images Dataset (Al-Dhabyani, Gomaa, Khaled, Fahmy, Data in Brief 28 (2020) 104863): the
public breast-ultrasound set closest to abraham2018's BUS 2017 dataset B; a copy at 256 px is in
``../shared/data/busi_256``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..near_duplicates import near_duplicate_groups
from ..validation import problem_report
from ._helpers import IMAGE_SUFFIXES_2D, MAX_LISTED, child_dir, existing_dir, files_by_stem, layout_root
from .layout import Layout

__all__ = ["busi_datalist", "BUSI_CLASSES", "LAYOUT"]

#: BUSI's class folders: images of benign and malignant lesions, and normal images whose masks are empty.
BUSI_CLASSES: tuple[str, ...] = ("benign", "malignant", "normal")
_BUSI_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<extra>\d+))?\.png$", re.IGNORECASE)


def busi_datalist(
    dataset_dir: str | os.PathLike,
    classes: tuple[str, ...] | list[str] = ("benign", "malignant"),
    label: bool = True,
    group_duplicates: bool = True,
) -> list[dict[str, Any]]:
    """
    List the images (and masks) of BUSI, the Breast Ultrasound Images Dataset (Al-Dhabyani, Gomaa, Khaled, Fahmy,
    *Dataset of breast ultrasound images*, Data in Brief 28 (2020) 104863), as its public copies distribute it::

        <dataset_dir>/benign/images/benign (1).png         <dataset_dir>/benign/masks/benign (1)_mask.png
                                                                                 /benign (100)_mask_1.png
        <dataset_dir>/malignant/..., <dataset_dir>/normal/...

    or, as the original ``Dataset_BUSI_with_GT`` release, images and masks side by side in each class folder
    (``benign/benign (1).png``, ``benign/benign (1)_mask.png``). The class folders are looked for in
    ``dataset_dir`` and its immediate sub-folders, case-insensitively. An image with a second (third, ...) lesion
    mask, ``<n>_mask_1.png``, gets the list of its masks as its label: the bundles merge them on loading
    (:class:`~monai_tversky.transforms.MergeMasksd`, a logical OR). Normal images have empty masks.

    BUSI holds near-duplicates (the same scan saved twice, with and without calipers, a few rows cropped, even
    under two classes): with ``group_duplicates`` every item gets a ``group_id``
    (:func:`~monai_tversky.data.near_duplicate_groups` over the images of all three classes, whichever are
    listed), so that :func:`~monai_tversky.data.split_datalist` with ``group_key="group_id"`` keeps copies together.

    Args:
        dataset_dir: the BUSI folder.
        classes: the class folders to list, from :data:`BUSI_CLASSES`. Defaults to ``("benign", "malignant")``, the
            images with a lesion (abraham2018's BUS 2017 set has no normal image).
        label: pair each image with its mask(s); ``False`` lists the images only. Defaults to ``True``.
        group_duplicates: add ``group_id``. Defaults to ``True``.

    Returns:
        items ``{"image": path, "label": path or [paths], "case_id": "benign (1)", "class": "benign",
        "group_id": "busi_17"}``, sorted by class, then by the number in the file name.

    Raises:
        FileNotFoundError: when no class folder is found, a listed class folder holds no image, or an image has no
            mask or a mask no image.
        ValueError: when a class is not one of BUSI's.
    """
    unknown = [c for c in classes if c not in BUSI_CLASSES]
    if unknown or not classes:
        raise ValueError(f"classes must be some of {list(BUSI_CLASSES)} but got {list(classes)!r}.")
    root = existing_dir(dataset_dir)
    base = layout_root(root, tuple(classes))
    if base is None:
        raise FileNotFoundError(
            f"no BUSI class folder ({', '.join(classes)}) in {root} or its sub-folders: expected "
            "<class>/images/<n>.png with <class>/masks/<n>_mask.png, or <class>/<n>.png with <class>/<n>_mask.png."
        )
    every = [c for c in BUSI_CLASSES if child_dir(base, c) is not None]
    items_by_class: dict[str, list[dict[str, Any]]] = {}
    for cls in every:
        folder = child_dir(base, cls)
        image_dir = child_dir(folder, "images") or folder
        mask_dir = child_dir(folder, "masks") or folder
        images = {k: v for k, v in files_by_stem(image_dir, IMAGE_SUFFIXES_2D).items() if not _BUSI_MASK.match(v.name)}
        if not images:
            if cls in classes:
                raise FileNotFoundError(f"no BUSI image in {image_dir}: expected '{cls} (1).png', ...")
            continue
        masks: dict[str, list[tuple[int, Path]]] = {}
        for path in sorted(mask_dir.iterdir()):
            found = _BUSI_MASK.match(path.name)
            if found and path.is_file():
                masks.setdefault(found["stem"], []).append((int(found["extra"] or 0), path))
        pairing = label and cls in classes  # the other classes' images only join the near-duplicate groups
        problems = [f"image {images[s]} has no mask (expected {mask_dir / (s + '_mask.png')})"
                    for s in images if s not in masks] if pairing else []  # fmt: skip
        problems += [f"mask {m[0][1]} has no image (expected {image_dir / (s + '.png')})"
                     for s, m in masks.items() if s not in images] if pairing else []  # fmt: skip
        if problems:
            raise FileNotFoundError(problem_report(f"{len(problems)} BUSI file(s) without a partner", problems, MAX_LISTED))
        rows = []
        for stem in sorted(images, key=_natural_key):
            item: dict[str, Any] = {"image": str(images[stem])}
            if pairing:
                files = [str(p) for _, p in sorted(masks[stem])]
                item["label"] = files[0] if len(files) == 1 else files
            item["case_id"] = stem
            item["class"] = cls
            rows.append(item)
        items_by_class[cls] = rows
    everything = [item for cls in every for item in items_by_class.get(cls, [])]
    if group_duplicates:
        for item, group in zip(everything, near_duplicate_groups([i["image"] for i in everything])):
            item["group_id"] = f"busi_{group}"
    return [item for item in everything if item["class"] in classes]


def _natural_key(text: str) -> tuple:
    """Sort key that orders the numbers in a name by value (``benign (2)`` before ``benign (10)``)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    return busi_datalist(root, label=labels != "none")


def _inference_items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    """Every image, normal ones included: inference and evaluation take what they are given."""
    return busi_datalist(root, classes=BUSI_CLASSES, label=labels != "none", group_duplicates=False)


LAYOUT = Layout(
    name="busi",
    title="BUSI data set",
    spatial_dims=2,
    detect=lambda root: layout_root(root, ("benign", "malignant")) is not None,
    items=_items,
    inference_items=_inference_items,
    kind="ultrasound",
    group_key="group_id",
)
