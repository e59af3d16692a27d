"""Checks of a ``python -m monai.bundle run`` command line that MONAI itself does not make."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "none_overrides", "lowercase_bool_overrides", "check_command_line", "reject_none_overrides",
    "check_save_uncertainty",
]

_NONE_WORDS = ("None",)  # what fire turns into Python None (``none``, ``null`` stay strings)
_BOOL_WORDS = ("true", "false", "yes", "no", "on", "off")  # strings to fire: truthy, whatever they say
_RUNNER_OPTIONS = {"config_file", "meta_file", "logging_file", "args_file", "run_id", "init_id", "final_id",
                   "tracking", "workflow_name", "workflow_type"}


def _pairs(argv: Sequence[str] | None) -> list[tuple[str, str]]:
    """``(key, value)`` of every ``--key value`` / ``--key=value`` on a command line."""
    argv = list(sys.argv if argv is None else argv)
    pairs = []
    for i, arg in enumerate(argv):
        if not arg.startswith("--") or len(arg) <= 2:
            continue
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif i + 1 < len(argv):
            key, value = arg[2:], argv[i + 1]
        else:
            continue
        if key not in _RUNNER_OPTIONS:
            pairs.append((key, value.strip()))
    return pairs


def none_overrides(argv: Sequence[str] | None = None) -> list[str]:
    """The config keys that a command line sets to ``None`` (``--key None`` or ``--key=None``)."""
    return [k for k, v in _pairs(argv) if v in _NONE_WORDS]


def lowercase_bool_overrides(argv: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs whose value reads as a boolean but is not ``True``/``False`` (``--resume false``)."""
    return [(k, v) for k, v in _pairs(argv) if v.lower() in _BOOL_WORDS and v not in ("True", "False")]


def check_command_line(argv: Sequence[str] | None = None) -> None:
    """
    Stop a bundle run whose command line would silently not do what it says; a bundle's ``initialize`` calls it.

    ``python -m monai.bundle run`` parses override values with ``fire``: ``None``, ``True`` and ``False`` become
    Python values, every other bare word a string. Two traps follow:

    - ``--tta None``: MONAI drops ``None`` overrides (``update_kwargs(ignore_none=True)``), so the key keeps its
      config value (see :func:`reject_none_overrides`);
    - ``--resume false``: the string ``"false"`` is true in Python, so the run resumes.

    Raises:
        ValueError: naming the keys and what to write instead.
    """
    reject_none_overrides(argv)
    words = lowercase_bool_overrides(argv)
    if words:
        shown = ", ".join(f"--{k} {v}" for k, v in words)
        fixed = ", ".join(f"--{k} {'True' if v.lower() in ('true', 'yes', 'on') else 'False'}" for k, v in words)
        raise ValueError(
            f"{shown}: monai.bundle passes a lowercase {words[0][1]!r} on as a string, which counts as true. "
            f"Write {fixed} (Python's True/False, capitalised)."
        )


def reject_none_overrides(argv: Sequence[str] | None = None) -> None:
    """
    Stop a bundle run whose command line sets a key to ``None``.

    ``python -m monai.bundle run`` parses ``--tta None`` (with ``fire``) into Python ``None`` and then drops every
    ``None`` override (``monai.bundle.utils.update_kwargs(ignore_none=True)``), so the key silently keeps its config
    value: ``--tta None`` ran all four test-time rotations. The bundles' keys accept a string instead (``--tta none``,
    ``--modalities auto``, ``--datalist ""``); this check says so before anything runs.

    Raises:
        ValueError: naming the keys and the way out.
    """
    keys = none_overrides(argv)
    if keys:
        shown = ", ".join(f"--{k} None" for k in keys)
        raise ValueError(
            f"{shown}: monai.bundle ignores None given on the command line, so "
            f"{'this key keeps' if len(keys) == 1 else 'these keys keep'} the config's value. Use the string form "
            "the key takes instead: --tta none (no test-time augmentation), --modalities auto (detect the "
            'channels), --datalist "" or --dataset_dir "" (no data source).'
        )


def check_save_uncertainty(save_uncertainty: bool, tta: Any) -> None:
    """
    Stop an inference run asked to save the test-time augmentation variance (``--save_uncertainty True``) without
    test-time augmentation, before anything runs; a bundle's ``initialize`` calls it. The variance is taken over the
    predictions of the rotated windows, so it needs at least two of them (``--tta rot180``: four in 3D).

    Args:
        save_uncertainty: the bundle's ``save_uncertainty``.
        tta: the bundle's ``tta``: None, ``"none"``, ``"rot180"`` or a list of flips.

    Raises:
        ValueError: when ``save_uncertainty`` is not a bool, or is True while ``tta`` is off; naming the fix.
    """
    if not isinstance(save_uncertainty, bool):
        raise ValueError(
            f"save_uncertainty must be True or False, got {save_uncertainty!r}: write --save_uncertainty True."
        )
    off = tta is None or (isinstance(tta, str) and tta.strip().lower() in ("none", "null", ""))
    if save_uncertainty and (off or (isinstance(tta, (list, tuple)) and len(tta) < 2)):
        raise ValueError(
            f"--save_uncertainty True saves the spread of the test-time augmentation predictions, but test-time "
            f"augmentation is off (tta={tta!r}). Add --tta rot180 (the original and its 180-degree rotations), or "
            "drop --save_uncertainty."
        )
