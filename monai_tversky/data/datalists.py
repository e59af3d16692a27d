"""
MONAI-style datalists: load and save the JSON form, split training from validation, and one entry point,
:func:`build_datalist`, that a bundle config calls to get its data from a data set folder, a datalist JSON or
the embedded phantom.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.data import partition_dataset

from .case_paths import safe_case_name
from .layouts import (
    ISBI2015_MODALITIES,
    _folder_cases,
    detect_layout,
    folder_datalist,
    isbi2015_datalist,
    msseg2016_datalist,
    strip_image_suffix,
)
from .layouts_wmh_brats import BRATS_MODALITIES, WMH2017_MODALITIES, brats_datalist, wmh2017_datalist
from .modalities import LABEL_ALIASES, PHANTOM_MODALITIES, canonical_modalities
from .phantom import PHANTOM_SHAPE
from .phantom_dataset import generate_phantom_dataset, write_json_atomic
from .validation import DATALIST_SECTIONS, check_datalist

__all__ = [
    "resolve_channels",
    "describe_source",
    "load_datalist",
    "save_datalist",
    "split_datalist",
    "build_datalist",
    "build_inference_datalist",
    "DATALIST_LAYOUTS",
    "DATALIST_PATH_KEYS",
]

#: Values of ``build_datalist(layout=...)``.
DATALIST_LAYOUTS: tuple[str, ...] = ("auto", "msseg2016", "isbi2015", "wmh2017", "brats", "folder")

#: layout -> (datalist builder taking ``(dataset_dir, channels)``, the layout's own channels in order); the other
#: layout, ``"folder"``, finds its channels in the file names.
_LAYOUT_BUILDERS = {
    "msseg2016": (msseg2016_datalist, PHANTOM_MODALITIES),
    "isbi2015": (isbi2015_datalist, ISBI2015_MODALITIES),
    "wmh2017": (wmh2017_datalist, WMH2017_MODALITIES),
    "brats": (brats_datalist, BRATS_MODALITIES),
}

#: Item keys that hold file paths, resolved against the JSON's folder by :func:`load_datalist`.
DATALIST_PATH_KEYS: tuple[str, ...] = ("image", "label")


def load_datalist(
    path: str | os.PathLike, base_dir: str | os.PathLike | None = None, path_keys: Sequence[str] = DATALIST_PATH_KEYS
) -> dict[str, Any]:
    """
    Load a MONAI-style (Medical Segmentation Decathlon) datalist JSON with every section's paths made absolute::

        {"training": [{"image": ["FLAIR.nii.gz", "T1.nii.gz"], "label": "GT.nii.gz"}, ...],
         "validation": [...], "testing": [...], "modality": {"0": "FLAIR", "1": "T1"}, ...}

    Relative paths under ``path_keys`` are resolved against ``base_dir``, by default the JSON file's folder, and
    ``~`` is expanded. Items of a section may be bare paths (the Decathlon's ``"test": ["a.nii.gz", ...]``), which
    become ``{"image": path}``. Other keys and sections are kept as they are. This is
    :func:`monai.data.load_decathlon_datalist` for all sections at once, except that keys other than ``path_keys``
    are never rewritten (MONAI turns any value that happens to name an existing relative path into a path, which
    would change a ``case_id`` equal to a case folder's name).

    Args:
        path: the JSON file.
        base_dir: folder relative paths are resolved against. Defaults to the JSON file's folder.
        path_keys: item keys holding a path or a list of paths. Defaults to ``("image", "label")``.

    Returns:
        the datalist dict, its sections (:data:`~monai_tversky.data.DATALIST_SECTIONS` present) lists of items.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not valid JSON, is not a dict, has none of the sections ``"training"``,
            ``"validation"``, ``"testing"``, ``"test"``, or a section holds an item that is neither a path nor a dict
            with ``"image"`` (the messages name the file).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"datalist file not found: {path}")
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read datalist {path}: {e}") from e
    if not isinstance(content, dict):
        kind = type(content).__name__
        raise ValueError(f"datalist {path} must hold a JSON object with a 'training' list but holds a {kind}.")
    if not any(isinstance(content.get(s), list) for s in DATALIST_SECTIONS):
        raise ValueError(f"datalist {path} has no list under any of {list(DATALIST_SECTIONS)}: keys {list(content)}.")
    base = Path(base_dir).expanduser() if base_dir is not None else path.resolve().parent
    result = dict(content)
    for section in DATALIST_SECTIONS:
        items = content.get(section)
        if not isinstance(items, list):
            continue
        resolved = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                item = {"image": item}
            if not isinstance(item, dict) or "image" not in item:
                raise ValueError(
                    f"datalist {path}: {section}[{index}] must be a path or a dict with 'image' but is {item!r}."
                )
            item = dict(item)
            for key in path_keys:
                if key in item and item[key] is not None:
                    item[key] = _resolve(item[key], base)
            resolved.append(item)
        result[section] = resolved
    return result


def save_datalist(datalist: Mapping[str, Any], path: str | os.PathLike, relative: bool = True) -> Path:
    """
    Write a datalist as JSON (atomically), with paths under ``"image"``/``"label"`` made relative to the JSON's
    folder where ``relative`` is set and they lie below it, so that the folder can be moved.

    Args:
        datalist: the datalist dict.
        path: the JSON file to write; its folder is created.
        relative: write paths below the JSON's folder relative to it. Defaults to ``True``.

    Returns:
        the path written.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    content = dict(datalist)
    for section in DATALIST_SECTIONS:
        if isinstance(content.get(section), list):
            content[section] = [
                {k: (_relativise(v, base) if relative and k in DATALIST_PATH_KEYS else v) for k, v in item.items()}
                if isinstance(item, Mapping)
                else item
                for item in content[section]
            ]
    write_json_atomic(path, content)
    return path


def split_datalist(
    items: Sequence[Any], val_fraction: float = 0.2, seed: int = 0, group_key: str | None = None
) -> dict[str, list]:
    """
    Split datalist items into training and validation at random, reproducibly, with
    :func:`monai.data.partition_dataset`, keeping items that share ``item[group_key]`` (e.g. the time points of one
    ISBI 2015 subject) on the same side.

    The validation side gets ``round(val_fraction * n_groups)`` groups, at least one when ``val_fraction > 0``
    and at most ``n_groups - 1``; with a single group it is empty. Items keep their original order on each side.

    Args:
        items: the items to split.
        val_fraction: fraction of the groups for validation, in [0, 1). Defaults to 0.2.
        seed: seed of the shuffle. Defaults to 0.
        group_key: item key whose equal values stay together; ``None`` (or an item without it) makes each item
            its own group. Defaults to ``None``.

    Returns:
        ``{"training": [...], "validation": [...]}``.

    Raises:
        ValueError: when ``val_fraction`` is not in [0, 1).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) but got {val_fraction}.")
    groups: dict[Any, list[int]] = {}
    for index, item in enumerate(items):
        key = item.get(group_key, f"\0{index}") if group_key and isinstance(item, Mapping) else f"\0{index}"
        groups.setdefault(key, []).append(index)
    n_groups = len(groups)
    n_val = 0 if val_fraction == 0 or n_groups < 2 else min(n_groups - 1, max(1, round(val_fraction * n_groups)))
    if n_val == 0:
        return {"training": list(items), "validation": []}
    _, val_groups = partition_dataset(list(groups.values()), ratios=[n_groups - n_val, n_val], shuffle=True, seed=seed)
    val_indices = {i for group in val_groups for i in group}
    return {
        "training": [item for i, item in enumerate(items) if i not in val_indices],
        "validation": [item for i, item in enumerate(items) if i in val_indices],
    }


def build_datalist(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    modalities: Sequence[str] | str | None = None,
    layout: str = "auto",
    phantom_dir: str | os.PathLike | None = None,
    phantom_cases: int = 8,
    phantom_shape: Sequence[int] = PHANTOM_SHAPE,
    val_fraction: float = 0.2,
    seed: int = 0,
    check: bool | str = True,
    progress: bool = True,
    label_values: str | Sequence[float] | None = "binary",
    phantom_white_matter: bool = False,
) -> dict[str, Any]:
    """
    The training data of a bundle, from whichever source is given: a data set folder, a datalist JSON, or (neither)
    the synthetic MS phantom, generated once into ``phantom_dir`` and reused afterwards.

    - ``dataset_dir``: the layout is ``layout`` or, with ``"auto"``, detected (:func:`detect_layout`): MSSEG 2016
      (:func:`msseg2016_datalist`), ISBI 2015 (:func:`isbi2015_datalist`, rater 1), WMH 2017
      (:func:`wmh2017_datalist`), BraTS (:func:`brats_datalist`) or a generic folder of images
      named by modality (:func:`folder_datalist`, labels required). The cases are split with
      :func:`split_datalist` (ISBI 2015 by subject, so no subject is on both sides).
    - ``datalist``: :func:`load_datalist`; its ``"validation"`` section is used when present, otherwise its
      ``"training"`` items are split.
    - neither: :func:`generate_phantom_dataset` ``(phantom_dir, phantom_cases, phantom_shape, seed=seed)``.

    A single case (e.g. one real case to exercise a pipeline end to end) is used for validation as well, with a
    warning. Empty strings count as not given, so a config may leave ``dataset_dir`` and ``datalist`` as ``""``.

    Args:
        dataset_dir: a data set folder. Defaults to ``None``.
        datalist: a datalist JSON file. Defaults to ``None``.
        modalities: channels in order, or ``None``/``"auto"`` (the default) for the source's own: MSSEG 2016 and
            the phantom: FLAIR, T1, T1Gd, PD, T2; ISBI 2015: FLAIR, T1, PD, T2; WMH 2017: T1, FLAIR; BraTS: FLAIR,
            T1, T1Gd, T2; a folder: those every case has
            (detected from the file names); a JSON: its ``"modality"`` entry (without one, ``modalities`` must be
            given).
        layout: one of :data:`DATALIST_LAYOUTS`. Defaults to ``"auto"``.
        phantom_dir: folder of the phantom data set, required when neither source is given. Defaults to ``None``.
        phantom_cases: number of phantom cases. Defaults to 8.
        phantom_shape: spatial size of the phantom cases. Defaults to (128, 224, 256).
        val_fraction: fraction of the cases for validation, in [0, 1). Defaults to 0.2.
        seed: seed of the split and of the phantom. Defaults to 0.
        check: run :func:`check_datalist` on the result: ``True`` reads every file's voxels (see its
            ``verify_data``), ``"header"`` only the headers, ``False`` nothing. Defaults to ``True``.
        progress: show a progress bar while generating the phantom. Defaults to ``True``.
        label_values: what labels must hold (see :func:`check_datalist`). Defaults to ``"binary"``.
        phantom_white_matter: the phantom's labels also mark white matter, 2 (its ``white_matter_class``).
            Defaults to ``False``.

    Returns:
        ``{"training": [...], "validation": [...], "modality": {"0": "FLAIR", ...}, "source": str}``, items
        ``{"image": [paths], "label": path, "case_id": str, ...}``; ``"source"`` says where the cases came from.

    Raises:
        ValueError: when both ``dataset_dir`` and ``datalist`` are given, none of the three sources is, ``layout``
            is unknown, or the check fails (see :func:`check_datalist`).
        FileNotFoundError: when a source or a listed file does not exist.
    """
    dataset_dir = dataset_dir or None
    datalist = datalist or None
    if layout not in DATALIST_LAYOUTS:
        raise ValueError(f"layout must be one of {list(DATALIST_LAYOUTS)} but got {layout!r}.")
    if dataset_dir is not None and datalist is not None:
        raise ValueError(f"give dataset_dir or datalist, not both (got {dataset_dir!r} and {datalist!r}).")
    channels = None if _auto(modalities) else canonical_modalities(modalities)

    if datalist is not None:
        loaded = load_datalist(datalist)
        declared = loaded.get("modality")  # the Decathlon's {"0": "FLAIR", "1": "T1", ...}
        if channels is None and isinstance(declared, Mapping) and all(str(k).isdigit() for k in declared):
            channels = tuple(str(declared[k]) for k in sorted(declared, key=int))
        training = loaded.get("training", [])
        if not training:
            raise ValueError(f"datalist {datalist} has no 'training' items.")
        if channels is None:
            raise ValueError(
                f"datalist {datalist} has no \"modality\" entry naming its channels: pass --modalities with the "
                "channel order of its \"image\" lists, e.g. --modalities \"['FLAIR','T1','T2']\"."
            )
        if isinstance(loaded.get("validation"), list):
            result = {"training": training, "validation": loaded["validation"]}
        else:
            result = split_datalist(training, val_fraction, seed, group_key="subject_id")
        source = f"datalist {Path(datalist).expanduser().resolve()}"
    elif dataset_dir is not None:
        chosen = detect_layout(dataset_dir) if layout == "auto" else layout
        if chosen in _LAYOUT_BUILDERS:
            builder, own_channels = _LAYOUT_BUILDERS[chosen]
            channels = channels or own_channels
            items = builder(dataset_dir, channels)
        else:
            items, channels = _folder_cases(dataset_dir, channels, LABEL_ALIASES, require_label=True)
        result = split_datalist(items, val_fraction, seed, group_key="subject_id")
        source = _dataset_text(chosen, dataset_dir)
    else:
        if phantom_dir is None or phantom_dir == "":
            raise ValueError("give dataset_dir, datalist or phantom_dir (where the synthetic phantom is generated).")
        channels = channels or PHANTOM_MODALITIES
        generated = generate_phantom_dataset(
            phantom_dir, phantom_cases, phantom_shape, modalities=channels, seed=seed, val_fraction=val_fraction,
            progress=progress, white_matter_class=bool(phantom_white_matter),
        )  # fmt: skip
        result = {"training": generated["training"], "validation": generated["validation"]}
        source = f"synthetic phantom {Path(phantom_dir).expanduser().resolve()}"

    if not result["validation"] and len(result["training"]) == 1 and val_fraction > 0:
        warnings.warn("the data set has a single case: it is used for validation as well as training.", stacklevel=2)
        result["validation"] = list(result["training"])
    if channels is not None:
        result["modality"] = {str(i): m for i, m in enumerate(channels)}
    result["source"] = source
    if check:
        check_datalist(result, modalities=channels, verify_data="header" if check == "header" else True,
                       label_values=label_values)
    return result


def resolve_channels(
    modalities: Sequence[str] | str | None = None,
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    default: Sequence[str] = PHANTOM_MODALITIES,
) -> tuple[str, ...]:
    """
    The channels a bundle trains on, without building the data: ``modalities`` when given, else the source's own,
    as :func:`build_datalist` would pick them (MSSEG 2016: its five; ISBI 2015: its four; a folder: those every case
    has, from the file names; a datalist JSON: its ``"modality"`` entry; no source: ``default``, the phantom's).

    A bundle config sizes its network from this (``in_channels = len(channels)``) and passes it on to
    :func:`build_datalist`, so both agree.

    Raises:
        ValueError: when a datalist names no channels and ``modalities`` is not given, or a layout is unknown.
        FileNotFoundError: when the source does not exist.
    """
    if not _auto(modalities):
        return canonical_modalities(modalities)
    dataset_dir, datalist = dataset_dir or None, datalist or None
    if datalist is not None:
        declared = load_datalist(datalist).get("modality")
        if isinstance(declared, Mapping) and declared and all(str(k).isdigit() for k in declared):
            return tuple(str(declared[k]) for k in sorted(declared, key=int))
        raise ValueError(
            f"datalist {datalist} has no \"modality\" entry naming its channels: pass --modalities with the "
            "channel order of its \"image\" lists, e.g. --modalities \"['FLAIR','T1','T2']\"."
        )
    if dataset_dir is not None:
        if layout not in DATALIST_LAYOUTS:
            raise ValueError(f"layout must be one of {list(DATALIST_LAYOUTS)} but got {layout!r}.")
        chosen = detect_layout(dataset_dir) if layout == "auto" else layout
        if chosen in _LAYOUT_BUILDERS:
            return tuple(_LAYOUT_BUILDERS[chosen][1])
        channels = _folder_cases(dataset_dir, None, LABEL_ALIASES, require_label=True)[1]
        if channels is None:
            raise ValueError(f"no file in {dataset_dir} is named by a modality: pass --modalities.")
        return tuple(channels)
    return tuple(default)


def describe_source(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    phantom_dir: str | os.PathLike | None = None,
) -> str:
    """Where :func:`build_datalist` takes the cases from, in words (as its ``"source"`` entry says)."""
    if datalist:
        return f"datalist {Path(datalist).expanduser().resolve()}"
    if dataset_dir:
        return _dataset_text(detect_layout(dataset_dir), dataset_dir)
    return f"synthetic phantom {Path(phantom_dir).expanduser().resolve()}" if phantom_dir else "synthetic phantom"


def _dataset_text(layout: str, dataset_dir: str | os.PathLike) -> str:
    names = {
        "msseg2016": "MSSEG 2016 data set",
        "isbi2015": "ISBI 2015 data set",
        "wmh2017": "WMH 2017 data set",
        "brats": "BraTS data set",
        "folder": "folder of cases",
    }
    return f"{names.get(layout, layout)} {Path(dataset_dir).expanduser().resolve()}"


def _auto(modalities: Sequence[str] | str | None) -> bool:
    """Whether ``modalities`` asks for the source's own channels (``None``, ``""`` or ``"auto"``)."""
    return modalities is None or (isinstance(modalities, str) and modalities.strip().lower() in ("", "auto"))


def build_inference_datalist(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    modalities: Sequence[str] | str | None = None,
    section: str | None = None,
    check: bool | str = True,
    require_label: bool = False,
    label_values: str | Sequence[float] | None = "binary",
) -> list[dict[str, Any]]:
    """
    The cases to run inference (or evaluation) on, from a datalist JSON, a folder, one image file or a list of files,
    checked before any voxel is predicted.

    - a ``.json`` file: the items of ``section`` of :func:`load_datalist` (default: the first of ``"testing"``,
      ``"test"``, ``"validation"``, ``"training"`` present);
    - a folder: :func:`folder_datalist` with ``modalities`` (a folder of cases named by modality, or of cases in
      sub-folders; labels listed when found);
    - one image file: one case, ``{"image": path}`` (a multi-channel file, or a single channel);
    - a list of files: one case whose channels are those files, in order.

    Every item gets a ``case_id`` (the datalist's, else the case folder and file stem), unique within the list, so
    that outputs named after it never overwrite each other. Then :func:`check_datalist` reads every file (missing,
    unreadable, corrupt, non-finite voxels, channel count against ``modalities``, image/label geometry).

    Args:
        source: see above.
        modalities: channels in order: for a folder the files to pick, and for every source the channel count the
            check expects; ``None``/``"auto"`` detects them in a folder and checks no count. Defaults to ``None``.
        section: the JSON section to take. Defaults to ``None`` (see above).
        check: see :func:`build_datalist`. Defaults to ``True``.
        require_label: every case must have a label (evaluation). Defaults to ``False``.
        label_values: what labels must hold (see :func:`check_datalist`). Defaults to ``"binary"``.

    Raises:
        FileNotFoundError: when ``source`` (or a file it lists) does not exist.
        ValueError: when the JSON has no such section, a case has no label although ``require_label`` is set, or the
            check fails (the messages name the files).
    """
    channels = None if _auto(modalities) else canonical_modalities(modalities)
    items = _inference_items(source, channels, section)
    _name_cases(items)
    if require_label:
        _require_labels(items, source, "a folder whose cases have a label file (GT, label, mask, consensus, ...)")
    if check:
        check_datalist(items, modalities=channels, verify_data="header" if check == "header" else True,
                       label_values=label_values)
    return items


def _name_cases(items: list[dict[str, Any]]) -> None:
    """
    Give every item a ``case_id`` (the case folder and file stem when it has none) whose output name
    (:func:`~monai_tversky.data.safe_case_name`) is unique within ``items``: ``a/b`` and ``a_b`` would write to the
    same files, so the second becomes ``a_b_2``. An id that gives no usable name stops here, before anything runs.
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


def _require_labels(items: list[dict[str, Any]], source: Any, hint: str) -> None:
    """Raise a ``ValueError`` naming the cases of ``items`` that have no label (evaluation needs them)."""
    unlabelled = [str(item["case_id"]) for item in items if not item.get("label")]
    if unlabelled:
        raise ValueError(
            f"evaluation needs a label for every case, but {len(unlabelled)} case(s) of {source} have none: "
            f"{', '.join(unlabelled[:10])}. Give a datalist with a \"label\" per item, or {hint}."
        )


def _inference_items(source, channels, section) -> list[dict[str, Any]]:
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        paths = [Path(p).expanduser() for p in source]
        if not paths:
            raise ValueError("the inference input lists no file.")
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"image file not found: {p}")
        return [{"image": [str(p.resolve()) for p in paths], "case_id": _stem(paths[0])}]
    path = Path(source).expanduser()
    if path.is_dir():
        return folder_datalist(path, channels)
    if not path.is_file():
        raise FileNotFoundError(f"inference input not found: {path}")
    if path.name.lower().endswith(".json"):
        loaded = load_datalist(path)
        names = [section] if section else [s for s in ("testing", "test", "validation", "training") if loaded.get(s)]
        if not names or not isinstance(loaded.get(names[0]), list):
            raise ValueError(f"datalist {path} has no {section or 'testing/test/validation/training'!r} list.")
        return [dict(item) for item in loaded[names[0]]]
    return [{"image": str(path.resolve()), "case_id": _stem(path)}]


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, (str, os.PathLike)):
        return os.path.normpath(os.path.join(base, os.path.expanduser(os.fspath(value))))
    if isinstance(value, list) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return [_resolve(v, base) for v in value]
    return value


def _relativise(value: Any, base: Path) -> Any:
    if isinstance(value, (str, os.PathLike)):
        p = Path(value)
        if p.is_absolute():
            try:
                return p.resolve().relative_to(base).as_posix()
            except ValueError:
                return os.fspath(value)
        return os.fspath(value)
    if isinstance(value, list):
        return [_relativise(v, base) for v in value]
    return value


def _stem(path: Path) -> str:
    return strip_image_suffix(path.name) or path.stem
