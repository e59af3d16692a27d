"""MSSEG 2016 (MICCAI 2016 MS lesion segmentation challenge, Commowick et al. 2018), hashemi2018's data set."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..modalities import PHANTOM_MODALITIES, canonical_modalities
from ._helpers import drop_missing_labels, existing_dir, glob_levels, nifti_path, relative_id, subset_dir
from .layout import Layout

__all__ = ["msseg2016_datalist", "MSSEG2016_FILE_STEMS", "LAYOUT"]

#: MSSEG 2016 training data as distributed: ``Training/Center_XX/Patient_YY/Preprocessed_Data/<stem>.nii.gz`` and
#: ``.../Patient_YY/Masks/Consensus.nii.gz`` (also ``ManualSegmentation_1..7``). Stems per canonical modality:
MSSEG2016_FILE_STEMS: dict[str, str] = {
    "FLAIR": "FLAIR_preprocessed",
    "T1": "T1_preprocessed",
    "T1Gd": "GADO_preprocessed",
    "PD": "DP_preprocessed",
    "T2": "T2_preprocessed",
}


def msseg2016_datalist(
    dataset_dir: str | os.PathLike,
    modalities: Sequence[str] = PHANTOM_MODALITIES,
    label: str | None = "Consensus",
    subset: str | None = "Training",
) -> list[dict[str, Any]]:
    """
    List the cases of the MSSEG 2016 challenge data in its distributed layout::

        <dataset_dir>/Training/Center_01/Patient_01/Preprocessed_Data/FLAIR_preprocessed.nii.gz
                                                                  /T1_preprocessed.nii.gz
                                                                  /GADO_preprocessed.nii.gz
                                                                  /DP_preprocessed.nii.gz
                                                                  /T2_preprocessed.nii.gz
                                                  /Masks/Consensus.nii.gz (and ManualSegmentation_1..7)

    A case is any folder, up to three levels below the search folder, that holds a ``Preprocessed_Data`` folder,
    so ``dataset_dir`` may be the release root, its ``Training`` folder or one center's folder. Uncompressed ``.nii``
    files are taken when no ``.nii.gz`` exists.

    Args:
        dataset_dir: the MSSEG 2016 folder.
        modalities: channels in order, canonical names or aliases (``"GADO"``, ``"DP"``, ...). Defaults to
            ``("FLAIR", "T1", "T1Gd", "PD", "T2")``, the five channels of hashemi2018.
        label: stem of the mask in ``Masks/`` (``"Consensus"`` or ``"ManualSegmentation_<k>"``); ``None`` lists
            images only. Defaults to ``"Consensus"``.
        subset: sub-folder searched when ``dataset_dir`` has it (matched case-insensitively), e.g. ``"Testing"``
            for the test release; ``None`` searches ``dataset_dir`` itself. Defaults to ``"Training"``.

    Returns:
        items ``{"image": [paths], "label": path, "case_id": "Center_01/Patient_01"}``, sorted by case.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder or holds no MSSEG 2016 case.
        ValueError: when a modality is not one of the five MSSEG 2016 provides.
    """
    channels = canonical_modalities(modalities)
    unknown = [m for m in channels if m not in MSSEG2016_FILE_STEMS]
    if unknown:
        raise ValueError(f"MSSEG 2016 provides {list(MSSEG2016_FILE_STEMS)} but modalities ask for {unknown}.")
    root = existing_dir(dataset_dir)
    search = subset_dir(root, subset)
    case_dirs = sorted({p.parent for p in glob_levels(search, "Preprocessed_Data", 3) if p.is_dir()})
    if not case_dirs:
        raise FileNotFoundError(
            f"no MSSEG 2016 case found in {search}: expected <Center_XX>/<Patient_YY>/Preprocessed_Data/"
            "FLAIR_preprocessed.nii.gz (and Masks/Consensus.nii.gz) up to three levels below it."
        )
    items = []
    for case_dir in case_dirs:
        item: dict[str, Any] = {
            "image": [str(nifti_path(case_dir / "Preprocessed_Data", MSSEG2016_FILE_STEMS[m])) for m in channels]
        }
        if label is not None:
            item["label"] = str(nifti_path(case_dir / "Masks", label))
        item["case_id"] = relative_id(case_dir, search)
        items.append(item)
    return items


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    items = msseg2016_datalist(root, channels or PHANTOM_MODALITIES, label=None if labels == "none" else "Consensus")
    return drop_missing_labels(items) if labels == "optional" else items


LAYOUT = Layout(
    name="msseg2016",
    title="MSSEG 2016 data set",
    spatial_dims=3,
    detect=lambda root: any(p.is_dir() for p in glob_levels(root, "Preprocessed_Data", 4)),
    items=_items,
    channels=PHANTOM_MODALITIES,
)
