"""DropoutHighResNet is MONAI's HighResNet (same state dict, same outputs), with ``dropout`` and ``features``."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import HighResNet
from monai.networks.nets.highresnet import DEFAULT_LAYER_PARAMS_3D

from monai_tversky.networks.highresnet import DropoutHighResNet, highresnet_layer_params

SMALL = (4, 6, 8)


def _dropouts(net: torch.nn.Module) -> list[float]:
    return [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)]


def test_default_layer_params_are_monais():
    assert highresnet_layer_params() == tuple(DEFAULT_LAYER_PARAMS_3D)
    params = highresnet_layer_params((2, 3), repeat=1, head_features=5, out_channels=4)
    assert [p["name"] for p in params] == ["conv_0", "res_1", "res_2", "conv_1", "conv_2"]
    assert [p.get("n_features") for p in params] == [2, 2, 3, 5, 4]
    assert params[1]["repeat"] == 1
    for bad in ((), (4, 0), (4, True), (4, 2.0)):
        with pytest.raises(ValueError, match="positive ints"):
            highresnet_layer_params(bad)
    with pytest.raises(ValueError, match="positive ints"):
        highresnet_layer_params((4,), repeat=0)


def test_state_dict_and_outputs_equal_monai():
    torch.manual_seed(0)
    params = highresnet_layer_params(SMALL, repeat=2, head_features=10)
    ours = DropoutHighResNet(3, 2, 3, dropout=0.2, layer_params=params)
    theirs = HighResNet(3, 2, 3, dropout_prob=0.2, layer_params=params)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 2, 9, 8, 7)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        out = ours(x)
        torch.testing.assert_close(out, theirs(x))
    assert out.shape == (1, 3, 9, 8, 7)  # spatial size kept
    ours.load_state_dict(HighResNet(3, 2, 3, layer_params=params).state_dict())  # and the other way round


def test_features_build_the_widths():
    net = DropoutHighResNet(3, 1, 2, features=SMALL)
    reference = HighResNet(3, 1, 2, layer_params=highresnet_layer_params(SMALL))
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs[0].out_channels == SMALL[0] and convs[-1].out_channels == 2
    assert {m.out_channels for m in convs} == {*SMALL, 80, 2}
    default = DropoutHighResNet(3, 1, 2)
    assert max(m.out_channels for m in default.modules() if isinstance(m, torch.nn.Conv3d)) == 80


def test_dropout_overrides_dropout_prob():
    assert _dropouts(DropoutHighResNet(3, 1, 2, features=SMALL, dropout=0.3, dropout_prob=0.1)) == [0.3, 0.3]
    assert _dropouts(DropoutHighResNet(3, 1, 2, features=SMALL, dropout_prob=0.1)) == [0.1, 0.1]
    assert _dropouts(DropoutHighResNet(3, 1, 2, features=SMALL, dropout=0.0, dropout_prob=0.4)) == [0.0, 0.0]
    net = DropoutHighResNet(2, 1, 2, features=SMALL, dropout=0.5)
    assert net(torch.randn(1, 1, 6, 5)).shape == (1, 2, 6, 5)


def test_errors():
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
            DropoutHighResNet(3, 1, 2, features=SMALL, dropout=bad)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        DropoutHighResNet(3, 1, 2, features=SMALL, dropout_prob=1.5)
    with pytest.raises(ValueError, match="features or layer_params, not both"):
        DropoutHighResNet(3, 1, 2, features=SMALL, layer_params=DEFAULT_LAYER_PARAMS_3D)
    net = DropoutHighResNet(3, 2, 2, features=SMALL)
    with pytest.raises(ValueError, match="DropoutHighResNet was built for 2 input channels, got 3"):
        net(torch.randn(1, 3, 4, 4, 4))
    with pytest.raises(ValueError, match="expects a 5D input"):
        net(torch.randn(1, 2, 4, 4))
