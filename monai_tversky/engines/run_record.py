"""What a training run is, said once at its start and written down: which cases train and which validate, on which
channels and network, and whether it resumes an earlier run (only one of the same configuration)."""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from monai_tversky.data.json_files import write_json_atomic

from .bundle_paths import latest_checkpoint

__all__ = ["RUN_RECORD", "run_signature", "resume_checkpoint", "record_training_run", "case_ids"]

logger = logging.getLogger("monai_tversky")

#: File a training run writes into its checkpoint folder (its signature) and its output folder (the whole record).
RUN_RECORD = "training_run.json"


def _network_shapes_digest(network: torch.nn.Module) -> str:
    module = network.module if isinstance(network, torch.nn.parallel.DistributedDataParallel) else network
    text = ";".join(f"{k}:{tuple(v.shape)}" for k, v in module.state_dict().items())
    return f"{type(module).__name__}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def run_signature(
    bundle: str,
    network: torch.nn.Module,
    modalities: Sequence[str] | None,
    data_source: str,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """
    What makes a resume checkpoint belong to a run: the bundle, the network's structure (class and the shapes of
    its parameters and buffers, which follow from ``network_def``), the channels, the data source and, when given,
    ``settings`` the network's shapes do not show (e.g. the loss and its weights, the image size: the focal_tversky
    bundle's ablation rows differ only in those). Two runs that differ in any of these must not resume one another.
    """
    signature = {
        "bundle": bundle,
        "network": _network_shapes_digest(network),
        "modalities": list(modalities) if modalities is not None else None,
        "data": str(data_source),
    }
    if settings is not None:
        signature["settings"] = {str(k): _plain(v) for k, v in settings.items()}
    return signature


def case_ids(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``case_id`` of each datalist item, else its first image file."""
    ids = []
    for item in items:
        case = item.get("case_id")
        if case is None:
            image = item.get("image")
            case = image[0] if isinstance(image, (list, tuple)) else image
        ids.append(str(case))
    return ids


def resume_checkpoint(
    ckpt_dir: str | os.PathLike, max_epochs: int, signature: Mapping[str, Any], resume: bool = True
) -> str | None:
    """
    The checkpoint a training run resumes from, or None to start afresh, after making sure it belongs to this run.

    The newest ``checkpoint*.pt`` in ``ckpt_dir`` of a run that has not reached ``max_epochs`` (see
    :func:`latest_checkpoint`) is resumed when ``resume`` is set and the signature that run recorded
    (:data:`RUN_RECORD` in ``ckpt_dir``, written by :func:`record_training_run`) equals ``signature``. A checkpoint
    with another signature (another data set, other channels, another network) is refused, naming the file, what
    differs and the ways out. A checkpoint without a record (written before records existed) is resumed; a network
    it does not fit is then refused by :class:`~monai_tversky.engines.ModelCheckpointLoader`.

    Raises:
        ValueError: when the checkpoint to resume belongs to a run of another configuration.
    """
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}.")
    found = latest_checkpoint(ckpt_dir, max_epochs=max_epochs)
    if found is None:
        return None
    if not resume:
        logger.info(f"not resuming from {found} (resume is False): training starts afresh")
        return None
    record = Path(ckpt_dir) / RUN_RECORD
    try:
        previous = json.loads(record.read_text()).get("signature")
    except (OSError, ValueError, AttributeError):
        previous = None
    if isinstance(previous, Mapping):
        differ = [k for k in signature if previous.get(k) != signature[k]]
        if differ:
            lines = "\n  ".join(f"{k}: {previous.get(k)!r} then, {signature[k]!r} now" for k in differ)
            raise ValueError(
                f"{ckpt_dir} holds the resume checkpoint {found} of another training run ({record}):\n  {lines}\n"
                f"Resuming {found} would mix two runs: start afresh with --resume False (the old checkpoints are "
                "replaced as this run saves its own), or give this run its own folder with --ckpt_dir <folder>."
            )
    logger.info(f"resuming training from {found}")
    return found


def record_training_run(
    output_dir: str | os.PathLike,
    ckpt_dir: str | os.PathLike,
    training: Sequence[Mapping[str, Any]],
    validation: Sequence[Mapping[str, Any]],
    channels: Sequence[str] | None = None,
    source: Any = "",
    signature: Mapping[str, Any] | None = None,
    resume_from: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Say once, at the start of a training run, which cases train and which validate, and write it down.

    Logs the data source, the channels and the case ids of each side of the split, then writes the whole record
    (with every file path) to ``<output_dir>/training_run.json`` and to ``<ckpt_dir>/training_run.json`` (where
    :func:`resume_checkpoint` reads the signature of the run whose checkpoints lie there), so a run can be
    reproduced and audited.

    Args:
        output_dir: the run's output folder.
        ckpt_dir: the run's checkpoint folder.
        training: the training items as the run uses them (``train#dataset#data``).
        validation: the validation items (``validate#dataset#data``).
        channels: the input channels, in order (``None``: the source's).
        source: where the cases come from: the run's :class:`~monai_tversky.data.DataSource` (its channels, its
            description and what it recorded, such as the modalities ``auto`` left out of a folder, are read from
            it), or its description (:func:`~monai_tversky.data.describe_source`). Items without a ``case_id``
            (which the package's datalist builders always set) were handed in by a caller that replaced the
            config's data, e.g. MONAI Label; the record says so.
        signature: :func:`run_signature` of this run.
        resume_from: the checkpoint this run resumes, if any (see :func:`resume_checkpoint`).
        settings: other values worth recording (patch size, loss, learning rate, ...).

    Returns:
        the record.
    """
    training, validation = list(training), list(validation)
    data = source.record() if hasattr(source, "record") else None
    if data is not None:
        channels = data["channels"] if channels is None else channels
        source = data["source"]
    if any(isinstance(i, Mapping) and "case_id" not in i for i in training + validation):
        source = "a datalist given by the caller (the config's data was replaced, e.g. by MONAI Label)"
    record = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "signature": dict(signature or {}),
        "resumed_from": resume_from,
        "source": source,
        "channels": list(channels) if channels is not None else None,
        **({"data": data} if data is not None else {}),
        "settings": {k: _plain(v) for k, v in (settings or {}).items()},
        "training": [_plain(i) for i in training],
        "validation": [_plain(i) for i in validation],
    }
    shared = sorted(set(case_ids(training)) & set(case_ids(validation)))
    left_out = (data or {}).get("left_out") or {}
    logger.info(
        f"data: {source}; channels {list(channels) if channels is not None else '?'}"
        + "".join(f"; {m} left out (cases without it: {', '.join(c)})" for m, c in left_out.items())
        + (f"; resuming {resume_from}" if resume_from else "")
        + f"\n  training on {len(training)} case(s): {', '.join(case_ids(training))}"
        f"\n  validating on {len(validation)} case(s): {', '.join(case_ids(validation))}"
        + (f"\n  (on both sides: {', '.join(shared)})" if shared else "")
    )
    for folder in (output_dir, ckpt_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(folder) / RUN_RECORD, record)
    logger.info(f"the split and the settings are recorded in {Path(output_dir) / RUN_RECORD}")
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
