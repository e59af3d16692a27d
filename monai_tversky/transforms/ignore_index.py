"""Clear the voxels of an ignored label value from predictions and labels before they are scored."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = ["MaskIgnoreIndexd"]


class MaskIgnoreIndexd(MapTransform):
    """
    Set ``keys`` to background (``fill``) wherever ``label_key`` holds ``ignore_index``, so the voxels a data set marks
    as neither lesion nor background (WMH 2017's "other pathology", mapped to :data:`monai_tversky.data.IGNORE_INDEX`)
    are true negatives of every foreground class: they count as no lesion in the prediction and in the label, so
    every foreground metric (Dice, sensitivity, lesion counts, ...) leaves them out. Use it on label maps, before
    ``AsDiscreted(to_onehot=...)``; the label key must be among ``keys`` to be cleared itself.

    Args:
        keys: keys of the (B-less, channel-first) arrays to clear, e.g. ``["pred", "label"]``.
        label_key: key of the label that marks the ignored voxels. Defaults to ``"label"``.
        ignore_index: the ignored value; ``None`` makes the transform a no-op. Defaults to -1.
        fill: the value written. Defaults to 0 (background).
        allow_missing_keys: don't raise when a key is missing (e.g. no label at inference).

    Raises:
        ValueError: when an array's spatial shape differs from the label's.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "label",
        ignore_index: int | None = -1,
        fill: float = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_key = label_key
        self.ignore_index = ignore_index
        self.fill = fill

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.ignore_index is None or self.label_key not in d:
            return d
        label = d[self.label_key]
        ignored = label == self.ignore_index
        if isinstance(ignored, torch.Tensor):
            ignored = ignored.any(dim=0, keepdim=True)
        else:
            ignored = np.any(ignored, axis=0, keepdims=True)
        for key in self.key_iterator(d):
            value = d[key]
            if tuple(value.shape[1:]) != tuple(ignored.shape[1:]):
                raise ValueError(f"{key!r} has spatial shape {tuple(value.shape[1:])} but {self.label_key!r} has "
                                 f"{tuple(ignored.shape[1:])}: cannot clear the ignored voxels.")
            if isinstance(value, torch.Tensor):
                mask = torch.as_tensor(ignored, device=value.device).expand_as(value)
                d[key] = value.masked_fill(mask, self.fill)
            else:
                d[key] = np.where(np.broadcast_to(np.asarray(ignored), value.shape), self.fill, value)
        return d
