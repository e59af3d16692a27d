"""
Datalist builders for the two data sets of sudre2017's kind: the MICCAI 2017 white-matter hyperintensities (WMH)
challenge and the BraTS brain-tumour challenges, in the layouts in which they are distributed.

Items are MONAI-style ``{"image": [one path per modality], "label": path, "case_id": str}`` as for the MS layouts in
:mod:`monai_tversky.data.layouts`; the label values each data set uses, and how the generalised_dice bundle maps them
to classes, are in :mod:`monai_tversky.data.label_maps`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .layouts import _existing_dir
from .modalities import canonical_modalities

__all__ = [
    "wmh2017_datalist",
    "brats_datalist",
    "is_wmh2017",
    "is_brats",
    "WMH2017_MODALITIES",
    "BRATS_MODALITIES",
    "BRATS_FILE_SUFFIXES",
]

#: The two channels the WMH 2017 challenge distributes (``pre/T1.nii.gz``, ``pre/FLAIR.nii.gz``).
WMH2017_MODALITIES: tuple[str, ...] = ("T1", "FLAIR")

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


def wmh2017_datalist(
    dataset_dir: str | os.PathLike,
    modalities: Sequence[str] = WMH2017_MODALITIES,
    require_label: bool = True,
) -> list[dict[str, Any]]:
    """
    List the cases of the MICCAI 2017 WMH segmentation challenge (Kuijf et al. 2019) as distributed::

        <dataset_dir>/Utrecht/0/pre/FLAIR.nii.gz
                               /pre/T1.nii.gz
                               /wmh.nii.gz            0 background, 1 WMH, 2 other pathology
                     /Singapore/50/...
                     /Amsterdam/GE3T/100/...

    A case is any folder, up to four levels below ``dataset_dir``, holding ``pre/FLAIR.nii.gz``; its id is its path
    relative to ``dataset_dir`` with ``/`` replaced by ``_`` (``Utrecht_0``). The label's value 2 ("other
    pathology") is not a lesion class: :func:`monai_tversky.data.lesion_label_map` maps it to an ignore index so it
    counts in neither the loss nor the metrics.

    Args:
        dataset_dir: the WMH folder (the release root, its ``training`` folder or one site's folder).
        modalities: channels in order, from ``("T1", "FLAIR")`` (aliases accepted). Defaults to both.
        require_label: list only cases with ``wmh.nii.gz``; ``False`` lists images only (test data).

    Returns:
        items ``{"image": [paths], "label": path, "case_id": "Utrecht_0", "subject_id": "Utrecht_0"}``.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder or holds no WMH case (the message shows the layout).
        ValueError: when a modality is not one WMH 2017 provides.
    """
    channels = canonical_modalities(modalities)
    unknown = [m for m in channels if m not in WMH2017_MODALITIES]
    if unknown:
        raise ValueError(f"the WMH 2017 data provide {list(WMH2017_MODALITIES)} but modalities ask for {unknown}.")
    root = _existing_dir(dataset_dir)
    cases = sorted({p.parent.parent for p in _find(root, "pre/FLAIR.nii*", 4)})
    if require_label:
        cases = [c for c in cases if _first(c, "wmh")]
    if not cases:
        raise FileNotFoundError(
            f"no WMH 2017 case found in {root}: expected <site>/<id>/pre/FLAIR.nii.gz, pre/T1.nii.gz"
            + (" and <site>/<id>/wmh.nii.gz" if require_label else "")
            + " up to four levels below it."
        )
    items = []
    for case in cases:
        case_id = "_".join(case.relative_to(root).parts) or case.name
        item: dict[str, Any] = {"image": [str(_first(case / "pre", m) or case / "pre" / f"{m}.nii.gz") for m in channels]}
        if require_label:
            item["label"] = str(_first(case, "wmh"))
        item["case_id"] = case_id
        item["subject_id"] = case_id
        items.append(item)
    return items


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
    (BraTS 2023: 3) enhancing tumour; :func:`monai_tversky.data.lesion_label_map` makes them contiguous classes, or
    the whole tumour with ``num_classes=2``.

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
    root = _existing_dir(dataset_dir)
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


def is_wmh2017(dataset_dir: str | os.PathLike) -> bool:
    """Whether ``dataset_dir`` holds a WMH 2017 case (``<id>/pre/FLAIR.nii[.gz]`` up to four levels down)."""
    return bool(_find(_existing_dir(dataset_dir), "pre/FLAIR.nii*", 4))


def is_brats(dataset_dir: str | os.PathLike) -> bool:
    """Whether ``dataset_dir`` holds a BraTS case folder (``<case>/<case>_flair.nii[.gz]`` or ``-t2f``)."""
    return bool(_brats_cases(_existing_dir(dataset_dir)))


def _find(root: Path, pattern: str, levels: int) -> list[Path]:
    found: list[Path] = []
    for depth in range(levels + 1):
        found.extend(p for p in root.glob("/".join(["*"] * depth + [pattern])) if p.is_file())
    return found


def _first(folder: Path, stem: str) -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists first, else ``None``."""
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _brats_cases(root: Path) -> list[Path]:
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    for child in list(candidates[1:]):
        candidates.extend(sorted(p for p in child.iterdir() if p.is_dir()))
    return [c for c in candidates if any(_first(c, c.name + s) for s in BRATS_FILE_SUFFIXES["FLAIR"])]


def _brats_file(case: Path, key: str, must_exist: bool = True) -> Path | None:
    for suffix in BRATS_FILE_SUFFIXES[key]:
        found = _first(case, case.name + suffix)
        if found is not None:
            return found
    # missing: name the file the first naming scheme of this case would have (check_datalist reports it by name)
    scheme = 0 if _first(case, case.name + BRATS_FILE_SUFFIXES["FLAIR"][0]) else 1
    return case / f"{case.name}{BRATS_FILE_SUFFIXES[key][scheme]}.nii.gz" if must_exist else None
