"""
Datalist builders for the folder layouts in which MS lesion data sets are distributed.

Each builder walks a folder and returns MONAI-style datalist items ``{"image": [one path per modality],
"label": path, "case_id": str}`` ready for :class:`monai.transforms.LoadImaged` (a list of paths is loaded as a
multi-channel image). Builders list files where the layout puts them; :func:`monai_tversky.data.check_datalist`
then reports missing, unreadable or mismatched files by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .modalities import LABEL_ALIASES, MODALITY_ALIASES, PHANTOM_MODALITIES, canonical_modalities

__all__ = [
    "msseg2016_datalist",
    "isbi2015_datalist",
    "folder_datalist",
    "detect_layout",
    "MSSEG2016_FILE_STEMS",
    "ISBI2015_FILE_STEMS",
    "ISBI2015_MODALITIES",
    "IMAGE_SUFFIXES",
]

#: File-name endings of the images MONAI's readers open (NIfTI through nibabel, the others through ITK).
IMAGE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".mgz", ".mgh", ".img")

#: MSSEG 2016 (MICCAI 2016 MS lesion segmentation challenge, Commowick et al. 2018) training data as distributed:
#: ``Training/Center_XX/Patient_YY/Preprocessed_Data/<stem>.nii.gz`` and ``.../Patient_YY/Masks/Consensus.nii.gz``
#: (also ``ManualSegmentation_1..7``). Stems per canonical modality:
MSSEG2016_FILE_STEMS: dict[str, str] = {
    "FLAIR": "FLAIR_preprocessed",
    "T1": "T1_preprocessed",
    "T1Gd": "GADO_preprocessed",
    "PD": "DP_preprocessed",
    "T2": "T2_preprocessed",
}

#: ISBI 2015 longitudinal MS lesion segmentation challenge (Carass et al. 2017) training data as distributed:
#: ``training/trainingNN/preprocessed/trainingNN_TT_<stem>_pp.nii`` and ``.../trainingNN/masks/trainingNN_TT_mask1.nii``
#: (rater 1; ``mask2`` for rater 2), subject ``NN``, time point ``TT``. Stems per canonical modality:
ISBI2015_FILE_STEMS: dict[str, str] = {"FLAIR": "flair", "T1": "mprage", "PD": "pd", "T2": "t2"}
ISBI2015_MODALITIES: tuple[str, ...] = ("FLAIR", "T1", "PD", "T2")

_ISBI_PATTERN = re.compile(r"^(?P<subject>.+)_(?P<tp>\d+)_(?P<stem>flair|mprage|pd|t2)_pp\.nii(\.gz)?$", re.IGNORECASE)
_STRIPPED_SUFFIXES = ("_preprocessed", "_pp")  # processing tags some layouts append to the modality name
_SEPARATORS = "_-."


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
    root = _existing_dir(dataset_dir)
    search = _subset_dir(root, subset)
    case_dirs = sorted({p.parent for p in _glob_levels(search, "Preprocessed_Data", 3) if p.is_dir()})
    if not case_dirs:
        raise FileNotFoundError(
            f"no MSSEG 2016 case found in {search}: expected <Center_XX>/<Patient_YY>/Preprocessed_Data/"
            "FLAIR_preprocessed.nii.gz (and Masks/Consensus.nii.gz) up to three levels below it."
        )
    items = []
    for case_dir in case_dirs:
        item: dict[str, Any] = {
            "image": [str(_nifti_path(case_dir / "Preprocessed_Data", MSSEG2016_FILE_STEMS[m])) for m in channels]
        }
        if label is not None:
            item["label"] = str(_nifti_path(case_dir / "Masks", label))
        item["case_id"] = _relative_id(case_dir, search)
        items.append(item)
    return items


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
    root = _existing_dir(dataset_dir)
    search = _subset_dir(root, subset)
    time_points = set()
    for folder in _glob_levels(search, "preprocessed", 3):
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
                str(_nifti_path(subject_dir / "preprocessed", f"{case}_{ISBI2015_FILE_STEMS[m]}_pp", prefer=".nii"))
                for m in channels
            ]
        }
        if rater is not None:
            item["label"] = str(_nifti_path(subject_dir / "masks", f"{case}_mask{rater}", prefer=".nii"))
        item["case_id"] = case
        item["subject_id"] = subject
        items.append(item)
    return items


def folder_datalist(
    folder: str | os.PathLike,
    modalities: Sequence[str] | None = None,
    label_names: Sequence[str] | None = LABEL_ALIASES,
    require_label: bool = False,
) -> list[dict[str, Any]]:
    """
    List the cases in a folder of images named by modality: the generic layout (the Ljubljana open MS data, the
    package's phantom data sets, a folder handed to inference).

    Images are looked for in ``folder`` itself and in its immediate sub-folders. A file name (less its image suffix
    and a trailing ``_preprocessed`` or ``_pp``) names a modality when it is one of the modality's aliases, alone or
    after a case prefix and a separator (``_``, ``-`` or ``.``), compared case-insensitively: ``FLAIR.nii.gz``,
    ``p19_T1POST.nii.gz``, ``training01_01_flair_pp.nii`` all work. Files sharing a folder and a prefix form one
    case; a file named by one of ``label_names`` (``GT``, ``label``, ``consensus_gt``, ...) is its label. So
    ``open_ms_p19/{FLAIR,T1,T1POST,T2,GT}.nii.gz`` is one four-channel case with a label, and a folder of
    ``<case>/FLAIR.nii.gz`` sub-folders is one case per sub-folder.

    With ``modalities=None``: if some file names a known modality, the modalities are those every case has, in
    the order ``FLAIR, T1, T1Gd, PD, T2``; otherwise every image file that is not a
    label is a case of its own (``{"image": path}``), e.g. a folder of multi-channel files for inference.

    Args:
        folder: the folder to list.
        modalities: channels in order (canonical names or aliases; a name that is no known alias matches itself),
            or ``None`` to infer them (see above). Defaults to ``None``.
        label_names: file-name stems taken as labels; ``None`` lists images only. Defaults to
            :data:`monai_tversky.data.LABEL_ALIASES`.
        require_label: raise when a case has no label (training) instead of listing it without one (inference).
            Defaults to ``False``.

    Returns:
        items ``{"image": [paths] or path, "label": path (when found), "case_id": str}``, sorted by case;
        ``case_id`` is the sub-folder (or the folder's own name) followed by ``/<prefix>`` when files carry one.

    Raises:
        FileNotFoundError: when ``folder`` is not a folder, holds no image of the requested modalities, a case lacks
            one of the modalities (the message names the case folder and the names looked for), or a case has no
            label and ``require_label`` is set.
        ValueError: when two files of a case name the same modality (or label).
    """
    return _folder_cases(folder, modalities, label_names, require_label)[0]


def _folder_cases(
    folder, modalities, label_names, require_label
) -> tuple[list[dict[str, Any]], tuple[str, ...] | None]:
    """:func:`folder_datalist`'s items and the modalities they hold (``None`` for one file per case)."""
    root = _existing_dir(folder)
    targets: dict[str, tuple[str, ...]] = {}
    if modalities is not None:
        for name in modalities:
            canonical = canonical_modalities([name])[0]
            targets[canonical] = tuple(dict.fromkeys((name, canonical, *MODALITY_ALIASES.get(canonical, ()))))
        channels: tuple[str, ...] | None = canonical_modalities(modalities)
    else:
        targets = dict(MODALITY_ALIASES)
        channels = None
    label_key = "\0label"  # a key no modality can have
    if label_names:
        targets[label_key] = tuple(label_names)

    cases: dict[tuple[Path, str], dict[str, Path]] = {}
    unnamed: list[Path] = []
    for directory in [root, *sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))]:
        for path in sorted(directory.iterdir()):
            stem = _image_stem(path)
            if stem is None:
                continue
            parsed = _parse_stem(stem, targets)
            if parsed is None:
                unnamed.append(path)
                continue
            prefix, key = parsed
            files = cases.setdefault((directory, prefix), {})
            if key in files:
                what = "label" if key == label_key else f"modality {key}"
                raise ValueError(
                    f"two files in {directory} name the {what} of case {prefix!r}: {files[key]} and {path}."
                )
            files[key] = path

    image_cases = {k: v for k, v in cases.items() if any(key != label_key for key in v)}
    if channels is None and not image_cases:
        # no file names a modality: every image file that is not a label is a case of its own
        if require_label:
            raise FileNotFoundError(
                f"no file in {root} or its sub-folders is named by a modality ({', '.join(MODALITY_ALIASES)}, ...), "
                "so images cannot be paired with labels; pass modalities or use a datalist JSON."
            )
        items = [{"image": str(p), "case_id": _relative_id(p.parent, root, _image_stem(p))} for p in unnamed]
        if not items:
            raise FileNotFoundError(f"no image file ({', '.join(IMAGE_SUFFIXES)}) found in {root} or its sub-folders.")
        return items, None
    if channels is None:
        channels = tuple(m for m in MODALITY_ALIASES if all(m in files for files in image_cases.values()))
        if not channels:
            raise FileNotFoundError(f"the cases in {root} share no modality; pass modalities explicitly.")
    selected = {k: v for k, v in image_cases.items() if any(m in v for m in channels)}
    if not selected:
        raise FileNotFoundError(
            f"no image of modalities {list(channels)} found in {root} or its sub-folders "
            f"(looked for file names {sorted({a for m in channels for a in targets.get(m, (m,))})})."
        )

    items = []
    for (directory, prefix), files in sorted(selected.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        case_id = _relative_id(directory, root, prefix)
        missing = [m for m in channels if m not in files]
        if missing:
            after = f" after the prefix '{prefix}_'" if prefix else ""
            present = _modalities_in(directory, prefix)
            raise FileNotFoundError(
                f"case {case_id!r} in {directory} has no image for modalities {missing} "
                f"(looked for the file names {[a for m in missing for a in targets[m]]}{after}, case-insensitively, "
                f"ending in .nii.gz, .nii, ...); it has {present}. Pass --modalities with the channels the model "
                "takes, in the model's order, or --modalities auto for the channels every case has."
            )
        item: dict[str, Any] = {"image": [str(files[m]) for m in channels]}
        if label_key in files:
            item["label"] = str(files[label_key])
        elif require_label:
            raise FileNotFoundError(
                f"case {case_id!r} in {directory} has no label file (looked for file names {list(label_names or ())})."
            )
        item["case_id"] = case_id
        items.append(item)
    return items, channels


def _modalities_in(directory: Path, prefix: str) -> list[str]:
    """The known modalities (canonical names, in canonical order) of the case ``prefix`` in ``directory``."""
    found = set()
    for path in directory.iterdir():
        stem = _image_stem(path)
        parsed = _parse_stem(stem, dict(MODALITY_ALIASES)) if stem is not None else None
        if parsed is not None and parsed[0] == prefix:
            found.add(parsed[1])
    return [m for m in MODALITY_ALIASES if m in found]


def detect_layout(dataset_dir: str | os.PathLike) -> str:
    """
    Tell which layout a data set folder is in: ``"msseg2016"`` (a ``Preprocessed_Data`` folder up to four levels
    down), ``"isbi2015"`` (a ``preprocessed`` folder with ``*_pp.nii`` files up to four levels down), ``"wmh2017"``
    (a ``pre/FLAIR.nii.gz`` up to four levels down), ``"brats"`` (``<case>/<case>_flair.nii.gz`` or ``-t2f``) or
    ``"folder"`` (anything else, see :func:`folder_datalist`).

    Args:
        dataset_dir: the folder.

    Raises:
        FileNotFoundError: when ``dataset_dir`` is not a folder.
    """
    from .layouts_wmh_brats import is_brats, is_wmh2017  # that module builds on this one's helpers

    root = _existing_dir(dataset_dir)
    if any(p.is_dir() for p in _glob_levels(root, "Preprocessed_Data", 4)):
        return "msseg2016"
    for folder in _glob_levels(root, "preprocessed", 4):
        if folder.is_dir() and any(_ISBI_PATTERN.match(f.name) for f in folder.iterdir()):
            return "isbi2015"
    if is_wmh2017(root):
        return "wmh2017"
    if is_brats(root):
        return "brats"
    return "folder"


def _existing_dir(path: str | os.PathLike) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}.")
    return root.resolve()


def _subset_dir(root: Path, subset: str | None) -> Path:
    if subset:
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.lower() == subset.lower():
                return child
    return root


def _glob_levels(root: Path, name: str, levels: int) -> list[Path]:
    """Paths called ``name`` (case-insensitively) in ``root`` and up to ``levels`` levels below it."""
    pattern = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)
    found: list[Path] = []
    for depth in range(levels + 1):
        found.extend(root.glob("/".join(["*"] * depth + [pattern])))
    return found


def _nifti_path(folder: Path, stem: str, prefer: str = ".nii.gz") -> Path:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists (``prefer`` when both or none do)."""
    other = ".nii" if prefer == ".nii.gz" else ".nii.gz"
    preferred = folder / f"{stem}{prefer}"
    if preferred.exists() or not (folder / f"{stem}{other}").exists():
        return preferred
    return folder / f"{stem}{other}"


def _image_stem(path: Path) -> str | None:
    """The file name less its image suffix, or ``None`` for hidden files, folders and non-image files."""
    if path.name.startswith(".") or not path.is_file():
        return None
    return strip_image_suffix(path.name)


def strip_image_suffix(name: str) -> str | None:
    """``name`` less its image suffix (one of :data:`IMAGE_SUFFIXES`, case-insensitive), or ``None``."""
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _parse_stem(stem: str, targets: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """``(case prefix, key)`` of the longest alias that ``stem`` ends with after a separator (or equals)."""
    low = stem.lower()
    for suffix in _STRIPPED_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            stem, low = stem[: -len(suffix)], low[: -len(suffix)]
            break
    best: tuple[str, str, int] | None = None
    for key, aliases in targets.items():
        for alias in aliases:
            a = alias.lower()
            if low == a:
                candidate = ("", key, len(a))
            elif low.endswith(a) and len(low) > len(a) + 1 and low[-len(a) - 1] in _SEPARATORS:
                candidate = (stem[: -len(a) - 1], key, len(a))
            else:
                continue
            if best is None or candidate[2] > best[2]:
                best = candidate
    return None if best is None else (best[0], best[1])


def _relative_id(directory: Path, root: Path, prefix: str | None = None) -> str:
    """``<sub-folder>/<prefix>`` relative to ``root``; ``root``'s own name when both are empty."""
    rel = directory.relative_to(root).as_posix()
    parts = [p for p in (rel if rel != "." else "", prefix or "") if p]
    return "/".join(parts) if parts else root.name
