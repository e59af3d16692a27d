"""The shipped model and the configs agree (issue 21): ``models/model.pt`` of every bundle loads, strictly, into the
network each of its configs builds with no override: ``train.json`` (what ``python -m monai.bundle run`` and MONAI
Label's ``/train`` build; MONAI Label overrides only the data, the device and the epochs), ``inference.json`` (what
MONAI Label's ``/infer`` builds) and ``inference.json`` + ``evaluate.json``."""

from __future__ import annotations

import pytest
import torch
from bundle_catalog import BUNDLE_NAMES, bundle_dir, bundle_parser

from monai_tversky.engines import checkpoint_mismatch, load_checkpoint

CONFIGS = [("train.json",), ("inference.json",), ("inference.json", "evaluate.json")]
#: what MONAI Label's BundleTrainTask sets before it trains (monailabel 0.8.5, tasks/train/bundle.py)
MONAILABEL_TRAIN = {"train#trainer#max_epochs": 1, "train#dataset#data": [], "validate#dataset#data": []}


@pytest.mark.parametrize("configs", CONFIGS, ids=["+".join(c) for c in CONFIGS])
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_the_shipped_model_loads_into_what_each_config_builds(name, configs):
    overrides = {"device": torch.device("cpu"), **(MONAILABEL_TRAIN if configs == ("train.json",) else {})}
    parser = bundle_parser(name, *configs, **overrides)
    network = parser.get_parsed_content("network_def")
    state = load_checkpoint(bundle_dir(name) / "models" / "model.pt", what="model")
    assert checkpoint_mismatch(network, state) == []
    network.load_state_dict(state, strict=True)
