"""
The one-call forms of :class:`~monai_tversky.data.DataSource` for code outside a bundle: the training datalist, the
channels and the source in words, for 3D (``build_datalist``, ``resolve_channels``, ``describe_source``) and 2D
(``build_datalist_2d``, ``resolve_channels_2d``, ``resolve_kind_2d``, ``describe_source_2d``) data; the inference
datalists are :mod:`.inference_datalists`'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .inference_datalists import build_inference_datalist, build_inference_datalist_2d
from .modalities import PHANTOM_MODALITIES
from .phantoms import PHANTOM2D_KINDS, PHANTOM2D_SHAPES, PHANTOM_SHAPE
from .source import DataSource

__all__ = [
    "build_datalist",
    "build_inference_datalist",
    "resolve_channels",
    "describe_source",
    "build_datalist_2d",
    "build_inference_datalist_2d",
    "resolve_channels_2d",
    "resolve_kind_2d",
    "describe_source_2d",
    "paper_image_size_2d",
]


def build_datalist(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    modalities: Sequence[str] | str | None = None,
    layout: str = "auto",
    phantom_dir: str | os.PathLike | None = None,
    phantom_cases: int = 8,
    phantom_shape: Sequence[int] = PHANTOM_SHAPE,
    val_fraction: float = 0.2,
    seed: int = 0,
    check: bool | str = True,
    progress: bool = True,
    label_values: str | Sequence[float] | None = "binary",
    phantom_white_matter: bool = False,
) -> dict[str, Any]:
    """
    The training data of a 3D bundle, from a data set folder, a datalist JSON, or (neither) the synthetic MS
    phantom: ``DataSource(dataset_dir, datalist, layout, modalities, phantom_dir).datalist(...)`` (see
    :class:`~monai_tversky.data.DataSource` for how each source is read, split and checked).

    Returns:
        ``{"training": [...], "validation": [...], "modality": {"0": "FLAIR", ...}, "source": str}``, items
        ``{"image": [paths], "label": path, "case_id": str, ...}``.

    Raises:
        ValueError: when both ``dataset_dir`` and ``datalist`` are given, none of the three sources is, ``layout``
            is unknown, or the check fails (see :func:`check_datalist`).
        FileNotFoundError: when a source or a listed file does not exist.
    """
    source = DataSource(dataset_dir, datalist, layout, modalities, phantom_dir, spatial_dims=3)
    return source.datalist(val_fraction, seed, phantom_cases, phantom_shape, check, progress, label_values,
                           phantom_white_matter)  # fmt: skip


def resolve_channels(
    modalities: Sequence[str] | str | None = None,
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    default: Sequence[str] = PHANTOM_MODALITIES,
) -> tuple[str, ...]:
    """The channels a 3D bundle trains on, without building the data (``DataSource(...).channels``): ``modalities``
    when given, else the source's own (MSSEG 2016: its five; ISBI 2015: its four; a folder: those every case has; a
    datalist JSON: its ``"modality"`` entry; no source: ``default``, the phantom's)."""
    return DataSource(dataset_dir, datalist, layout, modalities, default_modalities=default).channels


def describe_source(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    phantom_dir: str | os.PathLike | None = None,
) -> str:
    """Where :func:`build_datalist` takes the cases from, in words (as its ``"source"`` entry says)."""
    return DataSource(dataset_dir, datalist, phantom_dir=phantom_dir).describe()


def build_datalist_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
    modalities: Sequence[str] | str | None = "auto",
    phantom_dir: str | os.PathLike | None = None,
    phantom_cases: int = 40,
    phantom_shape: Sequence[int] | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    check: bool | str = True,
    progress: bool = True,
) -> dict[str, Any]:
    """
    The training data of a 2D lesion bundle, from a data set folder (ISIC 2018 / 2017 Task 1, BUS 2017 dataset B,
    BUSI), a datalist JSON, or (neither) the 2D phantom of ``kind``: ``DataSource(..., spatial_dims=2).datalist(...)``
    (abraham2018's 75-25 split by default). The channel count is not checked (images are converted to the bundle's
    format on loading), nor a mask's (an RGB mask is read as grayscale).

    Returns:
        ``{"training": [...], "validation": [...], "modality": {"0": "R", ...}, "source": str, "kind": str}``,
        items ``{"image": path, "label": path, "case_id": str}``.

    Raises:
        ValueError: when both sources are given, none is (and no ``phantom_dir``), a layout is unknown or not
            found, or the check fails.
        FileNotFoundError: when a source or a listed file does not exist.
    """
    source = DataSource(dataset_dir, datalist, layout, modalities, phantom_dir, spatial_dims=2, phantom_kind=kind)
    return source.datalist(val_fraction, seed, phantom_cases, phantom_shape, check, progress)


def resolve_kind_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
) -> str:
    """The kind of images (``"skin"`` or ``"ultrasound"``) a 2D source holds, without reading any image: the
    layout's (ISIC: skin, BUS 2017 and BUSI: ultrasound), a datalist's declared channels (three: skin, one:
    ultrasound), else ``kind`` (``DataSource(..., spatial_dims=2).kind``)."""
    return DataSource(dataset_dir, datalist, layout, spatial_dims=2, phantom_kind=kind).kind


def resolve_channels_2d(
    modalities: Sequence[str] | str | None = "auto",
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    layout: str = "auto",
    kind: str = "skin",
) -> tuple[str, ...]:
    """The input channels of a 2D bundle: ``modalities`` when given (three names for RGB, one for grayscale), else a
    datalist's ``"modality"`` entry, else those of the source's kind (``DataSource(..., spatial_dims=2).channels``).

    Raises:
        ValueError: when the channel count is neither 3 nor 1, or as :func:`resolve_kind_2d`.
    """
    return DataSource(dataset_dir, datalist, layout, modalities, spatial_dims=2, phantom_kind=kind).channels


def describe_source_2d(
    dataset_dir: str | os.PathLike | None = None,
    datalist: str | os.PathLike | None = None,
    phantom_dir: str | os.PathLike | None = None,
    kind: str = "skin",
    layout: str = "auto",
) -> str:
    """Where :func:`build_datalist_2d` takes its cases from, in words (its ``"source"`` entry)."""
    return DataSource(dataset_dir, datalist, layout, phantom_dir=phantom_dir, spatial_dims=2, phantom_kind=kind).describe()


def paper_image_size_2d(kind: str) -> tuple[int, int]:
    """abraham2018's training image size ``(H, W)`` for a kind: 192 x 256 (ISIC 2018), 128 x 128 (BUS 2017)."""
    if kind not in PHANTOM2D_KINDS:
        raise ValueError(f"kind (phantom_kind) must be one of {list(PHANTOM2D_KINDS)}, got {kind!r}.")
    return PHANTOM2D_SHAPES[kind]
