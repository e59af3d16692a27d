"""Per-class scores of a multi-class segmentation (sudre2017's classes of very different sizes) with MONAI's handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monai.handlers import MeanDice, from_engine

__all__ = ["ClassChannel", "class_dice_handlers"]


class ClassChannel:
    """
    An ignite ``output_transform`` that takes ``keys`` from ``engine.state.output`` (MONAI's
    ``from_engine(keys)``) and keeps channel ``index`` of each one-hot item, so any binary metric handler (MONAI's
    ``MeanDice``, :class:`~monai_tversky.metrics.LesionMetricHandler`) scores that class alone::

        LesionMetricHandler("ltpr", output_transform=ClassChannel(1))  # lesion-wise TPR of class 1

    Args:
        index: the class channel (0 is background).
        keys: the keys to take, in the order the metric wants them. Defaults to ``("pred", "label")``.

    Raises:
        ValueError: when an item has no channel ``index``.
    """

    def __init__(self, index: int, keys: Sequence[str] = ("pred", "label")) -> None:
        self.index = int(index)
        self.keys = list(keys)
        self._take = from_engine(self.keys)

    def __call__(self, output: Any) -> Any:
        taken = self._take(output)
        result = []
        for key, items in zip(self.keys, taken):
            for item in items:
                if item.shape[0] <= self.index:
                    raise ValueError(f"{key!r} has {item.shape[0]} channels, so it has no class {self.index}: "
                                     "is it one-hot (AsDiscreted(to_onehot=num_classes))?")
            result.append([item[self.index : self.index + 1] for item in items])
        return tuple(result)

    def __repr__(self) -> str:
        return f"ClassChannel(index={self.index}, keys={self.keys})"


def class_dice_handlers(
    class_names: Mapping[int | str, str], prefix: str = "val_dice_", keys: Sequence[str] = ("pred", "label")
) -> dict[str, MeanDice]:
    """
    One MONAI ``MeanDice`` handler per foreground class, for a ``SupervisedEvaluator``'s ``additional_metrics``:
    ``{prefix + name: MeanDice(...)}`` with spaces in names replaced by ``_`` (``val_dice_white_matter``). The
    per-case values go to ``engine.state.metric_details`` as with any MONAI handler.

    Args:
        class_names: ``{class index: name}``; index 0 (background) is skipped.
        prefix: metric name prefix. Defaults to ``"val_dice_"``.
        keys: the one-hot prediction and label keys. Defaults to ``("pred", "label")``.
    """
    handlers = {}
    for index, name in sorted(((int(k), str(v)) for k, v in class_names.items())):
        if index == 0:
            continue
        handlers[prefix + name.replace(" ", "_")] = MeanDice(include_background=True,
                                                             output_transform=ClassChannel(index, keys))
    return handlers
