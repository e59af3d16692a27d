"""The salehi2017 3D U-Net is MONAI's BasicUNet with the arguments below (no class of ours is needed); the
tversky_unet3d bundle's ``network_def`` holds that configuration, and the tests here build the network from it.

salehi2017 section 2.1 / hashemi2018 III.A.1: padded 3x3x3 convolutions + ReLU, two per level; 2x2x2 max pooling
with stride 2; features doubled after each pooling; 2x2x2 transposed convolutions in the expanding path, their output
concatenated with the contracting path's features; a final 1x1x1 convolution to 2 classes with softmax (applied by
the loss / post-transform, the network returns logits). No normalisation layer is mentioned, hence ``norm=None``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.bundle import ConfigParser

from monai.networks.nets import BasicUNet

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "tversky_unet3d"


def salehi2017_unet(base: int = 16, in_channels: int = 3) -> BasicUNet:
    """The tversky_unet3d bundle's ``network_def`` (base = first-level feature count, the bundle's ``features[0]``)."""
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "train.json"))
    parser["features"] = [base, 2 * base, 4 * base, 8 * base, 16 * base, base]
    parser["network_def#in_channels"] = in_channels  # T1, T2, FLAIR by default
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, BasicUNet)
    return net


def test_the_bundle_configures_basic_unet_as_written_here():
    """The arguments this file documents are the bundle's, in train.json and inference.json alike."""
    for config in ("train.json", "inference.json"):
        content = json.loads((BUNDLE / "configs" / config).read_text())
        parser = ConfigParser()
        parser.read_config(str(BUNDLE / "configs" / config))
        parser["bundle_root"] = str(BUNDLE)
        # inference.json reads the widths from the shipped model's record; both must give the paper's doubling
        features = list(parser.get_parsed_content("features"))
        base = features[0]
        assert features == [base, 2 * base, 4 * base, 8 * base, 16 * base, base], config
        assert content["network_def"] == {
            "_target_": "BasicUNet",
            "spatial_dims": 3,
            "in_channels": "@num_channels",
            "out_channels": 2,  # lesion / non-lesion, softmax
            "features": "@features",
            "act": "relu",
            "norm": None,
            "dropout": 0.0,
        }, config


def test_structure_matches_the_paper():
    base = 8
    net = salehi2017_unet(base)
    modules = list(net.modules())
    pools = [m for m in modules if isinstance(m, (nn.MaxPool3d, nn.AvgPool3d))]
    assert len(pools) == 4 and all(isinstance(p, nn.MaxPool3d) and p.kernel_size == 2 and p.stride == 2 for p in pools)
    convs = [m for m in modules if isinstance(m, nn.Conv3d)]
    three = [c for c in convs if c.kernel_size == (3, 3, 3)]
    assert len(three) == 2 * 5 + 2 * 4  # two convolutions per level, contracting and expanding
    assert all(c.padding == (1, 1, 1) and c.stride == (1, 1, 1) for c in three)  # padded
    (final,) = [c for c in convs if c.kernel_size == (1, 1, 1)]
    assert final is net.final_conv and final.out_channels == 2
    assert len(convs) == len(three) + 1
    ups = [m for m in modules if isinstance(m, nn.ConvTranspose3d)]
    assert len(ups) == 4 and all(u.kernel_size == (2, 2, 2) and u.stride == (2, 2, 2) for u in ups)
    # ReLU after every 3x3x3 convolution, no other activation, no normalisation, dropout disabled
    assert sum(isinstance(m, nn.ReLU) for m in modules) == len(three)
    assert not any(isinstance(m, (nn.LeakyReLU, nn.PReLU, nn.modules.batchnorm._NormBase, nn.GroupNorm))
                   for m in modules)
    assert all(m.p == 0.0 for m in modules if isinstance(m, nn.Dropout))
    # features doubled after each pooling
    encoder = [net.conv_0, net.down_1.convs, net.down_2.convs, net.down_3.convs, net.down_4.convs]
    assert [e.conv_1.conv.out_channels for e in encoder] == [base * 2**k for k in range(5)]
    # expanding path: transposed convolution output concatenated with the contracting path's features
    for upcat, skip in zip([net.upcat_4, net.upcat_3, net.upcat_2, net.upcat_1], encoder[3::-1]):
        up = upcat.upsample.deconv.out_channels
        assert upcat.convs.conv_0.conv.in_channels == skip.conv_1.conv.out_channels + up


def _reference_unet(x: torch.Tensor, net: BasicUNet) -> torch.Tensor:
    """The paper's description written out with torch.nn.functional, using ``net``'s weights."""

    def two_convs(t, block):
        for conv in (block.conv_0.conv, block.conv_1.conv):
            t = F.relu(F.conv3d(t, conv.weight, conv.bias, padding=1))
        return t

    skips = [two_convs(x, net.conv_0)]
    for down in (net.down_1, net.down_2, net.down_3, net.down_4):
        skips.append(two_convs(F.max_pool3d(skips[-1], kernel_size=2, stride=2), down.convs))
    t = skips.pop()
    for upcat in (net.upcat_4, net.upcat_3, net.upcat_2, net.upcat_1):
        deconv = upcat.upsample.deconv
        t = F.conv_transpose3d(t, deconv.weight, deconv.bias, stride=2)
        t = two_convs(torch.cat([skips.pop(), t], dim=1), upcat.convs)
    return F.conv3d(t, net.final_conv.weight, net.final_conv.bias)


def test_forward_equals_the_papers_description_and_keeps_the_input_size():
    torch.manual_seed(0)
    net = salehi2017_unet(base=4).eval()
    x = torch.randn(2, 3, 16, 32, 16)
    with torch.no_grad():
        out, expected = net(x), _reference_unet(x, net)
    assert out.shape == (2, 2, 16, 32, 16)
    torch.testing.assert_close(out, expected)
    probabilities = torch.softmax(out, dim=1)  # the paper's softmax classifier
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2, 16, 32, 16))
