"""
From the label values a data set stores to the contiguous classes a multi-class network predicts (sudre2017's
setting), with the values that must count in neither the loss nor the metrics mapped to an ignore index. The maps of
data sets whose values are not their classes live with their layout (WMH 2017, BraTS in
:mod:`monai_tversky.data.layouts`); :func:`~monai_tversky.data.lesion_label_map` picks a data set's map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LabelMap", "IGNORE_INDEX", "identity_label_map", "phantom_label_map"]

#: The value ignored voxels get after mapping (MONAI's ``ignore_index`` convention: a value outside the classes).
IGNORE_INDEX: int = -1


@dataclass(frozen=True)
class LabelMap:
    """
    How a data set's label values become classes.

    Attributes:
        source_values: the values the stored labels may hold (checked before training, naming the file otherwise).
        target_values: the class (or :data:`IGNORE_INDEX`) of each source value, for ``monai.transforms.MapLabelValued``.
        class_names: ``{class index: name}`` for every class, background included.
        ignore_index: :data:`IGNORE_INDEX` when some source value is ignored, else ``None``.
    """

    source_values: tuple[int, ...]
    target_values: tuple[int, ...]
    class_names: dict[int, str] = field(default_factory=dict)
    ignore_index: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def foreground_names(self) -> dict[int, str]:
        """``{class index: name}`` of the classes other than background (0)."""
        return {k: v for k, v in self.class_names.items() if k != 0}

    def channel_def(self) -> dict[str, str]:
        """``{str(value): name}`` of every class, for a bundle's ``metadata.json`` (MONAI Label's label map)."""
        return {str(k): v for k, v in self.class_names.items()}

    def with_class_names(self, class_names: Mapping[int | str, str]) -> LabelMap:
        """The same map with some classes renamed, ``{index: name}``.

        Raises:
            ValueError: when a name is given for a class the map does not have.
        """
        names = {int(k): str(v) for k, v in class_names.items()}
        bad = sorted(set(names) - set(self.class_names))
        if bad:
            raise ValueError(f"class_names names classes {bad} outside 0..{self.num_classes - 1}.")
        return LabelMap(self.source_values, self.target_values, {**self.class_names, **names}, self.ignore_index)


def identity_label_map(num_classes: int) -> LabelMap:
    """The labels hold the classes ``0 .. num_classes - 1`` (0 background, 1 lesion, then ``class k``)."""
    default = {0: "background", 1: "lesion"}
    names = {k: default.get(k, f"class {k}") for k in range(num_classes)}
    return LabelMap(tuple(range(num_classes)), tuple(range(num_classes)), names)


def phantom_label_map(num_classes: int) -> LabelMap:
    """The phantom's: 0 background, 1 lesion, and with ``num_classes=3`` 2 white matter (its ``white_matter_class``
    switch); with 2 classes a white-matter value 2 becomes background."""
    if num_classes > 3:
        raise ValueError(f"the phantom has at most 3 classes (background, lesion, white matter), got {num_classes}.")
    names = {0: "background", 1: "lesion", 2: "white matter"}
    return LabelMap((0, 1, 2), (0, 1, 2) if num_classes == 3 else (0, 1, 0), {k: names[k] for k in range(num_classes)})
