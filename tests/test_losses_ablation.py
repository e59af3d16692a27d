"""abraham2018_loss: the loss of each row of abraham2018's ablation (Tables 1-2), by name and network variant."""

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceLoss, TverskyLoss

from monai_tversky.losses import (
    ABRAHAM2018_LOSSES,
    DeepSupervisionCombinedLoss,
    FocalTverskyLoss,
    abraham2018_loss,
)


def _data(seed=0, batch=2, size=32, levels=4):
    g = torch.Generator().manual_seed(seed)
    outputs = [torch.randn(batch, 1, size // 2**lvl, size // 2**lvl, generator=g) for lvl in range(levels)]
    label = (torch.rand(batch, 1, size, size, generator=g) > 0.7).float()
    return outputs, label


def _down(label, size):
    return F.interpolate(label, size=size, mode="nearest-exact")


def test_names():
    assert ABRAHAM2018_LOSSES == ("dice", "tversky", "focal_tversky")
    for alias, name in [("DL", "dice"), ("TL", "tversky"), ("FTL", "focal_tversky"), ("Focal-Tversky", "focal_tversky")]:
        assert type(abraham2018_loss(alias, deep_supervision=False)) is type(abraham2018_loss(name, deep_supervision=False))
    with pytest.raises(ValueError, match="unknown loss 'bce'; choose one of dice, tversky, focal_tversky"):
        abraham2018_loss("bce")


def test_paper_configuration_focal_tversky_on_side_outputs_tversky_on_final():
    loss = abraham2018_loss("focal_tversky")
    assert isinstance(loss, DeepSupervisionCombinedLoss)
    assert isinstance(loss.loss, TverskyLoss) and not isinstance(loss.loss, FocalTverskyLoss)
    assert isinstance(loss.side_loss, FocalTverskyLoss)
    # MONAI's naming: alpha on FP = 0.3, beta on FN = 0.7 (the paper's alpha = 0.7 on FN); gamma = 4/3
    assert (loss.loss.alpha, loss.loss.beta) == (0.3, 0.7)
    assert (loss.side_loss.alpha, loss.side_loss.beta, loss.side_loss.gamma) == (0.3, 0.7, pytest.approx(4 / 3))
    assert loss.loss.sigmoid and loss.side_loss.sigmoid and loss.loss.batch and loss.side_loss.batch
    outputs, label = _data()
    tl = TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True, batch=True)
    ftl = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, sigmoid=True, batch=True)
    expected = tl(outputs[0], label) + sum(ftl(o, _down(label, o.shape[2:])) for o in outputs[1:])
    torch.testing.assert_close(loss(outputs, label), expected)


@pytest.mark.parametrize("name", ["dice", "tversky"])
def test_dice_and_tversky_rows_put_one_loss_on_every_output(name):
    loss = abraham2018_loss(name, alpha=0.3, beta=0.7)
    outputs, label = _data(1)
    if name == "dice":
        one = DiceLoss(sigmoid=True, batch=True, squared_pred=False)
    else:
        one = TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True, batch=True)
    expected = one(outputs[0], label) + sum(one(o, _down(label, o.shape[2:])) for o in outputs[1:])
    torch.testing.assert_close(loss(outputs, label), expected)


def test_dice_is_the_tversky_loss_with_equal_weights_and_ignores_alpha_beta():
    outputs, label = _data(2)
    dice = abraham2018_loss("dice", alpha=0.1, beta=0.9, deep_supervision=False)
    half = TverskyLoss(alpha=0.5, beta=0.5, sigmoid=True, batch=True, smooth_nr=0.0, smooth_dr=1e-12)
    torch.testing.assert_close(dice(outputs[0], label), half(outputs[0], label), atol=1e-5, rtol=1e-5)


def test_without_deep_supervision_the_plain_loss_on_the_single_output():
    outputs, label = _data(3)
    x = outputs[0]
    ftl = abraham2018_loss("focal_tversky", deep_supervision=False)
    assert isinstance(ftl, FocalTverskyLoss)  # U-Net + FTL: the focal loss itself, not Tversky
    torch.testing.assert_close(ftl(x, label), FocalTverskyLoss(sigmoid=True, batch=True)(x, label))
    tl = abraham2018_loss("tversky", alpha=0.4, beta=0.6, deep_supervision=False)
    assert type(tl) is TverskyLoss and (tl.alpha, tl.beta) == (0.4, 0.6)
    assert isinstance(abraham2018_loss("dice", deep_supervision=False), DiceLoss)


def test_batch_false_averages_per_image_losses():
    outputs, label = _data(4)
    per_image = abraham2018_loss("tversky", batch=False, deep_supervision=False)
    assert not per_image.batch
    expected = torch.stack([TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True)(outputs[0][i:i + 1], label[i:i + 1])
                            for i in range(2)]).mean()
    torch.testing.assert_close(per_image(outputs[0], label), expected)


def test_gamma_one_focal_tversky_equals_tversky():
    outputs, label = _data(5)
    ftl = abraham2018_loss("focal_tversky", gamma=1.0)
    tl = abraham2018_loss("tversky")
    torch.testing.assert_close(ftl(outputs, label), tl(outputs, label))


def test_bad_weights_raise():
    with pytest.raises(ValueError):
        abraham2018_loss("tversky", alpha=-1.0)
    with pytest.raises(ValueError, match="gamma"):
        abraham2018_loss("focal_tversky", gamma=0.0)
