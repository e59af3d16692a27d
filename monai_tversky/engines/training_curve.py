"""Record a training run's loss and training-batch Dice at every iteration (sudre2017's training curves)."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events

from monai.utils import CommonKeys

__all__ = ["TrainingCurveRecorder", "read_training_curve"]


class TrainingCurveRecorder:
    """
    Append one CSV row per training iteration: ``iteration, epoch, loss, dice_<class>... , dice_mean``, where the
    Dice of a class is pooled over the batch (``2 sum(p r) / (sum(p) + sum(r))`` over all its items' voxels, empty
    when the class is absent from both) and ``dice_mean`` averages the foreground classes present. This is the
    quantity whose median over the last 200 iterations sudre2017 report (Tables 2 and 3), computed from the
    trainer's postprocessed output: one-hot predictions and labels (``AsDiscreted(argmax, to_onehot)``).

    A run that starts at iteration 1 starts the file afresh; a resumed run appends to it, dropping nothing (rows of
    iterations it repeats appear twice). Rows are written at every iteration, so the curve survives an interrupted
    run. Attach it to a ``SupervisedTrainer`` (``train_handlers``).

    Args:
        path: the CSV file; its folder is created.
        class_names: ``{index: name}`` of the classes; background (0) is not scored. Defaults to ``{1: "lesion"}``.
        pred_key, label_key, loss_key: keys in ``engine.state.output``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        class_names: Mapping[int | str, str] | None = None,
        pred_key: str = CommonKeys.PRED,
        label_key: str = CommonKeys.LABEL,
        loss_key: str = CommonKeys.LOSS,
    ) -> None:
        self.path = Path(path)
        names = class_names or {1: "lesion"}
        self.classes = sorted((int(k), str(v).replace(" ", "_")) for k, v in names.items() if int(k) != 0)
        self.pred_key, self.label_key, self.loss_key = pred_key, label_key, loss_key
        self._fresh = True

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        output = engine.state.output
        items = output if isinstance(output, Sequence) else [output]
        pred = torch.stack([torch.as_tensor(i[self.pred_key]).float() for i in items])
        label = torch.stack([torch.as_tensor(i[self.label_key]).float() for i in items])
        loss = items[0][self.loss_key]
        row: dict[str, Any] = {"iteration": engine.state.iteration, "epoch": engine.state.epoch,
                               "loss": float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)}
        scores = []
        for index, name in self.classes:
            p, r = pred[:, index], label[:, index]
            denominator = float(p.sum() + r.sum())
            value = 2.0 * float((p * r).sum()) / denominator if denominator > 0 else None
            row[f"dice_{name}"] = "" if value is None else f"{value:.6f}"
            if value is not None:
                scores.append(value)
        row["dice_mean"] = f"{sum(scores) / len(scores):.6f}" if scores else ""
        if self._fresh and engine.state.iteration == 1:
            self.path.unlink(missing_ok=True)
        self._fresh = False
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


def read_training_curve(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """The rows of a :class:`TrainingCurveRecorder` CSV, numbers as floats (``None`` where a Dice is undefined)."""
    with open(path, newline="") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(f)]
