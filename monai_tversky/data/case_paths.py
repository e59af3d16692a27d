"""The one place where a case id, which comes from a user's datalist or file names, becomes a path to write.

Every output named after a case (the per-case folders of inference and evaluation, the report's overlay figures,
the TTA variance maps, MONAI Label studies) takes its file name from :func:`safe_case_name` and its path from
:func:`case_output_path`, so that no id (``/abs/path/victim``, ``../../x``, ``a/b``, ``CON``, an empty string)
can choose where a file lands: the result always lies inside the output folder, symbolic links included.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

__all__ = ["safe_case_name", "case_output_path", "OutsideOutputFolderError"]

# Windows device names: a file called CON.png (any extension, any case) cannot be created there
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# bytes of a name before the suffixes the bundles add (``_axis2_slice123.png``, ``_tta_variance.nii.gz``): file
# systems allow 255
_MAX_NAME_BYTES = 160


class OutsideOutputFolderError(ValueError):
    """An output path that would lie outside its output folder (through a symbolic link)."""


def safe_case_name(case_id: object) -> str:
    """
    The file name an output of case ``case_id`` gets: one path component, never empty, hidden or reserved.

    - ``/`` and ``\\`` separate parts, which are joined with ``_`` (``"Center_01/Patient_01"`` ->
      ``"Center_01_Patient_01"``, as the per-case folders have always been named); empty, ``.`` and ``..`` parts are
      dropped (``"/abs/path/victim"`` -> ``"abs_path_victim"``, ``"../../x"`` -> ``"x"``);
    - white space, control characters and the characters Windows forbids (``<>:"|?*``) become ``_``; letters of any
      script stay (NFC-normalised, so the two spellings of ``é`` give one name);
    - leading dots and trailing dots are removed (no hidden files; Windows drops trailing dots);
    - a Windows device name (``CON``, ``nul.txt``, ``COM1``, ...) gets a leading ``_``;
    - a name over 160 bytes is cut and ends with 8 hex digits of its SHA-1, so long ids stay distinct.

    Args:
        case_id: the id (any object; its ``str``).

    Returns:
        the name, without extension.

    Raises:
        ValueError: when nothing of the id is usable as a file name (``""``, ``"/"``, ``".."``, ``"..."``).
    """
    text = unicodedata.normalize("NFC", str(case_id))
    parts = [p.strip() for p in re.split(r"[\\/]+", text)]
    name = "_".join(p for p in parts if p not in ("", ".", ".."))
    name = re.sub(r'[\x00-\x1f\x7f<>:"|?*]|\s+', "_", name)
    name = name.lstrip(".").rstrip(". ")
    if not name.strip("_"):
        raise ValueError(
            f"case id {str(case_id)!r} gives no usable file name (it is empty, or only dots, separators or spaces): "
            "give the case a case_id made of letters or digits in the datalist."
        )
    if name.split(".")[0].upper() in _RESERVED:
        name = f"_{name}"
    encoded = name.encode("utf-8")
    if len(encoded) > _MAX_NAME_BYTES:
        digest = hashlib.sha1(encoded).hexdigest()[:8]
        name = encoded[: _MAX_NAME_BYTES - 9].decode("utf-8", errors="ignore").rstrip(". ") + f"_{digest}"
    return name


def case_output_path(
    output_dir: str | os.PathLike,
    case_id: object,
    suffix: str = "",
    subfolder: str | os.PathLike | None = None,
) -> Path:
    """
    Where an output of case ``case_id`` is written: ``<output_dir>[/<subfolder>]/<safe_case_name(case_id)><suffix>``,
    checked to lie inside ``output_dir`` once every symbolic link on the way is followed.

    Args:
        output_dir: the output folder (the user's ``--output_dir``, or a folder of the run's own under it).
        case_id: the case's id (see :func:`safe_case_name`).
        suffix: what follows the name (``".png"``, ``"_axis2_slice40.png"``); must not hold a separator.
        subfolder: the project's own sub-folder under ``output_dir`` (``"overlays"``, ``"labels/final"``), never a
            user's value.

    Returns:
        the path (not created).

    Raises:
        ValueError: when the id gives no usable name, or ``suffix`` holds a separator.
        OutsideOutputFolderError: (a ``ValueError``) when the path, resolved, lies outside ``output_dir``: a
            symbolic link inside the output folder points elsewhere.
    """
    if "/" in suffix or "\\" in suffix:
        raise ValueError(f"suffix must not hold a path separator, got {suffix!r}.")
    root = Path(output_dir).expanduser()
    folder = root if subfolder is None else root / subfolder
    path = folder / f"{safe_case_name(case_id)}{suffix}"
    base, resolved = root.resolve(), path.resolve()
    if resolved != base and base not in resolved.parents:
        raise OutsideOutputFolderError(
            f"the output of case {str(case_id)!r} would be written to {resolved}, outside the output folder {base}: "
            f"{path} leads there through a symbolic link. Remove the link or choose another --output_dir."
        )
    return path
