"""Reproducible training / validation splits that keep related cases together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monai.data import partition_dataset

__all__ = ["split_datalist"]


def split_datalist(
    items: Sequence[Any], val_fraction: float = 0.2, seed: int = 0, group_key: str | None = None
) -> dict[str, list]:
    """
    Split datalist items into training and validation at random, reproducibly, with
    :func:`monai.data.partition_dataset`, keeping items that share ``item[group_key]`` (e.g. the time points of one
    ISBI 2015 subject) on the same side.

    The validation side gets ``round(val_fraction * n_groups)`` groups, at least one when ``val_fraction > 0``
    and at most ``n_groups - 1``; with a single group it is empty. Items keep their original order on each side.

    Args:
        items: the items to split.
        val_fraction: fraction of the groups for validation, in [0, 1). Defaults to 0.2.
        seed: seed of the shuffle. Defaults to 0.
        group_key: item key whose equal values stay together; ``None`` (or an item without it) makes each item
            its own group. Defaults to ``None``.

    Returns:
        ``{"training": [...], "validation": [...]}``.

    Raises:
        ValueError: when ``val_fraction`` is not in [0, 1).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) but got {val_fraction}.")
    groups: dict[Any, list[int]] = {}
    for index, item in enumerate(items):
        key = item.get(group_key, f"\0{index}") if group_key and isinstance(item, Mapping) else f"\0{index}"
        groups.setdefault(key, []).append(index)
    n_groups = len(groups)
    n_val = 0 if val_fraction == 0 or n_groups < 2 else min(n_groups - 1, max(1, round(val_fraction * n_groups)))
    if n_val == 0:
        return {"training": list(items), "validation": []}
    _, val_groups = partition_dataset(list(groups.values()), ratios=[n_groups - n_val, n_val], shuffle=True, seed=seed)
    val_indices = {i for group in val_groups for i in group}
    return {
        "training": [item for i, item in enumerate(items) if i not in val_indices],
        "validation": [item for i, item in enumerate(items) if i in val_indices],
    }
