"""The bundles' run checks, one by one: the non-finite-loss stop, validation after the last epoch, the checkpoint
loader's refusal of a checkpoint that does not fit, the resume guard, the command-line traps, the error summary and
the per-case output names."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from ignite.engine import Engine, Events
from monai.data import MetaTensor
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import CheckpointSaver

from monai_tversky.engines import (
    ModelCheckpointLoader,
    NonFiniteLossError,
    PeriodicValidationHandler,
    StopOnNonFiniteLoss,
    check_command_line,
    checkpoint_mismatch,
    install_error_summary,
    model_channels,
    record_training_run,
    resume_checkpoint,
    root_cause,
    run_signature,
)
from monai_tversky.transforms import StoreCaseIdd, case_output_name


class _NanAfter(nn.Module):
    """A 1x1 convolution whose output turns NaN from the ``bad``-th call on (as exploding weights would)."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)
        self.calls, self.bad = 0, bad

    def forward(self, x):
        self.calls += 1
        out = self.conv(x)
        return out * float("nan") if self.calls >= self.bad else out


def _batches(n: int) -> list[dict]:
    return [
        {"image": torch.rand(2, 1, 4, 4, 4), "label": (torch.rand(2, 1, 4, 4, 4) > 0.5).float(),
         "case_id": [f"case_{2 * i}", f"case_{2 * i + 1}"]}
        for i in range(n)
    ]


def test_a_nan_loss_stops_training_before_the_step_naming_the_iteration_and_the_cases(tmp_path):
    net = _NanAfter(bad=3)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=3, train_data_loader=_batches(2), network=net, optimizer=optimizer,
        loss_function=nn.MSELoss(), train_handlers=[StopOnNonFiniteLoss()],
    )
    saver = CheckpointSaver(str(tmp_path), {"model": net}, save_interval=1, epoch_level=True, save_final=False)
    saver.attach(trainer)
    before = [p.detach().clone() for p in net.parameters()]
    steps = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: steps.append(e.state.iteration))
    with pytest.raises(NonFiniteLossError) as info:
        trainer.run()
    message = str(info.value)
    assert "the loss is nan at iteration 3 (epoch 2, iteration 1 of 2)" in message
    assert "on the batch of case_0, case_1" in message and "Nothing was saved" in message
    assert steps == [1, 2]  # iteration 3 never completed: no optimizer step on the NaN loss
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert not any(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # the two good steps did run
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["model_epoch=1.pt"]  # epoch 1 was saved; the epoch of the NaN loss saved nothing


def test_a_finite_loss_trains_through():
    net = _NanAfter(bad=10**9)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=2, train_data_loader=_batches(2), network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1), loss_function=nn.MSELoss(),
        train_handlers=[StopOnNonFiniteLoss()],
    )
    trainer.run()
    assert trainer.state.iteration == 4


@pytest.mark.parametrize("max_epochs, interval, expected", [(1, 2, [1]), (5, 2, [2, 4, 5]), (4, 2, [2, 4])])
def test_validation_runs_every_interval_and_after_the_last_epoch(max_epochs, interval, expected):
    net = nn.Conv3d(1, 1, 1)
    evaluator = SupervisedEvaluator(device=torch.device("cpu"), val_data_loader=_batches(1), network=net)
    validated = []
    evaluator.add_event_handler(Events.STARTED, lambda e: validated.append(e.state.epoch + 1))
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=max_epochs, train_data_loader=_batches(1), network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.0), loss_function=nn.MSELoss(),
        train_handlers=[PeriodicValidationHandler(interval, evaluator)],
    )
    trainer.run()
    assert validated == expected


def test_checkpoint_mismatch_reads_the_channel_counts():
    five, four = nn.Sequential(nn.Conv3d(5, 8, 3), nn.Conv3d(8, 1, 1)), nn.Sequential(nn.Conv3d(4, 8, 3), nn.Conv3d(8, 2, 1))
    problems = checkpoint_mismatch(four, five.state_dict())
    assert "0.weight: shape (8, 5, 3, 3, 3) in the checkpoint, (8, 4, 3, 3, 3) in the network" in problems
    assert "=> the checkpoint takes 5 input channel(s), the network 4" in problems
    assert "=> the checkpoint has 1 output channel(s), the network 2" in problems
    assert checkpoint_mismatch(five, five.state_dict()) == []


def test_model_loader_names_the_file_and_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    five, four = nn.Sequential(nn.Conv3d(5, 8, 3)), nn.Sequential(nn.Conv3d(4, 8, 3))
    path = tmp_path / "model.pt"
    torch.save(five.state_dict(), path)
    engine = Engine(lambda e, b: None)
    loader = ModelCheckpointLoader(str(path), {"model": four}, what="model", setting="4 input channels: A, B, C, D",
                                   remedy="Pass --ckpt_path.")
    with pytest.raises(ValueError) as info:
        loader(engine)
    text = str(info.value)
    assert f"the model {path} does not fit the network (Sequential)" in text
    assert "The network here is built for 4 input channels: A, B, C, D." in text and text.endswith("Pass --ckpt_path.")
    with pytest.raises(FileNotFoundError, match=r"model not found: .*missing\.pt\. Pass --ckpt_path\."):
        ModelCheckpointLoader(str(tmp_path / "missing.pt"), {"model": four}, what="model", remedy="Pass --ckpt_path.")(engine)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read the model .*broken\.pt"):
        ModelCheckpointLoader(str(tmp_path / "broken.pt"), {"model": four}, what="model")(engine)
    ModelCheckpointLoader(str(path), {"model": five}, what="model")(engine)  # a fitting one loads


def test_model_channels_come_from_the_model_record(tmp_path):
    ckpt = tmp_path / "model.pt"
    assert model_channels("auto", ckpt, ("FLAIR", "T1")) == ("FLAIR", "T1")  # no record: the bundle's default
    (tmp_path / "model.json").write_text(json.dumps({"modalities": ["FLAIR", "T1", "T1Gd", "T2"]}))
    assert model_channels(None, ckpt, ("FLAIR",)) == ("FLAIR", "T1", "T1Gd", "T2")
    assert model_channels(["flair", "MPRAGE"], ckpt, ("FLAIR",)) == ("FLAIR", "T1")  # given: taken as given


def test_resume_only_a_checkpoint_of_the_same_run(tmp_path):
    net = nn.Conv3d(4, 1, 1)
    first = run_signature("msseg", net, ["FLAIR", "T1", "T1Gd", "T2"], "folder of cases /data")
    record_training_run(tmp_path / "out", tmp_path, [{"image": ["a"], "case_id": "a"}], [], first["modalities"],
                        first["data"], first)
    assert resume_checkpoint(tmp_path, 5, first) is None  # nothing to resume yet
    (tmp_path / "checkpoint_epoch=2.pt").write_bytes(b"")
    assert resume_checkpoint(tmp_path, 5, first) == str(tmp_path / "checkpoint_epoch=2.pt")
    assert resume_checkpoint(tmp_path, 2, first) is None  # a finished run is not resumed
    assert resume_checkpoint(tmp_path, 5, first, resume=False) is None
    other = run_signature("msseg", nn.Conv3d(5, 1, 1), ["FLAIR", "T1", "T1Gd", "PD", "T2"], "synthetic phantom /p")
    with pytest.raises(ValueError) as info:
        resume_checkpoint(tmp_path, 5, other)
    text = str(info.value)
    assert "checkpoint_epoch=2.pt" in text and "--resume False" in text and "--ckpt_dir" in text
    assert "data: 'folder of cases /data' then, 'synthetic phantom /p' now" in text
    with pytest.raises(TypeError, match="resume must be True or False, got 'false'"):
        resume_checkpoint(tmp_path, 5, first, resume="false")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--tta", "None"], "--tta None: monai.bundle ignores None"),
        (["run", "--modalities=None"], "--modalities None"),
        (["run", "--resume", "false"], "Write --resume False"),
        (["run", "--memory_efficient", "no"], "Write --memory_efficient False"),
    ],
)
def test_command_line_traps_are_named(argv, message):
    with pytest.raises(ValueError, match=message):
        check_command_line(argv)


def test_command_line_without_traps_passes():
    check_command_line(["run", "--config_file", "x.json", "--tta", "none", "--resume", "False", "--run_id", "None"])


def test_root_cause_follows_the_chain():
    try:
        try:
            raise FileNotFoundError("dataset folder not found: /x.")
        except FileNotFoundError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression") from e
    except RuntimeError as outer:
        assert isinstance(root_cause(outer), FileNotFoundError)


def test_error_summary_prints_the_root_cause_last(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent("""
        from monai_tversky.engines import install_error_summary
        install_error_summary()
        try:
            raise ValueError("the label file /d/GT.nii.gz is not a binary lesion mask")
        except ValueError as e:
            raise RuntimeError("Failed to evaluate ConfigExpression: $@data") from e
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1
    assert lines[-1] == "The run stopped because of: ValueError: the label file /d/GT.nii.gz is not a binary lesion mask"
    assert any("Failed to evaluate ConfigExpression" in line for line in lines)  # the traceback is kept above
    install_error_summary()
    install_error_summary()  # idempotent: one summary, however many bundles initialize in a process
    assert getattr(sys.excepthook, "_monai_tversky_error_summary", False)


def test_outputs_are_named_after_the_case_id():
    image = MetaTensor(torch.zeros(1, 2, 2, 2), meta={"filename_or_obj": "/d/Center_01/Patient_01/Preprocessed_Data/FLAIR.nii.gz"})
    data = StoreCaseIdd(keys="image")({"image": image, "case_id": "Center_01/Patient_01"})
    assert data["image"].meta["case_id"] == "Center_01/Patient_01"
    kwargs = case_output_name(data["image"].meta, None)
    assert Path(kwargs["subject"]).stem == "Center_01_Patient_01"
    from monai.data import FolderLayout

    layout = FolderLayout("/out", postfix="prob", extension=".nii.gz", parent=True, makedirs=False)
    assert layout.filename(**kwargs) == "/out/Center_01_Patient_01/Center_01_Patient_01_prob.nii.gz"
    # without a case id, MONAI's default: the image file's name
    assert case_output_name({"filename_or_obj": "/d/x/FLAIR.nii.gz"}, None)["subject"] == "/d/x/FLAIR.nii.gz"


class _NanGradAt(nn.Module):
    """A 1x1x1 convolution whose weight gradient is made NaN (finite loss) at the given training iterations."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)
        self.bad, self.calls = bad, 0
        self.conv.weight.register_hook(lambda g: g * float("nan") if self.calls in self.bad else g)

    def forward(self, x):
        self.calls += 1
        return self.conv(x)


def _guarded_trainer(net, optimizer, iterations, **kwargs):
    from monai_tversky.engines import SkipNonFiniteGradients

    return SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=_batches(iterations), network=net,
        optimizer=optimizer, loss_function=nn.MSELoss(), train_handlers=[SkipNonFiniteGradients(**kwargs)],
    )  # fmt: skip


def test_a_non_finite_gradient_skips_the_step_and_training_goes_on(caplog):
    """The step of iteration 2 is skipped (weights and Adam's moments as after iteration 1), the others run."""
    net = _NanGradAt(bad={2})
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    snapshots = []
    trainer = _guarded_trainer(net, optimizer, 4)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: snapshots.append(
        (net.conv.weight.detach().clone(), optimizer.state[net.conv.weight]["step"].clone())))
    with caplog.at_level("WARNING", logger="monai_tversky"):
        trainer.run()
    assert trainer.state.iteration == 4 and all(torch.isfinite(p).all() for p in net.parameters())
    assert torch.equal(snapshots[0][0], snapshots[1][0]) and snapshots[1][1] == snapshots[0][1] == 1
    assert not torch.equal(snapshots[1][0], snapshots[2][0]) and snapshots[3][1] == 3
    assert "iteration 2 (epoch 1): non-finite gradients of conv.weight" in caplog.text
    assert "1 optimiser step(s) of 4 skipped" in caplog.text


def test_non_finite_gradients_in_a_row_stop_the_run():
    from monai_tversky.engines import NonFiniteGradientError, SkipNonFiniteGradients

    net = _NanGradAt(bad={2, 3, 4})
    trainer = _guarded_trainer(net, torch.optim.SGD(net.parameters(), lr=0.1), 5, max_consecutive=3)
    with pytest.raises(NonFiniteGradientError, match=r"not finite in 3 iterations in a row, up to iteration 4 .*"
                                                     r"case_6, case_7.*--cpu_bf16 False"):  # fmt: skip
        trainer.run()
    assert all(torch.isfinite(p).all() for p in net.parameters())
    with pytest.raises(ValueError, match="max_consecutive"):
        SkipNonFiniteGradients(max_consecutive=0)
