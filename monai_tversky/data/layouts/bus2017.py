"""BUS 2017 dataset B (Yap et al. 2018, breast ultrasound lesions): abraham2018's ultrasound set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._helpers import IMAGE_SUFFIXES_2D, child_dir, existing_dir, files_by_stem, layout_root, paired_items
from .layout import Layout

__all__ = ["bus2017_datalist", "BUS2017_FOLDERS", "LAYOUT"]

#: BUS 2017 dataset B as distributed: ``(images folder, masks folder)``; an image and its mask share the file name
#: (``original/000001.png``, ``GT/000001.png``).
BUS2017_FOLDERS: tuple[str, str] = ("original", "GT")


def bus2017_datalist(dataset_dir: str | os.PathLike, label: bool = True) -> list[dict[str, Any]]:
    """
    List the images (and masks) of BUS 2017 dataset B (Yap et al. 2018, "Automated breast ultrasound lesions
    detection using convolutional neural networks", IEEE JBHI 22(4)) in its distributed layout::

        <dataset_dir>/original/000001.png, 000002.png, ...
        <dataset_dir>/GT/000001.png, 000002.png, ...

    An image and its mask share the file name less its suffix. The two folders are looked for in ``dataset_dir``
    and, failing that, in its immediate sub-folders; folder names are compared case-insensitively. Files ending in
    one of ``.png``, ``.jpg``, ``.jpeg``, ``.bmp`` count; other files are ignored. abraham2018 used the 163 images, resampled to
    128 x 128.

    Args:
        dataset_dir: the folder holding ``original`` and ``GT``.
        label: pair each image with its mask; ``False`` lists the images only. Defaults to ``True``.

    Returns:
        items ``{"image": path, "label": path, "case_id": "000001"}`` (no ``"label"`` when ``label`` is
        ``False``), sorted by ``case_id``.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder, ``original`` (or, with ``label``, ``GT``) is
            missing or holds no image, or an image has no mask or a mask no image (the message names each such file
            and where its partner was expected).
        ValueError: when two images (masks) share a case name (e.g. ``000001.png`` and ``000001.bmp``).
    """
    image_name, mask_name = BUS2017_FOLDERS
    root = existing_dir(dataset_dir)
    base = layout_root(root, (image_name,)) or root
    image_dir = child_dir(base, image_name)
    if image_dir is None:
        raise FileNotFoundError(
            f"no BUS 2017 images in {root}: expected the folder {base / image_name} (in it or one of its "
            "sub-folders) holding 000001.png, ... and the masks in GT/000001.png, ..."
        )
    images = files_by_stem(image_dir, IMAGE_SUFFIXES_2D)
    if not images:
        raise FileNotFoundError(f"no image in {image_dir}: expected 000001.png, ... ({', '.join(IMAGE_SUFFIXES_2D)}).")
    mask_dir = child_dir(base, mask_name)
    masks_of = files_by_stem(mask_dir, IMAGE_SUFFIXES_2D) if mask_dir is not None and label else {}
    return paired_items(
        "BUS 2017", images, mask_dir, IMAGE_SUFFIXES_2D, label,
        no_mask_folder=f"no BUS 2017 masks in {root}: expected the folder {base / mask_name} holding one mask per image, "
                       "of the same file name",
        mask_names=f"000001.png, ... (one per image in {image_dir})",
        expected_mask=lambda stem: mask_dir / f"{stem}{images[stem].suffix}",
        expected_image=lambda stem: image_dir / f"{stem}{masks_of[stem].suffix}",
    )  # fmt: skip


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    if labels == "optional":
        base = layout_root(root, (BUS2017_FOLDERS[0],))
        labels = "required" if base is not None and child_dir(base, BUS2017_FOLDERS[1]) is not None else "none"
    return bus2017_datalist(root, label=labels == "required")


LAYOUT = Layout(
    name="bus2017",
    title="BUS 2017 dataset B",
    spatial_dims=2,
    detect=lambda root: layout_root(root, BUS2017_FOLDERS, require_all=True) is not None,
    items=_items,
    kind="ultrasound",
)
