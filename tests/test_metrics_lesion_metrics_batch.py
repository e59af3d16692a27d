"""lesion_metrics on MONAI batch-first (B, 1, *spatial) input: per-case values, layout rule, spacing, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import MetaTensor, list_data_collate
from scipy import ndimage

from monai_tversky.metrics import LESION_METRIC_KEYS, LesionReport, lesion_metrics


def _cases(spatial_shape, n=3, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, 1, *spatial) pred, label, prob; case 1 has an empty label (NaN sensitivity, LTPR, APR; inf SD, VD)."""
    rng = np.random.default_rng(seed)
    label = np.zeros((n, 1, *spatial_shape), dtype=bool)
    for b in range(n):
        if b != 1:
            label[b, 0] = ndimage.binary_dilation(rng.random(spatial_shape) < 0.01, iterations=1)
    prob = np.clip(0.45 * label + 0.6 * rng.random(label.shape), 0.0, 1.0).astype(np.float32)
    return prob >= 0.5, label, prob


def _assert_same(batch: dict, per_case: list[dict]) -> None:
    """Every key of the (B,) arrays equals the per-case floats, NaN at the same positions."""
    assert list(batch) == list(per_case[0])
    for key, values in batch.items():
        assert isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == (len(per_case),)
        np.testing.assert_array_equal(values, [case[key] for case in per_case], err_msg=key)


@pytest.mark.parametrize("spatial_shape", [(14, 12, 10), (20, 18)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_batch_equals_a_loop_of_single_cases(spatial_shape, backend):
    pred, label, prob = _cases(spatial_shape)
    convert = torch.as_tensor if backend == "torch" else np.asarray
    spatial_dims = len(spatial_shape)
    spacing = (0.7, 1.3, 2.0)[:spatial_dims]
    out = lesion_metrics(
        convert(pred), convert(label).float() if backend == "torch" else label, convert(prob), spacing,
        spatial_dims=spatial_dims,
    )
    loop = [lesion_metrics(pred[b, 0], label[b, 0], prob[b, 0], spacing) for b in range(3)]
    _assert_same(out, loop)
    # the data make the check meaningful: NaN and inf for the empty label, finite values elsewhere, distinct cases
    assert math.isnan(out["sensitivity"][1]) and math.isnan(out["apr"][1]) and math.isinf(out["sd"][1])
    assert np.isfinite(out["dsc"]).all() and out["dsc"][0] != out["dsc"][2]
    assert np.isfinite(out["apr"][[0, 2]]).all()
    # means over cases skip the 0/0 cases
    assert np.nanmean(out["sensitivity"]) == pytest.approx((loop[0]["sensitivity"] + loop[2]["sensitivity"]) / 2)


def test_5d_batch_needs_no_spatial_dims_and_keeps_connectivity_and_metric_name():
    pred, label, prob = _cases((12, 12, 8), n=2, seed=3)
    out = lesion_metrics(pred, label, prob, connectivity=1, metric_name=["ltpr", "lfpr", "dsc"])
    loop = [lesion_metrics(pred[b, 0], label[b, 0], prob[b, 0], connectivity=1, metric_name=["ltpr", "lfpr", "dsc"])
            for b in range(2)]
    _assert_same(out, loop)


@pytest.mark.parametrize("backend", ["numpy", "torch", "metatensor"])
def test_batch_of_one_returns_the_single_case_dict(backend):
    pred, label, prob = _cases((14, 12, 10), n=1, seed=1)
    convert = {"numpy": np.asarray, "torch": torch.as_tensor, "metatensor": MetaTensor}[backend]
    out = lesion_metrics(convert(pred), convert(label), convert(prob))
    ref = lesion_metrics(pred[0, 0], label[0, 0], prob[0, 0])
    assert list(out) == list(LESION_METRIC_KEYS)
    assert all(type(v) is float for v in out.values())
    assert out == pytest.approx(ref, nan_ok=True)
    assert out["dsc"] > 0 and np.isfinite(out["apr"])


def test_batch_of_one_2d_from_a_2d_metatensor_or_spatial_dims():
    pred, label, prob = _cases((20, 18), n=1, seed=2)
    ref = lesion_metrics(pred[0, 0], label[0, 0], prob[0, 0], spacing=(0.5, 2.0))
    label_meta = MetaTensor(torch.as_tensor(label), affine=torch.diag(torch.tensor([0.5, 2.0, 1.0])))
    assert lesion_metrics(pred, label_meta, prob) == pytest.approx(ref, nan_ok=True)  # the 3x3 affine decides
    assert lesion_metrics(pred, label, prob, (0.5, 2.0), spatial_dims=2) == pytest.approx(ref, nan_ok=True)


def test_empty_prediction_and_label_in_a_batch_of_one_keep_the_documented_values():
    empty = np.zeros((1, 1, 8, 8, 8), dtype=bool)
    m = lesion_metrics(torch.as_tensor(empty), torch.as_tensor(empty), prob=torch.zeros(1, 1, 8, 8, 8))
    assert m == pytest.approx(lesion_metrics(empty[0, 0], empty[0, 0], prob=np.zeros((8, 8, 8))), nan_ok=True)
    assert (m["dsc"], m["jaccard"], m["f2"], m["specificity"]) == (1.0, 1.0, 1.0, 1.0)
    assert (m["vd"], m["sd"]) == (0.0, 0.0)
    for key in ("sensitivity", "ppv", "ltpr", "lfpr", "apr"):
        assert math.isnan(m[key]), key


def test_metatensor_batch_takes_each_case_spacing_from_its_affine():
    rng = np.random.default_rng(7)
    label = ndimage.binary_dilation(rng.random((16, 14, 12)) < 0.01, iterations=1)
    pred = np.roll(label, 1, axis=2)
    spacings = [(0.8, 1.5, 3.0), (2.0, 0.5, 1.0)]
    items = [
        MetaTensor(torch.as_tensor(x)[None].float(), affine=torch.diag(torch.tensor([*s, 1.0], dtype=torch.float64)))
        for x, s in ((label, spacings[0]), (label, spacings[1]))
    ]
    label_batch = list_data_collate(items)  # affine (2, 4, 4), one per item
    assert label_batch.shape == (2, 1, 16, 14, 12) and label_batch.affine.shape == (2, 4, 4)
    pred_batch = torch.as_tensor(np.stack([pred, pred])[:, None])
    out = lesion_metrics(pred_batch, label_batch)
    expected = [lesion_metrics(pred, label, spacing=s)["sd"] for s in spacings]
    np.testing.assert_allclose(out["sd"], expected)
    assert expected[0] != pytest.approx(expected[1])
    # the same per-case spacing given explicitly, and one explicit spacing for all cases that wins over the affines
    np.testing.assert_allclose(lesion_metrics(pred_batch, label_batch.as_tensor(), spacing=spacings)["sd"], expected)
    np.testing.assert_allclose(lesion_metrics(pred_batch, label_batch, spacing=1.0)["sd"],
                               [lesion_metrics(pred, label)["sd"]] * 2)
    # one (4, 4) affine for the whole batch applies to every case
    shared = MetaTensor(label_batch.as_tensor(), affine=items[1].affine)
    np.testing.assert_allclose(lesion_metrics(pred_batch, shared)["sd"], [expected[1]] * 2)


def test_four_dimensional_input_layout_rule():
    pred, label, _ = _cases((20, 18), n=2, seed=4)
    # without spatial_dims (and without a 2D MetaTensor) 4D is one channel-first 3D case, as before: B = 2 is refused
    with pytest.raises(ValueError, match="one channel.*spatial_dims=2"):
        lesion_metrics(pred, label)
    out = lesion_metrics(pred, label, spatial_dims=2)
    _assert_same(out, [lesion_metrics(pred[b, 0], label[b, 0]) for b in range(2)])
    # (1, 1, H, W): a 3D case of depth 1 by default (3D connectivity allowed), a 2D batch with spatial_dims=2
    assert lesion_metrics(pred[:1], label[:1], connectivity=3) == pytest.approx(
        lesion_metrics(pred[0], label[0], connectivity=3), nan_ok=True
    )
    with pytest.raises(ValueError, match="connectivity"):
        lesion_metrics(pred[:1], label[:1], connectivity=3, spatial_dims=2)


def test_report_still_scores_one_case_per_call(tmp_path):
    pred, label, _ = _cases((8, 8, 8), n=2, seed=5)
    report = LesionReport(tmp_path)
    with pytest.raises(ValueError, match="one 2D"):
        report.add_case("batch", pred, label)
    assert report.rows == []
    assert report.add_case("case", pred[0, 0], label[0, 0]) == pytest.approx(
        lesion_metrics(pred[0, 0], label[0, 0]), nan_ok=True
    )


_Z5 = np.zeros((2, 1, 6, 6, 6))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pred": np.zeros((2, 2, 6, 6, 6)), "label": np.zeros((2, 2, 6, 6, 6))}, r"pred\[:, 1:\]"),
        ({"pred": _Z5, "label": np.zeros((2, 2, 6, 6, 6))}, r"label\[:, 1:\]"),
        ({"pred": np.zeros((2, 6, 6, 6)), "label": np.zeros((2, 6, 6, 6))}, r"pred\[1:\]"),
        ({"pred": _Z5, "label": np.zeros((3, 1, 6, 6, 6))}, r"pred \(2, 1, 6, 6, 6\), label \(3, 1, 6, 6, 6\)"),
        ({"pred": _Z5, "label": _Z5, "prob": np.zeros((1, 1, 6, 6, 6))}, r"same batch size.*prob \(1, 1, 6, 6, 6\)"),
        ({"pred": np.zeros((0, 1, 6, 6, 6)), "label": np.zeros((0, 1, 6, 6, 6))}, r"B == 0.*\(0, 1, 6, 6, 6\)"),
        ({"pred": _Z5, "label": np.zeros((2, 1, 6, 6, 5))}, "same spatial shape"),
        ({"pred": _Z5, "label": _Z5, "prob": np.zeros((2, 1, 6, 6, 5))}, "prob must have"),
        ({"pred": _Z5, "label": np.zeros((6, 6, 6))}, "all be batches"),
        ({"pred": np.full((2, 1, 6, 6, 6), 0.5), "label": _Z5}, "pred must be binary"),
        ({"pred": _Z5, "label": _Z5, "spacing": [(1, 1, 1)] * 3}, "one row per case"),
        ({"pred": _Z5, "label": _Z5, "spacing": (1, 1)}, "spacing must be"),
        ({"pred": _Z5, "label": _Z5, "connectivity": 4}, "connectivity"),
        ({"pred": np.zeros((6, 6)), "label": np.zeros((6, 6)), "spatial_dims": 1}, "spatial_dims"),
        ({"pred": np.zeros((2, 1, 1, 6, 6, 6)), "label": np.zeros((2, 1, 1, 6, 6, 6))}, "one 2D"),
    ],
)
def test_bad_batch_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lesion_metrics(**kwargs)


def test_metatensor_affine_batch_of_the_wrong_size_raises():
    meta = MetaTensor(torch.zeros(2, 1, 6, 6, 6), affine=torch.eye(4).repeat(3, 1, 1))
    with pytest.raises(ValueError, match="affine of shape"):
        lesion_metrics(torch.zeros(2, 1, 6, 6, 6), meta)
