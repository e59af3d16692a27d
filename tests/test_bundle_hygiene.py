"""Bundle hygiene (issue 25): every workflow passes MONAI's property check, loading a bundle never changes what it
ships, and the cards' download commands name the version metadata.json releases."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest
from bundle_catalog import BUNDLE_NAMES, bundle_dir, metadata, tiny_overrides

#: (config files layered in order, MONAI workflow type) of each workflow a bundle ships
WORKFLOWS = {
    "train": (["train.json"], "train"),
    "inference": (["inference.json"], "infer"),
    "evaluate": (["inference.json", "evaluate.json"], "infer"),
}


def _models_sha256(bundle: Path) -> dict[str, str]:
    return {
        p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((bundle / "models").rglob("*"))
        if p.is_file()
    }


def _copy_bundle(name: str, dest: Path) -> Path:
    """The bundle without its output/ (phantoms, runs), as a user has it."""
    target = dest / name
    shutil.copytree(bundle_dir(name), target, ignore=shutil.ignore_patterns("output", "__pycache__"), symlinks=True)
    return target


def _workflow(bundle: Path, which: str, **override):
    from monai.bundle import ConfigWorkflow

    files, workflow_type = WORKFLOWS[which]
    overrides = {k: v for k, v in tiny_overrides(bundle.name).items() if not k.startswith("network_def#")}
    return ConfigWorkflow(
        config_file=[str(bundle / "configs" / f) for f in files],
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=str(bundle / "configs" / "logging.conf"),
        workflow_type=workflow_type,
        **{**overrides, **override},
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_every_workflow_has_monai_properties_and_leaves_models_unchanged(name, tmp_path, monkeypatch):
    """``check_properties()`` passes for train, inference and evaluate (MONAI's required properties, e.g. an
    inference workflow's ``dataset_dir``), and neither ``initialize`` nor the check writes into ``models/``
    (the train workflow used to rewrite ``models/training_run.json`` on initialise)."""
    bundle = _copy_bundle(name, tmp_path)
    monkeypatch.chdir(tmp_path)  # no bundles/<name> under the working directory: the workflow's own configs decide
    monkeypatch.setattr("sys.argv", ["pytest"])
    before = _models_sha256(bundle)
    for which in WORKFLOWS:
        workflow = _workflow(bundle, which)
        workflow.initialize()
        assert workflow.bundle_root == str(bundle.resolve()), which
        missing = workflow.check_properties()
        assert not missing, f"{name} {which}: optional properties missing: {missing}"
        assert _models_sha256(bundle) == before, f"{name} {which}: initialize changed models/"


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_monai_bundle_load_leaves_models_unchanged(name, tmp_path, monkeypatch):
    """``monai.bundle.load(name, bundle_dir=...)`` initialises the train workflow (MONAI does, to build the network);
    the shipped files must come out byte-identical and the network must be the bundle's, with its weights."""
    import torch
    from monai.bundle import load

    bundle = _copy_bundle(name, tmp_path)
    monkeypatch.chdir(tmp_path / name)
    monkeypatch.setattr("sys.argv", ["pytest"])
    before = _models_sha256(bundle)
    net = load(name=name, bundle_dir=str(tmp_path), progress=False)
    assert _models_sha256(bundle) == before
    state = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    loaded = net.state_dict()
    assert set(state) == set(loaded)
    assert all(torch.equal(state[k].float(), loaded[k].float()) for k in state)


def test_card_download_commands_name_the_metadata_version():
    """Every ``--version X`` and ``<name>_vX.zip`` in a card is the version its metadata.json releases."""
    for name in BUNDLE_NAMES:
        version = metadata(name)["version"]
        card = (bundle_dir(name) / "docs" / "README.md").read_text()
        named = re.findall(r"--version\s+([0-9][0-9.]*[0-9])", card) + re.findall(
            rf"{name}_v([0-9][0-9.]*[0-9])\.zip", card
        )
        assert named, f"{name}: the card gives no download command"
        assert set(named) == {version}, f"{name}: the card names {sorted(set(named))}, metadata.json {version}"


def test_every_bundle_says_what_data_its_model_learned_from():
    """``docs/data_license.txt`` (the model zoo's file): the data the shipped weights were trained on, with its
    source and licence; the real data sets the shipped ``model.json`` names must each be in it."""
    import json

    for name in BUNDLE_NAMES:
        text = (bundle_dir(name) / "docs" / "data_license.txt").read_text()
        assert "licen" in text.lower(), name
        model_json = bundle_dir(name) / "models" / "model.json"
        record = model_json.read_text() if model_json.is_file() else ""
        for data_set in sorted(set(re.findall(r"open_ms_p\d+|BUSI|ISIC", record))):
            assert data_set in text, f"{name}: {data_set} trained or scored the shipped model, not in data_license.txt"
        if "phantom" in json.loads(record or "{}").get("data", ""):
            assert "phantom" in text.lower(), name
        assert os.path.getsize(bundle_dir(name) / "docs" / "data_license.txt") > 200, name
