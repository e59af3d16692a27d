"""Checkpoints that say what they are: the loader names the file and refuses one that does not fit the network, the
saver writes a ``model.json`` beside the best model recording what it was trained on."""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine
from ignite.handlers import Checkpoint

from monai.handlers import CheckpointLoader, CheckpointSaver
from monai.networks.utils import copy_model_state

from monai_tversky.data.modalities import canonical_modalities
from monai_tversky.data.json_files import write_json_atomic

from .checkpoint_files import load_checkpoint

__all__ = [
    "ModelCheckpointLoader",
    "ModelCheckpointSaver",
    "checkpoint_mismatch",
    "model_channels",
    "model_info_path",
    "model_info_value",
    "read_model_info",
]

logger = logging.getLogger("monai_tversky")


def model_info_path(checkpoint: str | os.PathLike) -> Path:
    """The ``.json`` written beside a model checkpoint by :class:`ModelCheckpointSaver` (``model.pt`` -> ``model.json``)."""
    path = Path(checkpoint)
    return path.with_suffix(".json")


def read_model_info(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """What :class:`ModelCheckpointSaver` recorded about a checkpoint (None when there is no readable record)."""
    path = model_info_path(checkpoint)
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def model_channels(
    modalities: Sequence[str] | str | None, checkpoint: str | os.PathLike, default: Sequence[str]
) -> tuple[str, ...]:
    """
    The input channels inference feeds a model: ``modalities`` when given; with ``None``/``"auto"``, those the
    model was trained on (its ``model.json``, see :class:`ModelCheckpointSaver`), else ``default`` (the bundle's,
    e.g. the channels of its shipped demo model).
    """
    if not (modalities is None or (isinstance(modalities, str) and modalities.strip().lower() in ("", "auto"))):
        return canonical_modalities(modalities)
    info = read_model_info(checkpoint) or {}
    trained = info.get("modalities")
    if isinstance(trained, list) and trained and all(isinstance(m, str) for m in trained):
        logger.info(f"channels {trained}, as {model_info_path(checkpoint)} records for the model")
        return tuple(trained)
    return tuple(default)


def model_info_value(checkpoint: str | os.PathLike, key: str | Sequence[str], default: Any) -> Any:
    """
    A setting the model was trained with, as its ``model.json`` records it (see :class:`ModelCheckpointSaver`), else
    ``default``: what an inference config builds its network and pre-processing from, so that a model trained with
    other settings (e.g. the focal_tversky bundle's ``network_variant`` or ``spatial_size``) is applied as it was
    trained, without flags. The value used is logged when it comes from the record.

    Args:
        checkpoint: the model file (``model.pt``; the record is ``model.json`` beside it).
        key: the setting's key in the record, or keys tried in order (a setting renamed: ``("loss_name", "loss")``).
        default: the value when there is no record or it lacks ``key`` (or holds ``null`` there).
    """
    info = read_model_info(checkpoint) or {}
    for name in [key] if isinstance(key, str) else list(key):
        value = info.get(name)
        if value is not None:
            logger.info(f"{name} {value!r}, as {model_info_path(checkpoint)} records for the model")
            return value
    return default


def _state_dict(obj: Any, checkpoint: Mapping, key: str, single: bool) -> Mapping | None:
    """The part of ``checkpoint`` meant for ``obj`` (a checkpoint of one object may be its bare state dict)."""
    if key in checkpoint and isinstance(checkpoint[key], Mapping):
        return checkpoint[key]
    if single:
        return checkpoint
    return None


def checkpoint_mismatch(network: torch.nn.Module, state: Mapping[str, Any]) -> list[str]:
    """
    How a state dict fails to fit ``network`` (empty when it fits): missing and unexpected keys, and every
    parameter or buffer whose shape differs, with a plain-words reading of the first and last ones (the input
    channels of the first layer, the output channels of the last).
    """
    expected = network.state_dict()
    problems: list[str] = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing:
        problems.append(f"{len(missing)} entries of the network are not in the checkpoint (first: {missing[:3]})")
    if unexpected:
        problems.append(f"{len(unexpected)} entries of the checkpoint are not in the network (first: {unexpected[:3]})")
    names = [k for k in expected if k in state and hasattr(state[k], "shape")]
    differ = [k for k in names if tuple(state[k].shape) != tuple(expected[k].shape)]
    for k in differ[:5]:
        problems.append(f"{k}: shape {tuple(state[k].shape)} in the checkpoint, {tuple(expected[k].shape)} in the network")
    if len(differ) > 5:
        problems.append(f"... and {len(differ) - 5} more shape differences")
    weights = [k for k in names if k.endswith("weight") and getattr(expected[k], "ndim", 0) >= 2]
    if weights and weights[0] in differ and state[weights[0]].shape[1] != expected[weights[0]].shape[1]:
        problems.append(
            f"=> the checkpoint takes {state[weights[0]].shape[1]} input channel(s), the network "
            f"{expected[weights[0]].shape[1]}"
        )
    if weights and weights[-1] in differ and state[weights[-1]].shape[0] != expected[weights[-1]].shape[0]:
        problems.append(
            f"=> the checkpoint has {state[weights[-1]].shape[0]} output channel(s), the network "
            f"{expected[weights[-1]].shape[0]}"
        )
    return problems


class ModelCheckpointLoader(CheckpointLoader):
    """
    MONAI's :py:class:`monai.handlers.CheckpointLoader` that logs which file it loads (and what the file's
    ``model.json`` says it was trained on), and stops with an error naming the file when it is missing, unreadable,
    refused as unsafe, or does not fit the network, instead of torch's ``size mismatch for stem.conv0...`` that
    names no file. The file is read once, with ``weights_only=True`` (:func:`~monai_tversky.engines.load_checkpoint`)
    unless ``trust`` is set, and applied as ``CheckpointLoader`` applies it.

    Args:
        load_path: the checkpoint file.
        load_dict: the objects to restore, as for ``CheckpointLoader`` (e.g. ``{"model": network}``).
        what: what the file is, for the messages (e.g. ``"model"``, ``"resume checkpoint"``).
        setting: the configuration the network was built from, in words (e.g. ``"5 input channels for the
            modalities FLAIR, T1, T1Gd, PD, T2"``), added to a mismatch message.
        remedy: how to get out of a mismatch (e.g. ``"pass --ckpt_path ..."``), added to the messages.
        trust: read the file with ``weights_only=False``, which can run code from it: only for a file you trust
            (a bundle's ``--trust_checkpoint True``). Defaults to ``False``.
        kwargs: the other arguments of ``CheckpointLoader`` (``map_location``, ``strict``, ``name``, ...).

    Raises:
        FileNotFoundError: when ``load_path`` does not exist (at the engine's start, where the load happens).
        UntrustedCheckpointError: (a ``ValueError``) when the file holds more than tensors and plain containers
            and ``trust`` is not set.
        ValueError: when the file cannot be read as a checkpoint, or a module's state does not fit.
    """

    def __init__(
        self,
        load_path: str,
        load_dict: dict,
        what: str = "checkpoint",
        setting: str | None = None,
        remedy: str | None = None,
        trust: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(load_path=load_path, load_dict=load_dict, **kwargs)
        self.what, self.setting, self.remedy = what, setting, remedy
        if not isinstance(trust, bool):
            raise TypeError(f"trust must be True or False but is {trust!r} ({type(trust).__name__}).")
        self.trust = trust

    def __call__(self, engine: Engine) -> None:
        path = Path(self.load_path)
        hint = f" {self.remedy}" if self.remedy else ""
        if not path.is_file():
            raise FileNotFoundError(f"{self.what} not found: {path}.{hint}")
        info = read_model_info(path)
        described = ""
        if info:
            parts = [f"{k} {info[k]}" for k in ("modalities", "data", "epoch") if info.get(k) not in (None, "")]
            described = f" ({'; '.join(str(p) for p in parts)})" if parts else ""
        trusted = " (trusted: weights_only=False)" if self.trust else ""
        engine.logger.info(f"loading the {self.what} {path}{described}{trusted}")
        checkpoint = load_checkpoint(
            path, map_location=self.map_location or "cpu", trust=self.trust, what=self.what, hint=self.remedy or ""
        )
        if not isinstance(checkpoint, Mapping):
            raise ValueError(f"the {self.what} {path} holds a {type(checkpoint).__name__}, not a state dict.{hint}")
        single = len(self.load_dict) == 1
        for key, obj in self.load_dict.items():
            if not isinstance(obj, torch.nn.Module) or not self.strict_shape:
                continue
            module = obj.module if isinstance(obj, torch.nn.parallel.DistributedDataParallel) else obj
            state = _state_dict(module, checkpoint, key, single)
            if state is None:
                raise ValueError(f"the {self.what} {path} has no {key!r} entry (it has {list(checkpoint)[:8]}).{hint}")
            problems = checkpoint_mismatch(module, state) if self.strict else [
                p for p in checkpoint_mismatch(module, state) if "shape" in p or p.startswith("=>")
            ]
            if problems:
                setting = f" The network here is built for {self.setting}." if self.setting else ""
                trained = f" The checkpoint's model.json says it was trained with {described.strip(' ()')}." if described else ""
                raise ValueError(
                    f"the {self.what} {path} does not fit the network ({type(module).__name__}):\n  "
                    + "\n  ".join(problems)
                    + f"\nThe {self.what} {path} does not fit the network ({type(module).__name__}).{setting}{trained}{hint}"
                )
        self._apply(engine, dict(checkpoint))

    def _apply(self, engine: Engine, checkpoint: dict) -> None:
        """What ``CheckpointLoader.__call__`` does once it has read the file (it would read the file a second time)."""
        k, _ = list(self.load_dict.items())[0]
        if len(self.load_dict) == 1 and k not in checkpoint:  # a checkpoint of one object may be its state dict
            checkpoint = {k: checkpoint}
        if not self.strict_shape:
            for k in [k for k, obj in self.load_dict.items() if not isinstance(obj, torch.nn.Module)]:
                self.load_dict.pop(k)
            for k, obj in self.load_dict.items():
                checkpoint[k] = copy_model_state(obj, checkpoint, inplace=False)[0]
        prior_max_epochs = engine.state.max_epochs
        Checkpoint.load_objects(to_load=self.load_dict, checkpoint=checkpoint, strict=self.strict)
        if prior_max_epochs is not None and engine.state.epoch > prior_max_epochs:
            raise ValueError(
                f"the {self.what} {self.load_path} was saved at epoch {engine.state.epoch}, past this run's "
                f"max_epochs {prior_max_epochs}: pass a larger --max_epochs to train on from it."
            )
        engine.state.max_epochs = prior_max_epochs
        self.logger.info(f"Restored all variables from {self.load_path}")


class ModelCheckpointSaver(CheckpointSaver):
    """
    MONAI's :py:class:`monai.handlers.CheckpointSaver` that, each time it saves the best-metric model, also writes
    ``<model>.json`` beside it: ``info`` (what the bundle knows of the run: modalities, data, patch size, ...), the
    epoch and the evaluator's metrics. Inference reads it (:func:`read_model_info`) to log what a model is and to
    take its channel order; the state dict itself stays a plain ``torch.save`` of the network, as MONAI Label and
    ``CheckpointLoader`` expect.

    Args:
        info: JSON-serialisable description of the run (non-serialisable values are written as strings).
        kwargs: the arguments of ``CheckpointSaver`` (``save_dir``, ``save_dict``, ``save_key_metric``,
            ``key_metric_filename``, ...).
    """

    def __init__(self, info: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.info = dict(info or {})
        self.key_metric_filename = kwargs.get("key_metric_filename")

    def metrics_completed(self, engine: Engine) -> None:
        path = Path(self.save_dir) / self.key_metric_filename if self.key_metric_filename else None
        before = path.stat().st_mtime_ns if path is not None and path.exists() else None
        super().metrics_completed(engine)
        if path is None or not path.exists() or path.stat().st_mtime_ns == before:
            return
        metrics = {k: _plain(v) for k, v in engine.state.metrics.items()}
        record = {
            **{k: _plain(v) for k, v in self.info.items()},
            "epoch": int(engine.state.epoch),
            "metrics": metrics,
            "saved": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        write_json_atomic(model_info_path(path), record)
        engine.logger.info(f"saved the best model so far to {path} (epoch {engine.state.epoch}, {metrics})")


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a config value (tensors to numbers or lists, paths and others to strings)."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return str(value)
