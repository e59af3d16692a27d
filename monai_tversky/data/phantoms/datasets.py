"""The phantoms as cached data sets: the MS phantom as NIfTI files, the 2D phantoms as PNG files, each with a
MONAI-style datalist JSON, written once through the one cache (:mod:`monai_tversky.data.phantoms.cache`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from PIL import Image  # a dependency of matplotlib, and what monai.data.PILReader reads PNG and JPEG files with

from ..modalities import PHANTOM_MODALITIES
from .cache import cached_phantom_dataset, check_cache_arguments, validation_count, write_atomic
from .lesion_2d import PHANTOM2D_CHANNELS, PHANTOM2D_VERSION, check_phantom2d_arguments, make_lesion_phantom_2d
from .ms_brain import PHANTOM_SHAPE, PHANTOM_VERSION, check_phantom_arguments, make_ms_phantom

__all__ = [
    "generate_phantom_dataset",
    "generate_phantom_dataset_2d",
    "PHANTOM_LABEL_NAME",
    "PHANTOM2D_IMAGE_NAME",
    "PHANTOM2D_LABEL_NAME",
    "PHANTOM2D_LABEL_VALUE",
]

#: File name of a case's label inside an MS phantom data set folder.
PHANTOM_LABEL_NAME = "label.nii.gz"
_INTENSITY_STEP = 1e-3  # int16 quantisation step of the stored phantom intensities (noise sigma is about 0.03)

#: File names of a case inside a 2D phantom data set folder (``case_000/image.png``, ``case_000/label.png``).
PHANTOM2D_IMAGE_NAME = "image.png"
PHANTOM2D_LABEL_NAME = "label.png"
#: Value of lesion pixels in the mask files (background is 0), as ISIC 2018 and BUS 2017 distribute their masks.
PHANTOM2D_LABEL_VALUE = 255


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
    check_cache_arguments(num_cases, seed, val_fraction)
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
    return cached_phantom_dataset(
        out_dir, params, num_cases, _write_case, lambda names: _phantom_datalist(names, channels, val_fraction,
                                                                                  white_matter_class),
        overwrite=overwrite, progress=progress, description="Generating MS phantoms",
    )  # fmt: skip


def _phantom_datalist(
    names: list[str], channels: Sequence[str], val_fraction: float, white_matter_class: bool = False
) -> dict[str, Any]:
    n_val = validation_count(len(names), val_fraction)
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
    return write_atomic(path, lambda tmp: nib.save(img, str(tmp)))


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
    check_cache_arguments(num_cases, seed, val_fraction)
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
    return cached_phantom_dataset(
        out_dir, params, num_cases, _write_case_2d, lambda names: _phantom_datalist_2d(names, kind, val_fraction),
        overwrite=overwrite, progress=progress, description=f"Generating 2D {kind} lesion phantoms",
    )  # fmt: skip


def _phantom_datalist_2d(names: list[str], kind: str, val_fraction: float) -> dict[str, Any]:
    n_val = validation_count(len(names), val_fraction)
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


def _write_case_2d(root: Path, name: str, index: int, params: dict[str, Any]) -> dict[str, int]:
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
    pixels = image if image.shape[-1] == 3 else image[..., 0]  # (H, W, 3) is saved as RGB, (H, W) as "L"
    return {
        PHANTOM2D_IMAGE_NAME: _save_png_atomic(case_dir / PHANTOM2D_IMAGE_NAME, pixels),
        PHANTOM2D_LABEL_NAME: _save_png_atomic(case_dir / PHANTOM2D_LABEL_NAME, mask * np.uint8(PHANTOM2D_LABEL_VALUE)),
    }


def _save_png_atomic(path: Path, array: np.ndarray) -> int:
    """Save a uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB) array as PNG through a temporary file and a rename."""
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))
