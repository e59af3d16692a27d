"""Progress that MONAI's config-built engines can attach like any MONAI handler: a bar on a terminal, log lines in a
log file, and an estimate of when the whole run ends."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from ignite.engine import Engine, Events
from ignite.handlers import ProgressBar
from monai.handlers import from_engine

__all__ = ["TrainingProgressBar", "EvaluationProgress", "format_duration", "stream_is_terminal"]

logger = logging.getLogger("monai_tversky")


def format_duration(seconds: float) -> str:
    """``3 h 05 min``, ``12 min 30 s``, ``45 s``."""
    if seconds != seconds or seconds < 0:  # NaN or negative: unknown
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def stream_is_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``, where tqdm draws) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _RunClock:
    """Elapsed time and the remaining-time estimate of an engine's run, from the iterations done in this process."""

    def __init__(self) -> None:
        self.start_time = time.perf_counter()
        self.start_iteration = 0

    def start(self, engine: Engine) -> None:
        self.start_time = time.perf_counter()
        self.start_iteration = engine.state.iteration  # > 0 when resumed from a checkpoint

    def remaining(self, engine: Engine) -> float:
        done = engine.state.iteration - self.start_iteration
        total = (engine.state.max_epochs or 0) * (engine.state.epoch_length or 0) - self.start_iteration
        if done <= 0 or total <= 0:
            return float("nan")
        return (time.perf_counter() - self.start_time) / done * max(total - done, 0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start_time


class TrainingProgressBar:
    """
    Progress of a training run: the epoch's iterations and the running loss, and when the whole run should end.

    - On a terminal: ignite's tqdm ``ProgressBar`` over the epoch's iterations, showing the loss and ``run left``,
      the estimated time to the end of the run (all remaining epochs, validations included once one has run).
    - Not on a terminal (output redirected to a file, a cluster job, CI), where tqdm can only write one ever-growing
      line: a log line every ``log_interval`` seconds (``epoch 3/40, iteration 2/4, loss 0.5123, run: 12 min 30 s
      elapsed, about 2 h 05 min left``).
    - Either way, one log line at the end of each epoch with its duration and the run's estimated end.

    MONAI engines attach handlers with ``handler.attach(engine)`` and no further arguments, so ignite's
    ``ProgressBar`` cannot be given an ``output_transform`` from a bundle config; this handler carries it.

    Args:
        output_transform: maps ``engine.state.output`` to the value shown; defaults to the loss of a
            ``SupervisedTrainer`` (``from_engine(["loss"], first=True)``). ``None`` shows progress only.
        persist: keep each finished epoch's bar on screen. Defaults to True.
        desc: the bar's label (the epoch is appended by ignite). Defaults to ``"train"``.
        log_interval: seconds between log lines when not on a terminal. Defaults to 60.
        terminal: draw the tqdm bar (True) or log lines (False); None (default) decides by whether ``sys.stderr``
            is a terminal.
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = from_engine(["loss"], first=True),
        persist: bool = True,
        desc: str = "train",
        log_interval: float = 60.0,
        terminal: bool | None = None,
    ) -> None:
        self.output_transform = output_transform
        self.persist = persist
        self.desc = desc
        self.log_interval = float(log_interval)
        self.terminal = terminal
        self.clock = _RunClock()
        self._last_log = 0.0
        self._epoch_start = 0.0

    def _loss(self, output: Any) -> float | None:
        if self.output_transform is None:
            return None
        value = self.output_transform(output)
        if isinstance(value, (tuple, list)) and len(value) == 1:  # from_engine on a single dict gives a 1-tuple
            value = value[0]
        return float(value)

    def attach(self, engine: Engine) -> None:
        terminal = stream_is_terminal() if self.terminal is None else self.terminal
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        if terminal:

            def shown(output: Any) -> dict[str, Any]:
                values: dict[str, Any] = {}
                loss = self._loss(output)
                if loss is not None:
                    values["loss"] = loss
                values["run left"] = format_duration(self.clock.remaining(engine))
                return values

            ProgressBar(persist=self.persist, desc=self.desc).attach(engine, output_transform=shown)
        else:
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._log_iteration)

    def _started(self, engine: Engine) -> None:
        self.clock.start(engine)
        self._last_log = time.perf_counter()

    def _epoch_started(self, engine: Engine) -> None:
        self._epoch_start = time.perf_counter()

    def _log_iteration(self, engine: Engine) -> None:
        now = time.perf_counter()
        if now - self._last_log < self.log_interval:
            return
        self._last_log = now
        state = engine.state
        within = (state.iteration - 1) % (state.epoch_length or 1) + 1
        loss = self._loss(state.output)
        logger.info(
            f"{self.desc}: epoch {state.epoch}/{state.max_epochs}, iteration {within}/{state.epoch_length}"
            + (f", loss {loss:.4f}" if loss is not None else "")
            + f"; run: {format_duration(self.clock.elapsed())} elapsed, "
            f"about {format_duration(self.clock.remaining(engine))} left"
        )

    def _epoch_completed(self, engine: Engine) -> None:
        state = engine.state
        if state.epoch >= (state.max_epochs or 0):
            return
        logger.info(
            f"{self.desc}: epoch {state.epoch}/{state.max_epochs} took "
            f"{format_duration(time.perf_counter() - self._epoch_start)}; run: "
            f"{format_duration(self.clock.elapsed())} elapsed, about {format_duration(self.clock.remaining(engine))} "
            "left"
        )


class EvaluationProgress:
    """
    Progress of an evaluator (validation inside training, ``inference.json``, ``evaluate.json``): one line per case
    when it is done, with the case, its time and the estimated time left for the others. Long cases also show
    their own progress through the inferer (``SplineFusionInferer(progress=True)``).

    Args:
        desc: the label of the lines. Defaults to ``"evaluate"``.
    """

    def __init__(self, desc: str = "evaluate") -> None:
        self.desc = desc
        self.clock = _RunClock()
        self._case_start = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_STARTED, self._case_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._case_completed)

    def _started(self, engine: Engine) -> None:
        self.clock.start(engine)
        total = engine.state.epoch_length
        logger.info(f"{self.desc}: {total if total is not None else '?'} case(s)")

    def _case_started(self, engine: Engine) -> None:
        self._case_start = time.perf_counter()

    def _case_completed(self, engine: Engine) -> None:
        from .nonfinite_loss import batch_case_names  # noqa: PLC0415  (avoids an import cycle at package import)

        state = engine.state
        total = state.epoch_length or 0
        within = (state.iteration - 1) % (total or 1) + 1
        names = batch_case_names(state.batch, limit=3)
        left = self.clock.elapsed() / within * (total - within)  # an evaluator's run is one pass over its cases
        logger.info(
            f"{self.desc}: case {within}/{total or '?'}"
            + (f" ({', '.join(names)})" if names else "")
            + f" took {format_duration(time.perf_counter() - self._case_start)}"
            + (f"; about {format_duration(left)} left" if within < total else "")
        )
