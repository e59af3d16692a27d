"""Autograd against the papers' closed-form gradients, including the two printed errata."""

import numpy as np
import pytest
import torch
from monai.losses import GeneralizedDiceLoss

from monai_tversky.losses import FBetaLoss, FocalTverskyLoss


def _case(n=200, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.01, 0.99, size=n)
    g = (rng.random(n) < 0.2).astype(np.float64)
    g[0] = 1.0
    return p, g


@pytest.mark.parametrize("beta", [1.0, 1.5, 3.0])
def test_fbeta_autograd_is_exact_derivative_of_eq4(beta):
    """dF/dp_j = (1+b2)(g_j D - TP) / D^2 with D = (1+b2)TP + b2 FN + FP (../shared/papers/README.md erratum)."""
    p, g = _case()
    b2 = beta**2
    tp, fn, fp = (p * g).sum(), ((1 - p) * g).sum(), (p * (1 - g)).sum()
    d = (1 + b2) * tp + b2 * fn + fp
    exact = (1 + b2) * (g * d - tp) / d**2  # dF/dp
    printed_eq5 = (1 + b2) * g * (b2 * fn + fp) / d**2

    x = torch.tensor(p.reshape(1, 1, -1), requires_grad=True)
    FBetaLoss(beta=beta, smooth_nr=0, smooth_dr=0)(x, torch.tensor(g.reshape(1, 1, -1))).backward()
    grad = x.grad.numpy().ravel()
    np.testing.assert_allclose(grad, -exact, rtol=1e-9, atol=1e-15)  # loss = 1 - F
    # the printed eq. 5 is not that derivative: it is zero off the lesion, where the exact one is not
    assert not np.allclose(-grad, printed_eq5)
    assert np.all(printed_eq5[g == 0] == 0) and np.all(exact[g == 0] < 0)


def test_two_class_gdl_autograd_is_exact_derivative_and_printed_gradient_has_flipped_sign():
    """sudre2017's printed two-class gradient equals d(1 - GDL)/dp_i, the opposite sign of dGDL/dp_i."""
    p, r = _case(seed=3)
    n = p.size
    w1, w2 = 1 / r.sum() ** 2, 1 / (1 - r).sum() ** 2  # GDL_v weights from the label (constants)
    a = w1 * (p * r).sum() + w2 * ((1 - p) * (1 - r)).sum()
    b = w1 * (p + r).sum() + w2 * (2 - p - r).sum()
    da, db = w1 * r - w2 * (1 - r), w1 - w2
    exact = -2 * (da * b - a * db) / b**2  # dGDL/dp_i, GDL = 1 - 2A/B
    printed = -2 * ((w1**2 - w2**2) * ((p * r).sum() - r * (p + r).sum()) + n * w2 * (w1 + w2) * (1 - 2 * r)) / (
        (w1 - w2) * (p + r).sum() + 2 * n * w2
    ) ** 2

    fg = torch.tensor(p.reshape(1, 1, -1), requires_grad=True)
    probs = torch.cat([1 - fg, fg], 1)  # background, foreground
    target = torch.tensor(np.stack([1 - r, r]).reshape(1, 2, -1))
    GeneralizedDiceLoss(w_type="square", smooth_nr=0, smooth_dr=0)(probs, target).backward()
    grad = fg.grad.numpy().ravel()
    # MONAI computes the weights in float32, hence rtol 1e-6
    np.testing.assert_allclose(grad, exact, rtol=1e-6)
    np.testing.assert_allclose(printed, -exact, rtol=1e-9)


def test_focal_tversky_autograd_matches_chain_rule():
    """d/dp (1 - TI)^(1/g) = (1/g)(1 - TI)^(1/g - 1) * (-dTI/dp), dTI/dp_j = (g_j(a FP + b FN) - a TP(1-g_j) + b TP g_j ... )"""
    p, g = _case(seed=5)
    alpha, beta, gamma = 0.3, 0.7, 4 / 3
    tp, fp, fn = (p * g).sum(), (p * (1 - g)).sum(), ((1 - p) * g).sum()
    den = tp + alpha * fp + beta * fn
    ti = tp / den
    # dTP/dp = g, dFP/dp = 1 - g, dFN/dp = -g
    dden = g + alpha * (1 - g) - beta * g
    dti = (g * den - tp * dden) / den**2
    expected = (1 / gamma) * (1 - ti) ** (1 / gamma - 1) * (-dti)

    x = torch.tensor(p.reshape(1, 1, -1), requires_grad=True)
    FocalTverskyLoss(alpha=alpha, beta=beta, gamma=gamma, smooth_nr=0, smooth_dr=0)(x, torch.tensor(g.reshape(1, 1, -1))).backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), expected, rtol=1e-9)
