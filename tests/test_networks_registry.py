"""Every public name of monai_tversky.networks is importable by dotted path and resolves by its short name in a
bundle config, i.e. it does not collide with a MONAI class or function name."""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

import pytest
from monai.bundle.config_item import ComponentLocator

import monai_tversky  # noqa: F401  (loads every subpackage, as "$import monai_tversky" does in a bundle)
import monai_tversky.networks as networks


@lru_cache(maxsize=1)
def _component_table() -> dict[str, list[str]]:
    locator = ComponentLocator()
    return locator._find_classes_or_functions(locator._find_module_names())


def _is_component(obj) -> bool:
    """What ComponentLocator indexes (and a config's ``_target_`` can name): classes and functions, not constants."""
    return inspect.isclass(obj) or inspect.isfunction(obj)


COMPONENTS = [n for n in networks.__all__ if _is_component(getattr(networks, n))]
CONSTANTS = [n for n in networks.__all__ if n not in COMPONENTS]


@pytest.mark.parametrize("name", COMPONENTS)
def test_public_name_is_unique_among_monai_components(name):
    obj = getattr(networks, name)
    assert getattr(importlib.import_module(obj.__module__), name) is obj  # importable by its dotted path
    table = _component_table()
    assert table[name] == [obj.__module__], f"{name} is also defined in {table[name]}"


@pytest.mark.parametrize("name", CONSTANTS)
def test_public_constant_is_importable_and_not_a_component_name(name):
    """Constants (e.g. ABRAHAM2018_NETWORKS) are not components a config's ``_target_`` names; they are reached as
    ``monai_tversky.networks.NAME``, and no MONAI class or function has their name."""
    assert getattr(networks, name) is not None
    assert name not in _component_table()
