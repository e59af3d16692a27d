"""
From the label values a data set stores to the contiguous classes a multi-class network predicts (sudre2017's
setting), with the values that must count in neither the loss nor the metrics mapped to an ignore index.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LabelMap", "lesion_label_map", "resolve_layout", "IGNORE_INDEX"]

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


def resolve_layout(
    dataset_dir: str | os.PathLike | None = None, datalist: str | os.PathLike | None = None, layout: str = "auto"
) -> str:
    """The layout :func:`monai_tversky.data.build_datalist` uses for these arguments: ``"phantom"`` (no source),
    ``"datalist"``, the given ``layout``, or the detected one (:func:`monai_tversky.data.detect_layout`)."""
    from .layouts import detect_layout

    if datalist:
        return "datalist"
    if not dataset_dir:
        return "phantom"
    return detect_layout(dataset_dir) if layout == "auto" else layout


def lesion_label_map(
    layout: str = "phantom",
    num_classes: int = 2,
    class_names: Mapping[int | str, str] | None = None,
) -> LabelMap:
    """
    The classes of a data set in ``layout`` for a network with ``num_classes`` outputs (background included).

    - ``"phantom"``: 0 background, 1 lesion, and with ``num_classes=3`` 2 white matter (the phantom's
      ``white_matter_class`` switch); with 2 classes a white-matter value 2 becomes background.
    - ``"wmh2017"``: 0 background, 1 white-matter hyperintensity; 2 ("other pathology") is ignored, never a lesion.
      Only ``num_classes=2``.
    - ``"brats"``: with 4 classes 0, 1 (necrotic / non-enhancing core), 2 (oedema), 4 or 3 (enhancing tumour,
      BraTS 2021 / 2023) become 0, 1, 2, 3; with 2 classes every tumour label is 1 (whole tumour).
    - anything else (``"msseg2016"``, ``"isbi2015"``, ``"folder"``, ``"datalist"``): the labels already hold the
      classes ``0 .. num_classes - 1``.

    Args:
        layout: see above (:func:`resolve_layout` gives it for a bundle's data arguments).
        num_classes: number of network outputs, >= 2.
        class_names: names of the classes, ``{index: name}``; defaults to the data set's own (``"lesion"`` for 1).

    Raises:
        ValueError: when ``num_classes`` does not suit the data set (e.g. 3 for WMH), naming what does.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (background and at least one class), got {num_classes!r}.")
    if layout == "wmh2017":
        if num_classes != 2:
            raise ValueError(f"the WMH 2017 data have one lesion class: num_classes must be 2, got {num_classes}.")
        result = LabelMap((0, 1, 2), (0, 1, IGNORE_INDEX), {0: "background", 1: "lesion"}, IGNORE_INDEX)
    elif layout == "brats":
        if num_classes == 4:
            names = {0: "background", 1: "necrotic core", 2: "oedema", 3: "enhancing tumour"}
            result = LabelMap((0, 1, 2, 3, 4), (0, 1, 2, 3, 3), names)
        elif num_classes == 2:
            result = LabelMap((0, 1, 2, 3, 4), (0, 1, 1, 1, 1), {0: "background", 1: "whole tumour"})
        else:
            raise ValueError(
                f"BraTS labels map to 4 classes (background, necrotic core, oedema, enhancing tumour) or to 2 "
                f"(background, whole tumour): num_classes must be 4 or 2, got {num_classes}."
            )
    elif layout == "phantom":
        if num_classes > 3:
            raise ValueError(f"the phantom has at most 3 classes (background, lesion, white matter), got {num_classes}.")
        names = {0: "background", 1: "lesion", 2: "white matter"}
        result = LabelMap((0, 1, 2), (0, 1, 2) if num_classes == 3 else (0, 1, 0), {k: names[k] for k in range(num_classes)})
    else:
        default = {0: "background", 1: "lesion"}
        names = {k: default.get(k, f"class {k}") for k in range(num_classes)}
        result = LabelMap(tuple(range(num_classes)), tuple(range(num_classes)), names)
    if class_names:
        names = {int(k): str(v) for k, v in class_names.items()}
        bad = sorted(set(names) - set(result.class_names))
        if bad:
            raise ValueError(f"class_names names classes {bad} outside 0..{num_classes - 1}.")
        result = LabelMap(result.source_values, result.target_values, {**result.class_names, **names}, result.ignore_index)
    return result
