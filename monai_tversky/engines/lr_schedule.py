"""Learning-rate schedules: hashemi2018's step decay whose interval doubles at fixed periods, and the inverse-time
decay of Keras's SGD that abraham2018 trained with."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["IntervalDoublingStepLR", "InverseTimeDecayLR", "interval_doubling_decays"]


def interval_doubling_decays(step: int, step_size: int = 500, doubling_period: int = 16000) -> int:
    """Number of decays applied by iteration ``step``.

    Within period ``j`` (iterations ``[j * doubling_period, (j + 1) * doubling_period)``) the learning rate decays
    every ``step_size * 2**j`` iterations, counted from the start of the period.
    """
    if step <= 0:
        return 0
    decays, start, interval = 0, 0, step_size
    while start < step:
        decays += min(step - start, doubling_period) // interval
        start += doubling_period
        interval *= 2
    return decays


class IntervalDoublingStepLR(LRScheduler):
    """
    Step decay with a doubling interval, as trained in hashemi2018:

        Hashemi et al. (2018). *Asymmetric similarity loss function to balance precision and recall in highly
        unbalanced deep medical image segmentation.* IEEE Access. https://arxiv.org/abs/1803.11078

    "Adam, learning rate 5e-4 multiplied by 0.95 every 500 steps, the interval doubling every 16,000 steps":
    ``lr(t) = base_lr * gamma ** n(t)`` with ``n`` from :func:`interval_doubling_decays`. Step it once per
    iteration (``monai.handlers.LrScheduleHandler(..., epoch_level=False)``). Its state (``last_epoch``, the
    iteration count) is saved and restored with the checkpoint, so a resumed run continues the same schedule.

    Args:
        optimizer: the wrapped optimizer.
        step_size: iterations between decays in the first period. Defaults to 500.
        gamma: multiplicative decay, in (0, 1]. Defaults to 0.95.
        doubling_period: iterations after which the interval doubles. Defaults to 16000.
        last_epoch: the index of the last iteration (-1 to start afresh).

    Raises:
        ValueError: When ``step_size`` or ``doubling_period`` is not a positive integer or ``gamma`` not in (0, 1].
    """

    def __init__(
        self,
        optimizer: Optimizer,
        step_size: int = 500,
        gamma: float = 0.95,
        doubling_period: int = 16000,
        last_epoch: int = -1,
    ) -> None:
        for name, value in (("step_size", step_size), ("doubling_period", doubling_period)):
            if int(value) != value or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}.")
        self.step_size, self.gamma, self.doubling_period = int(step_size), float(gamma), int(doubling_period)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # closed form: no drift, and exact after a resume
        factor = self.gamma ** interval_doubling_decays(self.last_epoch, self.step_size, self.doubling_period)
        return [base * factor for base in self.base_lrs]


class InverseTimeDecayLR(LRScheduler):
    """
    Keras's ``SGD(decay=...)`` learning-rate decay, as trained in abraham2018:

        Abraham, Khan (2019). *A novel focal Tversky loss function with improved attention U-Net for lesion
        segmentation.* ISBI 2019. https://arxiv.org/abs/1810.07842

    The paper: "stochastic gradient descent with momentum, using an initial learning rate at 0.01 which decays by
    1e-6 on every epoch"; the authors' code (``isic_train.py``) builds Keras's ``SGD(lr=0.01, momentum=0.90,
    decay=1e-6)``, whose decay is applied per update (per iteration), not per epoch:
    ``lr(t) = base_lr / (1 + decay * t)`` after ``t`` updates (Keras 2.2 ``optimizers.SGD.get_updates``). Step
    it once per iteration (``monai.handlers.LrScheduleHandler(..., epoch_level=False)``). With ``decay=1e-6`` the
    rate falls by about 0.1% per 1,000 iterations: over the paper's ISIC training (50 epochs of ~240 iterations)
    it ends at 0.988 of its start. The closed form is exact after a resume (``last_epoch`` is saved with the
    checkpoint).

    Args:
        optimizer: the wrapped optimizer.
        decay: the decay per iteration, >= 0 (0: constant). Defaults to 1e-6.
        last_epoch: the index of the last iteration (-1 to start afresh).

    Raises:
        ValueError: When ``decay`` is negative or not finite.
    """

    def __init__(self, optimizer: Optimizer, decay: float = 1e-6, last_epoch: int = -1) -> None:
        if not math.isfinite(decay) or decay < 0:
            raise ValueError(f"decay must be a finite number >= 0, got {decay}.")
        self.decay = float(decay)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # closed form, as IntervalDoublingStepLR
        factor = 1.0 / (1.0 + self.decay * max(self.last_epoch, 0))
        return [base * factor for base in self.base_lrs]
