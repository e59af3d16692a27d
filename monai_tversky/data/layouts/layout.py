"""The record every data set layout ends with: what the layout is called, how to recognise it, how to list its cases
and what its labels mean. :data:`monai_tversky.data.layouts.LAYOUTS` is the ordered list of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..label_maps import LabelMap

__all__ = ["Layout", "ChannelSurvey", "LABEL_MODES"]

#: What a layout's ``items`` does with labels: ``"required"`` (training, evaluation: a case without one is an
#: error), ``"optional"`` (inference: listed where the layout has them), ``"none"`` (images only).
LABEL_MODES: tuple[str, ...] = ("required", "optional", "none")


class ChannelSurvey(NamedTuple):
    """The channels a folder's cases share, in canonical order, and the modalities left out because some case
    lacks them: ``{modality: [ids of the cases without it]}``."""

    channels: tuple[str, ...]
    left_out: dict[str, list[str]]


@dataclass(frozen=True)
class Layout:
    """
    One data set layout: a folder structure in which a data set is distributed.

    Attributes:
        name: the ``--layout`` value (``"msseg2016"``).
        title: the data set in words, for logs and records (``"MSSEG 2016 data set"``).
        spatial_dims: 3 (volumes, named by modality) or 2 (PNG/JPEG images).
        detect: ``detect(root) -> bool``, whether a folder (resolved) holds this layout; :data:`LAYOUTS` is
            walked in order and the first match wins.
        items: ``items(root, channels, labels) -> list`` of datalist items ``{"image": ..., "label": ...,
            "case_id": ...}``; ``channels`` are the modalities in order (3D; ``None`` for the layout's own) and
            ``labels`` one of :data:`LABEL_MODES`.
        channels: the channels the layout distributes, in its default order (3D; empty when they come from the
            file names, see ``survey``).
        survey: ``survey(root) -> ChannelSurvey`` for a layout whose channels come from the files (the generic
            folder); ``None`` otherwise.
        kind: a 2D layout's kind of image, ``"skin"`` (RGB) or ``"ultrasound"`` (grayscale).
        group_key: the item key whose equal values a split keeps on one side (ISBI 2015's subject, BUSI's
            near-duplicates); ``None``: every case is its own group.
        label_map: ``label_map(num_classes) -> LabelMap`` when the stored label values are not the classes
            (WMH 2017, BraTS); ``None``: the labels hold the classes ``0 .. num_classes - 1``.
        inference_items: what inference and evaluation list, ``(root, channels, labels) -> list``, when it is
            not ``items`` (ISIC: the test images first, where a release holds several subsets); ``None``: ``items``.
        training: whether a bundle can train on it (the 2D image folder lists images without masks: inference only).
    """

    name: str
    title: str
    spatial_dims: int
    detect: Callable[[Path], bool]
    items: Callable[[Path, Any, str], list[dict[str, Any]]]
    channels: tuple[str, ...] = ()
    survey: Callable[[Path], ChannelSurvey] | None = None
    kind: str | None = None
    group_key: str | None = None
    label_map: Callable[[int], LabelMap] | None = field(default=None)
    inference_items: Callable[[Path, Any, str], list[dict[str, Any]]] | None = None
    training: bool = True

    def list_for_inference(self, root: Path, channels: Any, labels: str) -> list[dict[str, Any]]:
        """The cases inference (``labels="optional"``) or evaluation (``"required"``) runs on."""
        return (self.inference_items or self.items)(root, channels, labels)
