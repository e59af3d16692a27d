"""Validation every N epochs and always after the last one, so that a short run still leaves a model."""

from __future__ import annotations

from ignite.engine import Engine, Events

from monai.handlers import ValidationHandler

__all__ = ["PeriodicValidationHandler"]


class PeriodicValidationHandler(ValidationHandler):
    """
    MONAI's :py:class:`monai.handlers.ValidationHandler` (epoch level) that also validates after the last epoch.

    The bundles save their model (``models/model.pt``, the best validation metric) from validation only. With
    MONAI's handler and ``interval=2``, ``--max_epochs 1`` (or any run whose length is not a multiple of the
    interval, or a MONAI Label training of one epoch) ends without validating the last epochs, and a run shorter than
    the interval leaves no model at all. Here epoch ``e`` of ``max_epochs`` is validated when ``e % interval == 0``
    or ``e == max_epochs``.

    Args:
        interval: validate every ``interval`` epochs (and after the last one).
        validator: the evaluator to run.
        exec_at_start: also validate before training starts. Defaults to False.
        final: validate after the last epoch as well. Defaults to True.
    """

    def __init__(self, interval: int, validator=None, exec_at_start: bool = False, final: bool = True) -> None:
        if isinstance(interval, bool) or int(interval) != interval or interval < 1:
            raise ValueError(f"interval (val_interval) must be a positive integer, got {interval!r}.")
        super().__init__(int(interval), validator=validator, epoch_level=True, exec_at_start=exec_at_start)
        self.final = bool(final)

    def due(self, engine: Engine, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) ends with a validation."""
        return epoch % self.interval == 0 or (self.final and epoch == engine.state.max_epochs)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(event_filter=lambda e, epoch: self.due(e, epoch)), self)
        if self.exec_at_start:
            engine.add_event_handler(Events.STARTED, self)
