"""Every loss against an independent NumPy implementation of its paper's equation (tests/loss_reference.py)."""

import numpy as np
import pytest
import torch
from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss

import loss_reference as ref
from monai_tversky.losses import (
    FBetaLoss,
    FocalTverskyLoss,
    SensitivitySpecificityLoss,
    TwoClassDiceLoss,
    WeightedCrossEntropyLoss,
)

SPATIAL = {"2d": (12, 10), "3d": (6, 7, 5)}


def _binary_case(spatial, batch=3, seed=0):
    """Single-channel logits and a sparse binary label (an unbalanced, lesion-like case)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, 1, *spatial))
    label = (rng.random((batch, 1, *spatial)) < 0.15).astype(np.float64)
    label[0, 0].flat[0] = 1.0  # never an empty class in the random cases (empty ones are tested separately)
    return logits, label


def _multiclass_case(spatial, n_classes=3, batch=2, seed=1):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, n_classes, *spatial))
    labels = rng.integers(0, n_classes, size=(batch, 1, *spatial))
    return logits, labels


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("batch", [False, True])
def test_fbeta_sigmoid_matches_hashemi_eq4(dims, beta, batch):
    logits, label = _binary_case(SPATIAL[dims])
    expected = ref.fbeta_hashemi(ref.sigmoid(logits), label, beta, batch=batch)
    got = FBetaLoss(beta=beta, sigmoid=True, reduction="none", batch=batch)(_t(logits), _t(label))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("include_background", [True, False])
def test_fbeta_softmax_multiclass_matches_hashemi_eq4(dims, include_background):
    logits, labels = _multiclass_case(SPATIAL[dims])
    p, g = ref.softmax(logits), ref.one_hot(labels, 3)
    expected = ref.fbeta_hashemi(p, g, 1.5)
    if not include_background:
        expected = expected[:, 1:]
    loss = FBetaLoss(beta=1.5, softmax=True, to_onehot_y=True, include_background=include_background, reduction="mean")
    np.testing.assert_allclose(float(loss(_t(logits), torch.as_tensor(labels))), expected.mean(), rtol=1e-10)
    loss_sum = FBetaLoss(beta=1.5, softmax=True, to_onehot_y=True, include_background=include_background, reduction="sum")
    np.testing.assert_allclose(float(loss_sum(_t(logits), torch.as_tensor(labels))), expected.sum(), rtol=1e-10)


@pytest.mark.parametrize("beta", [1.0, 1.2, 1.5, 2.0, 3.0])
def test_fbeta_is_monai_tversky_with_hashemi_weights(beta):
    logits, labels = _multiclass_case(SPATIAL["3d"])
    b2 = beta**2
    ours = FBetaLoss(beta=beta, softmax=True, to_onehot_y=True)
    monai = TverskyLoss(alpha=1 / (1 + b2), beta=b2 / (1 + b2), softmax=True, to_onehot_y=True)
    x, y = _t(logits), torch.as_tensor(labels)
    torch.testing.assert_close(ours(x, y), monai(x, y), rtol=1e-12, atol=0)


def test_fbeta_beta1_is_dice():
    # Tversky(0.5, 0.5) = (TP + s) / (TP + (FP + FN)/2 + s) = (2TP + 2s) / (2TP + FP + FN + 2s): MONAI's Dice with 2s
    logits, labels = _multiclass_case(SPATIAL["2d"])
    x, y = _t(logits), torch.as_tensor(labels)
    ours = FBetaLoss(beta=1.0, softmax=True, to_onehot_y=True, reduction="none")(x, y)
    dice = DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=2e-5, smooth_dr=2e-5, reduction="none")(x, y)
    torch.testing.assert_close(ours, dice.reshape(ours.shape), rtol=1e-12, atol=1e-15)


def test_fbeta_salehi_table_rows():
    """hashemi2018 Table I: beta = 1, 1.2, 1.5, 2, 3 are salehi2017's (alpha, beta) rows, to two decimals."""
    rows = {1.0: (0.5, 0.5), 1.2: (0.4, 0.6), 1.5: (0.3, 0.7), 2.0: (0.2, 0.8), 3.0: (0.1, 0.9)}
    for beta, (a, b) in rows.items():
        loss = FBetaLoss(beta=beta)
        assert loss.alpha == pytest.approx(a, abs=0.015) and loss.beta == pytest.approx(b, abs=0.015)
        assert loss.alpha + loss.beta == pytest.approx(1.0)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("gamma", [1.0, 4.0 / 3.0, 2.0, 3.0])
def test_focal_tversky_matches_abraham_eq4_with_paper_naming(dims, gamma):
    """Our alpha=0.3 (FP), beta=0.7 (FN) is the paper's alpha=0.7 (FN), beta=0.3 (FP)."""
    logits, labels = _multiclass_case(SPATIAL[dims])
    p, g = ref.softmax(logits), ref.one_hot(labels, 3)
    expected = ref.focal_tversky_abraham(p, g, alpha_fn=0.7, beta_fp=0.3, gamma=gamma)
    loss = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=gamma, softmax=True, to_onehot_y=True, reduction="none")
    np.testing.assert_allclose(loss(_t(logits), torch.as_tensor(labels)).numpy(), expected, rtol=1e-10)
    # the paper's FTL sums over classes: reduction="sum" per item
    loss_sum = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=gamma, softmax=True, to_onehot_y=True, reduction="sum")
    np.testing.assert_allclose(float(loss_sum(_t(logits), torch.as_tensor(labels))), expected.sum(), rtol=1e-10)


@pytest.mark.parametrize("batch", [False, True])
def test_focal_tversky_sigmoid_binary(batch):
    logits, label = _binary_case(SPATIAL["3d"])
    expected = ref.focal_tversky_abraham(ref.sigmoid(logits), label, 0.7, 0.3, 4 / 3, batch=batch)
    got = FocalTverskyLoss(sigmoid=True, batch=batch, reduction="none")(_t(logits), _t(label))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.3, 0.7), (0.1, 0.9), (1.0, 1.0)])
def test_focal_tversky_gamma1_is_monai_tversky(alpha, beta):
    logits, labels = _multiclass_case(SPATIAL["3d"])
    x, y = _t(logits), torch.as_tensor(labels)
    ours = FocalTverskyLoss(alpha=alpha, beta=beta, gamma=1.0, softmax=True, to_onehot_y=True)(x, y)
    monai = TverskyLoss(alpha=alpha, beta=beta, softmax=True, to_onehot_y=True)(x, y)
    torch.testing.assert_close(ours, monai, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("r", [0.05, 0.5, 1.0])
def test_sensitivity_specificity_matches_brosch(dims, r):
    logits, labels = _multiclass_case(SPATIAL[dims])
    p, g = ref.softmax(logits), ref.one_hot(labels, 3)
    expected = ref.sens_spec(p, g, r=r)
    got = SensitivitySpecificityLoss(r=r, softmax=True, to_onehot_y=True, reduction="none")(_t(logits), torch.as_tensor(labels))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_sensitivity_specificity_sigmoid_batch():
    logits, label = _binary_case(SPATIAL["2d"])
    expected = ref.sens_spec(ref.sigmoid(logits), label, batch=True)
    got = SensitivitySpecificityLoss(sigmoid=True, batch=True, reduction="none")(_t(logits), _t(label))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("batch", [False, True])
def test_two_class_dice_matches_sudre(dims, batch):
    logits, label = _binary_case(SPATIAL[dims])
    p = ref.sigmoid(logits)
    expected = ref.two_class_dice(p, label, batch=batch)
    # the printed equation's single epsilon
    got = TwoClassDiceLoss(sigmoid=True, batch=batch, reduction="none", smooth_dr=1e-5)(_t(logits), _t(label))
    np.testing.assert_allclose(got.numpy().reshape(-1), expected, rtol=1e-10)
    # the same loss from a 2-channel softmax whose foreground probability is p
    two_ch = np.concatenate([np.zeros_like(logits), logits], 1)  # softmax([0, x])[1] = sigmoid(x)
    got2 = TwoClassDiceLoss(softmax=True, to_onehot_y=True, batch=batch, reduction="none", smooth_dr=1e-5)(
        _t(two_ch), _t(label).long()
    )
    np.testing.assert_allclose(got2.numpy().reshape(-1), expected, rtol=1e-10)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("weight_from", ["prediction", "label"])
def test_weighted_cross_entropy_matches_sudre(dims, weight_from):
    logits, label = _binary_case(SPATIAL[dims])
    expected = ref.wce_two_class(ref.sigmoid(logits), label, weight_from=weight_from)
    loss = WeightedCrossEntropyLoss(sigmoid=True, weight_from=weight_from, reduction="none", smooth_nr=0, smooth_dr=0)
    np.testing.assert_allclose(loss(_t(logits), _t(label)).numpy(), expected, rtol=1e-10)
    # softmax over [0, x] gives the same probabilities: the multi-class path reduces to the two-class form
    two_ch = np.concatenate([np.zeros_like(logits), logits], 1)
    loss2 = WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True, weight_from=weight_from, reduction="none",
                                     smooth_nr=0, smooth_dr=0)
    np.testing.assert_allclose(loss2(_t(two_ch), _t(label).long()).numpy(), expected, rtol=1e-10)


def test_weighted_cross_entropy_fixed_weight_and_plain_ce():
    logits, label = _binary_case(SPATIAL["3d"])
    p = ref.sigmoid(logits)
    got = WeightedCrossEntropyLoss(sigmoid=True, weight=7.0, reduction="none")(_t(logits), _t(label))
    np.testing.assert_allclose(got.numpy(), ref.wce_two_class(p, label, w=7.0), rtol=1e-10)
    # weight=1 is torch's binary cross-entropy
    bce = torch.nn.functional.binary_cross_entropy_with_logits(_t(logits), _t(label))
    plain = WeightedCrossEntropyLoss(sigmoid=True, weight=1.0)(_t(logits), _t(label))
    torch.testing.assert_close(plain, bce, rtol=1e-12, atol=0)


def test_weighted_cross_entropy_multiclass_weight_one_is_torch_cross_entropy():
    logits, labels = _multiclass_case(SPATIAL["3d"])
    ours = WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True, weight=[1.0, 1.0, 1.0])(_t(logits), torch.as_tensor(labels))
    torch_ce = torch.nn.functional.cross_entropy(_t(logits), torch.as_tensor(labels)[:, 0])
    torch.testing.assert_close(ours, torch_ce, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_monai_generalized_dice_square_is_sudre_gdl_v(dims):
    """MONAI's GeneralizedDiceLoss(w_type="square") computes sudre2017's GDL_v when every class is present."""
    logits, labels = _multiclass_case(SPATIAL[dims], n_classes=4)
    p, g = ref.softmax(logits), ref.one_hot(labels, 4)
    # one-hot target given in float64 (MONAI's own one_hot would round the sums to float32)
    loss = GeneralizedDiceLoss(w_type="square", softmax=True, reduction="none", smooth_nr=0, smooth_dr=0)
    got = loss(_t(logits), _t(g)).reshape(-1)
    # MONAI computes w_l in float32 (ground_o.float()), hence 1e-7 rather than 1e-10
    np.testing.assert_allclose(got.numpy(), ref.gdl_v(p, g), rtol=1e-7)


def test_generalized_dice_empty_class_gets_largest_present_weight():
    """Documented rule (registry docstring): an absent class is weighted like the rarest present class."""
    logits, labels = _multiclass_case(SPATIAL["3d"], n_classes=3)
    labels[labels == 2] = 1  # class 2 absent everywhere
    p, g = ref.softmax(logits), ref.one_hot(labels, 3)
    axes = tuple(range(2, p.ndim))
    vol = g.sum(axis=axes)
    w = np.where(vol > 0, 1.0 / np.maximum(vol, 1) ** 2, 0.0)
    w = np.where(vol > 0, w, w.max(axis=1, keepdims=True))
    expected = 1 - 2 * (w * (g * p).sum(axis=axes)).sum(1) / (w * (g + p).sum(axis=axes)).sum(1)
    loss = GeneralizedDiceLoss(w_type="square", softmax=True, reduction="none", smooth_nr=0, smooth_dr=0)
    np.testing.assert_allclose(loss(_t(logits), _t(g)).reshape(-1).numpy(), expected, rtol=1e-7)  # w in float32


def _wce_multiclass_sudre(p, g, weight_from="prediction", include_background=True):
    """sudre2017 WCE for C >= 3 softmax classes, per item, written from the paper (NumPy, independent of the package):
    -(1/N) sum_n sum_c w_c r_nc log p_nc, background weight 1, w_c = (N - V_c) / V_c for every other class."""
    out = []
    for pi, gi in zip(p, g):
        n = pi[0].size
        terms = 0.0
        for c in range(pi.shape[0]):
            if c == 0:
                if not include_background:
                    continue
                w = 1.0
            else:
                v = pi[c].sum() if weight_from == "prediction" else gi[c].sum()
                w = (n - v) / v
            terms += (w * gi[c] * np.log(pi[c])).sum()
        out.append(-terms / n)
    return np.array(out)


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("n_classes", [3, 4])
@pytest.mark.parametrize("weight_from", ["prediction", "label"])
@pytest.mark.parametrize("include_background", [True, False])
def test_weighted_cross_entropy_automatic_weights_multiclass_match_sudre(
    dims, n_classes, weight_from, include_background
):
    logits, labels = _multiclass_case(SPATIAL[dims], n_classes=n_classes)
    p, g = ref.softmax(logits), ref.one_hot(labels, n_classes)
    assert (g.sum(axis=tuple(range(2, g.ndim))) > 0).all()  # every class present: the label weight is finite
    expected = _wce_multiclass_sudre(p, g, weight_from, include_background)
    loss = WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True, weight_from=weight_from, reduction="none",
                                    include_background=include_background, smooth_nr=0, smooth_dr=0)
    np.testing.assert_allclose(loss(_t(logits), torch.as_tensor(labels)).numpy(), expected, rtol=1e-10)
    # reduction="mean" is the mean of the per-image values
    loss_mean = WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True, weight_from=weight_from,
                                         include_background=include_background, smooth_nr=0, smooth_dr=0)
    np.testing.assert_allclose(float(loss_mean(_t(logits), torch.as_tensor(labels))), expected.mean(), rtol=1e-10)


def _bce_with_pos_weight(logits, label, pos_weight, include_background=True):
    """Per item: torch's binary_cross_entropy_with_logits with one positive weight per (item, channel)."""
    x, y = _t(logits), _t(label)
    pw = torch.as_tensor(pos_weight, dtype=torch.float64).reshape(x.shape[0], x.shape[1], *([1] * (x.ndim - 2)))
    per_voxel = torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction="none")
    if not include_background:
        per_voxel = per_voxel[:, 1:]
    return per_voxel.flatten(1).mean(1)


def _multilabel_case(spatial, n_channels=3, batch=2, seed=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, n_channels, *spatial)) * 2.0
    rates = np.array([0.5, 0.2, 0.05])[:n_channels].reshape(1, n_channels, *([1] * len(spatial)))
    label = (rng.random((batch, n_channels, *spatial)) < rates).astype(np.float64)
    label[:, :, 0] = 1.0  # never an empty channel
    return logits, label


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("include_background", [True, False])
def test_weighted_cross_entropy_multichannel_sigmoid_is_per_channel_bce_with_pos_weight(dims, include_background):
    """Several sigmoid channels: per-channel binary cross-entropy, sudre2017's foreground weight per channel."""
    logits, label = _multilabel_case(SPATIAL[dims])
    b, c = label.shape[:2]
    kw = dict(sigmoid=True, reduction="none", include_background=include_background)
    x, y = _t(logits), _t(label)
    # a weight per channel
    w = np.array([2.0, 5.0, 0.5])
    got = WeightedCrossEntropyLoss(weight=w.tolist(), **kw)(x, y)
    torch.testing.assert_close(got, _bce_with_pos_weight(logits, label, np.tile(w, (b, 1)), include_background),
                               rtol=1e-10, atol=0)
    # one number: the foreground weight of every channel (no background channel forced to 1)
    got = WeightedCrossEntropyLoss(weight=3.0, **kw)(x, y)
    torch.testing.assert_close(got, _bce_with_pos_weight(logits, label, np.full((b, c), 3.0), include_background),
                               rtol=1e-10, atol=0)
    # automatic weights (N - V_c) / V_c of every channel, channel 0 included, from the prediction or the label
    axes = tuple(range(2, label.ndim))
    n = np.prod(label.shape[2:])
    for weight_from, volume in (("prediction", ref.sigmoid(logits).sum(axis=axes)), ("label", label.sum(axis=axes))):
        got = WeightedCrossEntropyLoss(weight_from=weight_from, smooth_nr=0, smooth_dr=0, **kw)(x, y)
        expected = _bce_with_pos_weight(logits, label, (n - volume) / volume, include_background)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=0)


def test_weighted_cross_entropy_multichannel_sigmoid_weight_one_is_torch_bce():
    logits, label = _multilabel_case(SPATIAL["3d"])
    x, y = _t(logits), _t(label)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x, y)
    ones = WeightedCrossEntropyLoss(sigmoid=True, weight=[1.0, 1.0, 1.0])(x, y)
    torch.testing.assert_close(ones, bce, rtol=1e-12, atol=0)
    torch.testing.assert_close(WeightedCrossEntropyLoss(sigmoid=True, weight=1.0)(x, y), bce, rtol=1e-12, atol=0)
    # confident logits on negative voxels are penalised (the (1 - r) log(1 - p) term is there)
    confident = torch.full_like(x, 30.0)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(confident, y)
    got = WeightedCrossEntropyLoss(sigmoid=True, weight=1.0)(confident, y)
    assert float(got) > 1.0
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
