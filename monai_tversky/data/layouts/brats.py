"""The BraTS brain-tumour segmentation challenges (2018-2021 and 2023 names), the other data set of sudre2017's kind."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..label_maps import LabelMap
from ..modalities import canonical_modalities
from ._helpers import existing_dir, nifti_file
from .layout import Layout

__all__ = ["brats_datalist", "brats_label_map", "is_brats", "BRATS_MODALITIES", "BRATS_FILE_SUFFIXES", "LAYOUT"]

#: BraTS's four channels, canonical names, in the order BraTS lists them.
BRATS_MODALITIES: tuple[str, ...] = ("FLAIR", "T1", "T1Gd", "T2")

#: File suffixes per canonical modality and for the label: BraTS 2018-2021 (``<case>_flair.nii.gz``) first, then
#: BraTS 2023 (``<case>-t2f.nii.gz``).
BRATS_FILE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "FLAIR": ("_flair", "-t2f"),
    "T1": ("_t1", "-t1n"),
    "T1Gd": ("_t1ce", "-t1c"),
    "T2": ("_t2", "-t2w"),
    "label": ("_seg", "-seg"),
}


def brats_datalist(
    dataset_dir: str | os.PathLike,
    modalities: Sequence[str] = BRATS_MODALITIES,
    require_label: bool = True,
) -> list[dict[str, Any]]:
    """
    List the cases of a BraTS challenge release as distributed::

        <dataset_dir>/BraTS2021_00000/BraTS2021_00000_flair.nii.gz, _t1, _t1ce, _t2, _seg.nii.gz
                     /BraTS-GLI-00000-000/BraTS-GLI-00000-000-t2f.nii.gz, -t1n, -t1c, -t2w, -seg.nii.gz (2023)

    A case is any folder, up to two levels below ``dataset_dir``, holding ``<folder name>_flair.nii[.gz]`` or
    ``<folder name>-t2f.nii[.gz]``. Labels are 0 background, 1 necrotic / non-enhancing core, 2 oedema and 4
    (BraTS 2023: 3) enhancing tumour; :func:`brats_label_map` makes them contiguous classes, or the whole tumour
    with ``num_classes=2``.

    Args:
        dataset_dir: the BraTS folder (the one holding the case folders, or its parent).
        modalities: channels in order, from ``("FLAIR", "T1", "T1Gd", "T2")`` (aliases such as ``"T1ce"`` accepted).
            Defaults to all four.
        require_label: list only cases with a ``_seg`` file; ``False`` lists images only (validation releases).

    Returns:
        items ``{"image": [paths], "label": path, "case_id": "BraTS2021_00000"}``.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder or holds no BraTS case.
        ValueError: when a modality is not one BraTS provides.
    """
    channels = canonical_modalities(modalities)
    unknown = [m for m in channels if m not in BRATS_MODALITIES]
    if unknown:
        raise ValueError(f"BraTS provides {list(BRATS_MODALITIES)} but modalities ask for {unknown}.")
    root = existing_dir(dataset_dir)
    items = []
    for case in _brats_cases(root):
        item: dict[str, Any] = {"image": [str(_brats_file(case, m)) for m in channels]}
        if require_label:
            label = _brats_file(case, "label", must_exist=False)
            if label is None:
                continue
            item["label"] = str(label)
        item["case_id"] = case.name
        items.append(item)
    if not items:
        raise FileNotFoundError(
            f"no BraTS case found in {root}: expected <case>/<case>_flair.nii.gz, _t1, _t1ce, _t2"
            + (", _seg.nii.gz" if require_label else "")
            + " (or the 2023 names <case>-t2f, -t1n, -t1c, -t2w, -seg) up to two levels below it."
        )
    return items


def is_brats(dataset_dir: str | os.PathLike) -> bool:
    """Whether ``dataset_dir`` holds a BraTS case folder (``<case>/<case>_flair.nii[.gz]`` or ``-t2f``)."""
    return bool(_brats_cases(existing_dir(dataset_dir)))


def brats_label_map(num_classes: int) -> LabelMap:
    """With 4 classes 0, 1 (necrotic / non-enhancing core), 2 (oedema), 4 or 3 (enhancing tumour, BraTS 2021 /
    2023) become 0, 1, 2, 3; with 2 classes every tumour label is 1 (whole tumour)."""
    if num_classes == 4:
        names = {0: "background", 1: "necrotic core", 2: "oedema", 3: "enhancing tumour"}
        return LabelMap((0, 1, 2, 3, 4), (0, 1, 2, 3, 3), names)
    if num_classes == 2:
        return LabelMap((0, 1, 2, 3, 4), (0, 1, 1, 1, 1), {0: "background", 1: "whole tumour"})
    raise ValueError(
        f"BraTS labels map to 4 classes (background, necrotic core, oedema, enhancing tumour) or to 2 "
        f"(background, whole tumour): num_classes must be 4 or 2, got {num_classes}."
    )


def _brats_cases(root: Path) -> list[Path]:
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for child in list(candidates[1:]):
        candidates.extend(sorted(p for p in child.iterdir() if p.is_dir()))
    return [c for c in candidates if any(nifti_file(c, c.name + s) for s in BRATS_FILE_SUFFIXES["FLAIR"])]


def _brats_file(case: Path, key: str, must_exist: bool = True) -> Path | None:
    for suffix in BRATS_FILE_SUFFIXES[key]:
        found = nifti_file(case, case.name + suffix)
        if found is not None:
            return found
    # missing: name the file the first naming scheme of this case would have (check_datalist reports it by name)
    scheme = 0 if nifti_file(case, case.name + BRATS_FILE_SUFFIXES["FLAIR"][0]) else 1
    return case / f"{case.name}{BRATS_FILE_SUFFIXES[key][scheme]}.nii.gz" if must_exist else None


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    if labels == "required":
        return brats_datalist(root, channels or BRATS_MODALITIES, require_label=True)
    items = brats_datalist(root, channels or BRATS_MODALITIES, require_label=False)
    if labels == "optional":
        for item, case in zip(items, _brats_cases(root)):
            label = _brats_file(case, "label", must_exist=False)
            if label is not None:
                item["label"] = str(label)
    return items


LAYOUT = Layout(
    name="brats",
    title="BraTS data set",
    spatial_dims=3,
    detect=is_brats,
    items=_items,
    channels=BRATS_MODALITIES,
    label_map=brats_label_map,
)
