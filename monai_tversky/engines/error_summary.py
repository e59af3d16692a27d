"""Make a bundle run end with the message that says what went wrong, not with MONAI's config wrapper around it."""

from __future__ import annotations

import sys
from types import TracebackType

__all__ = ["install_error_summary", "root_cause"]


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of ``error``'s chain (``raise ... from``, then implicit context)."""
    seen = {id(error)}
    while True:
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if cause is None or id(cause) in seen:
            return error
        seen.add(id(cause))
        error = cause


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
