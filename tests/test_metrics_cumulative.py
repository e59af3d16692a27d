"""LesionMetric / PooledAveragePrecisionMetric / LesionMetricHandler: batches, 2D/3D, MONAI and ignite integration."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, MetaTensor
from monai.engines import SupervisedEvaluator
from monai.handlers import IgniteMetricHandler, from_engine
from monai.metrics import DiceMetric, SurfaceDistanceMetric
from monai.transforms import AsDiscreted, Compose, CopyItemsd
from scipy import ndimage
from sklearn.metrics import average_precision_score

import monai_tversky  # noqa: F401  (registers the short names for ConfigParser)
from monai_tversky.metrics import (
    LESION_METRIC_KEYS,
    LesionMetric,
    LesionMetricHandler,
    PooledAveragePrecisionMetric,
    lesion_metrics,
)


def _batch(seed: int, shape=(2, 1, 14, 12, 10)) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities and labels of a small batch with a few blobs per case (case 1 of 3 has an empty label)."""
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, dtype=bool)
    for b in range(shape[0]):
        for c in range(shape[1]):
            if (b + c) % 3 != 1:
                label[b, c] = ndimage.binary_dilation(rng.random(shape[2:]) < 0.01, iterations=1)
    noise = rng.random(shape)
    prob = np.clip(0.45 * label + 0.6 * noise, 0.0, 1.0).astype(np.float32)
    return torch.as_tensor(prob), torch.as_tensor(label).float()


def test_per_case_values_equal_lesion_metrics_3d():
    prob, label = _batch(0, (3, 1, 14, 12, 10))
    pred = (prob >= 0.5).float()
    metric = LesionMetric(metric_name=list(LESION_METRIC_KEYS), reduction="none")
    out = metric(pred, label)
    assert out.shape == (3, 1, len(LESION_METRIC_KEYS))
    for b in range(3):
        ref = lesion_metrics(pred[b, 0], label[b, 0])
        np.testing.assert_allclose(out[b, 0].numpy(), [ref[k] for k in LESION_METRIC_KEYS], rtol=1e-6)
    per_key = metric.aggregate()
    assert isinstance(per_key, list) and len(per_key) == len(LESION_METRIC_KEYS)
    assert per_key[0].shape == (3, 1)


def test_mean_reduction_skips_nan_and_matches_monai_dice():
    prob, label = _batch(1, (3, 1, 14, 12, 10))
    pred = (prob >= 0.5).float()
    metric = LesionMetric(["dsc", "sensitivity"])
    metric(pred, label)
    dsc, sens = metric.aggregate()
    dice = DiceMetric(include_background=True, ignore_empty=False)
    dice(pred, label)
    assert dsc.item() == pytest.approx(dice.aggregate().item(), rel=1e-6)
    per_case = [lesion_metrics(pred[b, 0], label[b, 0])["sensitivity"] for b in range(3)]
    assert math.isnan(per_case[1])  # case 1 has no lesion
    assert sens.item() == pytest.approx(np.nanmean(per_case), rel=1e-6)


def test_single_name_aggregates_to_a_tensor_and_accumulates_over_calls():
    prob, label = _batch(2, (4, 1, 12, 12, 8))
    pred = (prob >= 0.5).float()
    metric = LesionMetric("ltpr", get_not_nans=True)
    metric(pred[:2], label[:2])
    metric(pred[2:], label[2:])
    value, not_nans = metric.aggregate()
    per_case = [lesion_metrics(pred[b, 0], label[b, 0])["ltpr"] for b in range(4)]
    assert value.item() == pytest.approx(np.nanmean(per_case), rel=1e-6)
    assert not_nans.item() == np.isfinite(per_case).sum()
    metric.reset()
    with pytest.raises(ValueError, match="no results"):
        metric.aggregate()


def test_2d_softmax_channels_without_background_and_list_input():
    prob, label = _batch(3, (3, 1, 24, 20))
    fg = (prob >= 0.5).float()
    pred2 = torch.cat([1 - fg, fg], dim=1)
    label2 = torch.cat([1 - label, label], dim=1)
    metric = LesionMetric(["dsc", "lfpr", "sd"], include_background=False, reduction="none")
    batch_out = metric(pred2, label2)
    assert batch_out.shape == (3, 1, 3)
    for b in range(3):
        ref = lesion_metrics(fg[b, 0], label[b, 0], metric_name=["dsc", "lfpr", "sd"])
        np.testing.assert_allclose(batch_out[b, 0].numpy(), list(ref.values()), rtol=1e-6)
    listed = LesionMetric(["dsc", "lfpr", "sd"], include_background=False, reduction="none")
    list_out = listed(list(pred2), list(label2))
    torch.testing.assert_close(list_out, batch_out, equal_nan=True)


def test_threshold_takes_probabilities_and_computes_apr():
    prob, label = _batch(4, (2, 1, 16, 12, 10))
    metric = LesionMetric(["apr", "dsc"], threshold=0.5, reduction="none")
    out = metric(prob, label)
    for b in range(2):
        lab = label[b, 0].numpy().ravel()
        if lab.any():
            assert out[b, 0, 0].item() == pytest.approx(average_precision_score(lab, prob[b, 0].numpy().ravel()),
                                                        rel=1e-5)
        else:
            assert math.isnan(out[b, 0, 0].item())
        assert out[b, 0, 1].item() == pytest.approx(lesion_metrics(prob[b, 0] >= 0.5, label[b, 0])["dsc"])
    # without a threshold, probabilities are rejected and the apr of binary input is NaN
    with pytest.raises(ValueError, match="binary"):
        LesionMetric("dsc")(prob, label)
    assert torch.isnan(LesionMetric("apr", reduction="none")((prob >= 0.5).float(), label)).all()


def test_sd_with_spacing_matches_monai_surface_distance_metric():
    prob, label = _batch(5, (3, 1, 14, 12, 10))
    pred = (prob >= 0.5).float()
    keep = [0, 2]  # the two cases with lesions (MONAI gives nan/inf on empty masks)
    pred, label = pred[keep], label[keep]
    spacing = (0.7, 1.3, 2.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monai_sd = SurfaceDistanceMetric(include_background=True, symmetric=True, reduction="none")
        expected = monai_sd(pred, label, spacing=list(spacing))
    by_constructor = LesionMetric("sd", spacing=spacing, reduction="none")(pred, label)
    by_call = LesionMetric("sd", reduction="none")(pred, label, spacing=list(spacing))
    torch.testing.assert_close(by_constructor[..., 0], expected.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(by_call, by_constructor)


def test_spacing_is_read_per_case_from_metatensor_affines():
    prob, label = _batch(6, (2, 1, 12, 12, 10))
    pred = (prob >= 0.5).float()
    pred[1] = 0
    pred[1, 0, 2:6, 2:6, 2:6] = 1
    label[1, 0, 3:7, 2:6, 2:6] = 1
    affines = torch.stack([torch.diag(torch.tensor(d)) for d in ([2.0, 1.0, 1.0, 1.0], [1.0, 1.0, 3.0, 1.0])])
    label_meta = MetaTensor(label, affine=affines)
    label_meta.is_batch = True
    out = LesionMetric("sd", reduction="none")(pred, label_meta)
    for b, spacing in enumerate(((2.0, 1.0, 1.0), (1.0, 1.0, 3.0))):
        assert out[b, 0, 0].item() == pytest.approx(lesion_metrics(pred[b, 0], label[b, 0], spacing=spacing)["sd"],
                                                    rel=1e-6)


def test_pooled_average_precision_equals_sklearn_on_binned_voxels():
    prob, label = _batch(7, (3, 1, 12, 10, 8))
    metric = PooledAveragePrecisionMetric(num_bins=200)
    metric(prob[:2], label[:2])
    metric(list(prob[2:]), list(label[2:]))
    binned = np.minimum(np.floor(prob.numpy().astype(np.float64) * 200), 199)
    expected = average_precision_score(label.numpy().ravel(), binned.ravel())
    assert metric.aggregate().item() == pytest.approx(expected, rel=1e-12)
    (hist,) = metric.histograms()
    assert hist.total_counts.sum() == prob.numel()


def test_pooled_average_precision_per_channel():
    prob, label = _batch(8, (2, 2, 24, 24))
    assert label[:, 0].any() and label[:, 1].any()
    metric = PooledAveragePrecisionMetric(num_bins=100, average="none")
    metric(prob, label)
    per_channel = metric.aggregate()
    for c in range(2):
        binned = np.minimum(np.floor(prob[:, c].numpy().astype(np.float64) * 100), 99)
        assert per_channel[c].item() == pytest.approx(average_precision_score(label[:, c].numpy().ravel(),
                                                                              binned.ravel()), rel=1e-12)
    assert metric.aggregate(average="macro").item() == pytest.approx(per_channel.mean().item())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: LesionMetric("dice"), "unknown lesion metric"),
        (lambda: LesionMetric(["dsc", "dsc"]), "repeats"),
        (lambda: LesionMetric(connectivity=4), "connectivity"),
        (lambda: LesionMetric(threshold=float("nan")), "threshold"),
        (lambda: LesionMetric(spacing=(1.0, 0.0, 1.0)), "spacing"),
        (lambda: LesionMetric(reduction="median"), "median"),
        (lambda: PooledAveragePrecisionMetric(num_bins=0), "num_bins"),
        (lambda: PooledAveragePrecisionMetric(average="micro"), "average"),
        (lambda: LesionMetricHandler(metric_name=["dsc", "sd"]), "single name"),
    ],
)
def test_constructor_validates(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "y_pred, y, match",
    [
        (torch.zeros(2, 1, 8, 8, 8), torch.zeros(2, 1, 8, 8, 7), "same shape"),
        (torch.zeros(2, 8, 8), torch.zeros(2, 8, 8), "batch-first"),
        (torch.full((1, 1, 4, 4), 0.3), torch.zeros(1, 1, 4, 4), "binary"),
        (torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 2.0), "label must be binary"),
    ],
)
def test_bad_call_input_raises_value_error(y_pred, y, match):
    with pytest.raises(ValueError, match=match):
        LesionMetric("dsc")(y_pred, y)


def test_pooled_metric_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PooledAveragePrecisionMetric()(torch.full((1, 1, 4, 4), 2.0), torch.zeros(1, 1, 4, 4))


def test_short_names_resolve_in_bundle_configs():
    parser = ConfigParser({
        "metric": {"_target_": "LesionMetric", "metric_name": "ltpr", "connectivity": 1},
        "pooled": {"_target_": "PooledAveragePrecisionMetric", "num_bins": 10},
        "handler": {"_target_": "LesionMetricHandler", "metric_name": "sd"},
    })
    assert isinstance(parser.get_parsed_content("metric"), LesionMetric)
    assert isinstance(parser.get_parsed_content("pooled"), PooledAveragePrecisionMetric)
    assert isinstance(parser.get_parsed_content("handler"), LesionMetricHandler)


def test_supervised_evaluator_key_and_additional_metrics():
    prob, label = _batch(9, (4, 1, 12, 12, 8))
    data = [{"image": prob[i], "label": label[i]} for i in range(4)]
    loader = DataLoader(Dataset(data), batch_size=2)
    post = Compose([CopyItemsd(keys="pred", names="prob"), AsDiscreted(keys="pred", threshold=0.5)])
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=torch.nn.Identity(),  # the "network" returns the probabilities it is given
        postprocessing=post,
        key_val_metric={"val_dsc": LesionMetricHandler("dsc", output_transform=from_engine(["pred", "label"]))},
        additional_metrics={
            "val_ltpr": IgniteMetricHandler(LesionMetric("ltpr"), output_transform=from_engine(["pred", "label"])),
            "val_apr": IgniteMetricHandler(
                PooledAveragePrecisionMetric(num_bins=100), output_transform=from_engine(["prob", "label"])
            ),
        },
        amp=False,
    )
    evaluator.run()
    pred = prob >= 0.5
    cases = [lesion_metrics(pred[i, 0], label[i, 0]) for i in range(4)]
    assert evaluator.state.metrics["val_dsc"] == pytest.approx(np.mean([c["dsc"] for c in cases]), rel=1e-6)
    assert evaluator.state.metrics["val_ltpr"] == pytest.approx(np.nanmean([c["ltpr"] for c in cases]), rel=1e-6)
    binned = np.minimum(np.floor(prob.numpy().astype(np.float64) * 100), 99)
    assert evaluator.state.metrics["val_apr"] == pytest.approx(
        average_precision_score(label.numpy().ravel(), binned.ravel()), rel=1e-9
    )
    assert evaluator.state.metric_details["val_dsc"].shape == (4, 1, 1)
