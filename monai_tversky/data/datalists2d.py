"""
The data of a 2D lesion bundle (the focal_tversky bundle, abraham2018), from whichever source is given: ISIC 2018
Task 1 or BUS 2017 dataset B as distributed, a datalist JSON, or the embedded 2D phantom; and the images to run
inference on. The 2D counterparts of :func:`~monai_tversky.data.build_datalist`,
:func:`~monai_tversky.data.resolve_channels` and :func:`~monai_tversky.data.build_inference_datalist`, so that a
bundle config stays short.

The *kind* of a source decides its channels and the paper's image size: ``"skin"`` (RGB, ``("R", "G", "B")``,
192 x 256, ISIC 2018) or ``"ultrasound"`` (grayscale, ``("US",)``, 128 x 128, BUS 2017).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .datalists import (
    _auto,
    _inference_items,
    _name_cases,
    _require_labels,
    _stem,
    load_datalist,
    split_datalist,
)
from .image2d import pil_mode_for_channels
from .layouts import _existing_dir
from .layouts2d import (
    BUSI_CLASSES,
    IMAGE_SUFFIXES_2D,
    ISIC2017_TASK1_FOLDERS,
    ISIC2018_TASK1_FOLDERS,
    LAYOUTS_2D,
    _child_dir,
    _layout_root,
    bus2017_datalist,
    busi_datalist,
    detect_layout_2d,
    isic2017_datalist,
    isic2018_datalist,
)
from .phantom2d import PHANTOM2D_CHANNELS, PHANTOM2D_KINDS, PHANTOM2D_SHAPES
from .phantom2d_dataset import generate_phantom_dataset_2d
from .validation import check_datalist

__all__ = [
    "LAYOUT_KINDS_2D",
    "build_datalist_2d",
    "build_inference_datalist_2d",
    "describe_source_2d",
    "resolve_channels_2d",
    "resolve_kind_2d",
    "paper_image_size_2d",
]

logger = logging.getLogger("monai_tversky")

#: The kind of images each 2D layout holds.
LAYOUT_KINDS_2D: dict[str, str] = {"isic2018": "skin", "isic2017": "skin", "bus2017": "ultrasound", "busi": "ultrasound"}

#: Training datalist of each 2D layout, ``(dataset_dir) -> items``.
_TRAINING_ITEMS = {
    "isic2018": isic2018_datalist,
    "isic2017": isic2017_datalist,
    "bus2017": bus2017_datalist,
    "busi": busi_datalist,
}
_NAMES = {"isic2018": "ISIC 2018 Task 1 data set", "isic2017": "ISIC 2017 Task 1 data set",
          "bus2017": "BUS 2017 dataset B", "busi": "BUSI data set"}  # fmt: skip

_LAYOUTS = ("auto", *LAYOUTS_2D)


def _check_kind(kind: str) -> str:
    if kind not in PHANTOM2D_KINDS:
        raise ValueError(f"kind (phantom_kind) must be one of {list(PHANTOM2D_KINDS)}, got {kind!r}.")
    return kind


def _chosen_layout(dataset_dir: str | os.PathLike, layout: str) -> str:
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {list(_LAYOUTS)} for 2D data, got {layout!r}.")
    chosen = detect_layout_2d(dataset_dir) if layout == "auto" else layout
    if chosen is None:
        isic = ", ".join(f"{a}/ + {b}/" for a, b in ISIC2018_TASK1_FOLDERS.values())
        raise ValueError(
            f"{dataset_dir} is in none of the 2D layouts, ISIC 2018 Task 1 ({isic}), ISIC 2017 Task 1 "
            "(ISIC-2017_Training_Data/ + ISIC-2017_Training_Part1_GroundTruth/, or images/ + masks/), BUS 2017 "
            "dataset B (original/ + GT/) or BUSI (benign/, malignant/, normal/), in the folder or one of its "
            "sub-folders: pass --datalist my.json (a \"training\" list of {\"image\": ..., \"label\": ...} items) "
            "for any other layout."
        )
    return chosen


def _declared_channels(loaded: Mapping[str, Any]) -> tuple[str, ...] | None:
    declared = loaded.get("modality")  # the Decathlon's {"0": "R", "1": "G", "2": "B"}
    if isinstance(declared, Mapping) and declared and all(str(k).isdigit() for k in declared):
        return tuple(str(declared[k]) for k in sorted(declared, key=int))
    return None


def resolve_kind_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
) -> str:
    """
    The kind of images (``"skin"`` or ``"ultrasound"``) a 2D source holds, without reading any image: ISIC 2018
    (``layout`` ``"isic2018"``, or detected) is skin, BUS 2017 ultrasound; a datalist JSON that declares three
    channels (``"modality"``) skin, one ultrasound; otherwise (no source: the phantom; a datalist without
    ``"modality"``) ``kind``.

    Raises:
        ValueError: when ``kind`` or ``layout`` is unknown, or ``dataset_dir`` is in no 2D layout.
        FileNotFoundError: when a source does not exist.
    """
    kind = _check_kind(kind)
    dataset_dir, datalist = dataset_dir or None, datalist or None
    if dataset_dir is not None:
        return LAYOUT_KINDS_2D[_chosen_layout(dataset_dir, layout)]
    if datalist is not None:
        declared = _declared_channels(load_datalist(datalist))
        if declared is not None:
            return "skin" if pil_mode_for_channels(declared) == "RGB" else "ultrasound"
    return kind


def resolve_channels_2d(
    modalities: Sequence[str] | str | None = "auto",
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
) -> tuple[str, ...]:
    """
    The input channels of a 2D bundle: ``modalities`` when given (three names for RGB, one for grayscale), else a
    datalist's ``"modality"`` entry, else those of the source's kind (:func:`resolve_kind_2d`):
    ``("R", "G", "B")`` for skin, ``("US",)`` for ultrasound (:data:`~monai_tversky.data.PHANTOM2D_CHANNELS`).
    Every image is converted to that format on loading (:class:`~monai_tversky.data.PILReaderHW`).

    Raises:
        ValueError: when the channel count is neither 3 nor 1, or as :func:`resolve_kind_2d`.
    """
    if not _auto(modalities):
        channels = (modalities,) if isinstance(modalities, str) else tuple(str(m) for m in modalities)
        pil_mode_for_channels(channels)
        return channels
    if datalist:
        declared = _declared_channels(load_datalist(datalist))
        if declared is not None:
            pil_mode_for_channels(declared)
            return declared
    return PHANTOM2D_CHANNELS[resolve_kind_2d(dataset_dir, datalist, layout, kind)]


def paper_image_size_2d(kind: str) -> tuple[int, int]:
    """abraham2018's training image size ``(H, W)`` for a kind: 192 x 256 (ISIC 2018), 128 x 128 (BUS 2017)."""
    return PHANTOM2D_SHAPES[_check_kind(kind)]


def describe_source_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    phantom_dir: str | os.PathLike | None = None,
    kind: str = "skin",
    layout: str = "auto",
) -> str:
    """Where :func:`build_datalist_2d` takes its cases from, in words (its ``"source"`` entry)."""
    if datalist:
        return f"datalist {Path(datalist).expanduser().resolve()}"
    if dataset_dir:
        return f"{_NAMES[_chosen_layout(dataset_dir, layout)]} {Path(dataset_dir).expanduser().resolve()}"
    where = f" {Path(phantom_dir).expanduser().resolve()}" if phantom_dir else ""
    return f"synthetic 2D {_check_kind(kind)} phantom{where}"


def build_datalist_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
    modalities: Sequence[str] | str | None = "auto",
    phantom_dir: str | os.PathLike | None = None,
    phantom_cases: int = 40,
    phantom_shape: Sequence[int] | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    check: bool | str = True,
    progress: bool = True,
) -> dict[str, Any]:
    """
    The training data of a 2D lesion bundle, from a data set folder, a datalist JSON, or (neither) the 2D phantom,
    generated once into ``phantom_dir`` and reused afterwards.

    - ``dataset_dir``: ISIC 2018 Task 1 (its training images and masks, :func:`isic2018_datalist`) or BUS 2017
      dataset B (:func:`bus2017_datalist`), as distributed, detected (:func:`detect_layout_2d`) or named by
      ``layout``; the cases are split with :func:`split_datalist` (abraham2018: 75-25).
    - ``datalist``: :func:`load_datalist`; its ``"validation"`` section is used when present, otherwise its
      ``"training"`` items are split.
    - neither: :func:`generate_phantom_dataset_2d` ``(phantom_dir, phantom_cases, kind, phantom_shape, seed)``
      (its last ``val_fraction`` of the cases validate).

    Then every file is read once (:func:`check_datalist`, PIL for PNG/JPEG): a missing, unreadable or truncated
    file, an image/mask size mismatch or a mask that is not a lesion mask (0/1, or 0 and one value, e.g. 0/255)
    stops with an error naming the file. The channel count is not checked (images are converted to the bundle's
    format on loading), nor a mask's (an RGB mask is read as grayscale). A single case is used for validation as
    well, with a warning. Empty strings count as not given.

    Args:
        dataset_dir: a data set folder. Defaults to ``None``.
        datalist: a datalist JSON file. Defaults to ``None``.
        layout: ``"auto"``, ``"isic2018"`` or ``"bus2017"``. Defaults to ``"auto"``.
        kind: the phantom's kind, ``"skin"`` or ``"ultrasound"`` (and the kind assumed for a datalist that
            declares no ``"modality"``). Defaults to ``"skin"``.
        modalities: the channels (see :func:`resolve_channels_2d`). Defaults to ``"auto"``.
        phantom_dir: folder of the phantom data set, required when neither source is given. Defaults to ``None``.
        phantom_cases: number of phantom images. Defaults to 40.
        phantom_shape: phantom image size ``(H, W)``; ``None``: the paper's size of ``kind``. Defaults to ``None``.
        val_fraction: fraction of the cases for validation, in [0, 1). Defaults to 0.25 (abraham2018's split).
        seed: seed of the split and of the phantom. Defaults to 0.
        check: ``True`` reads every file completely, ``"header"`` only headers (and the files' end markers),
            ``False`` nothing. Defaults to ``True``.
        progress: show a progress bar while generating the phantom. Defaults to ``True``.

    Returns:
        ``{"training": [...], "validation": [...], "modality": {"0": "R", ...}, "source": str, "kind": str}``,
        items ``{"image": path, "label": path, "case_id": str}``.

    Raises:
        ValueError: when both sources are given, none is (and no ``phantom_dir``), a layout is unknown or not
            found, or the check fails.
        FileNotFoundError: when a source or a listed file does not exist.
    """
    dataset_dir, datalist = dataset_dir or None, datalist or None
    if dataset_dir is not None and datalist is not None:
        raise ValueError(f"give dataset_dir or datalist, not both (got {dataset_dir!r} and {datalist!r}).")
    data_kind = resolve_kind_2d(dataset_dir, datalist, layout, kind)
    channels = resolve_channels_2d(modalities, dataset_dir, datalist, layout, kind)
    if datalist is not None:
        loaded = load_datalist(datalist)
        training = loaded.get("training", [])
        if not training:
            raise ValueError(f"datalist {datalist} has no 'training' items.")
        if isinstance(loaded.get("validation"), list):
            result = {"training": training, "validation": loaded["validation"]}
        else:
            result = split_datalist(training, val_fraction, seed)
    elif dataset_dir is not None:
        items = _TRAINING_ITEMS[_chosen_layout(dataset_dir, layout)](dataset_dir)
        result = split_datalist(items, val_fraction, seed, group_key="group_id")  # BUSI's near-duplicates together
    else:
        if not phantom_dir:
            raise ValueError("give dataset_dir, datalist or phantom_dir (where the synthetic 2D phantom is generated).")
        generated = generate_phantom_dataset_2d(
            phantom_dir, phantom_cases, kind=data_kind, shape=phantom_shape, seed=seed, val_fraction=val_fraction,
            progress=progress,
        )  # fmt: skip
        result = {"training": generated["training"], "validation": generated["validation"]}
    if not result["validation"] and len(result["training"]) == 1 and val_fraction > 0:
        warnings.warn("the data set has a single case: it is used for validation as well as training.", stacklevel=2)
        result["validation"] = list(result["training"])
    result["modality"] = {str(i): c for i, c in enumerate(channels)}
    result["source"] = describe_source_2d(dataset_dir, datalist, phantom_dir, data_kind, layout)
    result["kind"] = data_kind
    if check:
        check_datalist(result, modalities=None, verify_data="header" if check == "header" else True,
                       label_values="binary", label_channels=None)
    return result


def build_inference_datalist_2d(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    section: str | None = None,
    check: bool | str = True,
    require_label: bool = False,
) -> list[dict[str, Any]]:
    """
    The 2D images to run inference (or evaluation) on, checked before any is predicted:

    - a folder in the ISIC 2018 Task 1 layout (its first image folder of test, validation, training; masks paired
      when their folder is there) or the BUS 2017 layout (masks from ``GT/`` when present);
    - any other folder: every PNG/JPEG/BMP file in it (not in sub-folders), one case each, without labels;
    - a ``.json`` datalist: the items of ``section`` (default: the first of ``"testing"``, ``"test"``,
      ``"validation"``, ``"training"`` present);
    - one image file, or a list of image files: one case per file.

    Images may have any size and be RGB or grayscale (they are converted on loading). Every item gets a unique
    ``case_id`` (the datalist's, else the file stem), which names its output folder.

    Args:
        source: see above.
        section: the JSON section to take. Defaults to ``None``.
        check: ``True`` reads every file completely, ``"header"`` only headers, ``False`` nothing. Defaults to
            ``True``.
        require_label: every case must have a label (evaluation). Defaults to ``False``.

    Raises:
        FileNotFoundError: when ``source`` (or a file it lists) does not exist, or a folder holds no image.
        ValueError: when a case lacks a label although ``require_label`` is set, or the check fails (the messages
            name the files).
    """
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        paths = [Path(p).expanduser() for p in source]
        if not paths:
            raise ValueError("the inference input lists no file.")
        items = []
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"image file not found: {p}")
            items.append({"image": str(p.resolve()), "case_id": _stem(p)})
    elif Path(source).expanduser().is_dir():
        items = _folder_items_2d(Path(source).expanduser(), require_label)
    else:
        items = _inference_items(source, None, section)
    _name_cases(items)
    if require_label:
        _require_labels(items, source, "an ISIC 2018 / 2017, BUS 2017 or BUSI folder with its masks")
    if check:
        check_datalist(items, modalities=None, verify_data="header" if check == "header" else True,
                       label_values="binary", label_channels=None)
    return items


def _folder_items_2d(folder: Path, require_label: bool) -> list[dict[str, Any]]:
    root = _existing_dir(folder)
    layout = detect_layout_2d(root)
    if layout == "isic2018":
        for subset in ("test", "validation", "training"):
            input_name, mask_name = ISIC2018_TASK1_FOLDERS[subset]
            base = _layout_root(root, (input_name,))
            if base is not None:
                label = _child_dir(base, mask_name) is not None or require_label
                logger.info(f"ISIC 2018 Task 1 {subset} images in {base}" + (" with their masks" if label else ""))
                return isic2018_datalist(root, subset=subset, label=label)
    if layout == "bus2017":
        base = _layout_root(root, ("original",))
        label = (base is not None and _child_dir(base, "GT") is not None) or require_label
        return bus2017_datalist(root, label=label)
    if layout == "isic2017":
        for subset in ("test", "validation", "training"):
            if _layout_root(root, (ISIC2017_TASK1_FOLDERS[subset][0],)) is not None:
                return isic2017_datalist(root, subset=subset)
        return isic2017_datalist(root)
    if layout == "busi":  # every image, normal ones included: inference and evaluation take what they are given
        return busi_datalist(root, classes=BUSI_CLASSES, group_duplicates=False)
    files = sorted(
        p for p in root.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(IMAGE_SUFFIXES_2D)
    )
    if not files:
        raise FileNotFoundError(
            f"no image in {root}: expected PNG, JPEG or BMP files ({', '.join(IMAGE_SUFFIXES_2D)}), an ISIC 2018 "
            "Task 1 or BUS 2017 folder, or pass a datalist JSON."
        )
    return [{"image": str(p.resolve()), "case_id": _stem(p)} for p in files]
