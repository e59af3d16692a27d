"""One lesion mask from several: the union of the masks a data set stores per image (BUSI's ``_mask``, ``_mask_1``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

__all__ = ["MergeMasksd"]


class MergeMasksd(MapTransform):
    """
    Merge the channels of a channel-first mask into one channel by their maximum: for binary masks the union (a
    logical OR) of the lesions drawn in each. A datalist item whose ``"label"`` lists several files (BUSI stores a
    second lesion of an image as ``<n>_mask_1.png``) is loaded by ``LoadImaged(ensure_channel_first=True)`` as one
    channel per file; after this transform it is one mask, as a single-file label is. A one-channel mask passes
    through unchanged.

    Args:
        keys: keys of the masks, ``(C, *spatial)`` tensors or arrays.
        allow_missing_keys: don't raise when a key is missing (e.g. no label at inference).

    Raises:
        ValueError: when a mask has no channel dimension (fewer than 2 dimensions).
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            mask = d[key]
            if mask.ndim < 2:
                raise ValueError(f"{key} must be channel-first (C, *spatial) but has shape {tuple(mask.shape)}.")
            if mask.shape[0] > 1:
                d[key] = mask.max(0, keepdim=True)[0] if isinstance(mask, torch.Tensor) else mask.max(0, keepdims=True)
        return d
