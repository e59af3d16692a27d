"""What several layouts do alike: finding folders and files as data sets name them, pairing images with masks, and
naming cases. The one module of ``monai_tversky.data.layouts`` whose names the others import (its own module is
private; its names are not part of the public API)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..validation import problem_report

#: File-name endings of the images MONAI's readers open (NIfTI through nibabel, the others through ITK).
IMAGE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".mgz", ".mgh", ".img")
#: File-name endings of the 2D images MONAI's :class:`monai.data.PILReader` opens (compared case-insensitively).
IMAGE_SUFFIXES_2D: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
#: problems listed in one error message
MAX_LISTED = 20


def existing_dir(path: str | os.PathLike) -> Path:
    """``path`` resolved, or a ``FileNotFoundError`` naming it when it is not a folder."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}.")
    return root.resolve()


def subset_dir(root: Path, subset: str | None) -> Path:
    """The child of ``root`` called ``subset`` (case-insensitively) when there is one, else ``root``."""
    if subset:
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.lower() == subset.lower():
                return child
    return root


def glob_levels(root: Path, pattern: str, levels: int, files_only: bool = False) -> list[Path]:
    """
    Paths matching ``pattern`` (a name or ``a/b`` path, letters compared case-insensitively, glob wildcards kept) in
    ``root`` and up to ``levels`` levels below it, shallowest first.
    """
    insensitive = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in pattern)
    found: list[Path] = []
    for depth in range(levels + 1):
        found.extend(p for p in root.glob("/".join(["*"] * depth + [insensitive])) if not files_only or p.is_file())
    return found


def nifti_file(folder: Path, stem: str, prefer: str = ".nii.gz") -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists (``prefer`` when both do), else ``None``."""
    other = ".nii" if prefer == ".nii.gz" else ".nii.gz"
    for suffix in (prefer, other):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def nifti_path(folder: Path, stem: str, prefer: str = ".nii.gz") -> Path:
    """As :func:`nifti_file`, but the ``prefer`` path when neither exists (the check then names the missing file)."""
    return nifti_file(folder, stem, prefer) or folder / f"{stem}{prefer}"


def strip_image_suffix(name: str) -> str | None:
    """``name`` less its image suffix (one of :data:`IMAGE_SUFFIXES`, case-insensitive), or ``None``."""
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def image_stem(path: Path) -> str | None:
    """The file name less its image suffix, or ``None`` for hidden files, folders and non-image files."""
    if path.name.startswith(".") or not path.is_file():
        return None
    return strip_image_suffix(path.name)


def relative_id(directory: Path, root: Path, prefix: str | None = None) -> str:
    """``<sub-folder>/<prefix>`` relative to ``root``; ``root``'s own name when both are empty."""
    rel = directory.relative_to(root).as_posix()
    parts = [p for p in (rel if rel != "." else "", prefix or "") if p]
    return "/".join(parts) if parts else root.name


def child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder of ``folder`` called ``name`` (exactly, else case-insensitively), or ``None``."""
    exact = folder / name
    if exact.is_dir():
        return exact
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def layout_root(root: Path, names: Iterable[str], require_all: bool = False) -> Path | None:
    """``root`` or the first of its sub-folders that holds a folder of ``names`` (all of them with ``require_all``)."""
    names = tuple(names)
    found = all if require_all else any
    for candidate in [root, *sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))]:
        if found(child_dir(candidate, n) is not None for n in names):
            return candidate
    return None


def files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
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


def pair_by_stem(
    dataset: str,
    images: dict[str, Path],
    masks: dict[str, Path],
    expected_mask: Callable[[str], Path],
    expected_image: Callable[[str], Path],
) -> list[dict[str, Any]]:
    """Items pairing images and masks by stem; a FileNotFoundError listing every file that has no partner."""
    problems = [f"image {images[s]} has no mask (expected {expected_mask(s)})" for s in images if s not in masks]
    problems += [f"mask {masks[s]} has no image (expected {expected_image(s)})" for s in masks if s not in images]
    if problems:
        raise FileNotFoundError(problem_report(f"{len(problems)} {dataset} file(s) without a partner", problems, MAX_LISTED))
    return [{"image": str(images[s]), "label": str(masks[s]), "case_id": s} for s in sorted(images)]


def image_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES_2D) -> list[Path]:
    """The image files directly in ``folder`` (not hidden), sorted."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(suffixes)
    )


def drop_missing_labels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items with ``"label"`` removed where its file (any of its files) does not exist: labels listed where the
    data set has them, as inference takes them."""
    for item in items:
        label = item.get("label")
        files = label if isinstance(label, (list, tuple)) else [label]
        if label is not None and not all(Path(f).is_file() for f in files):
            del item["label"]
    return items


def paired_items(
    dataset: str,
    images: dict[str, Path],
    mask_dir: Path | None,
    mask_suffixes: tuple[str, ...],
    label: bool,
    no_mask_folder: str,
    mask_names: str,
    expected_mask: Callable[[str], Path],
    expected_image: Callable[[str], Path],
) -> list[dict[str, Any]]:
    """
    The items of a 2D layout whose images and masks lie in two folders, paired by stem: the images alone when
    ``label`` is False; otherwise a ``FileNotFoundError`` with ``no_mask_folder`` when the mask folder is missing,
    one naming ``mask_names`` (what the masks are called) when it holds none, and :func:`pair_by_stem`'s.
    """
    if not label:
        return [{"image": str(images[s]), "case_id": s} for s in sorted(images)]
    if mask_dir is None:
        raise FileNotFoundError(f"{no_mask_folder} (pass label=False to list the images only).")
    masks = files_by_stem(mask_dir, mask_suffixes)
    if not masks:
        raise FileNotFoundError(f"no mask in {mask_dir}: expected {mask_names}.")
    return pair_by_stem(dataset, images, masks, expected_mask, expected_image)
