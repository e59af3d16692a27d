"""Checkpoints come from users: no load may run code from one (issue 19). A crafted checkpoint whose unpickling would
create a file is refused by every loader (the package's, the bundles' through ``python -m monai.bundle run``, and
torch's default that MONAI Label relies on); the file never appears and the run ends with our message. Every
checkpoint the project writes loads with ``weights_only=True``, and ``--trust_checkpoint True`` is the opt-in."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
import torch
from bundle_catalog import BUNDLE_NAMES, REPO, bundle_dir, bundle_run, last_line, run_output, tiny_overrides_file
from ignite.engine import Engine

from monai_tversky.engines import (
    IntervalDoublingStepLR,
    InverseTimeDecayLR,
    ModelCheckpointLoader,
    UntrustedCheckpointError,
    load_checkpoint,
)


class _CreatesFile:
    """Unpickling this calls ``os.mkdir(marker)``: the file a malicious checkpoint would leave on the machine."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def malicious_checkpoint(path: Path, marker: Path, state: dict | None = None) -> Path:
    """A checkpoint that looks like ours (a state dict under ``model``) but runs ``os.mkdir(marker)`` when unpickled."""
    torch.save({"model": state or {}, "payload": _CreatesFile(marker)}, path)
    assert not marker.exists()
    return path


def test_load_checkpoint_refuses_a_crafted_file_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = malicious_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(UntrustedCheckpointError) as error:
        load_checkpoint(path, what="model")
    message = str(error.value)
    assert str(path) in message and "posix.mkdir" in message and "--trust_checkpoint True" in message
    assert not marker.exists()


def test_torch_default_refuses_it_too(tmp_path):
    """MONAI Label 0.8.5 loads ``model.pt`` with a bare ``torch.load(path, map_location=...)``: safe only because
    torch >= 2.6 (the project's minimum) defaults to ``weights_only=True``."""
    marker = tmp_path / "pwned"
    path = malicious_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, map_location="cpu")
    assert not marker.exists()


def test_trust_is_the_old_unsafe_load(tmp_path):
    """The documented opt-in really is ``weights_only=False``: it runs the file's code (here: makes the marker)."""
    marker = tmp_path / "ran"
    path = malicious_checkpoint(tmp_path / "evil.pt", marker)
    loaded = load_checkpoint(path, trust=True)
    assert marker.is_dir() and set(loaded) == {"model", "payload"}


def test_unreadable_files_are_value_errors_naming_the_file(tmp_path):
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    truncated = tmp_path / "truncated.pt"
    torch.save({"w": torch.zeros(100)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    for path in (text, truncated):
        with pytest.raises(ValueError, match=re.escape(f"cannot read the model {path}")) as error:
            load_checkpoint(path, what="model")
        assert not isinstance(error.value, UntrustedCheckpointError)
    with pytest.raises(FileNotFoundError, match="model not found"):
        load_checkpoint(tmp_path / "absent.pt", what="model")


def test_a_pickled_module_is_refused_and_named(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(UntrustedCheckpointError, match=r"torch\.nn\.modules\.linear\.Linear"):
        load_checkpoint(path)


def _training_checkpoint(optimizer_cls, scheduler) -> dict:
    net = torch.nn.Conv3d(1, 2, 3)
    optimizer = optimizer_cls(net.parameters(), lr=0.01)
    net(torch.rand(1, 1, 5, 5, 5)).sum().backward()
    optimizer.step()
    trainer = Engine(lambda engine, batch: None)
    trainer.run([0, 1], max_epochs=1)
    return {"model": net.state_dict(), "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler(optimizer).state_dict(), "trainer": trainer.state_dict()}  # fmt: skip


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.SGD])
@pytest.mark.parametrize("scheduler", [lambda o: IntervalDoublingStepLR(o, 500, 0.95, 16000),
                                       lambda o: InverseTimeDecayLR(o, 1e-6)])  # fmt: skip
def test_our_resume_checkpoints_need_no_allow_list(tmp_path, optimizer_cls, scheduler):
    """What the bundles' train.json save (network, optimiser, schedule, ignite trainer) loads weights-only."""
    path = tmp_path / "checkpoint_epoch=1.pt"
    saved = _training_checkpoint(optimizer_cls, scheduler)
    torch.save(saved, path)
    loaded = load_checkpoint(path)
    assert set(loaded) == set(saved) and loaded["trainer"] == saved["trainer"]
    torch.testing.assert_close(loaded["model"], saved["model"])


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_shipped_models_load_weights_only(name):
    state = load_checkpoint(bundle_dir(name) / "models" / "model.pt", what="model")
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())


def test_model_checkpoint_loader_refuses_before_any_code_runs(tmp_path):
    net = torch.nn.Linear(2, 1)
    marker = tmp_path / "pwned"
    path = malicious_checkpoint(tmp_path / "evil.pt", marker, state=net.state_dict())
    engine = Engine(lambda e, b: None)
    loader = ModelCheckpointLoader(load_path=str(path), load_dict={"model": net}, what="model")
    with pytest.raises(UntrustedCheckpointError, match="refused to load the model"):
        loader(engine)
    assert not marker.exists()
    with pytest.raises(TypeError, match="trust must be True or False"):
        ModelCheckpointLoader(load_path=str(path), load_dict={"model": net}, trust="yes")


def test_model_checkpoint_loader_restores_as_monai_does(tmp_path):
    """One read of the file, then what MONAI's CheckpointLoader does with it: the objects and the trainer's epoch."""
    saved = _training_checkpoint(torch.optim.Adam, lambda o: InverseTimeDecayLR(o, 1e-6))
    path = tmp_path / "checkpoint.pt"
    torch.save(saved, path)
    net = torch.nn.Conv3d(1, 2, 3)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    trainer = Engine(lambda e, b: None)
    trainer.state.max_epochs = 5
    loader = ModelCheckpointLoader(load_path=str(path), what="resume checkpoint",
                                   load_dict={"model": net, "optimizer": optimizer, "trainer": trainer})  # fmt: skip
    loader(trainer)
    torch.testing.assert_close(net.state_dict(), saved["model"])
    assert optimizer.state_dict()["state"][0]["step"] == saved["optimizer"]["state"][0]["step"]
    assert trainer.state.epoch == 1 and trainer.state.max_epochs == 5


def _torch_load_calls() -> list[tuple[str, int, str]]:
    """Every ``torch.load(...)`` call in the tree's Python files and scripts: (file, line, weights_only setting)."""
    calls = []
    files = [p for d in ("monai_tversky", "benchmarks", "ci", "tests") for p in (REPO / d).rglob("*")
             if p.is_file() and (p.suffix == ".py" or (p.suffix == "" and p.read_bytes()[:2] == b"#!"))]  # fmt: skip
    for path in files:
        text = path.read_text()
        try:
            tree = ast.parse(text)
        except SyntaxError:  # a shell script
            if "torch.load(" in text:
                calls.append((str(path.relative_to(REPO)), 0, "in a shell script"))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                setting = next((ast.unparse(k.value) for k in node.keywords if k.arg == "weights_only"), "default")
                calls.append((str(path.relative_to(REPO)), node.lineno, setting))
    return calls


def test_every_torch_load_in_the_tree_is_weights_only():
    """``weights_only=True`` everywhere but in load_checkpoint (``not trust``, the documented opt-in) and in the test
    above that shows torch's own default (what MONAI Label's bare call gets)."""
    allowed = {("monai_tversky/engines/checkpoint_files.py", "not trust"), ("tests/test_security_checkpoints.py", "default")}
    calls = _torch_load_calls()
    assert calls
    unsafe = [c for c in calls if c[2] != "True" and (c[0], c[2]) not in allowed]
    assert not unsafe, unsafe
    assert sum((c[0], c[2]) in allowed for c in calls) == 2


@pytest.mark.slow
def test_bundle_run_refuses_a_malicious_ckpt_path(tmp_path):
    """Through ``python -m monai.bundle run`` as a user runs it: inference with ``--ckpt_path`` a crafted file."""
    marker = tmp_path / "pwned"
    evil = malicious_checkpoint(tmp_path / "evil.pt", marker)
    result = bundle_run(
        "bundles/tversky_unet3d/configs/inference.json", "--args_file", str(tiny_overrides_file("tversky_unet3d")),
        "--phantom_dir", str(tmp_path / "phantom"), "--ckpt_path", str(evil), "--output_dir", str(tmp_path / "out"),
    )
    assert result.returncode != 0
    assert not marker.exists()
    last = last_line(result)
    assert "refused to load the model" in last and str(evil) in last and "--trust_checkpoint True" in last, (
        run_output(result)[-3000:]
    )


@pytest.mark.slow
def test_bundle_run_refuses_a_malicious_resume_checkpoint(tmp_path):
    """A crafted ``checkpoint_epoch=1.pt`` dropped into ``--ckpt_dir``: the resume is refused, nothing runs from it."""
    marker = tmp_path / "pwned"
    ckpt_dir = tmp_path / "models"
    ckpt_dir.mkdir()
    malicious_checkpoint(ckpt_dir / "checkpoint_epoch=1.pt", marker)
    result = bundle_run(
        "bundles/focal_tversky/train.json", "--args_file", str(tiny_overrides_file("focal_tversky")),
        "--phantom_dir", str(tmp_path / "phantom"), "--ckpt_dir", str(ckpt_dir), "--output_dir", str(tmp_path / "o"),
        "--max_epochs", "2",
    )
    assert result.returncode != 0
    assert not marker.exists()
    assert "refused to load the resume checkpoint" in last_line(result), run_output(result)[-3000:]
    assert not (ckpt_dir / "model.pt").exists()


def test_the_error_summary_prints_our_refusal_not_torchs_reason(tmp_path):
    """``root_cause`` stops at the innermost error this package raised (it wraps torch's UnpicklingError)."""
    from monai_tversky.engines import root_cause

    path = malicious_checkpoint(tmp_path / "evil.pt", tmp_path / "pwned")
    try:
        try:
            load_checkpoint(path, what="model")
        except ValueError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression: $@evaluator.run()") from e
    except RuntimeError as outer:
        cause = root_cause(outer)
    assert isinstance(cause, UntrustedCheckpointError) and isinstance(cause.__cause__, Exception)
    assert type(cause.__cause__).__name__ == "UnpicklingError"
