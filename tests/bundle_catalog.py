"""The bundles of the repository, for tests that loop over ``bundles/*/`` instead of one file per bundle."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: every folder of bundles/ holding configs/metadata.json, by name
BUNDLE_NAMES: list[str] = sorted(p.name for p in (REPO / "bundles").iterdir() if (p / "configs" / "metadata.json").is_file())


def bundle_dir(name: str) -> Path:
    return REPO / "bundles" / name


def tiny_overrides(name: str) -> dict:
    """The bundle's CI overrides (tiny network and phantom): ``ci/<name>_tiny_overrides.json``."""
    return json.loads((REPO / "ci" / f"{name}_tiny_overrides.json").read_text())


def tiny_network(name: str) -> dict:
    return {k: v for k, v in tiny_overrides(name).items() if k.startswith("network_def#")}
