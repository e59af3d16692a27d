"""Write a cached data set of synthetic 2D lesion phantoms as PNG files with a MONAI-style datalist JSON."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image  # a dependency of matplotlib, and what monai.data.PILReader reads PNG and JPEG files with

from .phantom2d import PHANTOM2D_CHANNELS, PHANTOM2D_VERSION, check_phantom2d_arguments, make_lesion_phantom_2d
from .phantom_dataset import (
    _LOCK_NAME,
    PHANTOM_DATALIST,
    PHANTOM_MANIFEST,
    FileLock,
    _case_complete,
    _has_filelock,
    _has_tqdm,
    _read_json,
    _remove_cases,
    tqdm,
    write_json_atomic,
)

__all__ = ["generate_phantom_dataset_2d", "PHANTOM2D_IMAGE_NAME", "PHANTOM2D_LABEL_NAME", "PHANTOM2D_LABEL_VALUE"]

#: File names of a case inside a 2D phantom data set folder (``case_000/image.png``, ``case_000/label.png``).
PHANTOM2D_IMAGE_NAME = "image.png"
PHANTOM2D_LABEL_NAME = "label.png"

#: Value of lesion pixels in the mask files (background is 0), as ISIC 2018 and BUS 2017 distribute their masks.
PHANTOM2D_LABEL_VALUE = 255


def generate_phantom_dataset_2d(
    out_dir: str | os.PathLike,
    num_cases: int = 32,
    kind: str = "skin",
    shape: Sequence[int] | None = None,
    seed: int = 0,
    val_fraction: float = 0.25,
    n_lesions: int | None = None,
    lesion_fraction: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """
    Generate (once) a data set of :func:`~monai_tversky.data.make_lesion_phantom_2d` images and return its datalist,
    the embedded default data of the focal_tversky bundle (abraham2018).

    Files are laid out one folder per case::

        out_dir/
            case_000/image.png      uint8, RGB (skin) or grayscale "L" (ultrasound)
            case_000/label.png      uint8 grayscale, 0 background, 255 lesion (as ISIC 2018 and BUS 2017 masks)
            case_001/...
            datalist.json           MONAI-style: {"training": [{"image": ..., "label": ..., "case_id": ...}],
                                    "validation": [...], ...}
            phantom_manifest.json   the generation parameters and the files of every completed case

    PNG is lossless, so the files hold exactly the generated arrays. Loaded with MONAI's
    ``LoadImaged(keys=["image", "label"], ensure_channel_first=True)`` (:class:`monai.data.PILReader`), the image is
    ``(C, W, H)`` and the label ``(1, W, H)`` with values 0 and 255, aligned pixel for pixel (see
    :func:`~monai_tversky.data.make_lesion_phantom_2d` for the axis order); a pipeline maps the label to {0, 1}, e.g.
    with ``AsDiscreted(keys="label", threshold=127.5)``. Paths in ``datalist.json`` are relative to ``out_dir`` (the
    folder can be moved); the returned dict holds absolute paths.

    Caching follows :func:`~monai_tversky.data.generate_phantom_dataset`: case ``i`` depends only on ``seed``, ``i``
    and the image parameters (not on ``num_cases``); a call whose parameters match the manifest reuses the complete
    cases, generates only the missing ones and rewrites nothing that is unchanged. Each file is written to a
    temporary name and renamed, the manifest is updated after each case, and a file lock serialises concurrent
    callers (e.g. the ranks of a ``torchrun`` job).

    Args:
        out_dir: folder of the data set; created if missing.
        num_cases: number of images, >= 1. Defaults to 32.
        kind: ``"skin"`` (ISIC 2018-like) or ``"ultrasound"`` (BUS 2017-like). Defaults to ``"skin"``.
        shape: image size ``(H, W)``. Defaults to ``None``: 192 x 256 for skin, 128 x 128 for ultrasound.
        seed: an int >= 0 from which every case's generator is derived. Defaults to 0.
        val_fraction: fraction of the cases (the last ones) listed under ``"validation"``, in [0, 1); at least one
            when it is > 0 and there are two cases or more. Defaults to 0.25, abraham2018's 75-25 split.
        n_lesions: lesions per image, see :func:`make_lesion_phantom_2d`. Defaults to ``None`` (drawn per case).
        lesion_fraction: lesion area per image, see :func:`make_lesion_phantom_2d`. Defaults to ``None`` (drawn per
            case).
        overwrite: regenerate every case even if the manifest says it is complete, and replace a data set that
            was generated with other parameters. Defaults to ``False``.
        progress: show a ``tqdm`` progress bar while generating two cases or more. Defaults to ``True``.

    Returns:
        the datalist: ``{"training": [...], "validation": [...], "modality": {"0": "R", "1": "G", "2": "B"}``
        (``{"0": "US"}`` for ultrasound), ``"labels": {"0": "background", "255": "lesion"}, ...}``, each item
        ``{"image": path, "label": path, "case_id": "case_000"}``.

    Raises:
        FileExistsError: when ``out_dir`` holds a phantom data set generated with other parameters and
            ``overwrite`` is ``False`` (the message lists the differing parameters).
        ValueError: when an argument is out of range (see :func:`make_lesion_phantom_2d` for the phantom's own).
    """
    if isinstance(num_cases, bool) or not isinstance(num_cases, (int, np.integer)) or num_cases < 1:
        raise ValueError(f"num_cases must be an int >= 1 but got {num_cases!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 (the cache is keyed on it) but got {seed!r}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) but got {val_fraction}.")
    shape_t, kind = check_phantom2d_arguments(shape, kind, n_lesions, lesion_fraction)
    params = {
        "generator": "monai_tversky.data.make_lesion_phantom_2d",
        "generator_version": PHANTOM2D_VERSION,
        "kind": kind,
        "shape": list(shape_t),
        "seed": int(seed),
        "n_lesions": None if n_lesions is None else int(n_lesions),
        "lesion_fraction": None if lesion_fraction is None else float(lesion_fraction),
        "image_format": "png",
        "label_value": PHANTOM2D_LABEL_VALUE,
    }
    root = Path(out_dir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / _LOCK_NAME)) if _has_filelock else contextlib.nullcontext()
    with lock:
        manifest = _read_json(root / PHANTOM_MANIFEST)
        cases: dict[str, dict[str, int]] = {}
        if manifest is not None and isinstance(manifest.get("cases"), dict):
            old_params = manifest.get("params")
            if old_params != params:
                if not overwrite:
                    old = old_params if isinstance(old_params, dict) else {}
                    diff = sorted(k for k in set(params) | set(old) if params.get(k) != old.get(k))
                    raise FileExistsError(
                        f"{root} holds a phantom data set generated with other parameters ("
                        + ", ".join(f"{k}: {old.get(k)!r} there, {params.get(k)!r} now" for k in diff)
                        + "); pass overwrite=True to replace it, or choose another directory."
                    )
                _remove_cases(root, manifest["cases"])
                (root / PHANTOM_MANIFEST).unlink(missing_ok=True)
            elif not overwrite:
                cases = {name: files for name, files in manifest["cases"].items() if _case_complete(root, name, files)}

        names = [f"case_{i:03d}" for i in range(int(num_cases))]
        todo = [(i, n) for i, n in enumerate(names) if n not in cases]
        iterator = todo
        if progress and _has_tqdm and len(todo) > 1:
            iterator = tqdm(todo, desc=f"Generating 2D {kind} lesion phantoms in {root}", unit="case")
        for index, name in iterator:
            cases[name] = _write_case(root, name, index, params)
            write_json_atomic(root / PHANTOM_MANIFEST, {"params": params, "cases": cases})

        datalist = _phantom_datalist_2d(names, kind, val_fraction)
        if _read_json(root / PHANTOM_DATALIST) != datalist:
            write_json_atomic(root / PHANTOM_DATALIST, datalist)
    return _absolute(datalist, root)


def _phantom_datalist_2d(names: list[str], kind: str, val_fraction: float) -> dict[str, Any]:
    n_val = 0 if val_fraction == 0 or len(names) < 2 else min(len(names) - 1, max(1, round(val_fraction * len(names))))
    items = [
        {"image": f"{n}/{PHANTOM2D_IMAGE_NAME}", "label": f"{n}/{PHANTOM2D_LABEL_NAME}", "case_id": n} for n in names
    ]
    return {
        "name": f"monai_tversky 2D {kind} lesion phantom",
        "description": f"Synthetic 2D {kind} lesion images generated by monai_tversky.data.make_lesion_phantom_2d",
        "modality": {str(i): c for i, c in enumerate(PHANTOM2D_CHANNELS[kind])},
        "labels": {"0": "background", str(PHANTOM2D_LABEL_VALUE): "lesion"},
        "numTraining": len(items) - n_val,
        "training": items[: len(items) - n_val],
        "validation": items[len(items) - n_val :],
    }


def _absolute(datalist: dict[str, Any], root: Path) -> dict[str, Any]:
    result = dict(datalist)
    for section in ("training", "validation"):
        result[section] = [
            {**item, "image": str(root / item["image"]), "label": str(root / item["label"])}
            for item in datalist[section]
        ]
    return result


def _write_case(root: Path, name: str, index: int, params: dict[str, Any]) -> dict[str, int]:
    """Generate case ``index`` and write its PNG files atomically; return ``{file name: size in bytes}``."""
    rng = np.random.default_rng(np.random.SeedSequence(params["seed"], spawn_key=(index,)))
    image, mask = make_lesion_phantom_2d(
        params["shape"],
        kind=params["kind"],
        n_lesions=params["n_lesions"],
        lesion_fraction=params["lesion_fraction"],
        seed=rng,
    )
    case_dir = root / name
    case_dir.mkdir(exist_ok=True)
    pixels = image if image.shape[-1] == 3 else image[..., 0]  # (H, W, 3) is saved as RGB, (H, W) as "L"
    return {
        PHANTOM2D_IMAGE_NAME: _save_png_atomic(case_dir / PHANTOM2D_IMAGE_NAME, pixels),
        PHANTOM2D_LABEL_NAME: _save_png_atomic(case_dir / PHANTOM2D_LABEL_NAME, mask * np.uint8(PHANTOM2D_LABEL_VALUE)),
    }


def _save_png_atomic(path: Path, array: np.ndarray) -> int:
    """Save a uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB) array as PNG through a temporary file and a rename."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size
