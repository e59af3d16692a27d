"""Keep NaN and infinite values away from the weights: stop training on a non-finite loss, naming the iteration and the
cases, and skip the optimiser step of an iteration whose gradients are not finite (a rare low-precision kernel
glitch), stopping when it keeps happening."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import logging

import torch
from ignite.engine import Engine, Events

from monai.data.meta_tensor import MetaTensor
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys, ImageMetaKey

__all__ = ["NonFiniteLossError", "NonFiniteGradientError", "SkipNonFiniteGradients", "StopOnNonFiniteLoss",
           "batch_case_names"]

logger = logging.getLogger("monai_tversky")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; raised by :class:`StopOnNonFiniteLoss`."""


class NonFiniteGradientError(FloatingPointError):
    """The gradients were not finite in too many iterations in a row; raised by :class:`SkipNonFiniteGradients`."""


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


class SkipNonFiniteGradients:
    """
    Skip the optimiser step of an iteration whose gradients hold a NaN or an infinity, as CUDA's gradient scaler does
    for float16, and stop when it happens in ``max_consecutive`` iterations in a row.

    oneDNN's bf16 3D convolutions on a CPU (torch 2.13, AVX512-BF16) now and then return non-finite weight
    gradients for maps of 2 x 2 x 2 voxels (measured: 1 to 5 % of backward passes of a 3 x 3 x 3 convolution on
    such maps in channels-last, a different iteration each run, with a finite loss), the deepest level of a U-Net on
    32-cubed patches. One such step turns the weights to NaN for good; skipped, it costs one iteration.

    It runs at MONAI's ``IterationEvents.BACKWARD_COMPLETED``, between the backward pass and the optimiser step: when
    a gradient is not finite it sets every gradient to ``None``, so ``optimizer.step()`` changes nothing (neither
    the weights nor the optimiser's moments), and logs the iteration and the parameters. At the end of the run it
    logs how many steps it skipped. It does nothing when the trainer uses CUDA AMP (the scaler skips those steps).
    Attach it to a ``SupervisedTrainer`` (``train_handlers``), as any MONAI handler.

    Args:
        max_consecutive: stop (:class:`NonFiniteGradientError`) after this many skipped iterations in a row: the
            training diverges, it is no glitch. Defaults to 10.

    Raises:
        ValueError: when ``max_consecutive`` is not an int >= 1.
    """

    def __init__(self, max_consecutive: int = 10) -> None:
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError(f"max_consecutive must be an int >= 1 but got {max_consecutive!r}.")
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0

    def attach(self, engine: Engine) -> None:
        if IterationEvents.BACKWARD_COMPLETED not in engine._allowed_events:
            engine.register_events(*IterationEvents, event_to_attr={})
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self.report)

    def __call__(self, engine: Engine) -> None:
        if getattr(engine, "amp", False) and getattr(engine, "scaler", None) is not None:
            return
        network = engine.network.module if hasattr(engine.network, "module") else engine.network
        grads = [p.grad for p in network.parameters() if p.grad is not None]
        # one reduction (and one host sync) per iteration; the names only when a step is skipped
        if not grads or torch.isfinite(torch.nn.utils.get_total_norm(grads, norm_type=2.0)):
            self.consecutive = 0
            return
        bad = [name for name, p in network.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if not bad:  # the norm overflowed on finite gradients: nothing to skip
            self.consecutive = 0
            return
        self.skipped += 1
        self.consecutive += 1
        engine.optimizer.zero_grad(set_to_none=True)
        state = engine.state
        where = f"iteration {state.iteration} (epoch {state.epoch})"
        if self.consecutive >= self.max_consecutive:
            cases = batch_case_names(state.batch)
            raise NonFiniteGradientError(
                f"training stopped: the gradients were not finite in {self.consecutive} iterations in a row, up to "
                f"{where}" + (f" on the batch of {', '.join(cases)}" if cases else "") + f" (first: {bad[0]}). "
                "Lower the learning rate, check the inputs, or train in float32 (--cpu_bf16 False)."
            )
        logger.warning(f"{where}: non-finite gradients of {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}: "
                       "the optimiser step was skipped")  # fmt: skip

    def report(self, engine: Engine) -> None:
        if self.skipped:
            logger.warning(f"{self.skipped} optimiser step(s) of {engine.state.iteration} skipped for non-finite "
                           "gradients")  # fmt: skip
