"""Post-processing of the test-time augmentation variance of ``SplineFusionInferer(..., return_variance=True)``: split
the ``(mean, variance)`` pair that MONAI's evaluators store under ``"pred"``, and score each case from its variance.

With ``return_variance=True`` the inferer returns a tuple; MONAI's ``SupervisedEvaluator`` stores it under ``"pred"``
as it is, and ``decollate_batch`` hands each item a list of two tensors (the item's mean and variance, each a
``MetaTensor`` with the input's metadata). :class:`SplitVarianced` puts them under two keys, so the usual
post-processing (activation, ``SaveImaged``) applies to the mean and the variance can be saved beside it;
:class:`TTAUncertaintyScored` reduces the variance to one score per case (:func:`tta_uncertainty_score`, over the
predicted lesion mask) and writes the scores of a run to ``tta_uncertainty.csv`` / ``.json``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from monai.config import KeysCollection
from monai.data.meta_tensor import MetaTensor
from monai.transforms import MapTransform
from monai.utils import ImageMetaKey, ensure_tuple

from ..inferers.tta_uncertainty import tta_uncertainty_score
from .case_outputs import CASE_ID_META_KEY

__all__ = ["SplitVarianced", "TTAUncertaintyScored", "TTA_UNCERTAINTY_FILE"]

logger = logging.getLogger("monai_tversky")

#: base name of the per-run score files that :class:`TTAUncertaintyScored` writes (``.csv`` and ``.json``)
TTA_UNCERTAINTY_FILE = "tta_uncertainty"


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in value)
    )


class SplitVarianced(MapTransform):
    """
    Split a ``(mean, variance)`` pair, as ``SplineFusionInferer(..., return_variance=True)`` returns it, into two
    keys: the mean stays under the key, the variance goes to ``variance_key``. Anything else passes through
    unchanged, so the transform can stay in a bundle's post-processing when the inferer returns one tensor.

    Place it first in the post-processing of a ``SupervisedEvaluator`` (which stores the inferer's output under
    ``"pred"``): after ``decollate_batch`` each item holds a list of the two tensors. The variance keeps its
    metadata (affine, case id) for ``SaveImaged``; when it has none and the mean is a ``MetaTensor``, it gets the
    mean's.

    Example::

        SplitVarianced(keys="pred", variance_key="variance")  # {"pred": [mean, var]} -> {"pred": mean, "variance": var}

    Args:
        keys: keys holding the pairs. Defaults to ``"pred"``.
        variance_key: where each key's variance goes, one name per key. Defaults to ``"variance"``.
        allow_missing_keys: don't raise when a key is missing.

    Raises:
        ValueError: when ``variance_key`` does not name one key per key of ``keys``, or one of them is in ``keys``.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        variance_key: str | Sequence[str] = "variance",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.variance_keys = ensure_tuple(variance_key)
        if len(self.variance_keys) != len(self.keys):
            raise ValueError(
                f"variance_key must name one key per key of keys {self.keys}, got {variance_key!r}."
            )
        if set(self.variance_keys) & set(self.keys):
            raise ValueError(f"variance_key {variance_key!r} must differ from keys {self.keys}.")

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, variance_key in self.key_iterator(d, self.variance_keys):
            if not _is_pair(d[key]):
                continue
            mean, variance = d[key]
            if isinstance(mean, MetaTensor) and not isinstance(variance, MetaTensor):
                variance = MetaTensor(torch.as_tensor(variance)).copy_meta_from(mean, copy_attr=False)
            d[key], d[variance_key] = mean, variance
        return d


def _case_name(*tensors: Any, fallback: str) -> str:
    for t in tensors:
        meta = t.meta if isinstance(t, MetaTensor) else {}
        case = meta.get(CASE_ID_META_KEY)
        if case is not None:
            return str(case)
    for t in tensors:
        meta = t.meta if isinstance(t, MetaTensor) else {}
        name = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
        if isinstance(name, (str, os.PathLike)) and str(name):
            base = os.path.basename(str(name).rstrip("/\\"))
            for ext in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".png", ".jpg"):
                if base.lower().endswith(ext):
                    return base[: -len(ext)]
            return base
    return fallback


class TTAUncertaintyScored(MapTransform):
    """
    One uncertainty score per case from its test-time augmentation variance (:func:`tta_uncertainty_score`): the
    mean variance over the case's predicted lesion voxels (``mask_key``, non-zero voxels; over the whole volume when
    nothing is predicted). The score goes to ``score_key`` in the item, to the log, and, with ``output_dir``, to
    ``<output_dir>/tta_uncertainty.csv`` (``case_id,tta_uncertainty,lesion_voxels``) and ``tta_uncertainty.json``
    (``{case_id: {"tta_uncertainty": score, "lesion_voxels": n}}``), both rewritten after each case with every case
    of the run so far. Cases are named by the ``case_id`` that ``StoreCaseIdd`` put in the metadata (else the
    image file's name). Higher is more uncertain: the case to annotate first (active learning).

    Args:
        keys: the key holding the variance, ``(C, *spatial)`` (one item, after ``decollate_batch``). One key.
        mask_key: the key of the predicted mask, ``(1, *spatial)`` or ``(C, *spatial)``, e.g. the thresholded
            prediction; None or a missing key: the whole volume. Defaults to ``"pred"``.
        score_key: the item's key for the score (a float). Defaults to ``"tta_uncertainty"``.
        output_dir: where the score files go; None (default): not written.
        allow_missing_keys: don't raise when the variance is missing (the inferer did not return one): the item
            passes through and nothing is written.

    Raises:
        ValueError: when ``keys`` holds more than one key.
    """

    def __init__(
        self,
        keys: KeysCollection = "variance",
        mask_key: str | None = "pred",
        score_key: str = "tta_uncertainty",
        output_dir: str | os.PathLike | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"TTAUncertaintyScored scores one variance key, got keys {self.keys}.")
        self.mask_key = mask_key
        self.score_key = score_key
        self.output_dir = None if output_dir is None else os.fspath(output_dir)
        self.scores: dict[str, dict[str, float | int]] = {}

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            variance = torch.as_tensor(d[key]) if isinstance(d[key], np.ndarray) else d[key]
            mask = d.get(self.mask_key) if self.mask_key is not None else None
            if isinstance(mask, np.ndarray):
                mask = torch.as_tensor(mask)
            score = tta_uncertainty_score(variance[None], None if mask is None else mask[None])
            value = float(score[0])
            voxels = 0 if mask is None else int((torch.as_tensor(mask) != 0).sum())
            case = _case_name(variance, mask, fallback=f"case_{len(self.scores)}")
            d[self.score_key] = value
            self.scores[case] = {"tta_uncertainty": value, "lesion_voxels": voxels}
            logger.info(f"{case}: TTA uncertainty {value:.6g} (mean variance over {voxels} predicted lesion voxels"
                        f"{'' if voxels else ', none: the whole volume'})")
            if self.output_dir is not None:
                self._write()
        return d

    def _write(self) -> None:
        assert self.output_dir is not None
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, TTA_UNCERTAINTY_FILE)
        with open(path + ".csv.tmp", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["case_id", "tta_uncertainty", "lesion_voxels"])
            for case, row in self.scores.items():
                writer.writerow([case, repr(row["tta_uncertainty"]), row["lesion_voxels"]])
        os.replace(path + ".csv.tmp", path + ".csv")
        with open(path + ".json.tmp", "w") as f:
            json.dump(self.scores, f, indent=2)
        os.replace(path + ".json.tmp", path + ".json")
