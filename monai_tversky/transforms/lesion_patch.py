"""Training patch selection of hashemi2018 (section III.E): patches holding enough lesion voxels, equally per image."""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass

import numpy as np
import torch

from monai.config import KeysCollection
from monai.data.meta_obj import get_track_meta
from monai.data.meta_tensor import MetaTensor
from monai.transforms import LazyTransform, MapTransform, Randomizable, SpatialCrop, Transform
from monai.transforms.traits import MultiSampleTrait
from monai.utils import ImageMetaKey, fall_back_tuple

__all__ = ["LesionPatchIndices", "LesionPatchIndicesd", "RandLesionPatchd", "lesion_voxels_per_patch"]


def lesion_voxels_per_patch(lesion: np.ndarray | torch.Tensor, patch_size: Sequence[int]) -> np.ndarray:
    """
    Number of lesion voxels in every patch of ``patch_size`` that fits in the image, for all patch starts at once.

    A box sum, one axis after the other: a cumulative sum along the axis and the difference of its values one patch
    apart. The cost is a few passes over the image whatever the patch size; the counts are exact integers.

    Args:
        lesion: boolean (or 0/1) mask of spatial shape ``S`` (no channel axis), array or tensor.
        patch_size: the patch size, ``1 <= patch_size[k] <= S[k]``.

    Returns:
        integer array of shape ``S - patch_size + 1``: entry ``i`` counts the lesion voxels of the patch starting
        at ``i``.

    Raises:
        ValueError: when ``patch_size`` does not fit in the image.
    """
    mask = lesion.detach().cpu().numpy() if isinstance(lesion, torch.Tensor) else np.asarray(lesion)
    shape, patch_size = mask.shape, tuple(int(p) for p in patch_size)
    if len(patch_size) != len(shape) or any(not 1 <= p <= s for p, s in zip(patch_size, shape)):
        raise ValueError(f"patch_size {patch_size} must fit in the image of spatial shape {shape}.")
    dtype = np.int32 if np.prod(patch_size, dtype=np.float64) < 2**31 else np.int64
    counts = mask != 0
    for axis, p in reversed(list(enumerate(patch_size))):
        total = _cumsum(counts, axis, dtype)
        lead = (slice(None),) * axis
        box = total[(*lead, slice(p - 1, None))].copy()  # sum over [i, i + p) = total[i + p - 1] - total[i - 1]
        box[(*lead, slice(1, None))] -= total[(*lead, slice(0, -p))]
        counts = box
    return counts


def _cumsum(values: np.ndarray, axis: int, dtype: type) -> np.ndarray:
    """np.cumsum, as a loop over slabs off the last axis (several times faster there than numpy's strided scan)."""
    if axis == values.ndim - 1:
        return np.cumsum(values, axis=axis, dtype=dtype)
    total = values.astype(dtype)
    slabs = np.moveaxis(total, axis, 0)  # a view
    for i in range(1, slabs.shape[0]):
        slabs[i] += slabs[i - 1]
    return total


def _compact(flat: np.ndarray) -> np.ndarray:
    """Flat indices as int32 where they fit: half the memory a CacheDataset holds and copies per item."""
    return flat.astype(np.int32) if flat.size == 0 or int(flat.max()) < 2**31 else flat


@dataclass(frozen=True)
class LesionPatchIndices:
    """
    Where :class:`RandLesionPatchd` may put its patches in one image: what it would otherwise compute on every draw.

    Attributes:
        spatial_shape: the image's spatial shape ``S``.
        patch_size: the patch size in this image (``spatial_size`` cut to ``S``).
        min_lesion_voxels: the lesion-patch threshold these starts were counted with.
        lesion_voxels: the number of lesion voxels of the image.
        lesion_starts: flat indices, in the grid of patch starts (shape ``S - patch_size + 1``), of the patches
            holding ``>= min_lesion_voxels`` lesion voxels.
        negative_centres: flat indices, in the image, of the voxels that are no lesion and lie in the foreground
            (the negative patches' centres); None when computed for ``neg == 0``.
    """

    spatial_shape: tuple[int, ...]
    patch_size: tuple[int, ...]
    min_lesion_voxels: int
    lesion_voxels: int
    lesion_starts: np.ndarray
    negative_centres: np.ndarray | None

    @property
    def grid(self) -> tuple[int, ...]:
        """The shape of the grid of patch starts, ``spatial_shape - patch_size + 1``."""
        return tuple(s - p + 1 for s, p in zip(self.spatial_shape, self.patch_size))


class LesionPatchIndicesd(Transform):
    """
    Compute once, before caching, where :class:`RandLesionPatchd` may put its patches in an image: the starts of
    the patches holding enough lesion voxels (hashemi2018, section III.E) and the centres of its negative patches.
    Stored under ``indices_key`` as :class:`LesionPatchIndices`, which ``RandLesionPatchd(indices_key=...)`` pops
    and draws from; the draws are those it would make without them. MONAI's
    :py:class:`~monai.transforms.FgBgToIndicesd` does the same for ``RandCropByPosNegLabeld``: a deterministic
    transform that a ``CacheDataset`` runs once per image, so that counting the lesion voxels of every patch
    position of a whole brain (a third of a second for 182x218x182 on one CPU thread) is not repeated per draw.

    Takes the settings of the ``RandLesionPatchd`` that will use the indices (the same values; it checks them).

    Args:
        label_key: key of the label, ``(C, *spatial)``.
        spatial_size, min_lesion_voxels, label_channel, pos, neg, image_key, image_threshold: as
            :class:`RandLesionPatchd`'s.
        indices_key: where to store the indices. Defaults to ``"lesion_patch_indices"``.

    Raises:
        the errors of :class:`RandLesionPatchd` for these settings, at construction and at call time; KeyError
        when ``label_key`` or ``image_key`` is missing from the data.
    """

    def __init__(
        self,
        label_key: str,
        spatial_size: Sequence[int] | int,
        min_lesion_voxels: int = 10,
        label_channel: int | None = None,
        pos: float = 1.0,
        neg: float = 0.0,
        image_key: str | None = None,
        image_threshold: float = 0.0,
        indices_key: str = "lesion_patch_indices",
    ) -> None:
        self.sampler = RandLesionPatchd(
            keys=label_key, label_key=label_key, spatial_size=spatial_size, num_samples=1,
            min_lesion_voxels=min_lesion_voxels, label_channel=label_channel, pos=pos, neg=neg, image_key=image_key,
            image_threshold=image_threshold,
        )  # fmt: skip
        self.indices_key = indices_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, object]:
        d = dict(data)
        sampler = self.sampler
        for key in (sampler.label_key, sampler.image_key):
            if key is not None and key not in d:
                raise KeyError(f"{key!r} is not in the data (keys {list(d)}).")
        image = d[sampler.image_key] if sampler.image_key is not None else None
        d[self.indices_key] = sampler.compute_indices(d[sampler.label_key], image)
        return d


class RandLesionPatchd(Randomizable, MapTransform, LazyTransform, MultiSampleTrait):
    """
    Crop ``num_samples`` random patches that each hold at least ``min_lesion_voxels`` lesion voxels.

    The patch selection of hashemi2018: Hashemi, Salehi, Erdogmus, Prabhu, Warfield, Gholipour (2018).
    *Asymmetric similarity loss function to balance precision and recall in highly unbalanced deep medical image
    segmentation.* arXiv:1803.11078 (IEEE Access), section III.E: similarity losses cannot learn from a patch
    without true positives, so only patches with at least 10 lesion voxels are used, and the same number of patches
    is taken from every image. Shaped like MONAI's :py:class:`monai.transforms.RandCropByPosNegLabeld`: returns a
    list of ``num_samples`` dictionaries (so every image contributes ``num_samples`` patches to a batch), each with
    the ``keys`` cropped at the same place and the other items copied.

    The patch start is drawn uniformly (with replacement) among all positions whose patch holds at least
    ``min_lesion_voxels`` lesion voxels (``label > 0`` in the lesion channel, see ``label_channel``), counted
    exactly for every position at once (:func:`lesion_voxels_per_patch`): no rejection loop. When no position
    qualifies (an image without lesions, or with too few), it warns and draws ordinary uniform random patches instead.

    ``pos`` and ``neg`` add the negative patches of MONAI's :py:class:`~monai.transforms.RandCropByPosNegLabeld`
    (same names, same meaning): each patch is a lesion patch (the rule above) with probability
    ``pos / (pos + neg)``, else it is centred on a voxel that is no lesion and lies inside the image's foreground
    (``image_key``'s voxels whose magnitude exceeds ``image_threshold`` in some channel: the brain of a
    skull-stripped image, z-scored or not; MONAI compares the signed value, which misses the negative half of a
    z-scored brain), clamped to the image. hashemi2018 uses lesion patches only (``neg=0``, the default); a model
    that never sees lesion-free white matter calls lesions there on a patient it never saw (issue 24).

    If the image is smaller than ``spatial_size`` along an axis, that axis is not cropped (the patch is smaller).

    The patches own their memory (unlike the views MONAI's croppers return), and the input dictionary is not changed,
    so a :py:class:`monai.data.CacheDataset` can hand its cached volumes to this transform without copying them
    (``copy_cache=False``): with ``copy_cache=True`` it deep-copies the whole cached item, every channel of a brain
    volume, for every draw of a few small patches. With ``lazy=True`` a patch is a pending crop that still shares the
    input's memory, as in MONAI.

    Args:
        keys: keys of the items to crop, e.g. ``["image", "label"]``. See :py:class:`monai.transforms.MapTransform`.
        label_key: key of the label that defines the lesion voxels (``label > 0``), shape ``(C, *spatial)``.
        spatial_size: the patch size, e.g. ``(64, 64, 64)``; non-positive components use the image size.
        num_samples: number of patches per image, ``>= 1``.
        min_lesion_voxels: minimum number of lesion voxels in a patch, ``>= 0``. Defaults to 10 (hashemi2018).
        allow_missing_keys: don't raise an exception if a key is missing. Defaults to False.
        lazy: whether to execute the crops lazily (MONAI lazy resampling). Defaults to False.
        label_channel: which channel of the label holds the lesions, e.g. 1 for a one-hot ``(background, lesion)``
            label. None (default): the label must have a single channel (``C == 1``); a multi-channel label then
            raises a ValueError rather than counting the background channel of a one-hot label as lesion.
        pos, neg: the weights of lesion and negative patches (MONAI's ``RandCropByPosNegLabeld``), finite, ``>= 0``,
            not both 0. Defaults to 1 and 0 (hashemi2018: lesion patches only).
        image_key: key of the image whose foreground bounds the negative patches' centres; None: any non-lesion voxel.
        image_threshold: the foreground is ``|image| > image_threshold`` in some channel. Defaults to 0.
        indices_key: key of the :class:`LesionPatchIndices` that :class:`LesionPatchIndicesd` put in the data (as
            MONAI's ``fg_indices_key``): where present they are used (and removed from the patches' dictionaries)
            instead of counting the lesion voxels of every patch position again on every call, the costly part of
            a draw on a whole brain volume; the draws are the same. None (default) or absent: computed per call.

    Raises:
        TypeError: when ``spatial_size``, ``num_samples`` or ``min_lesion_voxels`` are not ints, or
            ``label_channel`` is neither None nor an int.
        ValueError: when ``num_samples < 1``, ``min_lesion_voxels < 0``, ``label_channel < 0``, ``pos`` or ``neg``
            is negative or not finite, or both are 0; at call time,
            when the label has several channels and ``label_channel`` is None, or ``label_channel`` is not one
            of its channels.
    """

    backend = SpatialCrop.backend

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str,
        spatial_size: Sequence[int] | int,
        num_samples: int,
        min_lesion_voxels: int = 10,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        label_channel: int | None = None,
        pos: float = 1.0,
        neg: float = 0.0,
        image_key: str | None = None,
        image_threshold: float = 0.0,
        indices_key: str | None = None,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy)
        self.label_key = label_key
        sizes = (spatial_size,) if isinstance(spatial_size, (int, np.integer)) else spatial_size
        if (
            not isinstance(sizes, Sequence)
            or isinstance(sizes, str)
            or len(sizes) == 0
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes)
        ):
            raise TypeError(f"spatial_size must be an int or a sequence of ints, got {spatial_size!r}.")
        self.spatial_size = int(spatial_size) if isinstance(spatial_size, (int, np.integer)) else tuple(map(int, sizes))
        self.num_samples = _check_int("num_samples", num_samples, 1)
        self.min_lesion_voxels = _check_int("min_lesion_voxels", min_lesion_voxels, 0)
        self.label_channel = None if label_channel is None else _check_int("label_channel", label_channel, 0)
        self.pos, self.neg = _check_weight("pos", pos), _check_weight("neg", neg)
        if self.pos + self.neg == 0:
            raise ValueError("Incompatible values: pos and neg cannot both be 0.")
        self.image_key = image_key
        self.image_threshold = float(image_threshold)
        self.indices_key = indices_key
        self.starts: list[tuple[int, ...]] = []
        self.patch_size: tuple[int, ...] = ()

    @property
    def requires_current_data(self) -> bool:
        return True

    def compute_indices(
        self, label: torch.Tensor | np.ndarray, image: torch.Tensor | np.ndarray | None = None
    ) -> LesionPatchIndices:
        """
        Where this transform's patches may go in one image (what :meth:`randomize` draws from): the starts of the
        patches holding ``>= min_lesion_voxels`` lesion voxels and, when ``neg > 0``, the non-lesion foreground
        voxels. A deterministic function of the image: :class:`LesionPatchIndicesd` computes it once per image
        before a ``CacheDataset`` caches it, instead of on every draw.

        Args:
            label: channel-first label, ``(C, *spatial)``.
            image: channel-first image, ``(C', *spatial)``; bounds the negative patches' centres (``image_key``).

        Raises:
            ValueError: when the label is not channel-first, its channels do not fit ``label_channel``,
                ``spatial_size`` has another number of axes, or the image's spatial shape differs from the label's.
        """
        label_t = label.as_tensor() if isinstance(label, MetaTensor) else torch.as_tensor(label)
        if label_t.ndim < 2:
            raise ValueError(f"the label must be channel-first, (C, *spatial), got shape {tuple(label_t.shape)}.")
        shape = tuple(int(s) for s in label_t.shape[1:])
        patch_size = self._patch_size(shape)
        lesion = self._lesion_channel(label_t) > 0
        counts = lesion_voxels_per_patch(lesion, patch_size)
        starts = _compact(np.flatnonzero(counts >= self.min_lesion_voxels))
        centres = self._negative_centres(lesion, image) if self.neg > 0 else None
        return LesionPatchIndices(shape, patch_size, self.min_lesion_voxels, int(lesion.sum()), starts, centres)

    def _patch_size(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The patch size in an image of spatial ``shape``: ``spatial_size``, non-positive and too large axes cut."""
        size = self.spatial_size if isinstance(self.spatial_size, tuple) else (self.spatial_size,) * len(shape)
        if len(size) != len(shape):
            raise ValueError(f"spatial_size {size} does not match the label's spatial shape {shape}.")
        return tuple(min(p, s) for p, s in zip(fall_back_tuple(size, shape), shape))

    def randomize(  # type: ignore[override]
        self,
        label: torch.Tensor | np.ndarray,
        image: torch.Tensor | np.ndarray | None = None,
        indices: LesionPatchIndices | None = None,
    ) -> None:
        """Draw ``num_samples`` patch starts from ``label`` (channel-first; ``image``, channel-first, bounds the
        negative patches' centres), stored in ``self.starts``. ``indices``: what :meth:`compute_indices` returns
        for this label and image, computed earlier (:class:`LesionPatchIndicesd`); the draws are the same."""
        if indices is None:
            indices = self.compute_indices(label, image)
        else:
            self._check_indices(indices, label)
        self.patch_size = indices.patch_size
        grid = indices.grid
        if self.neg == 0 or self.pos == 0:  # no draw: hashemi2018's patches come from the same random stream as before
            positive = np.full(self.num_samples, self.neg == 0)
        else:
            positive = self.R.rand(self.num_samples) < self.pos / (self.pos + self.neg)
        n_pos = int(positive.sum())
        starts = np.empty(self.num_samples, dtype=np.int64)
        starts[~positive] = self._negative_starts(indices, self.num_samples - n_pos)
        starts[positive] = self._lesion_starts(label, indices, n_pos)
        self.starts = [tuple(int(i) for i in np.unravel_index(f, grid)) for f in starts]

    def _check_indices(self, indices: LesionPatchIndices, label: torch.Tensor | np.ndarray) -> None:
        """Raise a ValueError naming the difference when ``indices`` were not computed for this label and these
        settings (another patch size, ``min_lesion_voxels`` or image, or without the negative centres)."""
        if not isinstance(indices, LesionPatchIndices):
            raise TypeError(
                f"{self.indices_key!r} must hold the LesionPatchIndices of LesionPatchIndicesd, got "
                f"{type(indices).__name__}."
            )
        shape = tuple(int(s) for s in label.shape[1:])
        expected = {"spatial_shape": shape, "patch_size": self._patch_size(shape),
                    "min_lesion_voxels": self.min_lesion_voxels}  # fmt: skip
        for name, value in expected.items():
            if getattr(indices, name) != value:
                raise ValueError(
                    f"the precomputed {self.indices_key!r} were computed with {name} {getattr(indices, name)}, this "
                    f"transform needs {value}: give LesionPatchIndicesd the same settings as RandLesionPatchd."
                )
        if self.neg > 0 and indices.negative_centres is None:
            raise ValueError(
                f"the precomputed {self.indices_key!r} hold no negative centres, and this transform draws negative "
                f"patches (neg={self.neg}): give LesionPatchIndicesd the same neg."
            )

    def _lesion_starts(self, label, indices: LesionPatchIndices, n: int) -> np.ndarray:
        """``n`` flat patch starts (in the grid of starts) whose patch holds ``>= min_lesion_voxels`` lesion voxels."""
        if n == 0:
            return np.empty(0, dtype=np.int64)
        valid = indices.lesion_starts
        if valid.size == 0:
            name = label.meta.get(ImageMetaKey.FILENAME_OR_OBJ) if isinstance(label, MetaTensor) else None
            warnings.warn(
                f"RandLesionPatchd: no {indices.patch_size} patch of the image{f' {name}' if name else ''} holds >= "
                f"{self.min_lesion_voxels} lesion voxels (its label has {indices.lesion_voxels}); "
                f"taking {n} ordinary random patches instead.",
                stacklevel=3,
            )
            return self.R.randint(0, int(np.prod(indices.grid)), size=n)
        return valid[self.R.randint(0, valid.size, size=n)].astype(np.int64)

    def _negative_centres(self, lesion: torch.Tensor, image) -> np.ndarray:
        """Flat indices (in the image) of the voxels that are no lesion and lie in ``image``'s foreground."""
        candidates = ~lesion.cpu().numpy()
        if image is not None:
            img = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
            if tuple(img.shape[1:]) != tuple(lesion.shape):
                raise ValueError(
                    f"image {self.image_key!r} has spatial shape {tuple(img.shape[1:])}, the label "
                    f"{tuple(lesion.shape)}: they must match."
                )
            # |image| rather than MONAI's image: a z-scored brain (NormalizeIntensity(nonzero=True)) is half negative
            candidates &= (img.abs() > self.image_threshold).any(dim=0).cpu().numpy()
        return _compact(np.flatnonzero(candidates))

    def _negative_starts(self, indices: LesionPatchIndices, n: int) -> np.ndarray:
        """``n`` flat patch starts (in the grid of starts) of patches centred on a non-lesion foreground voxel,
        clamped to the image (MONAI's negative samples); uniform starts when there is no such voxel."""
        if n == 0:
            return np.empty(0, dtype=np.int64)
        centres, grid = indices.negative_centres, indices.grid
        if centres is None or centres.size == 0:
            return self.R.randint(0, int(np.prod(grid)), size=n)
        flat = centres[self.R.randint(0, centres.size, size=n)]
        picked = np.stack(np.unravel_index(flat, indices.spatial_shape), axis=-1)
        starts = np.clip(picked - np.array(indices.patch_size) // 2, 0, np.array(grid) - 1)
        return np.ravel_multi_index(tuple(starts.T), grid)

    def _lesion_channel(self, label: torch.Tensor) -> torch.Tensor:
        """The channel of ``label`` (``(C, *spatial)``) that holds the lesions, see ``label_channel``."""
        channels = label.shape[0]
        if self.label_channel is None:
            if channels != 1:
                raise ValueError(
                    f"the label has {channels} channels (shape {tuple(label.shape)}): pass label_channel to say which "
                    "one holds the lesions (e.g. label_channel=1 for a one-hot (background, lesion) label)."
                )
            return label[0]
        if self.label_channel >= channels:
            raise ValueError(
                f"label_channel={self.label_channel} is out of range for a label with {channels} channel(s) "
                f"(shape {tuple(label.shape)})."
            )
        return label[self.label_channel]

    def __call__(  # type: ignore[override]
        self, data: Mapping[Hashable, torch.Tensor], lazy: bool | None = None
    ) -> list[dict[Hashable, torch.Tensor]]:
        """
        Args:
            data: dictionary holding ``label_key`` and the ``keys``, channel-first arrays of one spatial shape.
            lazy: override the ``lazy`` flag for this call.

        Returns:
            a list of ``num_samples`` dictionaries.

        Raises:
            KeyError: when ``label_key`` is missing.
            ValueError: when an item's spatial shape differs from the label's, or the precomputed indices were
                computed with other settings or for another image shape.
        """
        d = dict(data)
        if self.label_key not in d:
            raise KeyError(f"label_key {self.label_key!r} is not in the data (keys {list(d)}).")
        if self.image_key is not None and self.image_key not in d:
            raise KeyError(f"image_key {self.image_key!r} is not in the data (keys {list(d)}).")
        # popped, as MONAI's RandCropByPosNegLabeld pops its fg/bg indices: not copied into every patch's dictionary
        indices = d.pop(self.indices_key, None) if self.indices_key is not None else None
        self.randomize(d[self.label_key], d[self.image_key] if self.image_key is not None else None, indices)
        label_shape = tuple(d[self.label_key].shape[1:])
        for key in self.key_iterator(d):
            if tuple(d[key].shape[1:]) != label_shape:
                raise ValueError(
                    f"{key!r} has spatial shape {tuple(d[key].shape[1:])}, the label {label_shape}: they must match."
                )
        ret: list[dict[Hashable, torch.Tensor]] = [dict(d) for _ in range(self.num_samples)]
        for i in range(self.num_samples):
            for key in set(d).difference(self.keys):
                ret[i][key] = deepcopy(d[key])
        lazy_ = self.lazy if lazy is None else lazy
        for i, start in enumerate(self.starts):
            cropper = SpatialCrop(roi_start=start, roi_end=[s + p for s, p in zip(start, self.patch_size)], lazy=lazy_)
            for key in self.key_iterator(d):
                patch = cropper(d[key])
                if not lazy_:  # a view of the (possibly cached) volume otherwise
                    patch = patch.clone() if isinstance(patch, torch.Tensor) else np.array(patch, copy=True)
                if get_track_meta() and isinstance(patch, MetaTensor):
                    patch.meta[ImageMetaKey.PATCH_INDEX] = i
                    patch.meta["crop_center"] = [s + p // 2 for s, p in zip(start, self.patch_size)]
                ret[i][key] = patch
        return ret


def _check_weight(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}.")
    return float(value)


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)
