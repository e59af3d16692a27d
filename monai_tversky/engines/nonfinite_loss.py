"""Stop training on a NaN or infinite loss before it reaches the weights, naming the iteration and the cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Engine

from monai.data.meta_tensor import MetaTensor
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys, ImageMetaKey

__all__ = ["NonFiniteLossError", "StopOnNonFiniteLoss", "batch_case_names"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; raised by :class:`StopOnNonFiniteLoss`."""


def batch_case_names(batch: Any, limit: int = 8) -> list[str]:
    """The cases of a collated batch, in order and without repeats: the items' ``case_id`` where the datalist has
    one, else the files the images were loaded from (``filename_or_obj``); empty when neither is known."""
    names: list[str] = []
    items = batch if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) else [batch]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        ids = item.get("case_id")
        if ids is not None:
            names.extend(str(i) for i in (ids if isinstance(ids, (list, tuple)) else [ids]))
            continue
        image = item.get(CommonKeys.IMAGE)
        meta = image.meta if isinstance(image, MetaTensor) else item.get(f"{CommonKeys.IMAGE}_meta_dict") or {}
        source = meta.get(ImageMetaKey.FILENAME_OR_OBJ)
        if source is not None:
            sources = source if isinstance(source, (list, tuple)) else [source]
            names.extend(", ".join(map(str, s)) if isinstance(s, (list, tuple)) else str(s) for s in sources)
    unique = list(dict.fromkeys(names))
    return unique if len(unique) <= limit else unique[:limit] + [f"... ({len(unique) - limit} more)"]


class StopOnNonFiniteLoss:
    """
    Raise :class:`NonFiniteLossError` as soon as a training iteration's loss is NaN or infinite.

    It runs at MONAI's ``IterationEvents.LOSS_COMPLETED``, after the loss is computed and before the backward pass
    and the optimizer step, so the weights never see it; the run stops with an error, so no epoch completes from it
    and no checkpoint or "best" model is saved from it (unlike ignite's ``TerminateOnNan``, which ends the run
    quietly, as if it had finished). The message names the iteration, the epoch and the batch's cases.

    Attach it to a ``SupervisedTrainer`` (``train_handlers`` in a bundle config), as any MONAI handler.

    Args:
        loss_key: key of the loss in ``engine.state.output``. Defaults to ``"loss"``.
    """

    def __init__(self, loss_key: str = CommonKeys.LOSS) -> None:
        self.loss_key = loss_key

    def attach(self, engine: Engine) -> None:
        if IterationEvents.LOSS_COMPLETED not in engine._allowed_events:
            engine.register_events(*IterationEvents, event_to_attr={})
        engine.add_event_handler(IterationEvents.LOSS_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        output = engine.state.output
        loss = output.get(self.loss_key) if isinstance(output, Mapping) else output
        if loss is None:
            return
        values = loss.detach() if isinstance(loss, torch.Tensor) else torch.as_tensor(loss)
        if torch.isfinite(values).all():
            return
        state = engine.state
        per_epoch = state.epoch_length or 0
        within = (state.iteration - 1) % per_epoch + 1 if per_epoch else state.iteration
        cases = batch_case_names(state.batch)
        value = values.float().flatten()[~torch.isfinite(values.float().flatten())][0].item()
        raise NonFiniteLossError(
            f"training stopped: the loss is {value} at iteration {state.iteration} (epoch {state.epoch}, "
            f"iteration {within} of {per_epoch or '?'})"
            + (f" on the batch of {', '.join(cases)}" if cases else "")
            + ". Nothing was saved from this iteration. Check those inputs (a corrupt file, NaN voxels), or lower the "
            "learning rate."
        )
