"""ISBI 2015 longitudinal MS lesion segmentation challenge (Carass et al. 2017), hashemi2018's second data set."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..modalities import canonical_modalities
from ._helpers import drop_missing_labels, existing_dir, glob_levels, nifti_path, subset_dir
from .layout import Layout

__all__ = ["isbi2015_datalist", "ISBI2015_FILE_STEMS", "ISBI2015_MODALITIES", "LAYOUT"]

#: ISBI 2015 training data as distributed: ``training/trainingNN/preprocessed/trainingNN_TT_<stem>_pp.nii`` and
#: ``.../trainingNN/masks/trainingNN_TT_mask1.nii`` (rater 1; ``mask2`` for rater 2), subject ``NN``, time point
#: ``TT``. Stems per canonical modality:
ISBI2015_FILE_STEMS: dict[str, str] = {"FLAIR": "flair", "T1": "mprage", "PD": "pd", "T2": "t2"}
ISBI2015_MODALITIES: tuple[str, ...] = ("FLAIR", "T1", "PD", "T2")

_ISBI_PATTERN = re.compile(r"^(?P<subject>.+)_(?P<tp>\d+)_(?P<stem>flair|mprage|pd|t2)_pp\.nii(\.gz)?$", re.IGNORECASE)


def isbi2015_datalist(
    dataset_dir: str | os.PathLike,
    modalities: Sequence[str] = ISBI2015_MODALITIES,
    rater: int | None = 1,
    subset: str | None = "training",
) -> list[dict[str, Any]]:
    """
    List the cases (one per subject and time point) of the ISBI 2015 longitudinal MS lesion challenge data::

        <dataset_dir>/training/training01/preprocessed/training01_01_flair_pp.nii
                                                      /training01_01_mprage_pp.nii
                                                      /training01_01_pd_pp.nii
                                                      /training01_01_t2_pp.nii
                                         /masks/training01_01_mask1.nii (rater 1), training01_01_mask2.nii (rater 2)

    Time points are found from the ``*_pp.nii`` files in any ``preprocessed`` folder up to three levels below the
    search folder, so ``dataset_dir`` may be the release root, its ``training`` folder or one subject's folder; the
    test release (``testdata_website/test01/preprocessed/test01_01_flair_pp.nii``) lists the same way with
    ``rater=None``. ``.nii.gz`` files are taken where they exist.

    Args:
        dataset_dir: the ISBI 2015 folder.
        modalities: channels in order, canonical names or aliases (``"MPRAGE"`` for ``"T1"``). Defaults to
            ``("FLAIR", "T1", "PD", "T2")``, the four channels of hashemi2018. ISBI 2015 has no T1-Gd.
        rater: whose mask is the label, 1 or 2; ``None`` lists images only. Defaults to 1.
        subset: sub-folder searched when ``dataset_dir`` has it (matched case-insensitively); ``None`` searches
            ``dataset_dir`` itself. Defaults to ``"training"``.

    Returns:
        items ``{"image": [paths], "label": path, "case_id": "training01_01", "subject_id": "training01"}``;
        ``subject_id`` lets :func:`~monai_tversky.data.split_datalist` keep a subject's time points together.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder or holds no ISBI 2015 time point.
        ValueError: when a modality is not one ISBI 2015 provides, or ``rater`` is not 1, 2 or ``None``.
    """
    channels = canonical_modalities(modalities)
    unknown = [m for m in channels if m not in ISBI2015_FILE_STEMS]
    if unknown:
        raise ValueError(f"ISBI 2015 provides {list(ISBI2015_FILE_STEMS)} but modalities ask for {unknown}.")
    if rater not in (None, 1, 2) or isinstance(rater, bool):
        raise ValueError(f"rater must be 1, 2 or None but got {rater!r}.")
    root = existing_dir(dataset_dir)
    search = subset_dir(root, subset)
    time_points = set()
    for folder in glob_levels(search, "preprocessed", 3):
        for f in folder.iterdir() if folder.is_dir() else ():
            match = _ISBI_PATTERN.match(f.name)
            if match:
                time_points.add((folder.parent, match["subject"], match["tp"]))
    if not time_points:
        raise FileNotFoundError(
            f"no ISBI 2015 time point found in {search}: expected <trainingNN>/preprocessed/trainingNN_TT_flair_pp.nii "
            "(and masks/trainingNN_TT_mask1.nii) up to three levels below it."
        )
    items = []
    for subject_dir, subject, tp in sorted(time_points, key=lambda t: (t[1], t[2], str(t[0]))):
        case = f"{subject}_{tp}"
        item: dict[str, Any] = {
            "image": [
                str(nifti_path(subject_dir / "preprocessed", f"{case}_{ISBI2015_FILE_STEMS[m]}_pp", prefer=".nii"))
                for m in channels
            ]
        }
        if rater is not None:
            item["label"] = str(nifti_path(subject_dir / "masks", f"{case}_mask{rater}", prefer=".nii"))
        item["case_id"] = case
        item["subject_id"] = subject
        items.append(item)
    return items


def is_isbi2015(root: Path) -> bool:
    """Whether a ``preprocessed`` folder with ``*_pp.nii`` files lies up to four levels below ``root``."""
    return any(
        folder.is_dir() and any(_ISBI_PATTERN.match(f.name) for f in folder.iterdir())
        for folder in glob_levels(root, "preprocessed", 4)
    )


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    items = isbi2015_datalist(root, channels or ISBI2015_MODALITIES, rater=None if labels == "none" else 1)
    return drop_missing_labels(items) if labels == "optional" else items


LAYOUT = Layout(
    name="isbi2015",
    title="ISBI 2015 data set",
    spatial_dims=3,
    detect=is_isbi2015,
    items=_items,
    channels=ISBI2015_MODALITIES,
    group_key="subject_id",
)
