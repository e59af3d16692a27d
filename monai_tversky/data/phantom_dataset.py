"""Write a cached data set of synthetic MS lesion phantoms as NIfTI files with a MONAI-style datalist JSON."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from monai.utils import optional_import

from .modalities import PHANTOM_MODALITIES
from .phantom import PHANTOM_SHAPE, PHANTOM_VERSION, check_phantom_arguments, make_ms_phantom

FileLock, _has_filelock = optional_import("filelock", name="FileLock")
tqdm, _has_tqdm = optional_import("tqdm", name="tqdm")

__all__ = ["generate_phantom_dataset", "PHANTOM_MANIFEST", "PHANTOM_DATALIST", "PHANTOM_LABEL_NAME"]

#: File names inside a phantom data set folder.
PHANTOM_MANIFEST = "phantom_manifest.json"
PHANTOM_DATALIST = "datalist.json"
PHANTOM_LABEL_NAME = "label.nii.gz"
_LOCK_NAME = ".phantom.lock"
_INTENSITY_STEP = 1e-3  # int16 quantisation step of the stored phantom intensities (noise sigma is about 0.03)


def generate_phantom_dataset(
    out_dir: str | os.PathLike,
    num_cases: int = 8,
    shape: Sequence[int] = PHANTOM_SHAPE,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    modalities: Sequence[str] = PHANTOM_MODALITIES,
    seed: int = 0,
    val_fraction: float = 0.2,
    n_lesions: int | None = None,
    lesion_load: float | None = None,
    noise: float = 0.03,
    bias: float = 0.15,
    overwrite: bool = False,
    progress: bool = True,
    white_matter_class: bool = False,
) -> dict[str, Any]:
    """
    Generate (once) a data set of :func:`~monai_tversky.data.make_ms_phantom` cases and return its datalist.

    Files are laid out one per modality per case, as MSSEG 2016 distributes them::

        out_dir/
            case_000/FLAIR.nii.gz, T1.nii.gz, T1Gd.nii.gz, PD.nii.gz, T2.nii.gz, label.nii.gz
            case_001/...
            datalist.json           MONAI-style: {"training": [{"image": [...], "label": ...}], "validation": [...]}
            phantom_manifest.json   the generation parameters and the files of every completed case

    Images are stored as int16 in steps of 0.001 with the NIfTI intensity scaling (``scl_slope = 0.001``) that
    restores the float values (to within 0.0005, far below the noise), labels as uint8; the affine is written to both the qform and the sform. Paths in ``datalist.json`` are relative
    to ``out_dir`` (the folder can be moved); the returned dict holds absolute paths.

    Caching: case ``i`` depends only on ``seed``, ``i`` and the image parameters (not on ``num_cases``), and the
    manifest records every completed case. A call whose parameters match the manifest reuses the complete cases,
    generates only the missing ones and rewrites nothing that is unchanged. Each file is written to a temporary
    name and renamed, and the manifest is updated after each case, so an interrupted run leaves no partial file and
    resumes where it stopped. A file lock serialises concurrent callers (e.g. the ranks of a ``torchrun`` job).

    Args:
        out_dir: folder of the data set; created if missing.
        num_cases: number of cases, >= 1. Defaults to 8.
        shape: spatial size of each case, see :func:`make_ms_phantom`. Defaults to (128, 224, 256).
        spacing: voxel size in mm. Defaults to (1, 1, 1).
        modalities: channels, one file each, named by their canonical names (``"T1Gd"``, not ``"GADO"``).
            Defaults to ``("FLAIR", "T1", "T1Gd", "PD", "T2")``.
        seed: an int >= 0 from which every case's generator is derived. Defaults to 0.
        val_fraction: fraction of the cases (the last ones) listed under ``"validation"``, in [0, 1); at least one
            when it is > 0 and there are two cases or more. Defaults to 0.2.
        n_lesions: lesions per case, see :func:`make_ms_phantom`. Defaults to ``None`` (drawn per case).
        lesion_load: lesion fraction per case, see :func:`make_ms_phantom`. Defaults to ``None`` (drawn per case).
        noise: Rician noise level, see :func:`make_ms_phantom`. Defaults to 0.03.
        bias: bias field strength, see :func:`make_ms_phantom`. Defaults to 0.15.
        overwrite: regenerate every case even if the manifest says it is complete, and replace a data set that
            was generated with other parameters. Defaults to ``False``.
        progress: show a ``tqdm`` progress bar while generating two cases or more. Defaults to ``True``.
        white_matter_class: labels hold 2 on normal-appearing white matter besides 1 on lesions (see
            :func:`make_ms_phantom`); the datalist's ``"labels"`` then name three classes. Defaults to ``False``.

    Returns:
        the datalist: ``{"training": [...], "validation": [...], "modality": {"0": "FLAIR", ...},
        "labels": {"0": "background", "1": "lesion"}, ...}``, each item
        ``{"image": [one path per modality], "label": path, "case_id": "case_000"}``.

    Raises:
        FileExistsError: when ``out_dir`` holds a phantom data set generated with other parameters and
            ``overwrite`` is ``False`` (the message lists the differing parameters).
        ValueError: when an argument is out of range (see :func:`make_ms_phantom` for the phantom's own).
    """
    if isinstance(num_cases, bool) or not isinstance(num_cases, (int, np.integer)) or num_cases < 1:
        raise ValueError(f"num_cases must be an int >= 1 but got {num_cases!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0 (the cache is keyed on it) but got {seed!r}.")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) but got {val_fraction}.")
    shape_t, spacing_t, channels = check_phantom_arguments(
        shape, spacing, modalities, n_lesions, lesion_load, noise, bias
    )
    params = {
        "generator": "monai_tversky.data.make_ms_phantom",
        "generator_version": PHANTOM_VERSION,
        "shape": list(shape_t),
        "spacing": list(spacing_t),
        "modalities": list(channels),
        "seed": int(seed),
        "n_lesions": None if n_lesions is None else int(n_lesions),
        "lesion_load": None if lesion_load is None else float(lesion_load),
        "noise": float(noise),
        "bias": float(bias),
        "image_dtype": "int16",
        "intensity_step": _INTENSITY_STEP,
    }
    if white_matter_class:  # only when set, so data sets generated before the switch existed stay valid
        params["white_matter_class"] = True
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
            iterator = tqdm(todo, desc=f"Generating MS phantoms in {root}", unit="case")
        for index, name in iterator:
            cases[name] = _write_case(root, name, index, params)
            write_json_atomic(root / PHANTOM_MANIFEST, {"params": params, "cases": cases})

        datalist = _phantom_datalist(names, channels, val_fraction, white_matter_class)
        if _read_json(root / PHANTOM_DATALIST) != datalist:
            write_json_atomic(root / PHANTOM_DATALIST, datalist)
    return _absolute(datalist, root)


def _phantom_datalist(
    names: list[str], channels: Sequence[str], val_fraction: float, white_matter_class: bool = False
) -> dict[str, Any]:
    n_val = 0 if val_fraction == 0 or len(names) < 2 else min(len(names) - 1, max(1, round(val_fraction * len(names))))
    items = [
        {"image": [f"{n}/{m}.nii.gz" for m in channels], "label": f"{n}/{PHANTOM_LABEL_NAME}", "case_id": n}
        for n in names
    ]
    return {
        "name": "monai_tversky MS lesion phantom",
        "description": "Synthetic multiple-sclerosis lesion phantoms generated by monai_tversky.data.make_ms_phantom",
        "tensorImageSize": "4D",
        "modality": {str(i): m for i, m in enumerate(channels)},
        "labels": {"0": "background", "1": "lesion", **({"2": "white matter"} if white_matter_class else {})},
        "numTraining": len(items) - n_val,
        "training": items[: len(items) - n_val],
        "validation": items[len(items) - n_val :],
    }


def _absolute(datalist: dict[str, Any], root: Path) -> dict[str, Any]:
    result = dict(datalist)
    for section in ("training", "validation"):
        result[section] = [
            {**item, "image": [str(root / p) for p in item["image"]], "label": str(root / item["label"])}
            for item in datalist[section]
        ]
    return result


def _write_case(root: Path, name: str, index: int, params: dict[str, Any]) -> dict[str, int]:
    """Generate case ``index`` and write its files atomically; return ``{file name: size in bytes}``."""
    rng = np.random.default_rng(np.random.SeedSequence(params["seed"], spawn_key=(index,)))
    image, label, affine = make_ms_phantom(
        params["shape"],
        n_lesions=params["n_lesions"],
        lesion_load=params["lesion_load"],
        spacing=params["spacing"],
        modalities=params["modalities"],
        noise=params["noise"],
        bias=params["bias"],
        seed=rng,
        white_matter_class=params.get("white_matter_class", False),
    )
    case_dir = root / name
    case_dir.mkdir(exist_ok=True)
    files: dict[str, int] = {}
    for channel, modality in zip(image, params["modalities"]):
        files[f"{modality}.nii.gz"] = _save_nifti_atomic(case_dir / f"{modality}.nii.gz", channel, affine, np.int16)
    files[PHANTOM_LABEL_NAME] = _save_nifti_atomic(case_dir / PHANTOM_LABEL_NAME, label[0], affine, np.uint8)
    return files


def _save_nifti_atomic(path: Path, array: np.ndarray, affine: np.ndarray, dtype) -> int:
    if np.dtype(dtype) == np.int16:
        # a fixed step (the noise sigma is ~30 steps) compresses far better than nibabel's full-range int16 scaling
        array = np.clip(np.rint(array / _INTENSITY_STEP), -32768, 32767).astype(np.int16)
    img = nib.Nifti1Image(array.astype(dtype, copy=False), affine)
    if np.dtype(dtype) == np.int16:
        img.header.set_slope_inter(_INTENSITY_STEP, 0.0)  # readers (nibabel, ITK, MONAI) restore the float values
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        nib.save(img, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


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


def _read_json(path: Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, content: Any) -> None:
    """Write ``content`` as JSON through a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        with open(tmp, "w") as f:
            json.dump(content, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
