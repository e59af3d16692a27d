"""MRI modality names: the canonical channel names of this package and the file-name aliases used by MS datasets."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MODALITY_ALIASES", "LABEL_ALIASES", "PHANTOM_MODALITIES", "canonical_modality", "canonical_modalities"]

#: Canonical modality name -> names that datasets use for it in file names (compared case-insensitively).
#: MSSEG 2016 writes ``GADO`` and ``DP``; ISBI 2015 writes ``mprage`` and ``pd``; the Ljubljana open MS data
#: (Lesjak et al. 2017) write ``T1W``, ``T1WKS``/``T1POST`` and ``T2W``.
MODALITY_ALIASES: dict[str, tuple[str, ...]] = {
    "FLAIR": ("FLAIR", "3DFLAIR", "T2FLAIR", "T2_FLAIR"),
    "T1": ("T1", "T1W", "MPRAGE", "3DT1", "T1_MPRAGE"),
    "T1Gd": ("T1Gd", "T1_Gd", "GADO", "T1GADO", "T1_GADO", "3DT1GADO", "T1POST", "T1_POST", "T1C", "T1CE", "T1WKS"),
    "PD": ("PD", "DP", "PDW"),
    "T2": ("T2", "T2W"),
}

#: File-name stems taken as the lesion mask of a case by :func:`monai_tversky.data.folder_datalist`.
LABEL_ALIASES: tuple[str, ...] = (
    "label",
    "labels",
    "seg",
    "segmentation",
    "mask",
    "gt",
    "consensus",
    "consensus_gt",
    "ground_truth",
    "lesion",
    "lesions",
    "lesion_mask",
)

#: The five MSSEG 2016 channels, in the order the phantom and the msseg bundle use by default.
PHANTOM_MODALITIES: tuple[str, ...] = ("FLAIR", "T1", "T1Gd", "PD", "T2")


def canonical_modality(name: str) -> str:
    """
    Map a modality name or alias to its canonical name (``"GADO"``, ``"T1POST"`` -> ``"T1Gd"``; ``"DP"`` -> ``"PD"``).

    Names that are no known alias are returned unchanged, so a dataset may use channels this package does not list.

    Args:
        name: a modality name, compared case-insensitively with :data:`MODALITY_ALIASES`.

    Raises:
        TypeError: when ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"a modality name must be a non-empty string but got {name!r}.")
    key = name.strip().lower()
    for canonical, aliases in MODALITY_ALIASES.items():
        if key in (a.lower() for a in aliases):
            return canonical
    return name.strip()


def canonical_modalities(names: str | Sequence[str]) -> tuple[str, ...]:
    """
    Map a sequence of modality names to canonical names (see :func:`canonical_modality`).

    Args:
        names: one name or a sequence of names.

    Raises:
        ValueError: when the sequence is empty or names the same modality twice (e.g. ``["T1POST", "GADO"]``).
    """
    if isinstance(names, str):
        names = [names]
    result = tuple(canonical_modality(n) for n in names)
    if not result:
        raise ValueError("modalities must name at least one modality.")
    duplicates = sorted({m for m in result if result.count(m) > 1})
    if duplicates:
        raise ValueError(f"modalities {list(names)} name the same modality more than once: {duplicates}.")
    return result
