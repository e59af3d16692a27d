"""Groups of near-duplicate images, so that a split never puts two copies of one image on both sides.

BUSI (Al-Dhabyani et al. 2020) holds many near-duplicates: the same scan saved twice, with and without the
sonographer's calipers, cropped a few rows differently, even filed under two classes (``benign (433)`` is
``malignant (145)``). A random split would test on images the network trained on. :func:`near_duplicate_groups`
compares small grayscale thumbnails and joins every pair whose correlation reaches ``threshold``; the groups feed
:func:`~monai_tversky.data.split_datalist` as its ``group_key``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["image_signature", "near_duplicate_groups", "NEAR_DUPLICATE_THRESHOLD", "SIGNATURE_SIZE"]

#: Thumbnail side of :func:`image_signature` (pixels).
SIGNATURE_SIZE = 64
#: Correlation of two 64 x 64 thumbnails from which they count as one image. Chosen on BUSI by eye: pairs at 0.95
#: and above are the same scan (annotated or not, shifted by a few rows), pairs at 0.93 and below are different
#: patients with a similar tissue pattern.
NEAR_DUPLICATE_THRESHOLD = 0.94


def image_signature(path: str | os.PathLike, size: int = SIGNATURE_SIZE) -> np.ndarray:
    """
    A unit vector standing for an image: its grayscale version resized to ``size`` x ``size`` (bilinear, aspect
    ratio not kept), less its mean, divided by its norm; the dot product of two signatures is the correlation of the
    thumbnails (1 for equal images, whatever their brightness and contrast).

    Raises:
        ValueError: when the file cannot be read as an image (naming it).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            thumb = np.asarray(im.convert("L").resize((size, size), Image.BILINEAR), np.float64).ravel()
    except (OSError, UnidentifiedImageError) as e:
        raise ValueError(f"cannot read image file {path}: {e}") from e
    thumb -= thumb.mean()
    norm = float(np.linalg.norm(thumb))
    return thumb / norm if norm > 0 else thumb


def near_duplicate_groups(
    paths: Sequence[str | os.PathLike], threshold: float = NEAR_DUPLICATE_THRESHOLD, size: int = SIGNATURE_SIZE
) -> list[int]:
    """
    The group of each image: images whose signatures (:func:`image_signature`) correlate at ``threshold`` or more
    are in one group, and so, transitively, are the images joined to either (union-find).

    Args:
        paths: the image files.
        threshold: correlation in (0, 1] from which two images are one. Defaults to 0.94.
        size: thumbnail side. Defaults to 64.

    Returns:
        one group number per path, in ``paths``' order; groups are numbered by their first image, from 0.

    Raises:
        ValueError: when ``threshold`` is not in (0, 1] or a file cannot be read.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1] but got {threshold}.")
    n = len(paths)
    if n == 0:
        return []
    signatures = np.stack([image_signature(p, size) for p in paths])
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    similar = signatures @ signatures.T >= threshold - 1e-12
    for i, j in zip(*np.nonzero(np.triu(similar, k=1))):
        a, b = find(int(i)), find(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = [find(i) for i in range(n)]
    numbers: dict[int, int] = {}
    return [numbers.setdefault(r, len(numbers)) for r in roots]
