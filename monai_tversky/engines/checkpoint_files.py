"""Reading checkpoint files that come from users without running code from them.

A PyTorch checkpoint is a pickle: ``torch.load(..., weights_only=False)`` of a file downloaded from anywhere runs
whatever its ``__reduce__`` says. Every load in this package, its bundles, ``ci/`` and ``benchmarks/`` goes through
:func:`load_checkpoint`, which reads with ``weights_only=True`` (tensors, state dicts, numbers, strings and plain
containers) unless the caller opts in to trusting the file (a bundle's ``--trust_checkpoint True``).
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

__all__ = ["UntrustedCheckpointError", "load_checkpoint"]

# weights_only=True is only a safe load from torch 2.6 on (CVE-2025-32434: 2.5 and older could be made to run code)
_SAFE_TORCH = (2, 6)


class UntrustedCheckpointError(ValueError):
    """A checkpoint that a weights-only load refuses: it holds objects other than tensors and plain containers."""


def _torch_version() -> tuple[int, int]:
    numbers = re.findall(r"\d+", torch.__version__)[:2]
    return int(numbers[0]), int(numbers[1]) if len(numbers) > 1 else 0


def _refused_global(error: BaseException) -> str | None:
    """The global a weights-only unpickler refused (``posix.system``, ``builtins.exec``, ...), from torch's message."""
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    return found.group(1) if found else None


def load_checkpoint(
    path: str | os.PathLike,
    map_location: Any = "cpu",
    trust: bool = False,
    what: str = "checkpoint",
    hint: str = "",
) -> Any:
    """
    Read a checkpoint file as ``torch.load(path, map_location, weights_only=True)`` does, with errors that name the
    file and say what to do.

    The checkpoints the bundles write (``models/model.pt``: the network's state dict; ``checkpoint_*.pt``: the
    state dicts of the network, the optimiser, the learning-rate schedule and ignite's trainer) hold nothing but
    tensors, numbers, strings and plain containers, so they need no allow-list
    (``torch.serialization.add_safe_globals``). A file that needs more (a pickled ``nn.Module``, a class of someone
    else's, or a crafted ``__reduce__``) is refused before any of its code can run.

    Args:
        path: the checkpoint file.
        map_location: where tensors go, as for ``torch.load``. Defaults to ``"cpu"``.
        trust: load with ``weights_only=False``: the file may then run code on this machine. Only for a file you
            made or whose source you trust (a bundle's ``--trust_checkpoint True``). Defaults to ``False``.
        what: what the file is, for the messages (``"model"``, ``"resume checkpoint"``).
        hint: a sentence added to the messages of a missing or unreadable file (how to get out of the problem).

    Returns:
        what the file holds (for the bundles' files, a state dict or a dict of state dicts).

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        UntrustedCheckpointError: (a ``ValueError``) when a weights-only load refuses the file.
        ValueError: when the file cannot be read as a torch checkpoint (truncated, not a torch file, ...).
        RuntimeError: when the installed torch is older than 2.6, whose weights-only load is not safe.
    """
    path = Path(path)
    more = f" {hint}" if hint else ""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}.{more}")
    if not trust and _torch_version() < _SAFE_TORCH:
        raise RuntimeError(
            f"torch {torch.__version__} cannot load the {what} {path} safely: its weights-only load can be made to "
            "run code (CVE-2025-32434, fixed in torch 2.6). Install torch>=2.6."
        )
    try:
        return torch.load(str(path), map_location=map_location, weights_only=not trust)
    except pickle.UnpicklingError as e:
        if trust:
            raise ValueError(f"cannot read the {what} {path}: {type(e).__name__}: {e}.{more}") from e
        refused = _refused_global(e)
        if refused is None:  # no object refused: the bytes are no torch checkpoint (text, a foreign pickle, ...)
            reason = re.search(r"Unsupported[^\n]*", str(e))
            raise ValueError(
                f"cannot read the {what} {path}: it is not a torch checkpoint a weights-only load can read"
                f"{f' ({reason.group(0).rstrip(chr(46))})' if reason else ''}.{more}"
            ) from e
        holds = f" (it needs {refused})"
        raise UntrustedCheckpointError(
            f"refused to load the {what} {path}: it holds objects other than tensors and plain containers{holds}, "
            "and loading such a file can run code on this machine. A checkpoint this project writes never needs "
            "that; if you made this file or trust where it came from, pass --trust_checkpoint True (or "
            "trust=True) to load it anyway."
        ) from e
    except Exception as e:  # truncated file, not a torch file, ...
        raise ValueError(f"cannot read the {what} {path}: {type(e).__name__}: {e}.{more}") from e
