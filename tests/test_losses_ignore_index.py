"""IgnoreIndexLoss / get_loss(ignore_index=...): ignored voxels count in none of the loss's sums (MONAI's rule)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.losses import DiceLoss

from monai_tversky.losses import get_loss
from monai_tversky.losses.ignore_index import IgnoreIndexLoss

IGNORE = -1
SLAB = 3  # the first SLAB rows along the first spatial axis are ignored


def _data(n_classes: int = 3, seed: int = 0, ignore: bool = True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, n_classes, 8, 6, 5, generator=g, dtype=torch.float64)
    label = torch.randint(0, n_classes, (2, 1, 8, 6, 5), generator=g).double()
    if ignore:
        label[:, :, :SLAB] = IGNORE
    return logits, label


def _crop(t: torch.Tensor) -> torch.Tensor:
    return t[:, :, SLAB:]


# losses whose every sum is over products/sums of p and r: ignoring a slab is cropping it away
CROP_EQUIVALENT = [
    ("GDSC", 3, {}),
    ("GDSC", 3, {"include_background": False}),
    ("Tversky", 3, {"alpha": 0.3, "beta": 0.7}),
    ("Dice", 3, {"include_background": False}),
    ("DiceNoSquare", 3, {"batch": True}),
    ("DL2", 2, {}),
    ("FocalTversky", 3, {}),
]


@pytest.mark.parametrize("name, n_classes, kwargs", CROP_EQUIVALENT)
def test_ignored_slab_equals_cropped_slab(name, n_classes, kwargs):
    logits, label = _data(n_classes)
    wrapped = get_loss(name, ignore_index=IGNORE, softmax=True, to_onehot_y=True, **kwargs)
    plain = get_loss(name, softmax=True, to_onehot_y=True, **kwargs)
    assert isinstance(wrapped, IgnoreIndexLoss) and wrapped.ignore_index == IGNORE
    torch.testing.assert_close(wrapped(logits, label), plain(_crop(logits), _crop(label)))


@pytest.mark.parametrize("name", ["GDSC", "Tversky", "DiceNoSquare"])
def test_one_sigmoid_channel_without_one_hot(name):
    logits, label = _data(2)
    logits, label = logits[:, :1], label.clone()
    wrapped = get_loss(name, ignore_index=IGNORE, sigmoid=True)
    plain = get_loss(name, sigmoid=True)
    torch.testing.assert_close(wrapped(logits, label), plain(_crop(logits), _crop(label)))


def _softmax_onehot(logits: torch.Tensor, label: torch.Tensor):
    p = torch.softmax(logits, 1).numpy()
    lab = label.numpy()[:, 0]
    r = np.stack([(lab == c) for c in range(p.shape[1])], 1).astype(np.float64)
    keep = (lab != IGNORE)[:, None].astype(np.float64)
    return p * keep, r * keep


def test_wce_counts_ignored_voxels_in_n_only():
    """WCE = -(1/N) sum_n sum_c w_c r log p, w_c = (N - V_c)/V_c: N keeps the ignored voxels, V_c and the sum don't."""
    logits, label = _data(3)
    p, r = _softmax_onehot(logits, label)
    n = float(np.prod(p.shape[2:]))
    expected = []
    for b in range(p.shape[0]):
        volume = p[b].reshape(3, -1).sum(1)
        w = (n - volume + 1e-5) / (volume + 1e-5)
        w[0] = 1.0
        log_p = np.log(np.clip(p[b], 1e-7, 1.0))
        expected.append(-(w[:, None] * (r[b] * log_p).reshape(3, -1)).sum() / n)
    loss = get_loss("WCE", ignore_index=IGNORE, softmax=True, to_onehot_y=True)(logits, label)
    np.testing.assert_allclose(float(loss), np.mean(expected), rtol=1e-10)
    cropped = get_loss("WCE", softmax=True, to_onehot_y=True)(_crop(logits), _crop(label))
    assert abs(float(loss) - float(cropped)) > 1e-3  # not crop-equivalent, as the docstring says


def test_sensspec_counts_ignored_voxels_in_background_volume():
    """SS = l sum (r-p)^2 r / sum r + (1-l) sum (r-p)^2 (1-r) / (N - sum r), N including the ignored voxels."""
    logits, label = _data(3)
    p, r = _softmax_onehot(logits, label)
    n = float(np.prod(p.shape[2:]))
    axes = (2, 3, 4)
    sq = (r - p) ** 2
    n_fg = r.sum(axes)
    ss = 0.05 * (sq * r).sum(axes) / (n_fg + 1e-5) + 0.95 * (sq * (1 - r)).sum(axes) / (n - n_fg + 1e-5)
    loss = get_loss("SensSpec", ignore_index=IGNORE, softmax=True, to_onehot_y=True)(logits, label)
    np.testing.assert_allclose(float(loss), ss.mean(), rtol=1e-10)


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [False, True])
def test_dice_matches_monai_ignore_index(include_background, batch):
    logits, label = _data(3, seed=1)
    ours = get_loss("DiceNoSquare", ignore_index=IGNORE, softmax=True, to_onehot_y=True,
                    include_background=include_background, batch=batch)  # fmt: skip
    monai = DiceLoss(softmax=True, to_onehot_y=True, include_background=include_background, batch=batch,
                     ignore_index=IGNORE)  # fmt: skip
    torch.testing.assert_close(ours(logits, label), monai(logits, label))


@pytest.mark.parametrize("name", ["GDSC", "WCE", "SensSpec", "DL2", "Tversky"])
def test_no_gradient_at_ignored_voxels_and_no_change_without_them(name):
    n_classes = 2 if name == "DL2" else 3
    logits, label = _data(n_classes, seed=2)
    logits.requires_grad_(True)
    loss = get_loss(name, ignore_index=IGNORE, softmax=True, to_onehot_y=True)
    loss(logits, label).backward()
    assert torch.all(logits.grad[:, :, :SLAB] == 0)
    assert torch.any(logits.grad[:, :, SLAB:] != 0)
    clean_logits, clean_label = _data(n_classes, seed=2, ignore=False)
    plain = get_loss(name, softmax=True, to_onehot_y=True)
    torch.testing.assert_close(loss(clean_logits, clean_label), plain(clean_logits, clean_label))


def test_reduction_none_and_state_dict_pass_through():
    logits, label = _data(3)
    wrapped = get_loss("GDSC", ignore_index=IGNORE, softmax=True, to_onehot_y=True, reduction="none")
    plain = get_loss("GDSC", softmax=True, to_onehot_y=True, reduction="none")
    torch.testing.assert_close(wrapped(logits, label), plain(_crop(logits), _crop(label)))
    assert wrapped.loss.softmax and wrapped.loss.to_onehot_y  # the wrapped loss itself is left as built
    assert "ignore_index=-1" in repr(wrapped)
    focal = get_loss("FocalTversky", ignore_index=IGNORE, softmax=True, to_onehot_y=True)
    assert focal.loss.tversky.softmax and focal.loss.tversky.to_onehot_y  # its inner TverskyLoss too


def test_errors():
    with pytest.raises(ValueError, match="ignore_index must be an int"):
        get_loss("GDSC", ignore_index=-1.0)
    for bad in ("-1", True):
        with pytest.raises(ValueError, match="ignore_index must be an int"):
            IgnoreIndexLoss(get_loss("Dice"), bad)
    with pytest.raises(ValueError, match=r"MSELoss has no attribute\(s\) \['sigmoid', 'softmax', 'other_act', 'to_onehot_y'\]"):
        IgnoreIndexLoss(torch.nn.MSELoss(), -1)
    logits, label = _data(3)
    loss = get_loss("GDSC", ignore_index=IGNORE, softmax=True, to_onehot_y=True)
    label[0, 0, -1, 0, 0] = 3  # not a class of a 3-channel prediction
    with pytest.raises(ValueError, match=r"label values must lie in \[0, 2\]"):
        loss(logits, label)
    label[0, 0, -1, 0, 0] = -2  # another negative value is not the ignored one
    with pytest.raises(ValueError, match=r"label values must lie in \[0, 2\]"):
        loss(logits, label)
    with pytest.raises(ValueError, match="label map of shape"):
        loss(logits, label[:, :, 1:])
