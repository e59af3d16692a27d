"""Any folder of 3D cases whose files are named by modality (``FLAIR.nii.gz``, ``p19_T1POST.nii.gz``, ...): the layout
of one-off real cases (``../shared/data/open_ms_p19``) and of data sets that are in none of the others."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..modalities import LABEL_ALIASES, MODALITY_ALIASES, canonical_modalities
from ._helpers import IMAGE_SUFFIXES, existing_dir, image_stem, relative_id
from .layout import ChannelSurvey, Layout

__all__ = ["folder_datalist", "survey_folder", "LAYOUT"]

logger = logging.getLogger("monai_tversky")

_STRIPPED_SUFFIXES = ("_preprocessed", "_pp")  # processing tags some layouts append to the modality name
_SEPARATORS = "_-."
_LABEL_KEY = "\0label"  # a key no modality can have


def folder_datalist(
    folder: str | os.PathLike,
    modalities: Sequence[str] | None = None,
    label_names: Sequence[str] | None = LABEL_ALIASES,
    require_label: bool = False,
) -> list[dict[str, Any]]:
    """
    List the cases of a folder whose image files are named by modality: the file name (less its image suffix)
    is, or ends with, a modality alias (:data:`monai_tversky.data.MODALITY_ALIASES`), optionally preceded by a
    case prefix and a separator (``_``, ``-`` or ``.``), compared case-insensitively: ``FLAIR.nii.gz``,
    ``p19_T1POST.nii.gz``, ``training01_01_flair_pp.nii`` all work. Files sharing a folder and a prefix form one
    case; a file named by one of ``label_names`` (``GT``, ``label``, ``consensus_gt``, ...) is its label. So
    ``open_ms_p19/{FLAIR,T1,T1POST,T2,GT}.nii.gz`` is one four-channel case with a label, and a folder of
    ``<case>/FLAIR.nii.gz`` sub-folders is one case per sub-folder.

    With ``modalities=None``: if some file names a known modality, the modalities are those every case has, in
    the order ``FLAIR, T1, T1Gd, PD, T2`` (the modalities some case lacks are left out, and logged: see
    :func:`survey_folder`); otherwise every image file that is not a label is a case of its own
    (``{"image": path}``), e.g. a folder of multi-channel files for inference.

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


def survey_folder(folder: str | os.PathLike) -> ChannelSurvey:
    """
    The channels a folder's cases share (:func:`folder_datalist` with ``modalities=None``) and the modalities left
    out because some case lacks them, ``{modality: [case ids without it]}``.

    Raises:
        FileNotFoundError: as :func:`folder_datalist` (no file named by a modality, no modality shared).
    """
    _, channels, left_out = _folder_cases(folder, None, LABEL_ALIASES, require_label=False, need_channels=True)
    return ChannelSurvey(channels, left_out)


def _targets(modalities: Sequence[str] | None, label_names) -> dict[str, tuple[str, ...]]:
    targets: dict[str, tuple[str, ...]] = {}
    if modalities is not None:
        for name in modalities:
            canonical = canonical_modalities([name])[0]
            targets[canonical] = tuple(dict.fromkeys((name, canonical, *MODALITY_ALIASES.get(canonical, ()))))
    else:
        targets = dict(MODALITY_ALIASES)
    if label_names:
        targets[_LABEL_KEY] = tuple(label_names)
    return targets


def _folder_cases(folder, modalities, label_names, require_label, need_channels: bool = False):
    """:func:`folder_datalist`'s items, the modalities they hold (``None`` for one file per case) and those left out."""
    root = existing_dir(folder)
    targets = _targets(modalities, label_names)
    channels: tuple[str, ...] | None = None if modalities is None else canonical_modalities(modalities)
    cases: dict[tuple[Path, str], dict[str, Path]] = {}
    unnamed: list[Path] = []
    for directory in [root, *sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))]:
        for path in sorted(directory.iterdir()):
            stem = image_stem(path)
            if stem is None:
                continue
            parsed = _parse_stem(stem, targets)
            if parsed is None:
                unnamed.append(path)
                continue
            prefix, key = parsed
            files = cases.setdefault((directory, prefix), {})
            if key in files:
                what = "label" if key == _LABEL_KEY else f"modality {key}"
                raise ValueError(
                    f"two files in {directory} name the {what} of case {prefix!r}: {files[key]} and {path}."
                )
            files[key] = path

    image_cases = {k: v for k, v in cases.items() if any(key != _LABEL_KEY for key in v)}
    left_out: dict[str, list[str]] = {}
    if channels is None and not image_cases:
        # no file names a modality: every image file that is not a label is a case of its own
        if require_label or need_channels:
            raise FileNotFoundError(
                f"no file in {root} or its sub-folders is named by a modality ({', '.join(MODALITY_ALIASES)}, ...), "
                "so images cannot be paired with labels; pass modalities or use a datalist JSON."
            )
        items = [{"image": str(p), "case_id": relative_id(p.parent, root, image_stem(p))} for p in unnamed]
        if not items:
            raise FileNotFoundError(f"no image file ({', '.join(IMAGE_SUFFIXES)}) found in {root} or its sub-folders.")
        return items, None, left_out
    if channels is None:
        channels = tuple(m for m in MODALITY_ALIASES if all(m in files for files in image_cases.values()))
        if not channels:
            raise FileNotFoundError(f"the cases in {root} share no modality; pass modalities explicitly.")
        for m in MODALITY_ALIASES:
            lacking = [relative_id(d, root, p) for (d, p), files in sorted(image_cases.items()) if m not in files]
            if m not in channels and len(lacking) < len(image_cases):
                left_out[m] = lacking
    selected = {k: v for k, v in image_cases.items() if any(m in v for m in channels)}
    if not selected:
        raise FileNotFoundError(
            f"no image of modalities {list(channels)} found in {root} or its sub-folders "
            f"(looked for file names {sorted({a for m in channels for a in targets.get(m, (m,))})})."
        )

    items = []
    for (directory, prefix), files in sorted(selected.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        case_id = relative_id(directory, root, prefix)
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
        if _LABEL_KEY in files:
            item["label"] = str(files[_LABEL_KEY])
        elif require_label:
            raise FileNotFoundError(
                f"case {case_id!r} in {directory} has no label file (looked for file names {list(label_names or ())})."
            )
        item["case_id"] = case_id
        items.append(item)
    return items, channels, left_out


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


def _modalities_in(directory: Path, prefix: str) -> list[str]:
    """The known modalities (canonical names, in canonical order) of the case ``prefix`` in ``directory``."""
    found = set()
    for path in directory.iterdir():
        stem = image_stem(path)
        parsed = _parse_stem(stem, dict(MODALITY_ALIASES)) if stem is not None else None
        if parsed is not None and parsed[0] == prefix:
            found.add(parsed[1])
    return [m for m in MODALITY_ALIASES if m in found]


def _items(root: Path, channels, labels: str) -> list[dict[str, Any]]:
    return folder_datalist(root, channels, None if labels == "none" else LABEL_ALIASES, labels == "required")


LAYOUT = Layout(
    name="folder",
    title="folder of cases",
    spatial_dims=3,
    detect=lambda root: True,  # the last 3D layout: anything the others are not
    items=_items,
    survey=survey_folder,
)
