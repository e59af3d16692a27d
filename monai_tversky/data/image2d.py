"""
PNG and JPEG images rows first: MONAI's PIL reader and writer with the array layout ``(H, W[, C])`` (loaded
channel-first as ``(C, H, W)``), so that a 2D bundle's sizes read as the papers write them (abraham2018's ISIC 2018
images at "192 x 256" are 192 rows by 256 columns), and with the pixel format (RGB, grayscale, mask) fixed on loading.

MONAI's :class:`monai.data.PILReader` swaps the first two axes by default (``reverse_indexing=True``: arrays
``(W, H)``); with ``reverse_indexing=False`` it gives ``(H, W)`` arrays but still records
``spatial_shape = (W, H)`` in the metadata, which MONAI Label's ``Restored`` then resizes predictions to.
:class:`PILReaderHW` records the shape of the array it returns. :class:`PILWriterHW` writes such arrays back
without the swap that :class:`monai.data.PILWriter` applies by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.data import PILReader, PILWriter
from monai.utils import MetaKeys

__all__ = ["PILReaderHW", "PILWriterHW", "PIL_MODES", "pil_mode_for_channels"]

#: The pixel formats :class:`PILReaderHW` converts to: ``"RGB"`` (3 channels), ``"L"`` (8-bit grayscale, one
#: channel) and ``"label"`` (one channel: masks and palette images keep their values, RGB(A) masks become grayscale).
PIL_MODES: tuple[str, ...] = ("RGB", "L", "label")

# modes whose values a label keeps: grayscale, bilevel, 16/32-bit integer, float, palette indices
_LABEL_MODES = ("L", "1", "P", "I", "I;16", "I;16B", "I;16L", "F")


def pil_mode_for_channels(channels: Sequence[str] | int) -> str:
    """
    The PIL mode that gives a network of ``channels`` input channels its images: ``"RGB"`` for 3, ``"L"`` for 1.

    Args:
        channels: the channel names (e.g. ``("R", "G", "B")`` or ``("US",)``) or their number.

    Raises:
        ValueError: for any other count (2D images here are RGB or grayscale).
    """
    count = channels if isinstance(channels, int) else len(channels)
    if count == 3:
        return "RGB"
    if count == 1:
        return "L"
    raise ValueError(
        f"a 2D image gives 3 channels (RGB) or 1 (grayscale), not {count} ({channels!r}): pass --modalities with "
        "three names (e.g. \"['R','G','B']\") or one (e.g. \"['US']\")."
    )


class _ConvertMode:
    """A picklable ``converter`` for :class:`monai.data.PILReader`: ``image.convert(mode)`` where needed."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, image):
        if self.mode == "label":
            return image if image.mode in _LABEL_MODES else image.convert("L")
        return image if image.mode == self.mode else image.convert(self.mode)

    def __repr__(self) -> str:
        return f"convert to {self.mode!r}"


class PILReaderHW(PILReader):
    """
    MONAI's :class:`monai.data.PILReader` with rows first and a fixed pixel format, for 2D bundles that size their
    images as (rows, columns) (``LoadImaged(keys=..., reader=PILReaderHW(mode="RGB"), ensure_channel_first=True)``
    gives ``(3, H, W)``).

    - ``reverse_indexing=False`` by default: arrays are ``(H, W[, C])``, as ``numpy.asarray(PIL.Image.open(f))``;
    - the metadata's ``spatial_shape`` is the shape of the returned array's spatial axes (``(H, W)`` here), where
      MONAI's reader always records ``(W, H)`` (so that MONAI Label's ``Restored``, which resizes a prediction to
      ``spatial_shape``, leaves a rows-first prediction as it is);
    - ``mode``: every image is converted to one PIL mode on loading (see :data:`PIL_MODES`), so a grayscale JPEG
      feeds an RGB network with three equal channels, an RGB(A) ultrasound screenshot a grayscale one, and an RGB
      mask PNG becomes a one-channel label.

    Args:
        mode: ``"RGB"``, ``"L"``, ``"label"`` or ``None`` (keep each file's own format). Defaults to ``None``.
        reverse_indexing: swap the first two axes (MONAI's default layout, ``(W, H)``). Defaults to False.
        kwargs: the other arguments of :class:`monai.data.PILReader` (``Image.open`` arguments).

    Raises:
        ValueError: when ``mode`` is not one of :data:`PIL_MODES` or ``None``, or ``converter`` is given as well.
    """

    def __init__(self, mode: str | None = None, reverse_indexing: bool = False, **kwargs: Any) -> None:
        if mode is not None and mode not in PIL_MODES:
            raise ValueError(f"mode must be one of {list(PIL_MODES)} or None, got {mode!r}.")
        if mode is not None and kwargs.get("converter") is not None:
            raise ValueError("give mode or converter, not both.")
        converter = _ConvertMode(mode) if mode is not None else kwargs.pop("converter", None)
        kwargs.pop("converter", None)
        super().__init__(converter=converter, reverse_indexing=reverse_indexing, **kwargs)
        self.mode = mode

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        data, meta = super().get_data(img)
        if not self.reverse_indexing:  # PILReader records (width, height) whatever the layout
            meta[MetaKeys.SPATIAL_SHAPE] = np.asarray(meta[MetaKeys.SPATIAL_SHAPE])[::-1].copy()
        return data, meta


class PILWriterHW(PILWriter):
    """
    MONAI's :class:`monai.data.PILWriter` for rows-first arrays (``(C, H, W)`` channel-first, as
    :class:`PILReaderHW` loads them): ``write`` does not swap the first two axes unless asked
    (``reverse_indexing=True``). Use it as ``SaveImaged(..., output_ext=".png",
    writer="monai_tversky.data.PILWriterHW", scale=255, output_dtype=numpy.uint8)`` to save a [0, 1] mask or
    probability map as an 8-bit PNG of the input image's size.
    """

    def write(self, filename, verbose: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("reverse_indexing", False)
        super().write(filename, verbose=verbose, **kwargs)
