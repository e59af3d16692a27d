"""Make a bundle run end with the message that says what went wrong, not with MONAI's config wrapper around it."""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType

__all__ = ["install_error_summary", "root_cause"]


_PACKAGE = Path(__file__).resolve().parents[1]


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions behind it, outermost first (``raise ... from``, then implicit context)."""
    chain, seen = [error], {id(error)}
    while True:
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if cause is None or id(cause) in seen:
            return chain
        chain.append(cause)
        seen.add(id(cause))
        error = cause


def _raised_here(error: BaseException) -> bool:
    """Whether ``error`` was raised by this package's code (its traceback's innermost frame is in monai_tversky)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def root_cause(error: BaseException) -> BaseException:
    """
    The exception that says what went wrong: the innermost of ``error``'s chain that this package raised (its
    messages name the file and the fix, and wrap torch's or MONAI's reason when there is one: a refused
    checkpoint, an unreadable file), else the innermost of the chain.
    """
    chain = _chain(error)
    ours = [e for e in chain if _raised_here(e)]
    return ours[-1] if ours else chain[-1]


def install_error_summary() -> None:
    """
    After the traceback of an uncaught error, repeat the root cause's message as the last lines of the output.

    ``python -m monai.bundle run`` evaluates a config's expressions and instantiates its components inside wrappers
    that re-raise every error as ``RuntimeError: Failed to evaluate ConfigExpression: ...`` (or ``Failed to
    instantiate ...``), so the message that names the bad path, the bad modality list or the NaN loss sits tens of
    lines above the end. A bundle's ``initialize`` calls this first: the traceback is printed unchanged, then the
    innermost error's type and message. Errors that are not wrapped print as Python prints them (nothing is
    added), and ``KeyboardInterrupt`` is left alone. Idempotent.
    """
    previous = sys.excepthook
    if getattr(previous, "_monai_tversky_error_summary", False):
        return

    def hook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        previous(kind, error, traceback)
        if isinstance(error, KeyboardInterrupt):
            return
        cause = root_cause(error)
        if cause is not error:
            sys.stderr.write(f"\nThe run stopped because of: {type(cause).__name__}: {cause}\n")
            sys.stderr.flush()

    hook._monai_tversky_error_summary = True  # type: ignore[attr-defined]
    sys.excepthook = hook
