"""The one cache both phantom generators write through: a folder of cases, a manifest of the generation parameters
and of every completed case's files, a lock, and a progress bar."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monai.utils import optional_import

from ..json_files import read_json, write_json_atomic

FileLock, _has_filelock = optional_import("filelock", name="FileLock")
tqdm, _has_tqdm = optional_import("tqdm", name="tqdm")

__all__ = [
    "cached_phantom_dataset", "check_cache_arguments", "validation_count", "write_atomic", "PHANTOM_MANIFEST",
    "PHANTOM_DATALIST",
]

#: File names inside a phantom data set folder.
PHANTOM_MANIFEST = "phantom_manifest.json"
PHANTOM_DATALIST = "datalist.json"
_LOCK_NAME = ".phantom.lock"


def cached_phantom_dataset(
    out_dir: str | os.PathLike,
    params: dict[str, Any],
    num_cases: int,
    write_case: Callable[[Path, str, int, dict[str, Any]], dict[str, int]],
    datalist: Callable[[list[str]], dict[str, Any]],
    overwrite: bool = False,
    progress: bool = True,
    description: str = "Generating phantoms",
) -> dict[str, Any]:
    """
    Generate (once) the cases ``case_000 .. case_<num_cases - 1>`` of a phantom data set and return its datalist,
    with absolute paths.

    Caching: case ``i`` depends only on ``params`` and ``i`` (not on ``num_cases``), and the manifest
    (``phantom_manifest.json``) records ``params`` and the files of every completed case with their sizes. A call
    whose parameters match the manifest reuses the complete cases, generates only the missing ones and rewrites
    nothing that is unchanged. Each case's files are written by ``write_case`` (atomically: :func:`write_atomic`)
    and the manifest is updated after each case, so an interrupted run leaves no partial file and resumes where it
    stopped. A file lock serialises concurrent callers (e.g. the ranks of a ``torchrun`` job).

    Args:
        out_dir: folder of the data set; created if missing.
        params: the generation parameters (JSON-serialisable; compared with the manifest's).
        num_cases: number of cases.
        write_case: ``write_case(root, name, index, params) -> {file name: size}`` writes one case's files into
            ``root / name``.
        datalist: ``datalist(names) -> dict`` the datalist (paths relative to ``out_dir``), written as
            ``datalist.json`` when it changed.
        overwrite: regenerate every case, and replace a data set generated with other parameters.
        progress: show a ``tqdm`` bar while generating two cases or more.
        description: the bar's text.

    Raises:
        FileExistsError: when ``out_dir`` holds a phantom data set generated with other parameters and
            ``overwrite`` is ``False`` (the message lists the differing parameters).
    """
    root = Path(out_dir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / _LOCK_NAME)) if _has_filelock else contextlib.nullcontext()
    with lock:
        manifest = read_json(root / PHANTOM_MANIFEST)
        cases: dict[str, dict[str, int]] = {}
        if isinstance(manifest, dict) and isinstance(manifest.get("cases"), dict):
            old_params = manifest.get("params")
            if old_params != params:
                if not overwrite:
                    old = old_params if isinstance(old_params, dict) else {}
                    diff = sorted(k for k in set(params) | set(old) if params.get(k) != old.get(k))
                    raise FileExistsError(
                        f"{root} holds a phantom data set generated with other parameters ("
                        + ", ".join(f"{k}: {old.get(k)!r} there, {params.get(k)!r} now" for k in diff)
                        + "); pass overwrite=True to replace it, or choose another directory (in a bundle run: "
                        "--phantom_dir <another folder>, or delete this one)."
                    )
                _remove_cases(root, manifest["cases"])
                (root / PHANTOM_MANIFEST).unlink(missing_ok=True)
            elif not overwrite:
                cases = {name: files for name, files in manifest["cases"].items() if _case_complete(root, name, files)}

        names = [f"case_{i:03d}" for i in range(int(num_cases))]
        todo = [(i, n) for i, n in enumerate(names) if n not in cases]
        iterator = todo
        if progress and _has_tqdm and len(todo) > 1:
            iterator = tqdm(todo, desc=f"{description} in {root}", unit="case")
        for index, name in iterator:
            (root / name).mkdir(exist_ok=True)
            cases[name] = write_case(root, name, index, params)
            write_json_atomic(root / PHANTOM_MANIFEST, {"params": params, "cases": cases})

        content = datalist(names)
        if read_json(root / PHANTOM_DATALIST) != content:
            write_json_atomic(root / PHANTOM_DATALIST, content)
    return _absolute(content, root)


def write_atomic(path: Path, save: Callable[[Path], Any]) -> int:
    """Write a file through a temporary name and a rename (``save(tmp)`` writes it); return its size in bytes."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def _absolute(datalist: dict[str, Any], root: Path) -> dict[str, Any]:
    def absolute(value: Any) -> Any:
        return [str(root / p) for p in value] if isinstance(value, list) else str(root / value)

    result = dict(datalist)
    for section in ("training", "validation"):
        result[section] = [
            {**item, "image": absolute(item["image"]), "label": absolute(item["label"])} for item in datalist[section]
        ]
    return result


def _case_complete(root: Path, name: str, files: Any) -> bool:
    if not isinstance(files, dict) or not files:
        return False
    for file_name, size in files.items():
        path = root / name / file_name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def _remove_cases(root: Path, cases: dict[str, Any]) -> None:
    """Remove the files a previous manifest lists (and their folders when left empty); nothing else."""
    for name, files in cases.items():
        case_dir = root / name
        if not isinstance(files, dict) or case_dir.parent != root:
            continue
        for file_name in files:
            target = case_dir / file_name
            if target.parent == case_dir:
                target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            case_dir.rmdir()


def validation_count(num_cases: int, val_fraction: float) -> int:
    """How many of the last cases validate: ``round(val_fraction * n)``, at least one when ``val_fraction > 0`` and
    there are two cases or more, at most ``n - 1``."""
    if val_fraction == 0 or num_cases < 2:
        return 0
    return min(num_cases - 1, max(1, round(val_fraction * num_cases)))


def check_cache_arguments(num_cases: Any, seed: Any, val_fraction: float) -> None:
    """The arguments both generators share: ``num_cases`` an int >= 1, ``seed`` an int >= 0 (the cache is keyed
    on it), ``val_fraction`` in [0, 1)."""
    import numpy as np

    if isinstance(num_cases, bool) or not isinstance(num_cases, (int, np.integer)) or num_cases < 1:
        raise ValueError(f"num_cases must be an int >= 1 but got {num_cases!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 (the cache is keyed on it) but got {seed!r}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) but got {val_fraction}.")


