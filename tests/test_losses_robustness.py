"""Bad input gives a ValueError that names the problem; hard but valid input gives finite losses and gradients."""

import numpy as np
import pytest
import torch
from monai.losses import TverskyLoss

from monai_tversky.losses import (
    DeepSupervisionCombinedLoss,
    FBetaLoss,
    FocalTverskyLoss,
    SensitivitySpecificityLoss,
    TwoClassDiceLoss,
    WeightedCrossEntropyLoss,
)
from monai_tversky.losses.focal_tversky import focal_power

OURS = [FBetaLoss, FocalTverskyLoss, SensitivitySpecificityLoss, TwoClassDiceLoss, WeightedCrossEntropyLoss]


@pytest.mark.parametrize("cls", OURS)
def test_shape_mismatch_is_value_error_naming_shapes(cls):
    loss = cls(sigmoid=True)
    with pytest.raises(ValueError, match=r"\(2, 1, 8, 8\).*\(2, 1, 8, 9\)|\(2, 1, 8, 9\).*\(2, 1, 8, 8\)"):
        loss(torch.randn(2, 1, 8, 8), torch.ones(2, 1, 8, 9))


@pytest.mark.parametrize("cls", [FBetaLoss, FocalTverskyLoss, SensitivitySpecificityLoss, WeightedCrossEntropyLoss])
def test_channel_mismatch_hints_to_onehot(cls):
    with pytest.raises(ValueError, match="to_onehot_y=True"):
        cls(softmax=True)(torch.randn(2, 3, 8, 8), torch.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("cls", [FBetaLoss, FocalTverskyLoss, SensitivitySpecificityLoss, WeightedCrossEntropyLoss])
def test_label_out_of_range_is_value_error(cls):
    with pytest.raises(ValueError, match=r"label values must lie in \[0, 2\]"):
        cls(softmax=True, to_onehot_y=True)(torch.randn(1, 3, 4, 4), torch.full((1, 1, 4, 4), 3))


def test_label_map_with_wrong_spatial_size():
    with pytest.raises(ValueError, match=r"label map of shape \(1, 1, 4, 4\)"):
        FBetaLoss(softmax=True, to_onehot_y=True)(torch.randn(1, 3, 4, 4), torch.zeros(1, 1, 4, 5))


def test_missing_spatial_dims():
    with pytest.raises(ValueError, match="at least one spatial dim"):
        FocalTverskyLoss()(torch.rand(2, 3), torch.rand(2, 3))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FocalTverskyLoss(gamma=0), "gamma must be a finite number > 0"),
        (lambda: FocalTverskyLoss(gamma=-1.0), "gamma"),
        (lambda: FocalTverskyLoss(alpha=0.0, beta=0.0), r"alpha \+ beta must be > 0"),
        (lambda: FocalTverskyLoss(alpha=-0.1), "alpha must be a finite number >= 0"),
        (lambda: FBetaLoss(beta=0), "beta must be a finite number > 0"),
        (lambda: FBetaLoss(beta=-1.5), "beta"),
        (lambda: FBetaLoss(beta=float("nan")), "beta"),
        (lambda: FBetaLoss(reduction="avg"), "Unsupported reduction: 'avg'"),
        (lambda: FocalTverskyLoss(reduction="avg"), "Unsupported reduction"),
        (lambda: SensitivitySpecificityLoss(reduction="median"), "Unsupported reduction"),
        (lambda: SensitivitySpecificityLoss(r=1.5), r"r must lie in \[0, 1\]"),
        (lambda: WeightedCrossEntropyLoss(weight=-1.0), "weight must hold finite numbers >= 0"),
        (lambda: WeightedCrossEntropyLoss(weight_from="volume"), "weight_from"),
        (lambda: TwoClassDiceLoss(include_background=False), "include_background=False is not supported"),
        (lambda: FocalTverskyLoss(sigmoid=True, softmax=True), "Incompatible values"),
        (lambda: SensitivitySpecificityLoss(smooth_dr=-1), "smooth_dr"),
        (lambda: DeepSupervisionCombinedLoss(FocalTverskyLoss(), weight_mode="linear"), "weight_mode"),
    ],
)
def test_bad_hyperparameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "value", [np.float32(1.5), np.float64(1.5), np.array(1.5), torch.tensor(1.5), torch.tensor(1.5, dtype=torch.float64),
              np.int64(2), torch.tensor(2), 2, 1.5]
)
def test_beta_and_gamma_accept_any_real_scalar(value):
    fbeta = FBetaLoss(beta=value)
    assert isinstance(fbeta.f_beta, float) and fbeta.f_beta == pytest.approx(float(value))
    b2 = float(value) ** 2
    assert fbeta.alpha == pytest.approx(1 / (1 + b2)) and fbeta.beta == pytest.approx(b2 / (1 + b2))
    focal = FocalTverskyLoss(gamma=value)
    assert isinstance(focal.gamma, float) and focal.gamma == pytest.approx(float(value))
    x, y = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    assert torch.isfinite(FBetaLoss(beta=value, sigmoid=True)(x, y))
    torch.testing.assert_close(FocalTverskyLoss(gamma=value, sigmoid=True)(x, y),
                               FocalTverskyLoss(gamma=float(value), sigmoid=True)(x, y))


@pytest.mark.parametrize(
    "value",
    [True, False, np.bool_(True), torch.tensor(True), "1.5", None, float("inf"), float("nan"), np.float32("nan"),
     torch.tensor(float("inf")), 0, 0.0, -1.5, np.float32(-1.5), torch.tensor(0.0), torch.tensor([1.5]),
     np.array([1.5]), 1.5 + 0j, torch.tensor(1.5 + 0j), [1.5]],
    ids=repr,
)
def test_beta_and_gamma_reject_non_real_non_finite_and_non_positive(value):
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        FBetaLoss(beta=value)
    with pytest.raises(ValueError, match=r"gamma must be a finite number > 0 \(abraham2018 use \[1, 3\]\)"):
        FocalTverskyLoss(gamma=value)


def test_fbeta_beta_attribute_is_the_fn_weight_and_f_beta_holds_beta():
    loss = FBetaLoss(beta=1.5)
    assert loss.f_beta == 1.5
    assert loss.beta == pytest.approx(2.25 / 3.25) and round(loss.beta, 3) == 0.692  # Tversky FN weight
    assert loss.alpha == pytest.approx(1 / 3.25)  # Tversky FP weight


def test_other_act_must_be_callable():
    with pytest.raises(TypeError, match="other_act must be None or callable"):
        FocalTverskyLoss(other_act="relu")


def test_two_class_dice_refuses_three_channels():
    with pytest.raises(ValueError, match="1 or 2 channels, got 3"):
        TwoClassDiceLoss(softmax=True)(torch.randn(1, 3, 4, 4), torch.rand(1, 3, 4, 4))


def test_wce_weight_length_must_match_channels():
    with pytest.raises(ValueError, match="weight has 2 values but the prediction has 3 classes"):
        WeightedCrossEntropyLoss(softmax=True, to_onehot_y=True, weight=[1.0, 2.0])(
            torch.randn(1, 3, 4, 4), torch.zeros(1, 1, 4, 4)
        )


def _targets(shape):
    t = torch.zeros(shape)
    sparse = torch.zeros(shape)
    sparse[..., 1, 1] = 1.0
    return {"empty_gt": t, "all_foreground": torch.ones(shape), "sparse": sparse}


def _inputs(shape):
    return {
        "empty_prediction": torch.full(shape, -30.0),
        "logits_plus_1e4": torch.full(shape, 1e4),
        "logits_minus_1e4": torch.full(shape, -1e4),
        "mixed_1e4": torch.where(torch.rand(shape) > 0.5, 1e4, -1e4),
        "random": torch.randn(shape),
    }


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_finite_loss_and_gradient_on_hard_inputs(cls, dtype):
    shape = (2, 1, 16, 16, 16)
    for t_name, target in _targets(shape).items():
        for i_name, logits in _inputs(shape).items():
            x = logits.to(dtype).requires_grad_(True)
            value = cls(sigmoid=True)(x, target.to(dtype))
            value.backward()
            assert torch.isfinite(value), (cls.__name__, t_name, i_name, dtype)
            assert torch.isfinite(x.grad.float()).all(), (cls.__name__, t_name, i_name, dtype)


def _two_class(fg_logits):
    """Two softmax channels (background, foreground) whose foreground probability is sigmoid(2 * fg_logits)."""
    return torch.cat([-fg_logits, fg_logits], 1)


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_finite_loss_and_gradient_on_hard_inputs_softmax_two_classes(cls, dtype):
    """The same hard cases through softmax=True, to_onehot_y=True with 2 channels and a label map."""
    shape = (2, 1, 16, 16, 16)
    loss = cls(softmax=True, to_onehot_y=True)
    for t_name, target in _targets(shape).items():
        for i_name, logits in _inputs(shape).items():
            x = _two_class(logits).to(dtype).requires_grad_(True)
            for label in (target.long(), target.to(dtype)):  # integer and floating label maps
                x.grad = None
                value = loss(x, label)
                value.backward()
                assert torch.isfinite(value), (cls.__name__, t_name, i_name, dtype, label.dtype)
                assert torch.isfinite(x.grad.float()).all(), (cls.__name__, t_name, i_name, dtype, label.dtype)


@pytest.mark.parametrize("softmax", [False, True], ids=["sigmoid", "softmax_2_classes"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_deep_supervision_finite_loss_and_gradient_on_hard_inputs(softmax, dtype):
    """abraham2018's combiner (Tversky on the final output, focal Tversky on the side outputs) on the hard cases."""
    shape = (2, 1, 16, 16, 16)
    act = dict(softmax=True, to_onehot_y=True) if softmax else dict(sigmoid=True)
    combined = DeepSupervisionCombinedLoss(TverskyLoss(alpha=0.3, beta=0.7, **act),
                                           FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, **act))
    for t_name, target in _targets(shape).items():
        label = target.long() if softmax else target.to(dtype)
        for i_name, logits in _inputs(shape).items():
            final = _two_class(logits) if softmax else logits
            outs = [final, final[..., ::2, ::2, ::2], final[..., ::4, ::4, ::4]]
            outs = [o.to(dtype).requires_grad_(True) for o in outs]
            value = combined(outs, label)
            value.backward()
            assert torch.isfinite(value), (t_name, i_name, dtype)
            for level, o in enumerate(outs):
                assert o.grad is not None and torch.isfinite(o.grad.float()).all(), (t_name, i_name, dtype, level)


def test_float16_large_patch_does_not_overflow():
    """A float16 sum over a 64^3 patch overflows (max 65504); the losses sum in float32 and match float32 input."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, 64, 64, 64)
    y = (torch.rand(1, 1, 64, 64, 64) > 0.5).float()
    for cls in (FBetaLoss, FocalTverskyLoss):
        ref32 = cls(sigmoid=True)(x, y)
        half = cls(sigmoid=True)(x.half(), y.half())
        assert half.dtype == torch.float32
        torch.testing.assert_close(half, ref32, rtol=2e-3, atol=1e-4)
    # for contrast: MONAI's TverskyLoss on the same float16 input overflows
    assert not torch.isfinite(TverskyLoss(sigmoid=True)(x.half(), y.half()))


def test_perfect_prediction_focal_tversky_finite_and_near_zero():
    y = torch.zeros(1, 1, 8, 8)
    y[..., 2:5, 2:5] = 1
    x = y.clone().requires_grad_(True)  # probabilities equal to the label: 1 - TI = 0 exactly
    value = FocalTverskyLoss(gamma=4 / 3)(x, y)
    value.backward()
    assert 0 <= float(value) < 1e-4
    assert torch.isfinite(x.grad).all()


def test_focal_power_is_exact_above_eps_and_continuous():
    x = torch.tensor([0.0, 5e-7, 1e-6, 1e-3, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    y = focal_power(x, 0.75)
    torch.testing.assert_close(y[2:], x[2:] ** 0.75)
    # continuity at eps: the tangent at eps has the value eps**0.75
    left = focal_power(torch.tensor([1e-6 - 1e-12], dtype=torch.float64), 0.75)
    assert abs(float(left) - 1e-6**0.75) < 1e-9
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(x.grad[3:], 0.75 * x.detach()[3:] ** -0.25)


@pytest.mark.parametrize("cls", OURS)
def test_empty_ground_truth_and_empty_prediction_scores_zero(cls):
    """Nothing to find and nothing found is a perfect result, not an error or NaN."""
    x = torch.full((2, 1, 8, 8, 8), -1e4)
    y = torch.zeros(2, 1, 8, 8, 8)
    value = cls(sigmoid=True)(x, y)
    assert float(value) == pytest.approx(0.0, abs=1e-4)
