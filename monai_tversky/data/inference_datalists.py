"""
The cases inference and evaluation run on: a datalist JSON, a folder in any layout, one image file or a list of files,
every case named so that its outputs never collide, and every file checked before anything is predicted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .case_paths import safe_case_name
from .json_files import load_datalist
from .layouts import detect_layout, get_layout, strip_image_suffix
from .layouts._helpers import existing_dir
from .modalities import canonical_modalities
from .validation import check_datalist

__all__ = ["build_inference_datalist", "build_inference_datalist_2d"]


def _auto(modalities: Sequence[str] | str | None) -> bool:
    return modalities is None or (isinstance(modalities, str) and modalities.strip().lower() in ("", "auto"))


def build_inference_datalist(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    modalities: Sequence[str] | str | None = None,
    section: str | None = None,
    check: bool | str = True,
    require_label: bool = False,
    label_values: str | Sequence[float] | None = "binary",
    spatial_dims: int = 3,
) -> list[dict[str, Any]]:
    """
    The cases to run inference (or evaluation) on, from a datalist JSON, a folder, one image file or a list of files,
    checked before any voxel is predicted.

    - a ``.json`` file: the items of ``section`` of :func:`load_datalist` (default: the first of ``"testing"``,
      ``"test"``, ``"validation"``, ``"training"`` present);
    - a folder: its layout's cases (:func:`~monai_tversky.data.detect_layout`; 3D: MSSEG 2016, ISBI 2015, WMH 2017,
      BraTS or a folder of cases named by modality; 2D: ISIC 2018 / 2017, BUS 2017, BUSI, or any folder of images),
      labels listed where the layout has them;
    - one image file: one case, ``{"image": path}`` (a multi-channel file, or a single channel);
    - a list of files: 3D, one case whose channels are those files, in order; 2D, one case per file.

    Every item gets a ``case_id`` (the datalist's, else the case folder and file stem), unique by its output name
    (:func:`~monai_tversky.data.safe_case_name`), so that outputs named after it never overwrite each other. Then
    :func:`check_datalist` reads every file (missing, unreadable, corrupt, non-finite voxels, channel count against
    ``modalities`` in 3D, image/label geometry).

    Args:
        source: see above.
        modalities: 3D channels in order: for a folder the files to pick, and for every source the channel count the
            check expects; ``None``/``"auto"`` detects them in a folder and checks no count. Defaults to ``None``.
        section: the JSON section to take. Defaults to ``None`` (see above).
        check: ``True`` reads every file's voxels, ``"header"`` only the headers, ``False`` nothing.
        require_label: every case must have a label (evaluation). Defaults to ``False``.
        label_values: what labels must hold (see :func:`check_datalist`; 2D masks are checked as lesion masks).
            Defaults to ``"binary"``.
        spatial_dims: 3 (volumes) or 2 (images). Defaults to 3.

    Raises:
        FileNotFoundError: when ``source`` (or a file it lists) does not exist.
        ValueError: when the JSON has no such section, a case has no label although ``require_label`` is set, or the
            check fails (the messages name the files).
    """
    channels = None if _auto(modalities) or spatial_dims == 2 else canonical_modalities(modalities)
    items = _inference_items(source, channels, section, spatial_dims, "required" if require_label else "optional")
    _name_cases(items)
    if require_label:
        _require_labels(items, source)
    if check:
        verify = "header" if check == "header" else True
        if spatial_dims == 2:
            check_datalist(items, modalities=None, verify_data=verify, label_values="binary", label_channels=None)
        else:
            check_datalist(items, modalities=channels, verify_data=verify, label_values=label_values)
    return items


def build_inference_datalist_2d(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    section: str | None = None,
    check: bool | str = True,
    require_label: bool = False,
) -> list[dict[str, Any]]:
    """The 2D images to run inference (or evaluation) on: :func:`build_inference_datalist` with ``spatial_dims=2``.
    Images may have any size and be RGB or grayscale (they are converted on loading)."""
    return build_inference_datalist(source, section=section, check=check, require_label=require_label, spatial_dims=2)


def _inference_items(source, channels, section, spatial_dims: int, labels: str) -> list[dict[str, Any]]:
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        paths = [Path(p).expanduser() for p in source]
        if not paths:
            raise ValueError("the inference input lists no file.")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"image file not found: {p}")
        if spatial_dims == 2:
            return [{"image": str(p.resolve()), "case_id": _stem(p)} for p in paths]
        return [{"image": [str(p.resolve()) for p in paths], "case_id": _stem(paths[0])}]
    path = Path(source).expanduser()
    if path.is_dir():
        root = existing_dir(path)
        layout = get_layout(detect_layout(root, spatial_dims), spatial_dims)
        return layout.list_for_inference(root, channels, labels)
    if not path.is_file():
        raise FileNotFoundError(f"inference input not found: {path}")
    if path.name.lower().endswith(".json"):
        loaded = load_datalist(path)
        names = [section] if section else [s for s in ("testing", "test", "validation", "training") if loaded.get(s)]
        if not names or not isinstance(loaded.get(names[0]), list):
            raise ValueError(f"datalist {path} has no {section or 'testing/test/validation/training'!r} list.")
        return [dict(item) for item in loaded[names[0]]]
    return [{"image": str(path.resolve()), "case_id": _stem(path)}]


def _name_cases(items: list[dict[str, Any]]) -> None:
    """
    Give every item a ``case_id`` (the case folder and file stem when it has none) whose output name
    (:func:`~monai_tversky.data.safe_case_name`) is unique within ``items``: ``a/b`` and ``a_b`` would write to the
    same files, so the second gets ``_2``. An id that gives no usable name stops here, before anything runs.
    """
    used: set[str] = set()
    for index, item in enumerate(items):
        if not item.get("case_id"):
            image = item["image"][0] if isinstance(item["image"], (list, tuple)) else item["image"]
            path = Path(str(image))
            item["case_id"] = f"{path.parent.name}/{_stem(path)}" if path.parent.name else _stem(path)
        case = str(item["case_id"])
        try:
            name = safe_case_name(case)
        except ValueError as e:
            raise ValueError(f"datalist item {index} (image {item.get('image')}): {e}") from None
        n = 1
        while name in used:
            n += 1
            item["case_id"] = f"{case}_{n}"
            name = safe_case_name(item["case_id"])
        used.add(name)


def _require_labels(items: list[dict[str, Any]], source: Any) -> None:
    """Raise a ``ValueError`` naming the cases of ``items`` that have no label (evaluation needs them)."""
    unlabelled = [str(item["case_id"]) for item in items if not item.get("label")]
    if unlabelled:
        raise ValueError(
            f"evaluation needs a label for every case, but {len(unlabelled)} case(s) of {source} have none: "
            f"{', '.join(unlabelled[:10])}. Give a datalist with a \"label\" per item, or a folder in one of the "
            "layouts with its labels (masks)."
        )


def _stem(path: Path) -> str:
    return strip_image_suffix(path.name) or path.stem
