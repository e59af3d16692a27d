"""
A synthetic multiple-sclerosis (MS) lesion phantom: 3D multi-channel MRI-like head volumes with many small
white-matter lesions, used as the embedded default data set of the msseg bundle (hashemi2018).

The phantom mimics what Hashemi et al. describe of the MSSEG 2016 training data (hashemi2018: S. R. Hashemi,
S. S. M. Salehi, D. Erdogmus, S. P. Prabhu, S. K. Warfield, A. Gholipour, 2018, "Asymmetric loss functions and deep
densely connected networks for highly imbalanced medical image segmentation: application to multiple sclerosis
lesion detection", arXiv:1803.11078): five channels (FLAIR, T1, T1-Gd, PD, T2) registered to 128 x 224 x 256
voxels, on average 15,500 lesion voxels per image (minimum 647, maximum 51,870), i.e. a lesion load of about
0.01% to 0.7% of the voxels. It is a test signal for training and inference code, not a model of anatomy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..modalities import PHANTOM_MODALITIES, canonical_modalities

__all__ = [
    "make_ms_phantom",
    "PHANTOM_SHAPE",
    "PHANTOM_CI_SHAPE",
    "PHANTOM_TISSUES",
    "PHANTOM_VERSION",
    "PHANTOM_LESION_LOAD_RANGE",
]

#: Bumped whenever the generator's output changes for the same arguments (invalidates cached phantom data sets).
PHANTOM_VERSION = 1

#: The image size the MSSEG 2016 images were registered to in hashemi2018.
PHANTOM_SHAPE: tuple[int, int, int] = (128, 224, 256)

#: A small size for tests and CI smoke runs; lesion counts scale with the volume (see :func:`make_ms_phantom`).
PHANTOM_CI_SHAPE: tuple[int, int, int] = (48, 64, 64)

#: Values of the tissue map returned by ``make_ms_phantom(..., return_tissue=True)``.
PHANTOM_TISSUES: dict[str, int] = {"background": 0, "csf": 1, "grey_matter": 2, "white_matter": 3, "lesion": 4}
_BACKGROUND, _CSF, _GM, _WM, _LESION = 0, 1, 2, 3, 4

#: Default range of the lesion load (fraction of all voxels) drawn log-uniformly per case: its mean, 0.21%, is
#: the MSSEG 2016 average (15,500 / (128 * 224 * 256)).
PHANTOM_LESION_LOAD_RANGE: tuple[float, float] = (2e-4, 8e-3)

# Relative signal of [background, CSF, grey matter, white matter, lesion] per modality. MS lesions are
# hyperintense on FLAIR, T2 and PD and hypointense on T1; CSF is dark on FLAIR and T1 and bright on T2.
_TISSUE_SIGNAL: dict[str, tuple[float, float, float, float, float]] = {
    "FLAIR": (0.0, 0.12, 0.62, 0.45, 1.00),
    "T1": (0.0, 0.20, 0.55, 0.82, 0.40),
    "T1Gd": (0.0, 0.24, 0.57, 0.80, 0.42),
    "PD": (0.0, 0.88, 0.80, 0.65, 0.95),
    "T2": (0.0, 1.00, 0.55, 0.38, 0.82),
}
_ENHANCING_T1GD_SIGNAL = 1.0  # gadolinium-enhancing (active) lesions are hyperintense on T1-Gd
_ENHANCING_FRACTION = 0.15
_PERIVENTRICULAR_FRACTION = 0.4
_REFERENCE_LESION_COUNT = (15, 90)  # per case at PHANTOM_SHAPE; scaled by (volume ratio) ** (2/3) for other shapes
_MIN_LESION_VOXELS = 3.0
_PLACEMENT_TRIES = 25

# Anatomy in brain-normalised coordinates (axis 0 left-right, 1 posterior-anterior, 2 inferior-superior; the brain
# is the unit ball): (centre, semi-axes) of the lateral ventricles, the third ventricle and the deep grey matter.
_BRAIN_RADIUS_FRACTION = 0.46  # brain semi-axis / image extent, per axis
_CORTEX_CSF_RADIUS = 0.955  # outer CSF shell from here to 1
_WM_RADIUS, _FOLD_AMPLITUDE = 0.80, 0.05  # white/grey matter boundary and its folding amplitude
_LATERAL_VENTRICLES = (((-0.11, -0.02, 0.14), (0.075, 0.30, 0.12)), ((0.11, -0.02, 0.14), (0.075, 0.30, 0.12)))
_VENTRICLE_BEND = 0.6  # the lateral ventricles' ends curve down (see _ellipsoid_box)
_THIRD_VENTRICLE = ((0.0, -0.04, -0.06), (0.025, 0.13, 0.10))
_DEEP_GREY_MATTER = (((-0.18, -0.06, -0.06), (0.10, 0.16, 0.10)), ((0.18, -0.06, -0.06), (0.10, 0.16, 0.10)))


def make_ms_phantom(
    shape: Sequence[int] = PHANTOM_SHAPE,
    n_lesions: int | None = None,
    lesion_load: float | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    modalities: Sequence[str] = PHANTOM_MODALITIES,
    noise: float = 0.03,
    bias: float = 0.15,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    return_tissue: bool = False,
    white_matter_class: bool = False,
):
    """
    Generate one synthetic multi-channel MS lesion phantom (a skull-stripped, MRI-like head with small lesions).

    The head is an ellipsoidal brain: an outer CSF shell, a folded cortical grey-matter band, white matter, two
    deep grey-matter nuclei and three ventricles (CSF). ``n_lesions`` lesions, each an ellipsoid or a blob of up
    to three overlapping ellipsoids, are placed in white matter, about 40% of them periventricular (touching a
    lateral ventricle, long axis pointing away from it, like Dawson's fingers), the others anywhere in white
    matter. Lesion volumes are log-normal and sum to ``lesion_load`` of all voxels; lesions never touch each
    other (not even diagonally), so each one is one connected component of the label. Lesion contrast varies per
    lesion and fades towards its border; about 15% of the lesions enhance on T1-Gd. Each channel is blurred by a
    half-voxel Gaussian point spread (partial volume), multiplied by its own smooth bias field and corrupted by
    Rician noise; the background outside the brain is zero, as in skull-stripped data.

    Generation is vectorised (NumPy/SciPy) and takes a few seconds for the default 128 x 224 x 256 size. It is
    deterministic for a given integer ``seed``.

    Args:
        shape: spatial size ``(H, W, D)`` of the volume, each at least 24. Defaults to :data:`PHANTOM_SHAPE`
            (128, 224, 256); :data:`PHANTOM_CI_SHAPE` (48, 64, 64) is a small size for tests.
        n_lesions: number of lesions, ``0`` gives an empty label. Defaults to ``None``: drawn uniformly from
            15..90 scaled by ``(prod(shape) / prod(PHANTOM_SHAPE)) ** (2/3)`` (at least 3), so small volumes keep
            a few lesions while the lesion load stays in range. Lesions that cannot be placed (the white matter is
            full) are dropped, so the label may hold fewer.
        lesion_load: fraction of all voxels that are lesion, in (0, 0.05]. Defaults to ``None``: drawn
            log-uniformly from :data:`PHANTOM_LESION_LOAD_RANGE` (0.02% to 0.8%, mean 0.21% as in MSSEG 2016).
            The realised load differs by the rasterisation of small ellipsoids and their clipping to white matter.
        spacing: voxel size in mm, 3 positive numbers. Defaults to ``(1.0, 1.0, 1.0)``. Lesion sizes are drawn
            in voxels and shaped in mm, so anisotropic spacing gives anisotropic lesions in voxel space.
        modalities: channels to synthesise, in order: any of ``"FLAIR", "T1", "T1Gd", "PD", "T2"`` or their
            aliases (``"GADO"``, ``"T1POST"``, ``"DP"``, ...; see :data:`monai_tversky.data.MODALITY_ALIASES`).
            Defaults to all five, in that order.
        noise: Rician noise standard deviation relative to the brightest tissue of each channel, >= 0.
            Defaults to 0.03.
        bias: strength of the multiplicative bias field: its log lies in ``[-bias, bias]``; in [0, 1).
            Defaults to 0.15.
        seed: an int, a ``numpy.random.SeedSequence`` or a ``numpy.random.Generator``; ``None`` draws fresh
            entropy. Defaults to ``None``.
        return_tissue: also return the tissue map (values in :data:`PHANTOM_TISSUES`). Defaults to ``False``.
        white_matter_class: label the normal-appearing white matter 2 as well as the lesions 1, a second foreground
            class about a hundred times larger than the lesions (the class imbalance sudre2017's generalised Dice
            re-balances). The images are the same. Defaults to ``False`` (lesions only).

    Returns:
        ``(image, label, affine)``, plus ``tissue`` when ``return_tissue``: ``image`` float32 of shape
        ``(len(modalities), H, W, D)`` (channel first, intensities of order 1); ``label`` uint8 of shape
        ``(1, H, W, D)`` with 1 on lesions (and 2 on white matter with ``white_matter_class``); ``affine`` a
        float64 4 x 4 voxel-to-RAS matrix (``spacing`` on the
        diagonal, the volume centred on the origin); ``tissue`` uint8 of shape ``(H, W, D)``.

    Raises:
        ValueError: when ``shape``, ``spacing``, ``n_lesions``, ``lesion_load``, ``noise`` or ``bias`` is out of
            range, or a modality is not one of the five the phantom synthesises.
        TypeError: when ``seed`` is of another type.
    """
    shape_t, spacing_t, channels = check_phantom_arguments(
        shape, spacing, modalities, n_lesions, lesion_load, noise, bias
    )
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence, np.random.Generator)):
        raise TypeError(f"seed must be None, an int, a SeedSequence or a Generator but got {type(seed).__name__}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    volume_ratio = math.prod(shape_t) / math.prod(PHANTOM_SHAPE)
    if n_lesions is None:
        lo, hi = (max(3, round(c * volume_ratio ** (2.0 / 3.0))) for c in _REFERENCE_LESION_COUNT)
        n_lesions = int(rng.integers(lo, hi + 1))
    if lesion_load is None:
        log_lo, log_hi = np.log(PHANTOM_LESION_LOAD_RANGE)
        lesion_load = float(np.exp(rng.uniform(log_lo, log_hi)))

    coords = _Coordinates(shape_t, spacing_t)
    tissue, brain, deep_gm = _head_tissue(coords, rng)
    lesions = _place_lesions(tissue, coords, spacing_t, int(n_lesions), float(lesion_load), rng)

    image = np.empty((len(channels), *shape_t), dtype=np.float32)
    for c, modality in enumerate(channels):
        image[c] = _synthesise_channel(modality, tissue, brain, deep_gm, lesions, coords, noise, bias, rng)
    label = (tissue == _LESION).astype(np.uint8)[None]
    if white_matter_class:
        label[0][tissue == _WM] = 2
    affine = np.diag([*spacing_t, 1.0])
    affine[:3, 3] = -(np.asarray(shape_t, dtype=np.float64) - 1.0) / 2.0 * np.asarray(spacing_t)
    if return_tissue:
        return image, label, affine, tissue
    return image, label, affine


def check_phantom_arguments(shape, spacing, modalities, n_lesions, lesion_load, noise, bias):
    """Validate the arguments of :func:`make_ms_phantom`; return ``(shape, spacing, canonical modalities)``."""
    shape_t = _validate_shape(shape)
    spacing_t = _validate_spacing(spacing)
    channels = canonical_modalities(modalities)
    unknown = [m for m in channels if m not in _TISSUE_SIGNAL]
    if unknown:
        raise ValueError(f"the phantom synthesises {list(PHANTOM_MODALITIES)} (or their aliases) but got {unknown}.")
    if n_lesions is not None and (isinstance(n_lesions, bool) or not isinstance(n_lesions, (int, np.integer))):
        raise ValueError(f"n_lesions must be None or an int >= 0 but got {n_lesions!r}.")
    if n_lesions is not None and n_lesions < 0:
        raise ValueError(f"n_lesions must be >= 0 but got {n_lesions}.")
    if lesion_load is not None and not 0.0 < float(lesion_load) <= 0.05:
        raise ValueError(f"lesion_load must be None or in (0, 0.05] but got {lesion_load}.")
    if not (math.isfinite(noise) and noise >= 0.0):
        raise ValueError(f"noise must be a finite number >= 0 but got {noise}.")
    if not 0.0 <= bias < 1.0:
        raise ValueError(f"bias must be in [0, 1) but got {bias}.")
    return shape_t, spacing_t, channels


def _validate_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        shape_t = tuple(int(s) for s in shape)
        valid = len(shape_t) == 3 and all(s == float(v) for s, v in zip(shape_t, shape))
    except (TypeError, ValueError):
        valid = False
    if not valid or min(shape_t) < 24:
        raise ValueError(f"shape must be 3 ints, each >= 24, but got {shape!r}.")
    return shape_t  # type: ignore[return-value]


def _validate_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    try:
        spacing_t = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        spacing_t = ()
    if len(spacing_t) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing_t):
        raise ValueError(f"spacing must be 3 positive numbers (mm) but got {spacing!r}.")
    return spacing_t  # type: ignore[return-value]


class _Coordinates:
    """Per-axis coordinates of the voxel grid, physical (mm, centred) and brain-normalised, as broadcastable arrays."""

    def __init__(self, shape: tuple[int, int, int], spacing: tuple[float, float, float]):
        self.shape, self.spacing = shape, spacing
        self.radius = tuple(_BRAIN_RADIUS_FRACTION * n * s for n, s in zip(shape, spacing))  # brain semi-axes, mm
        self.mm = []
        self.unit = []
        for axis, (n, s, r) in enumerate(zip(shape, spacing, self.radius)):
            view = [1, 1, 1]
            view[axis] = n
            x = ((np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s).reshape(view)
            self.mm.append(x)
            self.unit.append(x / np.float32(r))

    def voxel_of_unit(self, point: np.ndarray) -> np.ndarray:
        """Voxel index nearest to a point in brain-normalised coordinates."""
        return np.array(
            [round(p * r / s + (n - 1) / 2.0) for p, r, s, n in zip(point, self.radius, self.spacing, self.shape)]
        )


def _fold_field(coords: _Coordinates, rng: np.random.Generator, n_waves: int = 6) -> np.ndarray:
    """A smooth random field in about [-1, 1]: a sum of plane waves of cortical-fold wavelength (18-30 mm)."""
    field = np.zeros(coords.shape, dtype=np.float32)
    for _ in range(n_waves):
        direction = rng.normal(size=3)
        k = direction / np.linalg.norm(direction) * (2.0 * np.pi / rng.uniform(18.0, 30.0))
        phase = rng.uniform(0.0, 2.0 * np.pi)
        # cos(k.x + phase) without a dense coordinate array: a product of per-axis complex exponentials
        wave = np.exp(1j * (k[0] * coords.mm[0] + phase)).astype(np.complex64)
        wave = wave * np.exp(1j * k[1] * coords.mm[1]).astype(np.complex64)
        wave = wave * np.exp(1j * k[2] * coords.mm[2]).astype(np.complex64)
        field += wave.real
    field *= np.float32(1.0 / math.sqrt(n_waves / 2.0))  # unit variance
    return field


def _ellipsoid_box(coords: _Coordinates, centre, semi_axes, bend: float = 0.0):
    """Slices of the bounding box of an ellipsoid given in normalised coordinates, and its mask inside that box."""
    slices = []
    for axis in range(3):
        lo = coords.voxel_of_unit(np.array([centre[a] - (semi_axes[a] + abs(bend)) for a in range(3)]))[axis] - 1
        hi = coords.voxel_of_unit(np.array([centre[a] + (semi_axes[a] + abs(bend)) for a in range(3)]))[axis] + 2
        slices.append(slice(max(0, lo), min(coords.shape[axis], hi)))
    u = [coords.unit[a][tuple(slices[a] if b == a else slice(None) for b in range(3))] for a in range(3)]
    # ``bend`` lowers the ellipsoid's superior-inferior centre away from its antero-posterior centre (a C shape)
    c2 = centre[2] - bend * (u[1] - centre[1]) ** 2
    q = ((u[0] - centre[0]) / semi_axes[0]) ** 2 + ((u[1] - centre[1]) / semi_axes[1]) ** 2
    q = q + ((u[2] - c2) / semi_axes[2]) ** 2
    return tuple(slices), q <= 1.0


def _head_tissue(coords: _Coordinates, rng: np.random.Generator):
    """Tissue map of the lesion-free head, the brain mask and the deep grey matter (box, mask) list."""
    fold = _fold_field(coords, rng)
    rho = np.sqrt(coords.unit[0] ** 2 + coords.unit[1] ** 2 + coords.unit[2] ** 2) + np.float32(0.01) * fold
    brain = rho < 1.0
    tissue = np.zeros(coords.shape, dtype=np.uint8)
    tissue[brain] = _GM
    tissue[rho < _WM_RADIUS + _FOLD_AMPLITUDE * fold] = _WM
    deep_gm = []
    for centre, axes in _DEEP_GREY_MATTER:
        box, mask = _ellipsoid_box(coords, centre, axes)
        tissue[box][mask] = _GM
        deep_gm.append((box, mask))
    for centre, axes in _LATERAL_VENTRICLES:
        box, mask = _ellipsoid_box(coords, centre, axes, bend=_VENTRICLE_BEND)
        tissue[box][mask] = _CSF
    box, mask = _ellipsoid_box(coords, *_THIRD_VENTRICLE)
    tissue[box][mask] = _CSF
    tissue[brain & (rho >= _CORTEX_CSF_RADIUS)] = _CSF
    return tissue, brain, deep_gm


def _random_rotation(rng: np.random.Generator, first_axis: np.ndarray | None = None) -> np.ndarray:
    """A uniformly random rotation matrix (columns are the axes); with ``first_axis`` its first column is fixed."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if first_axis is not None:
        a = first_axis / np.linalg.norm(first_axis)
        b = q[:, 1] - a * (a @ q[:, 1])
        if np.linalg.norm(b) < 1e-6:
            b = q[:, 2] - a * (a @ q[:, 2])
        b = b / np.linalg.norm(b)
        q = np.stack([a, b, np.cross(a, b)], axis=1)
    return q


class _Lesion:
    """A placed lesion: its bounding box, its voxels inside that box and a per-voxel depth (0 centre, 1 border)."""

    def __init__(self, box, mask, depth, contrast: float, enhancing: bool):
        self.box, self.mask, self.depth, self.contrast, self.enhancing = box, mask, depth, contrast, enhancing


def _lesion_volumes(n: int, load: float, n_voxels: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal lesion volumes (voxels) that sum to ``load * n_voxels``, largest first."""
    if n == 0:
        return np.zeros(0)
    volumes = rng.lognormal(0.0, 0.9, size=n)
    volumes = np.maximum(volumes / volumes.sum() * load * n_voxels, _MIN_LESION_VOXELS)
    return np.sort(volumes)[::-1]


def _rasterise_blob(centre, parts, spacing, shape):
    """Voxels of a union of ellipsoids ``parts = [(offset_mm, rotation, semi_axes_mm), ...]`` around ``centre``."""
    extent = max(np.linalg.norm(offset) + max(axes) for offset, _, axes in parts)
    slices, axes_mm = [], []
    for a in range(3):
        half = int(math.ceil(extent / spacing[a])) + 1
        lo, hi = max(0, centre[a] - half), min(shape[a], centre[a] + half + 1)
        slices.append(slice(lo, hi))
        view = [1, 1, 1]
        view[a] = hi - lo
        axes_mm.append(((np.arange(lo, hi) - centre[a]) * spacing[a]).reshape(view))
    depth = None
    for offset, rotation, semi_axes in parts:
        metric = rotation @ np.diag(1.0 / np.asarray(semi_axes) ** 2) @ rotation.T
        d = [axes_mm[a] - offset[a] for a in range(3)]
        q = sum(metric[a, b] * d[a] * d[b] for a in range(3) for b in range(3))
        depth = q if depth is None else np.minimum(depth, q)
    box = tuple(slices)
    mask = depth <= 1.0
    mask[tuple(centre[a] - slices[a].start for a in range(3))] = True  # the centre voxel, for sub-voxel lesions
    return box, mask, np.sqrt(np.clip(depth, 0.0, 1.0)).astype(np.float32)


def _place_lesions(tissue, coords: _Coordinates, spacing, n_lesions: int, load: float, rng: np.random.Generator):
    """Place lesions in white matter (in place on ``tissue``); return the placed lesions."""
    shape = coords.shape
    volumes = _lesion_volumes(n_lesions, load, tissue.size, rng)
    wm_voxels = np.flatnonzero(tissue == _WM)
    neighbourhood = np.ones((3, 3, 3), dtype=bool)
    voxel_volume = math.prod(spacing)
    lesions: list[_Lesion] = []
    if wm_voxels.size == 0:
        return lesions
    for volume in volumes:
        periventricular = rng.random() < _PERIVENTRICULAR_FRACTION
        for _ in range(_PLACEMENT_TRIES):
            elongation, flatness = rng.uniform(1.0, 2.2), rng.uniform(0.7, 1.0)
            a = (3.0 * volume * voxel_volume / (4.0 * math.pi * elongation * flatness)) ** (1.0 / 3.0)
            semi_axes = np.array([a * elongation, a, a * flatness])
            if periventricular:
                # on the surface of a lateral ventricle, long axis along its normal, overlapping it a little
                v_centre, v_axes = (np.asarray(v) for v in _LATERAL_VENTRICLES[rng.integers(len(_LATERAL_VENTRICLES))])
                d = rng.normal(size=3)
                surface = v_centre + v_axes * d / np.linalg.norm(d)
                surface[2] -= _VENTRICLE_BEND * (surface[1] - v_centre[1]) ** 2
                normal = (d / v_axes) / np.asarray(coords.radius)  # gradient direction, in mm
                normal /= np.linalg.norm(normal)
                centre_mm = surface * np.asarray(coords.radius) + normal * (0.6 * semi_axes[0])
                centre = coords.voxel_of_unit(centre_mm / np.asarray(coords.radius))
                rotation = _random_rotation(rng, first_axis=normal)
            else:
                centre = np.array(np.unravel_index(wm_voxels[rng.integers(wm_voxels.size)], shape))
                rotation = _random_rotation(rng)
            if np.any(centre < 0) or np.any(centre >= np.asarray(shape)):
                continue
            parts = [(np.zeros(3), rotation, semi_axes)]
            for _ in range(rng.integers(0, 3)):  # satellites overlapping the main ellipsoid make a blob
                direction = rng.normal(size=3)
                offset = rotation @ (semi_axes * rng.uniform(0.3, 0.7) * direction / np.linalg.norm(direction))
                parts.append((offset, _random_rotation(rng), semi_axes * rng.uniform(0.4, 0.8)))
            box, mask, depth = _rasterise_blob(tuple(int(c) for c in centre), parts, spacing, shape)
            region = tissue[box]
            inside = mask & (region == _WM)
            n_inside = int(inside.sum())
            if n_inside == 0 or n_inside < (0.5 if periventricular else 0.6) * mask.sum():
                continue
            if ndimage.label(inside)[1] != 1:  # one 6-connected component
                continue
            if np.any(ndimage.binary_dilation(inside, neighbourhood) & (region == _LESION)):
                continue  # would touch another lesion, even diagonally
            region[inside] = _LESION
            lesions.append(
                _Lesion(box, inside, depth, rng.uniform(0.55, 1.1), bool(rng.random() < _ENHANCING_FRACTION))
            )
            break
    return lesions


def _bias_field(coords: _Coordinates, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative field: exp of a random quadratic polynomial scaled to ``[-strength, strength]``."""
    u = coords.unit
    log_field = np.zeros(coords.shape, dtype=np.float32)
    for a in range(3):
        log_field += np.float32(rng.uniform(-1, 1)) * u[a]
        for b in range(a, 3):
            log_field += np.float32(rng.uniform(-1, 1)) * (u[a] * u[b])
    peak = float(np.abs(log_field).max())
    if peak > 0:
        log_field *= np.float32(strength / peak)
    return np.exp(log_field, out=log_field)


def _synthesise_channel(modality, tissue, brain, deep_gm, lesions, coords, noise, bias, rng) -> np.ndarray:
    """One MR channel: tissue signal, lesion contrast, partial volume, bias field and Rician noise."""
    signal = np.asarray(_TISSUE_SIGNAL[modality], dtype=np.float32)
    signal[1:] *= rng.uniform(0.95, 1.05, size=4).astype(np.float32)  # per-case contrast variation
    wm, lesion = float(signal[_WM]), float(signal[_LESION])
    image = signal[tissue]
    deep_value = np.float32(0.5 * (signal[_GM] + signal[_WM]))  # deep grey matter is paler than the cortex
    for box, mask in deep_gm:
        region = image[box]
        region[mask & (tissue[box] == _GM)] = deep_value
    for les in lesions:
        target = _ENHANCING_T1GD_SIGNAL if (modality == "T1Gd" and les.enhancing) else lesion
        values = wm + les.contrast * (1.0 - 0.3 * les.depth[les.mask]) * (target - wm)
        image[les.box][les.mask] = values
    image = ndimage.gaussian_filter(image, sigma=0.5, truncate=2.0)
    if bias > 0:
        image *= _bias_field(coords, bias, rng)
    if noise > 0:
        sigma = np.float32(noise * float(signal.max()))
        real = rng.standard_normal(image.shape, dtype=np.float32)
        real *= sigma
        real += image
        imag = rng.standard_normal(image.shape, dtype=np.float32)
        imag *= sigma
        image = np.hypot(real, imag, out=real)
    image[~brain] = 0.0
    return image
