"""Transforms that stop a pipeline on garbage input (non-finite voxels, labels with unexpected values), naming the file.

The bundles check every file of a datalist before training or inference (:func:`monai_tversky.data.check_datalist`);
these transforms are the same checks inside a MONAI transform chain, for data that reaches the chain by another way
(MONAI Label's datastore, a user's own datalist in a pipeline of their own). They go right after ``LoadImaged``, so
that a ``CacheDataset`` runs them while it fills its cache, before the first iteration.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from monai.config import KeysCollection
from monai.data.meta_tensor import MetaTensor
from monai.transforms import MapTransform
from monai.utils import ImageMetaKey

from monai_tversky.data.validation import check_image_values, check_label_values

__all__ = ["CheckFinited", "CheckLabelValuesd"]


def _source(data: Mapping[Hashable, Any], key: Hashable) -> str:
    """The file a value was loaded from (``filename_or_obj`` of its metadata), else a description of the key."""
    value = data[key]
    meta = value.meta if isinstance(value, MetaTensor) else data.get(f"{key}_meta_dict", {}) or {}
    source = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
    if isinstance(source, (list, tuple)):
        source = ", ".join(str(s) for s in source)
    return str(source) if source else f"the {key!r} of this item"


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


class CheckFinited(MapTransform):
    """
    Raise a ``ValueError`` naming the file when an image holds NaN or infinite voxels (a network fed one returns NaN
    and training goes on with ``loss = nan``). The data pass through unchanged.

    Args:
        keys: keys of the images to check.
        allow_missing_keys: don't raise when a key is missing.

    Raises:
        ValueError: naming the file (``filename_or_obj`` of the image's metadata), the number of non-finite voxels
            and the first one's index.
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> Mapping[Hashable, Any]:
        for key in self.key_iterator(data):
            check_image_values(_numpy(data[key]), _source(data, key))
        return data


class CheckLabelValuesd(MapTransform):
    """
    Raise a ``ValueError`` naming the file when a label holds values the training does not expect: with
    ``label_values="binary"``, anything but a lesion mask (values in [0, 1], or 0 and one foreground value above
    ``threshold``), e.g. a 0/1/2 map that thresholding would merge; with a sequence, values outside it. Non-finite
    values always raise. The data pass through unchanged (see
    :func:`monai_tversky.data.check_label_values`).

    Args:
        keys: keys of the labels to check.
        label_values: ``"binary"`` or the allowed values. Defaults to ``"binary"``.
        threshold: the threshold that binarises a ``"binary"`` label afterwards. Defaults to 0.5.
        allow_missing_keys: don't raise when a key is missing.

    Raises:
        ValueError: naming the file and the values found.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_values: str | Sequence[float] = "binary",
        threshold: float = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if isinstance(label_values, str) and label_values != "binary":
            raise ValueError(f"label_values must be 'binary' or a sequence of values, got {label_values!r}.")
        self.label_values = label_values if isinstance(label_values, str) else tuple(float(v) for v in label_values)
        self.threshold = float(threshold)

    def __call__(self, data: Mapping[Hashable, Any]) -> Mapping[Hashable, Any]:
        for key in self.key_iterator(data):
            check_label_values(_numpy(data[key]), _source(data, key), self.label_values, self.threshold)
        return data
