"""JSON files of the data sets: MONAI-style (Medical Segmentation Decathlon) datalists, read with their paths made
absolute and written with them relative, and the atomic JSON write every record of the package goes through
(phantom manifests, ``model.json``, ``training_run.json``)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "load_datalist",
    "save_datalist",
    "read_json",
    "write_json_atomic",
    "DATALIST_PATH_KEYS",
    "DATALIST_SECTIONS",
]

#: Datalist keys that hold lists of items (``"test"`` is the Medical Segmentation Decathlon's name).
DATALIST_SECTIONS: tuple[str, ...] = ("training", "validation", "testing", "test")

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


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path``, or ``None`` when it is missing or not valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json_atomic(path: str | os.PathLike, content: Any) -> None:
    """Write ``content`` as JSON through a temporary file and a rename, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        with open(tmp, "w") as f:
            json.dump(content, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
