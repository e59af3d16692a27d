"""Named training recipes of the 3D bundles (issue 24): the paper's, and one that carries to patients the model never
saw. A bundle's ``train.json`` reads the recipe's settings as top-level keys, so each can still be changed alone."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["TRAINING_RECIPES", "TrainingRecipe", "training_recipe"]


@dataclass(frozen=True)
class TrainingRecipe:
    """What a recipe sets: the share of lesion and negative training patches (``RandLesionPatchd``'s ``pos`` and
    ``neg``, MONAI's ``RandCropByPosNegLabeld`` semantics), whether the bundle's ``train#augmentation`` runs, and
    the loss's ``batch`` (MONAI's meaning: sum the overlap over the batch before dividing). A similarity loss per
    patch gives a lesion-free patch a loss of about 1 for any false positive, whatever the batch's true positives,
    so negative patches need ``batch=True``: then their false positives weigh against the batch's lesions."""

    name: str
    pos: float
    neg: float
    augment: bool
    batch: bool
    summary: str


#: ``paper``: hashemi2018's patches (every patch holds >= ``min_lesion_voxels`` lesion voxels), no augmentation, as
#: hashemi2018 and salehi2017 train (sudre2017 samples foreground patches alike). ``robust``: as many patches centred
#: on lesion-free brain as on lesions, and MONAI's spatial and intensity augmentation (left-right flip, small
#: affine, bias field, intensity scale and shift, gamma, noise): a model trained on lesion patches only has never
#: seen lesion-free white matter and calls lesions there on a new patient (issue 24's leave-one-patient-out table);
#: its loss sums over the batch (see :class:`TrainingRecipe`: per patch, the negative patches teach it to call nothing).
TRAINING_RECIPES: Mapping[str, TrainingRecipe] = {
    "paper": TrainingRecipe("paper", 1.0, 0.0, False, False, "the paper's: lesion patches only, no augmentation"),
    "robust": TrainingRecipe(
        "robust", 1.0, 1.0, True, True,
        "lesion and lesion-free patches 1:1, spatial and intensity augmentation, the loss over the whole batch",
    ),
}


def training_recipe(
    recipe: str, data: Sequence[Mapping[str, Any]] | None = None, phantom_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """
    The settings of a named training recipe, for a bundle config (``"$monai_tversky.engines.training_recipe(
    @recipe, @train#dataset#data, @phantom_dir)"``): ``{"name", "pos", "neg", "augment", "batch", "summary"}``.

    Args:
        recipe: ``"paper"``, ``"robust"`` or ``"auto"``: ``"paper"`` when every training case is one of the
            embedded phantom's (its files under ``phantom_dir``: the phantom tables reproduce the papers' set-ups),
            else ``"robust"`` (real data, from ``--dataset_dir``, ``--datalist`` or MONAI Label's studies, which
            replace ``train#dataset#data``). Case-insensitive.
        data: the training items (``{"image": path or [paths], ...}``). ``None`` or empty counts as real data.
        phantom_dir: the phantom's folder. ``None``: no case is a phantom case.

    Raises:
        ValueError: when ``recipe`` names no recipe (the message lists them).
    """
    name = str(recipe).strip().lower()
    if name == "auto":
        name = "paper" if _all_phantom(data, phantom_dir) else "robust"
    if name not in TRAINING_RECIPES:
        raise ValueError(f"recipe must be 'auto' or one of {list(TRAINING_RECIPES)}, got {recipe!r}.")
    return asdict(TRAINING_RECIPES[name])


def _all_phantom(data: Sequence[Mapping[str, Any]] | None, phantom_dir: str | os.PathLike | None) -> bool:
    if not data or not phantom_dir:
        return False
    root = Path(phantom_dir).expanduser().resolve()
    for item in data:
        images = item.get("image") if isinstance(item, Mapping) else None
        paths = images if isinstance(images, (list, tuple)) else [images]
        if not paths or any(not isinstance(p, (str, os.PathLike)) or root not in Path(p).expanduser().resolve().parents
                            for p in paths):  # fmt: skip
            return False
    return True
