"""MaskIgnoreIndexd, the per-class Dice handlers (ClassChannel, class_dice_handlers) and the training-curve CSV."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events

from monai_tversky.engines.training_curve import TrainingCurveRecorder, read_training_curve
from monai_tversky.metrics.per_class import ClassChannel, class_dice_handlers
from monai_tversky.transforms.ignore_index import MaskIgnoreIndexd


@pytest.mark.parametrize("as_tensor", [False, True])
def test_mask_ignore_index_clears_pred_and_label(as_tensor):
    label = np.array([[[0, 1, -1], [-1, 2, 0]]])
    pred = np.array([[[1, 1, 2], [1, 2, 0]]])
    wrap = torch.as_tensor if as_tensor else np.asarray
    out = MaskIgnoreIndexd(["pred", "label"])({"pred": wrap(pred), "label": wrap(label), "other": 7})
    np.testing.assert_array_equal(np.asarray(out["pred"]), [[[1, 1, 0], [0, 2, 0]]])
    np.testing.assert_array_equal(np.asarray(out["label"]), [[[0, 1, 0], [0, 2, 0]]])
    assert out["other"] == 7 and isinstance(out["pred"], torch.Tensor) == as_tensor


def test_mask_ignore_index_one_hot_fill_and_no_op():
    label = torch.tensor([[[0, 3, 1]]])
    onehot = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 1.0, 1.0]]])  # (2, 1, 3), cleared in every channel
    out = MaskIgnoreIndexd("pred", ignore_index=3, fill=-5)({"pred": onehot, "label": label})
    torch.testing.assert_close(out["pred"], torch.tensor([[[1.0, -5.0, 0.0]], [[0.0, -5.0, 1.0]]]))
    assert torch.equal(out["label"], label)  # not among keys: kept
    data = {"pred": onehot, "label": torch.tensor([[[0, -1, 1]]])}
    out = MaskIgnoreIndexd(["pred", "label"], ignore_index=None)(data)
    assert out["pred"] is onehot and out["label"] is data["label"]
    assert MaskIgnoreIndexd(["pred"], allow_missing_keys=True)({"pred": onehot})["pred"] is onehot  # no label


def test_mask_ignore_index_shape_mismatch():
    with pytest.raises(ValueError, match=r"'pred' has spatial shape \(1, 2\) but 'label' has \(1, 3\)"):
        MaskIgnoreIndexd(["pred", "label"])({"pred": np.zeros((2, 1, 2)), "label": np.zeros((1, 1, 3))})


def _onehot(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    return torch.as_tensor(np.stack([labels == c for c in range(n_classes)]).astype(np.float32))


def _dice(p: np.ndarray, r: np.ndarray) -> float:
    return 2.0 * float((p * r).sum()) / float(p.sum() + r.sum())


def test_class_channel_takes_one_channel():
    item = {"pred": torch.arange(12.0).reshape(3, 2, 2), "label": torch.zeros(3, 2, 2)}
    pred, label = ClassChannel(2)([item, item])
    assert len(pred) == 2 and pred[0].shape == (1, 2, 2)
    torch.testing.assert_close(pred[0], torch.arange(8.0, 12.0).reshape(1, 2, 2))
    with pytest.raises(ValueError, match=r"'pred' has 3 channels, so it has no class 3"):
        ClassChannel(3)([item])
    assert repr(ClassChannel(1)) == "ClassChannel(index=1, keys=['pred', 'label'])"


def test_class_dice_handlers_match_numpy_dice():
    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 3, (4, 5, 3)) for _ in range(2)]
    labels = [rng.integers(0, 3, (4, 5, 3)) for _ in range(2)]
    output = [{"pred": _onehot(p, 3), "label": _onehot(r, 3)} for p, r in zip(preds, labels)]
    handlers = class_dice_handlers({0: "background", 1: "lesion", 2: "white matter"})
    assert list(handlers) == ["val_dice_lesion", "val_dice_white_matter"]
    engine = Engine(lambda e, b: output)
    for name, handler in handlers.items():
        handler.attach(engine, name)
    engine.run([0], max_epochs=1)
    for index, name in ((1, "val_dice_lesion"), (2, "val_dice_white_matter")):
        per_case = [_dice(p == index, r == index) for p, r in zip(preds, labels)]
        assert engine.state.metrics[name] == pytest.approx(np.mean(per_case), abs=1e-6)
        np.testing.assert_allclose(np.asarray(engine.state.metric_details[name]).ravel(), per_case, atol=1e-6)


def _run_recorder(recorder: TrainingCurveRecorder, outputs: list, start: int = 0) -> None:
    """Run iterations ``start + 1 .. len(outputs)`` (one per epoch); ``start > 0`` resumes as from a checkpoint."""
    engine = Engine(lambda e, b: outputs[e.state.iteration - 1])
    recorder.attach(engine)

    @engine.on(Events.STARTED)
    def _resume(e):
        e.state.iteration = e.state.epoch = start

    engine.run([0], max_epochs=len(outputs), epoch_length=1)


def test_training_curve_rows(tmp_path):
    # item 0: class 1 pred {0,1}, label {1,2}; item 1: class 1 pred {5}, label {5}; class 2 absent everywhere
    p0 = np.array([1, 1, 0, 0, 0, 0]).reshape(1, 2, 3)
    r0 = np.array([0, 1, 1, 0, 0, 0]).reshape(1, 2, 3)
    p1 = np.array([0, 0, 0, 0, 0, 1]).reshape(1, 2, 3)
    first = [{"pred": _onehot(p0, 3), "label": _onehot(r0, 3), "loss": torch.tensor(0.75)},
             {"pred": _onehot(p1, 3), "label": _onehot(p1, 3), "loss": torch.tensor(0.75)}]  # fmt: skip
    # one dict (not decollated): class 2 pred {0}, label {0,1}; class 1 absent
    q = np.array([2, 0, 0, 0, 0, 0]).reshape(1, 2, 3)
    s = np.array([2, 2, 0, 0, 0, 0]).reshape(1, 2, 3)
    second = {"pred": _onehot(q, 3), "label": _onehot(s, 3), "loss": 0.5}
    path = tmp_path / "curves" / "train.csv"
    recorder = TrainingCurveRecorder(path, {0: "background", 1: "lesion", 2: "white matter"})
    _run_recorder(recorder, [first, second])
    rows = read_training_curve(path)
    assert list(rows[0]) == ["iteration", "epoch", "loss", "dice_lesion", "dice_white_matter", "dice_mean"]
    # pooled over the batch: TP = 1 + 1, |P| = 2 + 1, |R| = 2 + 1 -> 4 / 6
    assert rows[0] == pytest.approx({"iteration": 1.0, "epoch": 1.0, "loss": 0.75, "dice_lesion": 4 / 6,
                                     "dice_white_matter": None, "dice_mean": 4 / 6}, abs=1e-6)  # fmt: skip
    assert rows[1] == pytest.approx({"iteration": 2.0, "epoch": 2.0, "loss": 0.5, "dice_lesion": None,
                                     "dice_white_matter": 2 / 3, "dice_mean": 2 / 3}, abs=1e-6)  # fmt: skip
    assert ",," in path.read_text().splitlines()[1]  # an empty class is an empty cell

    # a fresh run (from iteration 1) starts the file again
    _run_recorder(TrainingCurveRecorder(path, {1: "lesion", 2: "white matter"}), [second])
    assert [r["iteration"] for r in read_training_curve(path)] == [1.0]
    # a resumed run appends
    _run_recorder(TrainingCurveRecorder(path, {1: "lesion", 2: "white matter"}), [first, second, first], start=1)
    rows = read_training_curve(path)
    assert [r["iteration"] for r in rows] == [1.0, 2.0, 3.0]
    assert rows[2]["dice_lesion"] == pytest.approx(4 / 6, abs=1e-6)


def test_training_curve_mean_over_present_classes(tmp_path):
    p = np.array([1, 2, 2, 0]).reshape(1, 2, 2)
    r = np.array([1, 2, 0, 0]).reshape(1, 2, 2)
    output = [{"pred": _onehot(p, 3), "label": _onehot(r, 3), "loss": torch.tensor(1.0)}]
    path = tmp_path / "c.csv"
    _run_recorder(TrainingCurveRecorder(path, {1: "a", 2: "b"}), [output])
    (row,) = read_training_curve(path)
    assert (row["dice_a"], row["dice_b"]) == pytest.approx((1.0, 2 / 3), abs=1e-6)
    assert row["dice_mean"] == pytest.approx((1.0 + 2 / 3) / 2, abs=1e-6)
    _run_recorder(TrainingCurveRecorder(path), [output])  # default: class 1, "lesion"
    assert list(read_training_curve(path)[0]) == ["iteration", "epoch", "loss", "dice_lesion", "dice_mean"]
