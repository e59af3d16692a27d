"""
Datalist builders for the folder layouts in which the 2D lesion data sets of abraham2018 are distributed: ISIC 2018
Task 1 (skin lesion segmentation) and BUS 2017 dataset B (breast ultrasound lesions, Yap et al. 2018), and the two
public sets closest to them: ISIC 2017 Task 1 (a subset of ISIC 2018's images) and BUSI (Al-Dhabyani et al. 2020).

Each builder pairs every image with its mask by file name and returns MONAI-style datalist items ``{"image": path,
"label": path, "case_id": stem}`` ready for :class:`monai.transforms.LoadImaged` (PNG and JPEG files are read by
:class:`monai.data.PILReader`). Masks hold 0 (background) and 255 (lesion). An image without a mask, or a mask
without an image, stops the listing with an error that names the file and the path where its partner was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .layouts import _existing_dir
from .validation import problem_report

__all__ = [
    "isic2018_datalist",
    "bus2017_datalist",
    "busi_datalist",
    "isic2017_datalist",
    "detect_layout_2d",
    "ISIC2018_TASK1_FOLDERS",
    "ISIC2018_MASK_SUFFIX",
    "BUS2017_FOLDERS",
    "BUSI_CLASSES",
    "ISIC2017_TASK1_FOLDERS",
    "IMAGE_SUFFIXES_2D",
    "LAYOUTS_2D",
]

#: File-name endings of the 2D images MONAI's :class:`monai.data.PILReader` opens (compared case-insensitively).
IMAGE_SUFFIXES_2D: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")

#: Values :func:`detect_layout_2d` returns (besides ``None``).
LAYOUTS_2D: tuple[str, ...] = ("isic2018", "isic2017", "bus2017", "busi")

#: ISIC 2018 Task 1 (Codella et al. 2018, Tschandl et al. 2018) as distributed: ``(images folder, masks folder)``
#: per subset; images ``ISIC_<id>.jpg``, masks ``ISIC_<id>_segmentation.png``.
ISIC2018_TASK1_FOLDERS: dict[str, tuple[str, str]] = {
    "training": ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"),
    "validation": ("ISIC2018_Task1-2_Validation_Input", "ISIC2018_Task1_Validation_GroundTruth"),
    "test": ("ISIC2018_Task1-2_Test_Input", "ISIC2018_Task1_Test_GroundTruth"),
}
ISIC2018_MASK_SUFFIX = "_segmentation.png"

#: BUS 2017 dataset B (Yap et al. 2018) as distributed: ``(images folder, masks folder)``; an image and its mask
#: share the file name (``original/000001.png``, ``GT/000001.png``).
BUS2017_FOLDERS: tuple[str, str] = ("original", "GT")

#: ISIC 2017 Task 1 (Codella et al. 2018, arXiv:1710.05006) as distributed: ``(images folder, masks folder)`` per
#: subset (images ``ISIC_<id>.jpg`` beside ``ISIC_<id>_superpixels.png``, masks ``ISIC_<id>_segmentation.png``); a
#: copy with plain ``images/`` and ``masks/`` folders is read too.
ISIC2017_TASK1_FOLDERS: dict[str, tuple[str, str]] = {
    "training": ("ISIC-2017_Training_Data", "ISIC-2017_Training_Part1_GroundTruth"),
    "validation": ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth"),
    "test": ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_v2_Part1_GroundTruth"),
}

#: BUSI's class folders (Al-Dhabyani et al. 2020): images of benign and malignant lesions, and normal images whose
#: masks are empty.
BUSI_CLASSES: tuple[str, ...] = ("benign", "malignant", "normal")
_BUSI_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<extra>\d+))?\.png$", re.IGNORECASE)

_MAX_LISTED = 20  # problems listed in one error message


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
    Images are the files ending in one of :data:`IMAGE_SUFFIXES_2D` (the release has ``.jpg``); masks are the
    files ending in ``_segmentation.png``; other files (``ATTRIBUTION.txt``, ``LICENSE.txt``, hidden files) are
    ignored. abraham2018 used the 2,594 training images, resampled to 192 x 256.

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
    root = _existing_dir(dataset_dir)
    base = _layout_root(root, (input_name,)) or _layout_root(root, (mask_name,)) or root
    image_dir = _child_dir(base, input_name)
    if image_dir is None:
        raise FileNotFoundError(
            f"no ISIC 2018 Task 1 {key} images in {root}: expected the folder {base / input_name} "
            "(in it or one of its sub-folders) holding ISIC_<id>.jpg files."
        )
    images = _files_by_stem(image_dir, IMAGE_SUFFIXES_2D)
    if not images:
        raise FileNotFoundError(
            f"no image in {image_dir}: expected ISIC_<id>.jpg files (or {', '.join(IMAGE_SUFFIXES_2D)})."
        )
    if not label:
        return [{"image": str(images[s]), "case_id": s} for s in sorted(images)]
    mask_dir = _child_dir(base, mask_name)
    if mask_dir is None:
        raise FileNotFoundError(
            f"no ISIC 2018 Task 1 {key} masks in {root}: expected the folder {base / mask_name} holding "
            f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files (pass label=False to list the images only)."
        )
    masks = _files_by_stem(mask_dir, (ISIC2018_MASK_SUFFIX,))
    if not masks:
        raise FileNotFoundError(f"no mask in {mask_dir}: expected ISIC_<id>{ISIC2018_MASK_SUFFIX} files.")
    return _pair(
        "ISIC 2018",
        images,
        masks,
        expected_mask=lambda stem: mask_dir / f"{stem}{ISIC2018_MASK_SUFFIX}",
        expected_image=lambda stem: image_dir / f"{stem}.jpg",
    )


def bus2017_datalist(dataset_dir: str | os.PathLike, label: bool = True) -> list[dict[str, Any]]:
    """
    List the images (and masks) of BUS 2017 dataset B (Yap et al. 2018, "Automated breast ultrasound lesions
    detection using convolutional neural networks", IEEE JBHI 22(4)) in its distributed layout::

        <dataset_dir>/original/000001.png, 000002.png, ...
        <dataset_dir>/GT/000001.png, 000002.png, ...

    An image and its mask share the file name less its suffix. The two folders are looked for in ``dataset_dir``
    and, failing that, in its immediate sub-folders; folder names are compared case-insensitively. Files ending in
    one of :data:`IMAGE_SUFFIXES_2D` count; other files are ignored. abraham2018 used the 163 images, resampled to
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
    root = _existing_dir(dataset_dir)
    base = _layout_root(root, (image_name,)) or root
    image_dir = _child_dir(base, image_name)
    if image_dir is None:
        raise FileNotFoundError(
            f"no BUS 2017 images in {root}: expected the folder {base / image_name} (in it or one of its "
            "sub-folders) holding 000001.png, ... and the masks in GT/000001.png, ..."
        )
    images = _files_by_stem(image_dir, IMAGE_SUFFIXES_2D)
    if not images:
        raise FileNotFoundError(f"no image in {image_dir}: expected 000001.png, ... ({', '.join(IMAGE_SUFFIXES_2D)}).")
    if not label:
        return [{"image": str(images[s]), "case_id": s} for s in sorted(images)]
    mask_dir = _child_dir(base, mask_name)
    if mask_dir is None:
        raise FileNotFoundError(
            f"no BUS 2017 masks in {root}: expected the folder {base / mask_name} holding one mask per image, of the "
            "same file name (pass label=False to list the images only)."
        )
    masks = _files_by_stem(mask_dir, IMAGE_SUFFIXES_2D)
    if not masks:
        raise FileNotFoundError(f"no mask in {mask_dir}: expected 000001.png, ... (one per image in {image_dir}).")
    return _pair(
        "BUS 2017",
        images,
        masks,
        expected_mask=lambda stem: mask_dir / f"{stem}{images[stem].suffix}",
        expected_image=lambda stem: image_dir / f"{stem}{masks[stem].suffix}",
    )


def isic2017_datalist(
    dataset_dir: str | os.PathLike, subset: str = "training", label: bool = True
) -> list[dict[str, Any]]:
    """
    List the images (and masks) of the ISIC 2017 Task 1 challenge data (Codella et al. 2018, arXiv:1710.05006)::

        <dataset_dir>/ISIC-2017_Training_Data/ISIC_0000000.jpg, ISIC_0000000_superpixels.png, ...
        <dataset_dir>/ISIC-2017_Training_Part1_GroundTruth/ISIC_0000000_segmentation.png, ...

    (``..._Validation_...`` and ``ISIC-2017_Test_v2_...`` for the other subsets), or a copy with the images in
    ``images/`` and the masks in ``masks/`` (``ISIC_<id>.jpg``, ``ISIC_<id>_segmentation.png``). The folders are
    looked for in ``dataset_dir`` and its immediate sub-folders; ``*_superpixels.png`` files (Task 3's) are not
    images. Its 2,000 training images are all among ISIC 2018 Task 1's 2,594, abraham2018's skin data set.

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
    root = _existing_dir(dataset_dir)
    input_name, mask_name = ISIC2017_TASK1_FOLDERS[key]
    base = _layout_root(root, (input_name,))
    if base is None:
        input_name, mask_name = "images", "masks"
        base = _layout_root(root, (input_name, mask_name), require_all=True)
    if base is None:
        raise FileNotFoundError(
            f"no ISIC 2017 Task 1 {key} images in {root}: expected {ISIC2017_TASK1_FOLDERS[key][0]}/ISIC_<id>.jpg "
            f"and {ISIC2017_TASK1_FOLDERS[key][1]}/ISIC_<id>_segmentation.png, or images/ and masks/ folders, in it "
            "or one of its sub-folders."
        )
    image_dir = _child_dir(base, input_name)
    images = {k: v for k, v in _files_by_stem(image_dir, IMAGE_SUFFIXES_2D).items()
              if not k.lower().endswith("_superpixels") and not k.lower().endswith("_segmentation")}  # fmt: skip
    if not images:
        raise FileNotFoundError(f"no image in {image_dir}: expected ISIC_<id>.jpg files.")
    if not label:
        return [{"image": str(images[s]), "case_id": s} for s in sorted(images)]
    mask_dir = _child_dir(base, mask_name)
    if mask_dir is None:
        raise FileNotFoundError(
            f"no ISIC 2017 Task 1 {key} masks in {root}: expected the folder {base / mask_name} holding "
            f"ISIC_<id>{ISIC2018_MASK_SUFFIX} files (pass label=False to list the images only)."
        )
    masks = _files_by_stem(mask_dir, (ISIC2018_MASK_SUFFIX,))
    if not masks:
        raise FileNotFoundError(f"no mask in {mask_dir}: expected ISIC_<id>{ISIC2018_MASK_SUFFIX} files.")
    return _pair(
        "ISIC 2017",
        images,
        masks,
        expected_mask=lambda stem: mask_dir / f"{stem}{ISIC2018_MASK_SUFFIX}",
        expected_image=lambda stem: image_dir / f"{stem}.jpg",
    )


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
    from .near_duplicates import near_duplicate_groups

    unknown = [c for c in classes if c not in BUSI_CLASSES]
    if unknown or not classes:
        raise ValueError(f"classes must be some of {list(BUSI_CLASSES)} but got {list(classes)!r}.")
    root = _existing_dir(dataset_dir)
    base = _layout_root(root, tuple(classes))
    if base is None:
        raise FileNotFoundError(
            f"no BUSI class folder ({', '.join(classes)}) in {root} or its sub-folders: expected "
            "<class>/images/<n>.png with <class>/masks/<n>_mask.png, or <class>/<n>.png with <class>/<n>_mask.png."
        )
    every = [c for c in BUSI_CLASSES if _child_dir(base, c) is not None]
    items_by_class: dict[str, list[dict[str, Any]]] = {}
    for cls in every:
        folder = _child_dir(base, cls)
        image_dir = _child_dir(folder, "images") or folder
        mask_dir = _child_dir(folder, "masks") or folder
        images = {k: v for k, v in _files_by_stem(image_dir, IMAGE_SUFFIXES_2D).items() if not _BUSI_MASK.match(v.name)}
        if not images:
            if cls in classes:
                raise FileNotFoundError(f"no BUSI image in {image_dir}: expected '{cls} (1).png', ...")
            continue
        masks: dict[str, list[tuple[int, Path]]] = {}
        for path in sorted(mask_dir.iterdir()):
            found = _BUSI_MASK.match(path.name)
            if found and path.is_file():
                masks.setdefault(found["stem"], []).append((int(found["extra"] or 0), path))
        problems = [f"image {images[s]} has no mask (expected {mask_dir / (s + '_mask.png')})"
                    for s in images if s not in masks] if label else []  # fmt: skip
        problems += [f"mask {m[0][1]} has no image (expected {image_dir / (s + '.png')})"
                     for s, m in masks.items() if s not in images] if label else []  # fmt: skip
        if problems:
            raise FileNotFoundError(problem_report(f"{len(problems)} BUSI file(s) without a partner", problems, _MAX_LISTED))
        rows = []
        for stem in sorted(images, key=_natural_key):
            item: dict[str, Any] = {"image": str(images[stem])}
            if label:
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


def detect_layout_2d(dataset_dir: str | os.PathLike) -> str | None:
    """
    Tell which 2D layout a data set folder is in: ``"isic2018"`` (an ISIC 2018 Task 1 input or ground-truth
    folder, see :data:`ISIC2018_TASK1_FOLDERS`), ``"isic2017"`` (an ISIC 2017 Task 1 folder, or ``images/`` with
    ``masks/*_segmentation.png``), ``"bus2017"`` (both ``original`` and ``GT`` folders) or ``"busi"`` (``benign`` or
    ``malignant`` class folders), in the folder itself or one of its immediate sub-folders; ``None`` for anything
    else.

    Args:
        dataset_dir: the folder.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder.
    """
    root = _existing_dir(dataset_dir)
    isic = tuple(name for pair in ISIC2018_TASK1_FOLDERS.values() for name in pair)
    if _layout_root(root, isic) is not None:
        return "isic2018"
    isic2017 = tuple(name for pair in ISIC2017_TASK1_FOLDERS.values() for name in pair)
    if _layout_root(root, isic2017) is not None:
        return "isic2017"
    plain = _layout_root(root, ("images", "masks"), require_all=True)
    if plain is not None and any(p.name.lower().endswith(ISIC2018_MASK_SUFFIX) for p in _child_dir(plain, "masks").iterdir()):
        return "isic2017"
    if _layout_root(root, BUS2017_FOLDERS, require_all=True) is not None:
        return "bus2017"
    if _layout_root(root, ("benign", "malignant")) is not None:
        return "busi"
    return None


def _child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder of ``folder`` called ``name`` (exactly, else case-insensitively), or ``None``."""
    exact = folder / name
    if exact.is_dir():
        return exact
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _layout_root(root: Path, names: tuple[str, ...], require_all: bool = False) -> Path | None:
    """``root`` or the first of its sub-folders that holds a folder of ``names`` (all of them with ``require_all``)."""
    found = all if require_all else any
    for candidate in [root, *sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))]:
        if found(_child_dir(candidate, n) is not None for n in names):
            return candidate
    return None


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """``{name less suffix: path}`` of the files in ``folder`` ending in one of ``suffixes`` (case-insensitive)."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        low = path.name.lower()
        suffix = next((s for s in suffixes if low.endswith(s) and len(low) > len(s)), None)
        if suffix is None:
            continue
        stem = path.name[: -len(suffix)]
        if stem in files:
            raise ValueError(f"two files in {folder} name case {stem!r}: {files[stem].name} and {path.name}.")
        files[stem] = path
    return files


def _pair(dataset: str, images: dict[str, Path], masks: dict[str, Path], expected_mask, expected_image) -> list:
    """Items pairing images and masks by stem; a FileNotFoundError listing every file that has no partner."""
    problems = [f"image {images[s]} has no mask (expected {expected_mask(s)})" for s in images if s not in masks]
    problems += [f"mask {masks[s]} has no image (expected {expected_image(s)})" for s in masks if s not in images]
    if problems:
        raise FileNotFoundError(problem_report(f"{len(problems)} {dataset} file(s) without a partner", problems, _MAX_LISTED))
    return [{"image": str(images[s]), "label": str(masks[s]), "case_id": s} for s in sorted(images)]
