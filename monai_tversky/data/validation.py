"""
Up-front checks of a datalist, before any training or inference: every file exists and is readable, the channel
count matches the modalities, each case's images and label share one voxel grid, and (unless only headers are asked
for) every file's voxel data is complete and intact (a compressed file is decompressed once and its checksum
verified), images hold no NaN or infinite voxels, and labels hold the values a bundle expects.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import nibabel as nib
import numpy as np
from monai.utils import optional_import

from .json_files import DATALIST_SECTIONS

__all__ = [
    "ImageHeader",
    "read_image_header",
    "read_image_voxels",
    "check_image_values",
    "check_label_values",
    "check_datalist",
    "problem_report",
]

# nibabel opens these itself; 2D PNG/JPEG/BMP files go through PIL, as MONAI's LoadImage reads them (PILReader);
# other files through ITK's header readers, as MONAI's LoadImage would.
_NIBABEL_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".hdr", ".img", ".hdr.gz", ".img.gz")
_PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageHeader(NamedTuple):
    """What :func:`read_image_header` reads of an image file: spatial shape, channel count and RAS affine."""

    path: str
    spatial_shape: tuple[int, ...]
    num_channels: int
    affine: np.ndarray


def read_image_header(path: str | os.PathLike, verify_data: bool = True) -> ImageHeader:
    """
    Read an image file's geometry from its header, the way MONAI's readers would, without loading the voxels.

    NIfTI, MGH and Analyze files are read with nibabel (the affine is nibabel's ``img.affine``, as in
    :class:`monai.data.NibabelReader`); PNG, JPEG and BMP files with PIL, as :class:`monai.data.PILReader` (which
    ``LoadImage`` picks for them) reads them: the spatial shape ``(width, height)`` that PILReader records, one
    channel per band (a palette image is one channel of palette indices) and the identity affine (PILReader sets
    none: ITK would turn a JPEG's dots per inch into a spacing its PNG mask does not have, and expand a palette
    PNG to three channels); other formats (``.mha``, ``.nrrd``, ...) with ITK's image IO, the affine converted from
    LPS to RAS as :class:`monai.data.ITKReader` does. Dimensions beyond the third count as channels.

    With ``verify_data``, a NIfTI file's voxel data is also checked to be complete: an uncompressed file must be at
    least as long as its header says; a gzip file's trailer must record that length (when it does not, the file
    is decompressed once, as a stream, to find out). A PNG file must reach its ``IEND`` chunk (chunk lengths are
    followed, the data skipped), a JPEG file its end-of-image marker (the markers are walked; the compressed data
    is scanned, not decoded) and a BMP file the size its header gives. This catches truncated downloads and
    interrupted copies at the cost of reading the file end (the compressed bytes of a JPEG).

    Args:
        path: the image file.
        verify_data: check that a NIfTI file's voxel data is complete. Defaults to ``True``.

    Raises:
        FileNotFoundError: when ``path`` does not exist (the message names it).
        ValueError: when the file cannot be read, or its data is truncated or corrupt (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.name.lower().endswith(_NIBABEL_SUFFIXES):
        return _nibabel_header(path, verify_data)
    if path.name.lower().endswith(_PIL_SUFFIXES):
        return _pil_header(path, verify_data)
    return _itk_header(path)


def _pil_header(path: Path, verify_data: bool) -> ImageHeader:
    from PIL import Image  # noqa: PLC0415  (MONAI's PILReader uses it too)

    try:
        with Image.open(path) as img:
            width, height = (int(v) for v in img.size)
            image_format = img.format
            channels = len(img.getbands())  # a palette image ("P") has one band of indices, as PILReader loads it
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, DecompressionBombError, ...
        raise ValueError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e
    if width < 1 or height < 1:
        raise ValueError(f"cannot read image file {path}: its header gives a size of {width} x {height} pixels.")
    if verify_data:
        problem = _pil_data_problem(path, image_format)
        if problem:
            raise ValueError(f"image file {path} is truncated or corrupt: {problem}.")
    # MONAI's PILReader records spatial_shape (width, height), whatever its reverse_indexing
    return ImageHeader(str(path), (width, height), channels, np.eye(4))


def _pil_data_problem(path: Path, image_format: str | None) -> str | None:
    """Why a PNG, JPEG or BMP file is incomplete (None when it reaches its end marker), without decoding it."""
    if image_format == "PNG":
        return _png_problem(path)
    if image_format in ("JPEG", "MPO"):
        return _jpeg_problem(path.read_bytes())
    if image_format == "BMP":
        with open(path, "rb") as f:
            head = f.read(6)
            f.seek(0, os.SEEK_END)
            size = f.tell()
        declared = struct.unpack("<I", head[2:6])[0] if len(head) == 6 else 0
        if declared and size < declared:
            return f"{size} bytes, its header says {declared}"
    return None


def _png_problem(path: Path) -> str | None:
    with open(path, "rb") as f:
        if f.read(8) != _PNG_SIGNATURE:
            return "no PNG signature"
        f.seek(0, os.SEEK_END)
        size = f.tell()
        position = 8
        while position + 8 <= size:
            f.seek(position)
            length, kind = struct.unpack(">I4s", f.read(8))
            position += 12 + length  # length, type, data, CRC
            if position > size:
                return f"its {kind.decode('latin-1')} chunk ends past the end of the file ({size} bytes)"
            if kind == b"IEND":
                return None
    return f"it ends ({size} bytes) before its IEND chunk"


def _jpeg_problem(data: bytes) -> str | None:
    """Walk the JPEG markers (segments by their lengths, compressed data to the next marker) to the EOI marker."""
    if not data.startswith(b"\xff\xd8"):
        return "no JPEG start-of-image marker"
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            return f"no marker at byte {i}"
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0xD9:  # end of image
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            continue
        if i + 2 > n:
            break
        i += int.from_bytes(data[i : i + 2], "big")
        if marker != 0xDA:  # not a start of scan: the segment is all there is
            continue
        while True:  # entropy-coded data: stuffed 0xFF00 and restart markers belong to it
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= n:
                return f"its compressed data runs to the end of the file ({n} bytes) without an end-of-image marker"
            following = data[j + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                i = j + 2
            elif following == 0xFF:
                i = j + 1
            else:
                i = j
                break
    return f"it ends ({n} bytes) before its end-of-image marker"


def _nibabel_header(path: Path, verify_data: bool) -> ImageHeader:
    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as e:  # nibabel raises ImageFileError, HeaderDataError, OSError, EOFError, zlib errors, ...
        raise ValueError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e
    if len(shape) == 0 or affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"cannot read image file {path}: header gives shape {shape} and affine {affine.tolist()}.")
    if verify_data:
        _verify_nifti_data(path, img)
    spatial = shape[:3]
    channels = math.prod(shape[3:]) if len(shape) > 3 else 1
    return ImageHeader(str(path), spatial, int(channels), affine)


def _verify_nifti_data(path: Path, img) -> None:
    proxy = getattr(img, "dataobj", None)
    offset, dtype, shape = (getattr(proxy, a, None) for a in ("offset", "dtype", "shape"))
    data_file = getattr(proxy, "file_like", None)
    if offset is None or dtype is None or shape is None or not isinstance(data_file, str):
        return  # not a file-backed array proxy: nothing to verify cheaply
    expected = int(offset) + math.prod(shape) * np.dtype(dtype).itemsize
    data_path = Path(data_file)
    if not data_path.name.lower().endswith(".gz"):
        size = data_path.stat().st_size
        if size < expected:
            raise ValueError(f"image file {data_path} is truncated: {size} bytes, its header needs {expected}.")
        return
    with open(data_path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() >= 18:
            f.seek(-4, os.SEEK_END)
            if struct.unpack("<I", f.read(4))[0] == expected % 2**32:
                return  # the gzip trailer records the expected length (mod 2**32): the common, cheap case
    # multi-member gzip, or a damaged file: decompress as a stream to count the bytes
    total = 0
    try:
        with gzip.open(data_path, "rb") as g:
            while chunk := g.read(1 << 22):
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"image file {data_path} is truncated or corrupt: {type(e).__name__}: {e}") from e
    if total < expected:
        raise ValueError(f"image file {data_path} is truncated: {total} bytes of data, its header needs {expected}.")


def _itk_header(path: Path) -> ImageHeader:
    itk, has_itk = optional_import("itk")  # imported on first use: importing ITK takes seconds
    if not has_itk:
        raise ValueError(f"cannot read {path}: nibabel does not open its format and ITK is not installed.")
    io = itk.ImageIOFactory.CreateImageIO(str(path), itk.CommonEnums.IOFileMode_ReadMode)
    if io is None:
        raise ValueError(f"cannot read image file {path}: neither nibabel nor ITK recognises its format.")
    try:
        io.SetFileName(str(path))
        io.ReadImageInformation()
        n = int(io.GetNumberOfDimensions())
        shape = tuple(int(io.GetDimensions(i)) for i in range(n))
        spacing = np.array([io.GetSpacing(i) for i in range(n)], dtype=np.float64)
        origin = np.array([io.GetOrigin(i) for i in range(n)], dtype=np.float64)
        direction = np.array([io.GetDirection(i) for i in range(n)], dtype=np.float64).T  # column i: axis i
        channels = int(io.GetNumberOfComponents())
    except Exception as e:
        raise ValueError(f"cannot read image file {path}: {type(e).__name__}: {e}") from e
    sr = min(n, 3)  # a 2D image gets the 3D affine nibabel would give it
    axes, steps, corner = np.eye(3), np.ones(3), np.zeros(3)
    axes[:sr, :sr], steps[:sr], corner[:sr] = direction[:sr, :sr], spacing[:sr], origin[:sr]
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = axes @ np.diag(steps), corner
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine  # ITK's LPS to RAS, as monai.data.ITKReader does
    channels *= math.prod(shape[3:]) if n > 3 else 1
    return ImageHeader(str(path), shape[:3], channels, affine)


def read_image_voxels(path: str | os.PathLike) -> np.ndarray:
    """
    Read an image file's voxel values completely, verifying what a reader that stops early would not see.

    MONAI's readers decompress a ``.nii.gz`` file only as far as the voxel data reaches and never read the gzip
    trailer, so a file damaged in the middle of its stream can load "successfully" as garbage. Here a gzip file is
    decompressed to its end, which checks the stream and its CRC-32 and length (Python's ``gzip``); the NIfTI image is
    then read from those bytes with nibabel (scaling applied, as ``NibabelReader``). Uncompressed NIfTI is read with
    nibabel; other formats with MONAI's ``LoadImage`` (ITK, PIL), which decodes the whole file.

    Args:
        path: the image file.

    Returns:
        the voxel values, in the file's axis order (scaled values as float when the header scales them).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is truncated, corrupt or unreadable (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith((".nii.gz", ".nii")):
            if name.endswith(".gz"):
                try:
                    with gzip.open(path, "rb") as stream:
                        raw = stream.read()  # to the end: the gzip module checks the CRC-32 and the length
                except (OSError, EOFError, zlib.error) as e:
                    raise ValueError(f"image file {path} is truncated or corrupt: {type(e).__name__}: {e}") from e
                image = _nifti_from_bytes(raw, path)
            else:
                image = nib.load(str(path))
            return np.asanyarray(image.dataobj)
        if name.endswith(_NIBABEL_SUFFIXES):
            return np.asanyarray(nib.load(str(path)).dataobj)
        from monai.transforms import LoadImage  # noqa: PLC0415  (ITK is imported on first use: seconds)

        if name.endswith(_PIL_SUFFIXES):  # PIL decodes every pixel (a truncated file raises)
            return np.asarray(LoadImage(reader="PILReader", image_only=True)(str(path)))
        return np.asarray(LoadImage(image_only=True)(str(path)))
    except ValueError as e:
        if str(path) in str(e):
            raise
        raise ValueError(f"cannot read the voxels of image file {path}: {e}") from e
    except Exception as e:  # nibabel, ITK and PIL raise many kinds of errors on damaged files
        raise ValueError(f"cannot read the voxels of image file {path}: {type(e).__name__}: {e}") from e


def _nifti_from_bytes(raw: bytes, path: Path):
    errors = []
    for image_class in (nib.Nifti1Image, nib.Nifti2Image):
        try:
            return image_class.from_bytes(raw)
        except Exception as e:  # the wrong NIfTI version raises a header error
            errors.append(f"{type(e).__name__}: {e}")
    raise ValueError(f"cannot read image file {path}: {'; '.join(errors)}")


def check_image_values(values: np.ndarray, path: str | os.PathLike) -> None:
    """
    Raise when an image holds NaN or infinite voxels: a network fed one returns NaN everywhere and training
    continues on ``loss = nan``.

    Raises:
        ValueError: naming the file, the number of non-finite voxels and the first one's index.
    """
    if not np.issubdtype(values.dtype, np.inexact):
        return  # integers are always finite
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"image file {path} holds {bad} non-finite voxel(s) (NaN or infinite), the first at index {first}: "
            "fix or exclude this file."
        )


def check_label_values(
    values: np.ndarray, path: str | os.PathLike, label_values: str | Sequence[float] = "binary", threshold: float = 0.5
) -> None:
    """
    Raise when a label does not hold what the bundle expects.

    - ``label_values="binary"`` (a lesion mask thresholded at ``threshold``): values in [0, 1] (a mask, or partial
      volumes resampled from one), or exactly two values ``{0, v}`` with ``v > threshold`` (e.g. a 0/255 mask). A
      label with more values (e.g. 0/1/2: thresholding would merge lesion classes), negative values, or a single
      foreground value that the threshold would erase is an error.
    - a sequence: the allowed values exactly (e.g. ``[0, 1, 2]`` for a three-class map).

    Raises:
        ValueError: naming the file and the values found (and, for non-finite values, their number).
    """
    if np.issubdtype(values.dtype, np.inexact) and not np.isfinite(values).all():
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"label file {path} holds {bad} non-finite voxel(s) (NaN or infinite).")
    found = np.unique(values)
    shown = ", ".join(f"{v:g}" for v in found[:10]) + (f", ... ({found.size} values)" if found.size > 10 else "")
    if isinstance(label_values, str):
        if label_values != "binary":
            raise ValueError(f"label_values must be 'binary' or a sequence of values, got {label_values!r}.")
        if found.size and (found[0] < 0 or (found[-1] > 1 and not (found.size == 2 and found[0] == 0))):
            raise ValueError(
                f"label file {path} is not a binary lesion mask: it holds the values [{shown}]. Expected 0/1 (or "
                f"values in [0, 1], or 0 and one foreground value); thresholding at {threshold:g} would silently "
                "merge or drop labels. Convert it to a 0/1 mask (or use a multi-class bundle)."
            )
        if found.size == 2 and found[0] == 0 and found[1] <= threshold:
            raise ValueError(
                f"label file {path} marks its foreground with the value {found[1]:g}, which the {threshold:g} "
                "threshold turns into background: the label would be empty. Convert it to a 0/1 mask."
            )
        return
    allowed = np.asarray(list(label_values), dtype=np.float64)
    unexpected = found[~np.isin(found, allowed)]
    if unexpected.size:
        listed = ", ".join(f"{v:g}" for v in unexpected[:10])
        raise ValueError(
            f"label file {path} holds the value(s) [{listed}] outside the expected "
            f"[{', '.join(f'{v:g}' for v in allowed)}] (values found: [{shown}])."
        )


def check_datalist(
    datalist: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    modalities: Sequence[str] | None = None,
    image_key: str = "image",
    label_key: str = "label",
    label_atol: float = 1e-3,
    verify_data: bool | str = True,
    label_values: str | Sequence[float] | None = None,
    label_channels: int | None = 1,
):
    """
    Check every case of a datalist before any voxel is loaded, and stop with an error that names the file.

    For each item: every image and label file exists and its header (and, with ``verify_data``, its data length)
    is readable; the channel count (one per image file, or the extra dimensions of a multi-channel file) equals
    ``len(modalities)``; all image files share the first one's spatial shape and affine within the tolerance MONAI
    applies when it stacks them as channels (``numpy.allclose`` defaults: rtol 1e-5, atol 1e-8, the criterion of
    ``monai.data.image_reader._copy_compatible_dict``); the label has one channel and the first image's shape and,
    within ``label_atol`` (mm), its affine. Every problem is collected, then one error lists them all.

    Args:
        datalist: a datalist dict (the lists under :data:`DATALIST_SECTIONS` are checked) or a list of items.
            Items are dicts with ``image_key`` (a path or a list of paths) and optionally ``label_key``.
        modalities: the expected channels; ``None`` skips the channel-count check. Defaults to ``None``.
        image_key: key of the image path(s) in an item. Defaults to ``"image"``.
        label_key: key of the label in an item: a path, or a list of paths (several masks of one image, each checked;
            absent or ``None``: no label). Defaults to ``"label"``.
        label_atol: largest difference allowed between a label's and its image's affine entries (mm). Defaults
            to 1e-3.
        verify_data: ``True`` (or ``"full"``): read every file's voxels completely (:func:`read_image_voxels`:
            a compressed file is decompressed to its end and its checksum verified) and check that images hold no
            NaN or infinite voxels (:func:`check_image_values`) and labels hold ``label_values``
            (:func:`check_label_values`); each file once. ``"header"``: headers only, and NIfTI data length from
            the gzip trailer (:func:`read_image_header`), which misses damage inside a compressed stream.
            ``False``: headers only. Defaults to ``True``.
        label_values: what labels must hold with ``verify_data=True``: ``"binary"``, a sequence of allowed
            values, or ``None`` (finite values only). Defaults to ``None``.
        label_channels: the channel count a label file must have; ``None`` accepts any (a pipeline that converts
            the label on loading, e.g. an RGB mask PNG read as grayscale). Defaults to 1.

    Returns:
        ``datalist``, unchanged, so that a bundle config can chain the check: ``"$check_datalist(@datalist)"``.

    Raises:
        FileNotFoundError: when files are missing (and nothing worse): the message lists each with its case.
        ValueError: when a file is unreadable, truncated or corrupt, an image holds non-finite voxels, a label
            holds unexpected values, a channel count or a geometry does not match, or an item is malformed: the
            message lists every problem found, each naming its file(s) and case.
        TypeError: when ``datalist`` is neither a dict nor a list of items.
    """
    if isinstance(datalist, Mapping):
        sections = [(s, datalist[s]) for s in DATALIST_SECTIONS if isinstance(datalist.get(s), list)]
        if not sections:
            raise ValueError(f"datalist has no list under any of {list(DATALIST_SECTIONS)}: keys {list(datalist)}.")
    elif isinstance(datalist, Sequence) and not isinstance(datalist, (str, bytes)):
        sections = [("items", datalist)]
    else:
        raise TypeError(f"datalist must be a dict of sections or a list of items but got {type(datalist).__name__}.")
    if not 0 <= label_atol < math.inf:
        raise ValueError(f"label_atol must be a finite number >= 0 but got {label_atol}.")
    if isinstance(modalities, str):
        modalities = [modalities]
    n_modalities = None if modalities is None else len(modalities)
    if verify_data not in (True, False, "full", "header"):
        raise ValueError(f"verify_data must be True, False, 'full' or 'header', got {verify_data!r}.")
    full = verify_data is True or verify_data == "full"
    verified: dict[str, str | None] = {}  # path -> problem found in its voxels, or None

    headers: dict[str, ImageHeader | Exception] = {}
    missing: list[str] = []
    problems: list[str] = []

    def header(path: Any, where: str) -> ImageHeader | None:
        if not isinstance(path, (str, os.PathLike)):
            problems.append(f"{where}: a path must be a string but got {path!r}")
            return None
        key = os.fspath(path)
        if key not in headers:
            try:
                headers[key] = read_image_header(key, verify_data=bool(verify_data))
            except (FileNotFoundError, ValueError) as e:
                headers[key] = e
        result = headers[key]
        if isinstance(result, FileNotFoundError):
            missing.append(f"{where}: {result}")
            return None
        if isinstance(result, Exception):
            problems.append(f"{where}: {result}")
            return None
        return result

    def voxels(path: str, where: str, expected_label: str | Sequence[float] | None) -> None:
        """Read a file's voxels once and check them (``expected_label`` None: an image; () finite only)."""
        if path not in verified:
            try:
                values = read_image_voxels(path)
                if expected_label is None:
                    check_image_values(values, path)
                elif isinstance(expected_label, str) or len(expected_label):
                    check_label_values(values, path, expected_label)
                else:
                    check_image_values(values, path)
                verified[path] = None
            except (FileNotFoundError, ValueError) as e:
                verified[path] = str(e)
        if verified[path] is not None:
            problems.append(f"{where}: {verified[path]}")

    for section, items in sections:
        for index, item in enumerate(items):
            case = item.get("case_id") if isinstance(item, Mapping) else None
            where = f"{section}[{index}]" + (f" (case {case!r})" if case is not None else "")
            if not isinstance(item, Mapping) or image_key not in item:
                problems.append(f"{where}: an item must be a dict with an {image_key!r} key but got {item!r}")
                continue
            paths = item[image_key]
            paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
            if not paths:
                problems.append(f"{where}: {image_key!r} lists no file")
                continue
            images = [header(p, where) for p in paths]
            if any(h is None for h in images):
                continue
            if full:
                for h in images:
                    voxels(h.path, where, None)
            first = images[0]
            channels = sum(h.num_channels for h in images)
            if n_modalities is not None and channels != n_modalities:
                problems.append(
                    f"{where}: {channels} image channel(s) ({', '.join(h.path for h in images)}) but "
                    f"{n_modalities} modalities {list(modalities)}"  # type: ignore[arg-type]
                )
            for h in images[1:]:
                mismatch = _geometry_mismatch(h, first, rtol=1e-5, atol=1e-8)
                if mismatch:
                    problems.append(f"{where}: image {h.path} does not match image {first.path}: {mismatch}")
            label = item.get(label_key)
            if label is None:
                continue
            # a list: several masks of one image, merged on loading (BUSI's <n>_mask, <n>_mask_1; MergeMasksd)
            for one in (label if isinstance(label, (list, tuple)) else [label]):
                lab = header(one, where)
                if lab is None:
                    continue
                if full:
                    voxels(lab.path, where, label_values if label_values is not None else ())
                if label_channels is not None and lab.num_channels != label_channels:
                    problems.append(
                        f"{where}: label {lab.path} has {lab.num_channels} channels, expected {label_channels}"
                    )
                mismatch = _geometry_mismatch(lab, first, rtol=0.0, atol=label_atol)
                if mismatch:
                    problems.append(f"{where}: label {lab.path} does not match image {first.path}: {mismatch}")

    if problems:
        raise ValueError(problem_report(f"{len(problems) + len(missing)} problem(s) in the datalist", problems + missing))
    if missing:
        raise FileNotFoundError(problem_report(f"{len(missing)} missing file(s) in the datalist", missing))
    return datalist


def problem_report(title: str, problems: Sequence[str], limit: int = 50) -> str:
    """
    The message of an error that lists problems: ``title``, the problems (at most ``limit``; a problem's own
    detail lines, such as two affines, stay under it), then one sentence that repeats the first problem's first
    line. ``python -m monai.bundle run`` ends with the message's last line, so that line says what is wrong and
    names the files, never a row of a matrix.
    """
    listed = "\n  ".join(_capped(list(problems), limit))
    first = str(problems[0]).splitlines()[0].rstrip(".:")
    return f"{title}:\n  {listed}\n{title[:1].upper()}{title[1:]}; the first: {first}."


def _geometry_mismatch(h: ImageHeader, ref: ImageHeader, rtol: float, atol: float) -> str | None:
    if h.spatial_shape != ref.spatial_shape:
        return f"spatial shape {h.spatial_shape} vs {ref.spatial_shape}"
    if not np.allclose(h.affine, ref.affine, rtol=rtol, atol=atol):
        diff = float(np.max(np.abs(h.affine - ref.affine)))
        tolerance = f"atol={atol:g}, rtol={rtol:g}"
        return (
            f"affine differs by up to {diff:.3g} mm (tolerance {tolerance})\n      {h.path}: {_one_line(h.affine)}"
            f"\n      {ref.path}: {_one_line(ref.affine)}"
        )
    return None


def _one_line(affine: np.ndarray) -> str:
    """A 4x4 affine on one line, rows in brackets."""
    return "[" + ", ".join("[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in np.asarray(affine)) + "]"


def _capped(lines: list[str], limit: int = 50) -> list[str]:
    return lines if len(lines) <= limit else lines[:limit] + [f"... and {len(lines) - limit} more"]
