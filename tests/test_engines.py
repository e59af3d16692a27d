"""The bundles' training machinery: hashemi2018's LR schedule, bundle-root resolution, resume, progress bar."""

import os
import time

import pytest
import torch
from ignite.engine import Engine

from monai_tversky.engines import (
    IntervalDoublingStepLR,
    TrainingProgressBar,
    interval_doubling_decays,
    latest_checkpoint,
    resolve_bundle_root,
)


def _decays_by_simulation(step, step_size=500, period=16000):
    """Walk the iterations one by one, as the paper describes: decay every `interval`, doubling every `period`."""
    decays, interval, since_decay = 0, step_size, 0
    for it in range(1, step + 1):
        since_decay += 1
        if since_decay == interval:
            decays, since_decay = decays + 1, 0
        if it % period == 0:
            interval, since_decay = interval * 2, 0
    return decays


@pytest.mark.parametrize("step", [0, 1, 499, 500, 501, 15999, 16000, 16999, 17000, 32000, 40000, 50001])
def test_interval_doubling_matches_iteration_walk(step):
    assert interval_doubling_decays(step) == _decays_by_simulation(step)


def test_interval_doubling_small_periods_match_walk():
    for step in range(0, 200):
        assert interval_doubling_decays(step, 3, 12) == _decays_by_simulation(step, 3, 12)


def test_scheduler_learning_rates_and_resume():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=5e-4)
    sched = IntervalDoublingStepLR(opt, step_size=5, gamma=0.5, doubling_period=20)
    lrs = []
    for _ in range(45):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [5e-4 * 0.5 ** _decays_by_simulation(i, 5, 20) for i in range(45)]
    assert lrs == pytest.approx(expected)
    # resume: a new scheduler loaded from the state continues the same schedule
    state = sched.state_dict()
    opt2 = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=5e-4)
    sched2 = IntervalDoublingStepLR(opt2, step_size=5, gamma=0.5, doubling_period=20)
    sched2.load_state_dict(state)
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(5e-4 * 0.5 ** _decays_by_simulation(46, 5, 20))


@pytest.mark.parametrize("kwargs, match", [({"step_size": 0}, "step_size"), ({"gamma": 1.5}, "gamma"),
                                           ({"doubling_period": -3}, "doubling_period")])
def test_scheduler_bad_arguments(kwargs, match):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=match):
        IntervalDoublingStepLR(opt, **kwargs)


@pytest.fixture
def fake_repo(tmp_path):
    bundle = tmp_path / "bundles" / "msseg"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "metadata.json").write_text("{}")
    (bundle / "configs" / "train.json").write_text("{}")
    os.symlink("configs/train.json", bundle / "train.json")
    return tmp_path, bundle


@pytest.mark.parametrize(
    "cwd_rel, argv_file",
    [
        ("", "bundles/msseg/train.json"),  # the README's command, from the repository root
        ("", "bundles/msseg/configs/train.json"),
        ("bundles/msseg", "configs/train.json"),  # from inside the bundle (model-zoo convention)
        ("bundles/msseg", "['configs/train.json','configs/multi_gpu_train.json']"),
        ("", None),  # no --config_file (e.g. ConfigParser in Python): bundles/<name> under the cwd
        ("bundles/msseg", None),
    ],
)
def test_resolve_bundle_root(fake_repo, cwd_rel, argv_file):
    repo, bundle = fake_repo
    argv = ["monai.bundle", "run"] + (["--config_file", argv_file] if argv_file else [])
    assert resolve_bundle_root("msseg", argv=argv, cwd=repo / cwd_rel) == str(bundle.resolve())


def test_resolve_bundle_root_equals_form_and_absolute(fake_repo, tmp_path_factory):
    repo, bundle = fake_repo
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    argv = ["run", f"--config_file={bundle / 'configs' / 'train.json'}"]
    assert resolve_bundle_root("msseg", argv=argv, cwd=elsewhere) == str(bundle.resolve())


def test_resolve_bundle_root_not_found_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="--bundle_root"):
        resolve_bundle_root("msseg", argv=[], cwd=tmp_path)


def test_latest_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    older, newer = tmp_path / "checkpoint_checkpoint_epoch=1.pt", tmp_path / "checkpoint_checkpoint_epoch=2.pt"
    older.write_bytes(b"1")
    newer.write_bytes(b"2")
    os.utime(older, (time.time() - 100, time.time() - 100))
    (tmp_path / "model.pt").write_bytes(b"best")  # the best-metric weights are not a resume checkpoint
    assert latest_checkpoint(tmp_path) == str(newer)
    # a finished run (epoch 2 of 2) is not resumed: a new training would otherwise train nothing
    assert latest_checkpoint(tmp_path, max_epochs=3) == str(newer)
    assert latest_checkpoint(tmp_path, max_epochs=2) is None


def test_progress_bar_shows_loss_and_the_run_estimate_on_a_terminal(capsys):
    engine = Engine(lambda e, b: {"loss": torch.tensor(0.25 * b)})
    TrainingProgressBar(terminal=True).attach(engine)
    engine.run([1, 2, 3], max_epochs=2)
    err = capsys.readouterr().err
    assert "loss=0.75" in err and "3/3" in err and "run left=" in err


def test_progress_is_logged_when_not_on_a_terminal(caplog):
    """A log file gets lines, not a redrawn bar: one every log_interval seconds, and one per finished epoch."""
    engine = Engine(lambda e, b: {"loss": torch.tensor(0.5)})
    TrainingProgressBar(terminal=False, log_interval=0.0).attach(engine)
    with caplog.at_level("INFO", logger="monai_tversky"):
        engine.run([1, 2], max_epochs=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "monai_tversky"]
    assert any("epoch 2/3, iteration 2/2, loss 0.5000" in m and "left" in m for m in lines), lines
    assert sum("took" in m for m in lines) == 2  # epochs 1 and 2 (the run's own end needs no estimate)
