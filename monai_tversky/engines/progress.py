"""A progress bar for ignite engines that MONAI's config-built engines can attach like any MONAI handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ignite.contrib.handlers import ProgressBar
from ignite.engine import Engine
from monai.handlers import from_engine

__all__ = ["TrainingProgressBar"]


class TrainingProgressBar:
    """tqdm progress bar over an engine's iterations, showing the running loss.

    MONAI engines attach handlers with ``handler.attach(engine)`` and no further arguments, so ignite's
    ``ProgressBar`` cannot be given an ``output_transform`` from a bundle config; this handler carries it.

    Args:
        output_transform: maps ``engine.state.output`` to the value(s) shown; defaults to the loss of a
            ``SupervisedTrainer`` (``from_engine(["loss"], first=True)``). ``None`` shows progress only.
        persist: keep the finished bar on screen. Defaults to True.
        desc: the bar's label (the epoch is appended by ignite). Defaults to ``"train"``.
    """

    def __init__(
        self,
        output_transform: Callable[[Any], Any] | None = from_engine(["loss"], first=True),
        persist: bool = True,
        desc: str = "train",
    ) -> None:
        self.output_transform = output_transform
        self.bar = ProgressBar(persist=persist, desc=desc)

    def attach(self, engine: Engine) -> None:
        if self.output_transform is None:
            self.bar.attach(engine)
            return
        transform = self.output_transform

        def shown(output: Any) -> dict[str, float]:
            value = transform(output)
            if isinstance(value, (tuple, list)) and len(value) == 1:  # from_engine on a single dict gives a 1-tuple
                value = value[0]
            return {"loss": float(value)}

        self.bar.attach(engine, output_transform=shown)
