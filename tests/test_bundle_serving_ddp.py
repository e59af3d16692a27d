"""``multi_gpu_train.json``: every bundle under ``torchrun`` with DistributedDataParallel, on the CPU with gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from monai.bundle import ConfigParser

from bundle_catalog import BUNDLE_NAMES, REPO, bundle_dir, tiny_network, tiny_overrides, tiny_overrides_file


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_override_is_zoo_style(name):
    """Merged over train.json the way `--config_file "[train, multi_gpu_train]"` merges them."""
    CONFIGS = bundle_dir(name) / "configs"
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "train.json"), str(CONFIGS / "multi_gpu_train.json")])
    assert parser["network"]["_target_"] == "torch.nn.parallel.DistributedDataParallel"
    assert parser["train"]["dataloader"]["sampler"] == "@train#sampler"
    assert parser["train"]["dataloader"]["shuffle"] is False
    assert parser["validate"]["dataloader"]["sampler"] == "@validate#sampler"
    assert "$import torch.distributed as dist" in parser["imports"]
    assert set(json.loads((CONFIGS / "train.json").read_text())["imports"]) < set(parser["imports"])  # "+imports"
    assert any("init_process_group" in e for e in parser["initialize"])
    assert any("destroy_process_group" in e for e in parser["finalize"])
    # the override replaces train.json's initialize/run/finalize lists: it must keep every step of them (the seed
    # gets a per-rank offset, the checkpoint handlers and the run record a rank filter), so a step added to
    # train.json shows here
    train = json.loads((CONFIGS / "train.json").read_text())
    for section in ("initialize", "finalize"):
        for expr in train[section]:
            if expr != "$monai.utils.set_determinism(seed=@seed)":
                assert expr in parser[section] or f"$dist.get_rank() > 0 or {expr[1:]}" in parser[section], expr
    assert len(parser["run"]) == len(train["run"]) and parser["run"][-1] == train["run"][-1]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_torchrun_two_processes_gloo(tmp_path, name):
    CONFIGS = bundle_dir(name) / "configs"
    out, models = tmp_path / "output", tmp_path / "models"
    # the tiny overrides as ci/smoke_bundle passes them; 2 training cases: 2 iterations alone, 1 per process when
    # split in two
    args = ["--args_file", str(tiny_overrides_file(name)), "--batch_size", "1"]
    config = f"['{CONFIGS / 'train.json'}','{CONFIGS / 'multi_gpu_train.json'}']"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2"]
    cmd += ["-m", "monai.bundle", "run", "--config_file", config, "--output_dir", str(out), "--ckpt_dir", str(models)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # the CPU and gloo, even on a GPU host
    result = subprocess.run(cmd + args, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]

    # each process trained on its half of the data: one iteration in the epoch instead of two (a bundle with a fixed
    # iteration budget, generalised_dice's epoch_length, runs that many per process over its half of the data)
    checkpoints = list(models.glob("checkpoint*.pt"))
    assert len(checkpoints) == 1, checkpoints
    checkpoint = torch.load(checkpoints[0], weights_only=True)
    expected = tiny_overrides(name).get("epoch_length", 1)
    assert checkpoint["trainer"]["epoch_length"] == expected
    assert checkpoint["trainer"]["iteration"] == expected
    # the best model is saved unwrapped (no DDP "module." prefix): it loads into the plain network
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    for key, value in tiny_network(name).items():
        parser[key] = value
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(models / "model.pt", weights_only=True), strict=True)
    assert set(checkpoint["model"]) == set(net.state_dict())
    # only rank 0 logs at INFO: one validation summary, not two
    assert log.count("Key metric: val_mean_dice best value") == 1
    assert list((out / "runs").glob("events.out.tfevents.*"))
