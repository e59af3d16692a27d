"""Every public class of monai_tversky resolves by short name in a bundle config, and none shadows a MONAI name."""

import inspect

import pytest
from monai.bundle import ComponentLocator

import monai_tversky

SUBPACKAGES = ["data", "engines", "inferers", "losses", "metrics", "networks", "transforms"]


def _public_classes():
    for sub in SUBPACKAGES:
        module = getattr(monai_tversky, sub)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                yield sub, name, obj


@pytest.mark.parametrize("sub, name, obj", list(_public_classes()))
def test_public_class_short_name_is_ours_alone(sub, name, obj):
    locator = ComponentLocator()
    modules = locator.get_component_module_name(name)
    modules = [modules] if isinstance(modules, str) else (modules or [])
    assert modules, f"{name} is not found by MONAI's ComponentLocator"
    # MONAI's locator resolves the first match: a MONAI class of the same name would silently win
    clashes = [m for m in modules if not m.startswith("monai_tversky")]
    assert not clashes, f"{name} also exists in {clashes}"
    assert locator.get_component_module_name(name) is not None
    assert obj.__module__.startswith(f"monai_tversky.{sub}")


def test_losses_are_listed():
    names = {n for _, n, _ in _public_classes()}
    assert {"FBetaLoss", "FocalTverskyLoss", "SensitivitySpecificityLoss", "WeightedCrossEntropyLoss",
            "TwoClassDiceLoss", "DeepSupervisionCombinedLoss"} <= names
