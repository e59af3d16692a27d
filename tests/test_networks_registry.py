"""Every public name of monai_tversky.networks is importable by dotted path and resolves by its short name in a
bundle config, i.e. it does not collide with a MONAI class or function name."""

from __future__ import annotations

import importlib
from functools import lru_cache

import pytest
from monai.bundle.config_item import ComponentLocator

import monai_tversky  # noqa: F401  (loads every subpackage, as "$import monai_tversky" does in a bundle)
import monai_tversky.networks as networks


@lru_cache(maxsize=1)
def _component_table() -> dict[str, list[str]]:
    locator = ComponentLocator()
    return locator._find_classes_or_functions(locator._find_module_names())


@pytest.mark.parametrize("name", networks.__all__)
def test_public_name_is_unique_among_monai_components(name):
    obj = getattr(networks, name)
    assert getattr(importlib.import_module(obj.__module__), name) is obj  # importable by its dotted path
    table = _component_table()
    assert table[name] == [obj.__module__], f"{name} is also defined in {table[name]}"
