"""Independent NumPy implementations of the papers' loss equations (see ../shared/papers/README.md).

Written from the equations, not from the package: each function takes probabilities p and one-hot labels g of
shape (B, C, spatial...) as float64 arrays and returns per-(item, class) values.
"""

from __future__ import annotations

import numpy as np


def _sum(x: np.ndarray, batch: bool) -> np.ndarray:
    axes = tuple(range(2, x.ndim))
    return x.sum(axis=(0, *axes)) if batch else x.sum(axis=axes)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    """(B, 1, spatial...) integer labels -> (B, n, spatial...) float64."""
    return np.concatenate([(labels == c) for c in range(n)], axis=1).astype(np.float64)


def fbeta_hashemi(p, g, beta, eps=1e-5, batch=False):
    """hashemi2018 eq. 4 in its F-beta form: (1+b2)TP / ((1+b2)TP + b2 FN + FP), returns 1 - F."""
    b2 = beta**2
    tp, fn, fp = _sum(p * g, batch), _sum((1 - p) * g, batch), _sum(p * (1 - g), batch)
    # the smoothing constants enter the Tversky form TP / (TP + b2/(1+b2) FN + 1/(1+b2) FP); scale them alike
    return 1.0 - ((1 + b2) * tp + (1 + b2) * eps) / ((1 + b2) * tp + b2 * fn + fp + (1 + b2) * eps)


def tversky_index_abraham(p, g, alpha_fn, beta_fp, eps=1e-5, batch=False):
    """abraham2018 eq. 3 with the PAPER's naming: alpha multiplies false negatives, beta false positives."""
    tp = _sum(p * g, batch)
    fn = _sum((1 - p) * g, batch)
    fp = _sum(p * (1 - g), batch)
    return (tp + eps) / (tp + alpha_fn * fn + beta_fp * fp + eps)


def focal_tversky_abraham(p, g, alpha_fn, beta_fp, gamma, eps=1e-5, batch=False):
    """abraham2018 eq. 4, per class: (1 - TI_c) ** (1 / gamma)."""
    return (1.0 - tversky_index_abraham(p, g, alpha_fn, beta_fp, eps, batch)) ** (1.0 / gamma)


def sens_spec(p, g, r=0.05, eps=1e-5, batch=False):
    """sudre2017 / Brosch: r sum((g-p)^2 g)/(sum g + e) + (1-r) sum((g-p)^2 (1-g))/(sum(1-g) + e)."""
    err = (g - p) ** 2
    return r * _sum(err * g, batch) / (_sum(g, batch) + eps) + (1 - r) * _sum(err * (1 - g), batch) / (
        _sum(1 - g, batch) + eps
    )


def two_class_dice(p, r, eps=1e-5, batch=False):
    """sudre2017 DL_2 for foreground probability p, label r of shape (B, 1, spatial...): per item."""
    a = (_sum(p * r, batch) + eps) / (_sum(p + r, batch) + eps)
    b = (_sum((1 - p) * (1 - r), batch) + eps) / (_sum(2 - p - r, batch) + eps)
    return (1 - a - b).reshape(-1)


def wce_two_class(p, r, weight_from="prediction", w=None):
    """sudre2017 WCE, two-class form, per item: -(1/N) sum[w r log p + (1-r) log(1-p)], w = (N - V)/V."""
    out = []
    for pi, ri in zip(p, r):
        n = pi.size
        if w is None:
            v = pi.sum() if weight_from == "prediction" else ri.sum()
            wi = (n - v) / v
        else:
            wi = w
        out.append(-(wi * ri * np.log(pi) + (1 - ri) * np.log(1 - pi)).sum() / n)
    return np.array(out)


def gdl_v(p, g):
    """sudre2017 GDL_v over all classes of each item: 1 - 2 sum_l w_l sum r p / sum_l w_l sum (r + p)."""
    axes = tuple(range(2, p.ndim))
    w = 1.0 / g.sum(axis=axes) ** 2
    return 1 - 2 * (w * (g * p).sum(axis=axes)).sum(1) / (w * (g + p).sum(axis=axes)).sum(1)
