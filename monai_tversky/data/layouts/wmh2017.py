"""The MICCAI 2017 white-matter hyperintensities (WMH) segmentation challenge (Kuijf et al. 2019), one of the two data
sets of sudre2017's kind."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..label_maps import IGNORE_INDEX, LabelMap
from ..modalities import canonical_modalities
from ._helpers import existing_dir, glob_levels, nifti_file
from .layout import Layout

__all__ = ["wmh2017_datalist", "wmh2017_label_map", "is_wmh2017", "WMH2017_MODALITIES", "LAYOUT"]

#: The two channels the WMH 2017 challenge distributes (``pre/T1.nii.gz``, ``pre/FLAIR.nii.gz``).
WMH2017_MODALITIES: tuple[str, ...] = ("T1", "FLAIR")


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
    pathology") is not a lesion class: :func:`wmh2017_label_map` maps it to an ignore index so it counts in neither
    the loss nor the metrics.

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
    root = existing_dir(dataset_dir)
    cases = sorted({p.parent.parent for p in glob_levels(root, "pre/FLAIR.nii*", 4, files_only=True)})
    if require_label:
        cases = [c for c in cases if nifti_file(c, "wmh")]
    if not cases:
        raise FileNotFoundError(
            f"no WMH 2017 case found in {root}: expected <site>/<id>/pre/FLAIR.nii.gz, pre/T1.nii.gz"
            + (" and <site>/<id>/wmh.nii.gz" if require_label else "")
            + " up to four levels below it."
        )
    items = []
    for case in cases:
        case_id = "_".join(case.relative_to(root).parts) or case.name
        item: dict[str, Any] = {"image": [str(nifti_file(case / "pre", m) or case / "pre" / f"{m}.nii.gz")
                                          for m in channels]}  # fmt: skip
        if require_label:
            item["label"] = str(nifti_file(case, "wmh"))
        item["case_id"] = case_id
        item["subject_id"] = case_id
        items.append(item)
    return items


def is_wmh2017(dataset_dir: str | os.PathLike) -> bool:
    """Whether ``dataset_dir`` holds a WMH 2017 case (``<id>/pre/FLAIR.nii[.gz]`` up to four levels down)."""
    return bool(glob_levels(existing_dir(dataset_dir), "pre/FLAIR.nii*", 4, files_only=True))


def wmh2017_label_map(num_classes: int) -> LabelMap:
    """0 background, 1 white-matter hyperintensity; 2 ("other pathology") is ignored, never a lesion. Only
    ``num_classes=2``."""
    if num_classes != 2:
        raise ValueError(f"the WMH 2017 data have one lesion class: num_classes must be 2, got {num_classes}.")
    return LabelMap((0, 1, 2), (0, 1, IGNORE_INDEX), {0: "background", 1: "lesion"}, IGNORE_INDEX)


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    if labels == "optional":  # the cases with a label have it; the others are listed without
        items = wmh2017_datalist(root, channels or WMH2017_MODALITIES, require_label=False)
        for item, case in zip(items, sorted({p.parent.parent for p in glob_levels(root, "pre/FLAIR.nii*", 4, True)})):
            label = nifti_file(case, "wmh")
            if label is not None:
                item["label"] = str(label)
        return items
    return wmh2017_datalist(root, channels or WMH2017_MODALITIES, require_label=labels == "required")


LAYOUT = Layout(
    name="wmh2017",
    title="WMH 2017 data set",
    spatial_dims=3,
    detect=is_wmh2017,
    items=_items,
    channels=WMH2017_MODALITIES,
    group_key="subject_id",
    label_map=wmh2017_label_map,
)
