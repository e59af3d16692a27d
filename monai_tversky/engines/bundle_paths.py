"""Where a bundle lives and what it last saved, for bundle configs run from any working directory."""

from __future__ import annotations

import ast
import glob
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["resolve_bundle_root", "latest_checkpoint"]


def _config_files_from_argv(argv: Sequence[str]) -> list[str]:
    """The ``--config_file`` value(s) of a ``python -m monai.bundle run`` command line."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--config_file" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--config_file="):
            value = arg.split("=", 1)[1]
        if value is None:
            continue
        value = value.strip()
        if value.startswith("["):  # fire's list syntax: "['configs/train.json','configs/multi_gpu_train.json']"
            try:
                return [str(v) for v in ast.literal_eval(value)]
            except (ValueError, SyntaxError):
                value = value.strip("[]")
        return [v.strip().strip("'\"") for v in value.split(",") if v.strip()]
    return []


def _bundle_dir_above(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` that holds ``configs/metadata.json``."""
    for candidate in (path, *path.parents):
        if (candidate / "configs" / "metadata.json").is_file():
            return candidate
    return None


def _config_root_of_running_workflow() -> Path | None:
    """The config folder of the MONAI ``ConfigWorkflow`` whose parsing called us, if any.

    ``monai.bundle.load(name, bundle_dir=...)`` and ``ConfigWorkflow(config_file=...)`` in a user's own script put no
    ``--config_file`` on the command line; the workflow object on the call stack knows where its configs are.
    """
    try:
        from monai.bundle import ConfigWorkflow  # noqa: PLC0415  (only when no command line names the config)
    except ImportError:  # pragma: no cover - MONAI is a requirement
        return None
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, ConfigWorkflow) and getattr(candidate, "config_root_path", None) is not None:
            return Path(candidate.config_root_path)
        frame = frame.f_back
    return None


def resolve_bundle_root(name: str, argv: Sequence[str] | None = None, cwd: str | os.PathLike | None = None) -> str:
    """Locate a bundle's root folder so that its configs work from any working directory.

    The bundle specification's convention is ``"bundle_root": "."`` (run from inside the bundle). Our users also run
    ``python -m monai.bundle run --config_file bundles/msseg/train.json`` from the repository root, so the root is
    found, in order, from:

    1. the folder of the ``--config_file`` on the command line (or its nearest parent holding
       ``configs/metadata.json``);
    2. the config folder of the ``ConfigWorkflow`` being initialised (``monai.bundle.load(name, bundle_dir=...)``,
       ``ConfigWorkflow(config_file=...)`` from Python, where the command line names no config);
    3. the working directory, if it holds ``configs/metadata.json``;
    4. ``bundles/<name>`` under the working directory.

    MONAI Label and ``--bundle_root`` overrides replace the value entirely, so none of this runs then.

    Args:
        name: the bundle's folder name under ``bundles/`` (e.g. ``"msseg"``).
        argv: the command line (defaults to ``sys.argv``).
        cwd: the working directory (defaults to ``os.getcwd()``).

    Returns:
        the bundle root as an absolute path.

    Raises:
        FileNotFoundError: When no bundle root can be found; the message says how to set ``bundle_root``.
    """
    argv = sys.argv if argv is None else argv
    cwd = Path(os.getcwd() if cwd is None else cwd)
    for config_file in _config_files_from_argv(argv):
        path = Path(config_file)
        path = path if path.is_absolute() else cwd / path
        found = _bundle_dir_above(path.parent.resolve())
        if found is not None:
            return str(found)
    workflow_root = _config_root_of_running_workflow()
    if workflow_root is not None:
        found = _bundle_dir_above(workflow_root.resolve())
        if found is not None:
            return str(found)
    for candidate in (cwd, cwd / "bundles" / name):
        if (candidate / "configs" / "metadata.json").is_file():
            return str(candidate.resolve())
    raise FileNotFoundError(
        f"cannot locate the {name!r} bundle from {cwd}: run from the bundle folder or the repository root, "
        f"or pass --bundle_root <path to bundles/{name}>."
    )


def latest_checkpoint(
    ckpt_dir: str | os.PathLike, pattern: str = "checkpoint*.pt", max_epochs: int | None = None
) -> str | None:
    """The most recently written training checkpoint in ``ckpt_dir`` matching ``pattern``, or None.

    Used to resume training after an interruption (``CheckpointLoader`` is disabled when this is None). With
    ``max_epochs``, a checkpoint whose file name says it reached ``epoch >= max_epochs`` belongs to a finished run
    and is not returned: resuming it would train nothing (or fail in ``CheckpointLoader`` when ``max_epochs`` is
    smaller), which is what a second MONAI Label training on the same bundle would otherwise do.
    """
    files = glob.glob(os.path.join(os.fspath(ckpt_dir), pattern))
    if not files:
        return None
    newest = max(files, key=os.path.getmtime)
    epoch = re.search(r"epoch=(\d+)", os.path.basename(newest))
    if max_epochs is not None and epoch is not None and int(epoch.group(1)) >= int(max_epochs):
        return None
    return newest
