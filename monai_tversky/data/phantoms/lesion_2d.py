"""
Synthetic 2D lesion phantoms: dermoscopy-like skin lesions and breast-ultrasound-like hypoechoic lesions, the
embedded default data of the focal_tversky bundle (abraham2018).

abraham2018 (N. Abraham, N. M. Khan, 2019, "A novel focal Tversky loss function with improved attention U-Net for
lesion segmentation", ISBI 2019, arXiv:1810.07842) trains on two 2D data sets: ISIC 2018 Task 1 (2,594 RGB
dermoscopy images resampled to 192 x 256, lesions covering 21.4% +- 20.3% of the image) and BUS 2017 dataset B
(Yap et al. 2018: 163 grayscale breast ultrasound images resampled to 128 x 128, lesions covering 4.84% +- 5.43%).
The phantoms mimic those sizes and lesion-area distributions. They are a test signal for training and inference
code, not a model of skin or breast tissue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "make_lesion_phantom_2d",
    "PHANTOM2D_KINDS",
    "PHANTOM2D_SHAPES",
    "PHANTOM2D_CHANNELS",
    "PHANTOM2D_LESION_FRACTION_RANGE",
    "PHANTOM2D_VERSION",
]

#: Bumped whenever the generator's output changes for the same arguments (invalidates cached 2D phantom data sets).
PHANTOM2D_VERSION = 1

#: Values of ``make_lesion_phantom_2d(kind=...)``.
PHANTOM2D_KINDS: tuple[str, ...] = ("skin", "ultrasound")

#: Default image size ``(H, W)`` per kind: abraham2018 resamples ISIC 2018 to 192 x 256 and BUS 2017 to 128 x 128.
PHANTOM2D_SHAPES: dict[str, tuple[int, int]] = {"skin": (192, 256), "ultrasound": (128, 128)}

#: Channel names per kind (the last axis of the image): RGB for skin, one grayscale channel for ultrasound.
PHANTOM2D_CHANNELS: dict[str, tuple[str, ...]] = {"skin": ("R", "G", "B"), "ultrasound": ("US",)}

#: Range of the lesion area (fraction of the image, all lesions together) drawn log-uniformly per image when
#: ``lesion_fraction`` is not given. Skin: 4% to 50%, mean 18% (ISIC 2018: 21.4% +- 20.3%, abraham2018);
#: ultrasound: 1% to 12%, mean 4.4% (BUS 2017 dataset B: 4.84% +- 5.43%).
PHANTOM2D_LESION_FRACTION_RANGE: dict[str, tuple[float, float]] = {"skin": (0.04, 0.5), "ultrasound": (0.01, 0.12)}

_MIN_SIZE = 32
_MAX_LESION_FRACTION = 0.6
_SKIN_LESION_COUNT_PROBABILITIES = (0.7, 0.2, 0.1)  # 1, 2 or 3 lesions (a main lesion and satellites)
_SATELLITE_AREA = (0.05, 0.3)  # area of a satellite relative to the main lesion
_SKIN_LIGHT, _SKIN_TAN = np.array([0.94, 0.80, 0.72]), np.array([0.80, 0.60, 0.47])  # RGB in [0, 1]
_PIGMENT_LIGHT, _PIGMENT_DARK = np.array([0.60, 0.40, 0.30]), np.array([0.28, 0.16, 0.12])
_HAIR = np.array([0.14, 0.10, 0.08])
_SKIN_CONTRAST = {"low": (0.35, 0.5), "high": (0.55, 1.0)}  # pigment opacity at the lesion centre
_LOW_CONTRAST_FRACTION = 0.3


def make_lesion_phantom_2d(
    shape: Sequence[int] | None = None,
    kind: str = "skin",
    n_lesions: int | None = None,
    lesion_fraction: float | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """
    Generate one synthetic 2D lesion image and its mask, dermoscopy-like (``kind="skin"``) or breast-ultrasound-like
    (``kind="ultrasound"``), for the focal_tversky bundle (abraham2018).

    Lesions are star-shaped blobs: an ellipse (random orientation and aspect ratio) whose radius is modulated by a
    few random angular harmonics, so boundaries are irregular but each lesion is one connected region. All lesions
    are scaled together so that their union covers exactly ``lesion_fraction`` of the image (to the pixel).

    - ``"skin"``: an RGB image of skin (a random tone from light to tan, low-frequency mottling, redness, fine
      texture, 0 to 7 dark hairs crossing the field, dermoscope vignetting in the corners) with one pigmented lesion,
      sometimes two or three (a main lesion and smaller satellites). Lesions are light to dark brown, darker and
      mottled towards the centre, with a soft border; about 30% are low contrast. The main lesion lies near the
      centre, as in dermoscopy; large lesions may be cut by the image border, like many ISIC images.
    - ``"ultrasound"``: a grayscale B-mode-like image: a bright skin line, subcutaneous fat, fibroglandular tissue
      and chest-wall muscle (undulating layers, depth increasing down the rows), one hypoechoic (dark) lesion in the
      glandular layer, fully inside the image, sometimes with an echogenic rim, and posterior acoustic enhancement
      or shadowing below it (or neither); then depth attenuation, multiplicative speckle (the magnitude of a
      spatially correlated complex Gaussian field, i.e. Rayleigh distributed) and log compression.

    Generation takes a few milliseconds and is deterministic for a given integer ``seed``.

    Array layout: the image is ``(H, W, C)`` (rows, columns, channels, channel last), the layout of
    ``numpy.asarray(PIL.Image.open(path))`` and of ``PIL.Image.fromarray``; the mask is ``(H, W)``. MONAI's
    :class:`monai.data.PILReader` (which ``LoadImage`` uses for PNG and JPEG files) swaps the first two axes by
    default (``reverse_indexing=True``), so after ``LoadImaged(keys=["image", "label"], ensure_channel_first=True)``
    on files written from these arrays the image is ``image.transpose(2, 1, 0)``, of shape ``(C, W, H)``, and the
    label ``mask.T[None]`` (times 255 when the mask file holds 0/255), of shape ``(1, W, H)``: image and label stay
    aligned, with spatial size ``(W, H)`` (e.g. 256 x 192 for the default skin size).

    Args:
        shape: image size ``(H, W)``, each at least 32. Defaults to ``None``: :data:`PHANTOM2D_SHAPES` of ``kind``
            (192 x 256 for skin, 128 x 128 for ultrasound).
        kind: ``"skin"`` or ``"ultrasound"``. Defaults to ``"skin"``.
        n_lesions: number of lesions, ``0`` gives an empty mask. Defaults to ``None``: for skin 1, 2 or 3 with
            probabilities 0.7, 0.2, 0.1; for ultrasound 1.
        lesion_fraction: area of all lesions together as a fraction of the image, in (0, 0.6]. Defaults to
            ``None``: drawn log-uniformly from :data:`PHANTOM2D_LESION_FRACTION_RANGE` of ``kind``. An ultrasound
            lesion must fit inside the image, so large fractions are refused for it (see Raises).
        seed: an int, a ``numpy.random.SeedSequence`` or a ``numpy.random.Generator``; ``None`` draws fresh
            entropy. Defaults to ``None``.

    Returns:
        ``(image, mask)``: ``image`` uint8 of shape ``(H, W, 3)`` (skin, RGB) or ``(H, W, 1)`` (ultrasound);
        ``mask`` uint8 of shape ``(H, W)`` with 1 on lesions, 0 elsewhere.

    Raises:
        ValueError: when ``shape``, ``kind``, ``n_lesions`` or ``lesion_fraction`` is out of range, or ultrasound
            lesions of that total area cannot be placed inside the image.
        TypeError: when ``seed`` is of another type.
    """
    shape_t, kind = check_phantom2d_arguments(shape, kind, n_lesions, lesion_fraction)
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.SeedSequence, np.random.Generator)):
        raise TypeError(f"seed must be None, an int, a SeedSequence or a Generator but got {type(seed).__name__}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if n_lesions is None:
        n_lesions = int(rng.choice(3, p=_SKIN_LESION_COUNT_PROBABILITIES)) + 1 if kind == "skin" else 1
    if lesion_fraction is None:
        log_lo, log_hi = np.log(PHANTOM2D_LESION_FRACTION_RANGE[kind])
        lesion_fraction = float(np.exp(rng.uniform(log_lo, log_hi)))
    grid = np.mgrid[0 : shape_t[0], 0 : shape_t[1]].astype(np.float32)
    if kind == "skin":
        depth = _skin_lesions(grid, int(n_lesions), float(lesion_fraction), rng)
        image = _skin_image(grid, depth, rng)
    else:
        depth, tissue = _ultrasound_lesions(grid, int(n_lesions), float(lesion_fraction), rng)
        image = _ultrasound_image(grid, depth, tissue, rng)
    mask = (depth <= 1.0).astype(np.uint8)
    return image, mask


def check_phantom2d_arguments(shape, kind, n_lesions, lesion_fraction) -> tuple[tuple[int, int], str]:
    """Validate the arguments of :func:`make_lesion_phantom_2d`; return ``(shape, kind)`` with defaults filled in."""
    if kind not in PHANTOM2D_KINDS:
        raise ValueError(f"kind must be one of {list(PHANTOM2D_KINDS)} but got {kind!r}.")
    if shape is None:
        shape = PHANTOM2D_SHAPES[kind]
    try:
        shape_t = tuple(int(s) for s in shape)
        valid = len(shape_t) == 2 and all(s == float(v) for s, v in zip(shape_t, shape))
    except (TypeError, ValueError):
        valid = False
    if not valid or min(shape_t) < _MIN_SIZE:
        raise ValueError(f"shape must be 2 ints (H, W), each >= {_MIN_SIZE}, but got {shape!r}.")
    if n_lesions is not None and (isinstance(n_lesions, bool) or not isinstance(n_lesions, (int, np.integer))):
        raise ValueError(f"n_lesions must be None or an int >= 0 but got {n_lesions!r}.")
    if n_lesions is not None and n_lesions < 0:
        raise ValueError(f"n_lesions must be >= 0 but got {n_lesions}.")
    if lesion_fraction is not None:
        try:
            valid = 0.0 < float(lesion_fraction) <= _MAX_LESION_FRACTION
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(
                f"lesion_fraction must be None or in (0, {_MAX_LESION_FRACTION}] but got {lesion_fraction!r}."
            )
    return shape_t, kind  # type: ignore[return-value]


def _smooth_noise(shape: tuple[int, ...], sigma: float | Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation (a smooth random field)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma, mode="reflect")
    std = float(field.std())
    return field / np.float32(std) if std > 0 else field


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class _Blob:
    """A star-shaped lesion outline: an ellipse whose radius is modulated by angular harmonics."""

    def __init__(self, centre, angle: float, aspect: float, irregularity: float, n_harmonics: int, rng):
        self.centre, self.angle, self.aspect = centre, angle, aspect
        k = np.arange(2, 2 + n_harmonics)
        self.k = k
        self.amplitude = rng.normal(0.0, 1.0, size=n_harmonics) * irregularity / k**1.2
        self.phase = rng.uniform(0.0, 2.0 * np.pi, size=n_harmonics)
        theta = np.linspace(0.0, 2.0 * np.pi, 721)
        r = self.radius(theta)
        self.area_factor = float(np.mean(r**2))  # area = pi * R**2 * area_factor
        self.max_radius = float(r.max())

    def radius(self, theta: np.ndarray) -> np.ndarray:
        r = 1.0 + np.sum(self.amplitude[:, None] * np.cos(self.k[:, None] * theta[None] + self.phase[:, None]), axis=0)
        return np.maximum(r, 0.4)

    def distance(self, grid: np.ndarray) -> np.ndarray:
        """Normalised distance of every pixel (1 on the outline of unit base radius, scales linearly with it)."""
        dy, dx = grid[0] - self.centre[0], grid[1] - self.centre[1]
        c, s, e = math.cos(self.angle), math.sin(self.angle), math.sqrt(self.aspect)
        u = (dx * c + dy * s) / e  # along the long axis (semi-axis R * sqrt(aspect))
        v = (-dx * s + dy * c) * e
        rho = np.hypot(u, v)
        # r(theta) = 1 + sum_k a_k cos(k theta + phase_k) = 1 + Re(sum_k a_k e^{i phase_k} z^k), z = e^{i theta}
        z = (u + 1j * v).astype(np.complex64) / np.maximum(rho, np.float32(1e-12))
        power = z ** int(self.k[0])
        r = np.ones_like(rho)
        for a, phase in zip(self.amplitude, self.phase):
            r += (power * np.complex64(a * np.exp(1j * phase))).real
            power *= z
        return rho / np.maximum(r, np.float32(0.4))

    def extent(self, radius: float) -> tuple[float, float]:
        """Half height and half width of a box that holds the blob at base radius ``radius``."""
        long, short = radius * math.sqrt(self.aspect), radius / math.sqrt(self.aspect)
        c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        half_w = math.hypot(long * c, short * s) * self.max_radius
        half_h = math.hypot(long * s, short * c) * self.max_radius
        return half_h, half_w


def _fit_area(grid: np.ndarray, blobs: list[_Blob], weights: list[float], fraction: float) -> np.ndarray:
    """
    Normalised depth map (<= 1 inside some lesion, 0 at a lesion centre) of blobs with relative areas ``weights``,
    all scaled by one factor chosen so that the union covers ``round(fraction * n_pixels)`` pixels (at least one).
    """
    n_pixels = grid[0].size
    if not blobs:
        return np.full(grid.shape[1:], np.inf, dtype=np.float32)
    depth = None
    for blob, w in zip(blobs, weights):
        d = blob.distance(grid) / np.float32(math.sqrt(w / blob.area_factor))
        depth = d if depth is None else np.minimum(depth, d)
    k = min(n_pixels, max(1, round(fraction * n_pixels)))
    scale = float(np.partition(depth.ravel(), k - 1)[k - 1])  # the k-th smallest: exactly k pixels lie within
    scale = max(scale, 1e-6)
    return depth / np.float32(scale)


def _lesion_weights(n: int, rng: np.random.Generator) -> list[float]:
    """Relative areas: 1 for the main lesion, :data:`_SATELLITE_AREA` for the others; empty for no lesion."""
    return [1.0] + [float(rng.uniform(*_SATELLITE_AREA)) for _ in range(n - 1)] if n > 0 else []


def _skin_lesions(grid: np.ndarray, n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Depth map of the skin lesions: a main lesion near the centre and satellites anywhere."""
    h, w = grid.shape[1:]
    blobs = []
    for i in range(n):
        if i == 0:
            centre = (h / 2 + rng.normal(0.0, 0.08 * h), w / 2 + rng.normal(0.0, 0.08 * w))
        else:
            centre = (rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w)
        irregularity = rng.uniform(0.05, 0.25)
        blobs.append(_Blob(centre, rng.uniform(0, np.pi), rng.uniform(1.0, 1.8), irregularity, 10, rng))
    return _fit_area(grid, blobs, _lesion_weights(n, rng), fraction)


def _skin_image(grid: np.ndarray, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = depth.shape
    size = min(h, w)
    skin = _SKIN_LIGHT + rng.uniform(0.0, 1.0) * (_SKIN_TAN - _SKIN_LIGHT)
    skin = (skin * rng.uniform(0.92, 1.02)).astype(np.float32)
    mottling = 1.0 + 0.035 * _smooth_noise((h, w), size / 10, rng) + 0.015 * _smooth_noise((h, w), 1.0, rng)
    image = skin[None, None, :] * mottling[..., None]
    redness = 0.025 * _smooth_noise((h, w), size / 8, rng)
    image[..., 0] += redness
    image[..., 2] -= 0.5 * redness

    # pigment: opacity per lesion pixel, darker and mottled towards the centre, soft at the border
    inside = depth <= 1.2
    if np.any(inside):
        low = rng.random() < _LOW_CONTRAST_FRACTION
        contrast = rng.uniform(*_SKIN_CONTRAST["low" if low else "high"])
        pigment = (_PIGMENT_LIGHT + rng.uniform(0.0, 1.0) * (_PIGMENT_DARK - _PIGMENT_LIGHT)).astype(np.float32)
        d = np.minimum(depth, 2.0)
        texture = _smooth_noise((h, w), max(1.5, size / 60), rng)
        opacity = contrast * (0.7 + 0.3 * (1.0 - np.clip(d, 0, 1)) + 0.12 * texture) * (1.0 - _smoothstep(0.9, 1.15, d))
        opacity = np.clip(opacity, 0.0, 1.0)[..., None]
        image = image * (1.0 - opacity) + pigment[None, None, :] * opacity

    # hairs: dark curves (quadratic Bezier) crossing the field, drawn over the lesion too
    n_hairs = int(rng.choice(8, p=[0.35, 0.15, 0.12, 0.1, 0.1, 0.08, 0.05, 0.05]))
    if n_hairs:
        ink = np.zeros((h, w), dtype=np.float32)
        for _ in range(n_hairs):
            start = rng.uniform([0, 0], [h, w])
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction)
            length = rng.uniform(0.3, 1.0) * math.hypot(h, w)
            bend = rng.normal(0.0, 0.15 * length, size=2)
            t = np.linspace(0.0, 1.0, int(2 * length) + 2)[:, None]
            end = start + direction * length
            control = (start + end) / 2 + bend
            points = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
            points = np.rint(points).astype(int)
            keep = (points[:, 0] >= 0) & (points[:, 0] < h) & (points[:, 1] >= 0) & (points[:, 1] < w)
            hair = np.zeros((h, w), dtype=np.float32)
            hair[points[keep, 0], points[keep, 1]] = 1.0
            ink = np.maximum(ink, ndimage.gaussian_filter(hair, rng.uniform(0.5, 0.9)) * 2.5)
        alpha = (np.clip(ink, 0.0, 1.0) * rng.uniform(0.6, 0.9))[..., None]
        image = image * (1.0 - alpha) + _HAIR[None, None, :] * alpha

    # dermoscope vignetting: the corners of the field of view darken towards black
    r = np.hypot((grid[0] - (h - 1) / 2) / (h / 2), (grid[1] - (w - 1) / 2) / (w / 2)) / math.sqrt(2.0)
    vignette = 1.0 - rng.uniform(0.1, 0.6) * _smoothstep(rng.uniform(0.75, 0.9), 1.0, r)
    image = image * vignette[..., None]
    image = image + rng.normal(0.0, 0.008, size=image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


_US_ECHO = {"skin": 0.9, "fat": 0.25, "gland": 0.62, "muscle": 0.42}  # mean echogenicity of each layer


def _ultrasound_layers(grid: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Echogenicity of the lesion-free tissue and the depth range (rows) of the glandular layer per column."""
    h, w = grid.shape[1:]
    x = np.arange(w, dtype=np.float32)

    def boundary(mean: float, amplitude: float) -> np.ndarray:
        waves = sum(
            rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * x / (w * rng.uniform(0.4, 1.5)) + rng.uniform(0, 2 * np.pi))
            for _ in range(2)
        )
        return (mean + amplitude * waves / 2.0).astype(np.float32) * h

    skin_end = boundary(rng.uniform(0.03, 0.05), 0.005)
    fat_end = boundary(rng.uniform(0.18, 0.3), 0.05)
    gland_end = boundary(rng.uniform(0.75, 0.85), 0.04)
    y = grid[0]
    echo = np.full((h, w), _US_ECHO["muscle"], dtype=np.float32)
    echo[y < gland_end[None]] = _US_ECHO["gland"]
    echo[y < fat_end[None]] = _US_ECHO["fat"]
    echo[y < skin_end[None]] = _US_ECHO["skin"]
    # glandular heterogeneity, fat lobules' septa (Cooper's ligaments) and muscle striations
    echo *= 1.0 + 0.2 * _smooth_noise((h, w), (h / 40, w / 20), rng)
    septa = np.abs(_smooth_noise((h, w), (h / 14, w / 10), rng)) < 0.06  # level-set curves
    echo[septa & (y < fat_end[None]) & (y >= skin_end[None])] = 0.75
    muscle = y >= gland_end[None]
    echo[muscle] *= 1.0 + 0.25 * np.sin(2 * np.pi * y[muscle] / rng.uniform(4.0, 7.0))
    return np.clip(echo, 0.02, None), fat_end, gland_end


def _ultrasound_lesions(grid: np.ndarray, n: int, fraction: float, rng: np.random.Generator):
    """Depth map of hypoechoic lesions placed fully inside the image, mostly in the glandular layer."""
    h, w = grid.shape[1:]
    echo, fat_end, gland_end = _ultrasound_layers(grid, rng)
    weights = _lesion_weights(n, rng)
    total = sum(weights)
    blobs = []
    for wgt in weights:
        malignant = rng.random() < 0.4  # irregular and sometimes taller than wide
        aspect = rng.uniform(0.7, 1.2) if malignant and rng.random() < 0.5 else rng.uniform(1.2, 2.2)
        blob = _Blob(
            (0.0, 0.0), rng.normal(0.0, 0.2), aspect, rng.uniform(0.12, 0.25) if malignant else rng.uniform(0.02, 0.08),
            6, rng,
        )  # fmt: skip
        radius = math.sqrt(fraction * h * w * wgt / total / (math.pi * blob.area_factor))
        half_h, half_w = blob.extent(radius)
        margin = 2.0
        if 2 * (half_h + margin) >= h or 2 * (half_w + margin) >= w:
            raise ValueError(
                f"an ultrasound lesion covering {fraction:.3g} of a {h} x {w} image does not fit inside it; "
                "pass a smaller lesion_fraction."
            )
        x = rng.uniform(half_w + margin, w - half_w - margin)
        column = int(min(w - 1, max(0, round(x))))
        lo = max(half_h + margin, float(fat_end[column]) + 0.3 * half_h)
        hi = min(h - half_h - margin, float(gland_end[column]) - 0.3 * half_h)
        y = rng.uniform(lo, hi) if lo < hi else rng.uniform(half_h + margin, h - half_h - margin)
        blob.centre = (y, x)
        blobs.append(blob)
    return _fit_area(grid, blobs, weights, fraction), echo


def _ultrasound_image(grid: np.ndarray, depth: np.ndarray, echo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = depth.shape
    lesion = depth <= 1.0
    if np.any(lesion):
        d = np.minimum(depth, 3.0)
        level = rng.uniform(0.06, 0.3)  # lesion echogenicity relative to its surroundings: hypoechoic to anechoic
        inner = level * (1.0 + 0.3 * _smooth_noise((h, w), 2.0, rng))
        weight = 1.0 - _smoothstep(0.85, 1.1, d)
        echo = echo * (1.0 - weight) + np.float32(np.mean(echo[lesion])) * inner * weight
        if rng.random() < 0.5:  # echogenic rim just outside the lesion
            echo = echo * (1.0 + rng.uniform(0.3, 0.8) * np.exp(-(((d - 1.12) / 0.07) ** 2)))
        posterior = rng.choice(3, p=[0.3, 0.4, 0.3])  # none, enhancement (cyst-like), shadowing
        if posterior:
            below = np.cumsum(lesion, axis=0) > 0
            below &= ~lesion
            gain = rng.uniform(0.3, 0.7) if posterior == 1 else -rng.uniform(0.3, 0.6)
            echo = echo * (1.0 + gain * ndimage.gaussian_filter(below.astype(np.float32), 2.0))
    # depth attenuation (partly compensated by time-gain compensation) and a slight lateral fall-off
    attenuation = np.exp(-rng.uniform(0.6, 1.5) * grid[0] / h)
    lateral = 1.0 - 0.15 * ((grid[1] - (w - 1) / 2) / (w / 2)) ** 2
    amplitude = echo * attenuation * lateral
    # speckle: magnitude of a complex Gaussian field blurred by the point spread function (axial < lateral)
    psf = (rng.uniform(0.6, 0.9), rng.uniform(1.0, 1.8))
    real = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), psf)
    imag = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), psf)
    speckle = np.hypot(real, imag)
    speckle /= np.float32(speckle.mean())
    intensity = amplitude * speckle + np.abs(rng.normal(0.0, 0.01, size=(h, w))).astype(np.float32)
    compression = rng.uniform(8.0, 15.0)
    image = np.log1p(compression * intensity) / math.log1p(compression * 1.6)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)[..., None]
