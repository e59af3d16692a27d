"""AutocastInferer (issue 21): the bf16 autocast / channels-last wrapper the bundles train through on a CPU. Its outputs
are float32 and agree with the float32 network to bf16's precision, the network's parameters stay float32 (and are
converted to channels-last once), deep-supervision lists come back cast, and a training step through it moves the
weights as the float32 step does."""

from __future__ import annotations

import copy

import pytest
import torch
from monai.inferers import SimpleInferer

from monai_tversky.inferers import AutocastInferer, cpu_supports_bf16
from monai_tversky.networks import AttentionPyramidUNet


def _net(deep_supervision: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    return AttentionPyramidUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(4, 8, 16, 32, 64),
                                deep_supervision=deep_supervision).eval()  # fmt: skip


def test_outputs_are_float32_and_match_the_float32_network():
    net = _net()
    x = torch.rand(2, 1, 32, 32)
    expected = net(x)
    got = AutocastInferer(channels_last=True)(x, net)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    # bf16 keeps 8 bits of mantissa: logits agree to a few percent of their spread
    assert (got - expected).abs().max() <= 0.05 * expected.abs().max() + 0.05
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_disabled_is_the_plain_inferer():
    net = _net()
    x = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(AutocastInferer(enabled=False)(x, net), SimpleInferer()(x, net))


def test_channels_last_converts_the_network_once():
    net = _net()
    inferer = AutocastInferer(enabled=False, channels_last=True)
    inferer(torch.rand(1, 1, 32, 32), net)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(inferer._converted) == 1
    inferer(torch.rand(1, 1, 32, 32), net)
    assert len(inferer._converted) == 1
    conv3d = torch.nn.Conv3d(1, 2, 3)
    out = AutocastInferer(channels_last=True)(torch.rand(1, 1, 6, 6, 6), conv3d)  # 5D: channels_last_3d
    assert out.dtype == torch.float32 and conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_deep_supervision_outputs_are_cast():
    net = _net(deep_supervision=True).train()
    outputs = AutocastInferer()(torch.rand(2, 1, 32, 32), net)
    assert isinstance(outputs, list) and len(outputs) == 4
    assert all(o.dtype == torch.float32 for o in outputs)


def test_a_training_step_moves_the_weights_as_float32_does():
    """One SGD step through the wrapper and one in float32 from the same weights: the updates agree in direction
    (cosine > 0.95; 0.98 measured: bf16 rounds each product) and size (within 10 %)."""
    net32 = _net().train()
    net16 = copy.deepcopy(net32)
    x, y = torch.rand(4, 1, 32, 32), (torch.rand(4, 1, 32, 32) > 0.8).float()
    updates = []
    for net, inferer in ((net32, SimpleInferer()), (net16, AutocastInferer(channels_last=True))):
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(inferer(x, net), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        updates.append(torch.cat([p.detach().flatten() for p in net.parameters()]) - before)
    cosine = torch.nn.functional.cosine_similarity(updates[0], updates[1], dim=0)
    assert cosine > 0.95 and abs(updates[1].norm() / updates[0].norm() - 1) < 0.1


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="dtype"):
        AutocastInferer(dtype="int8")
    with pytest.raises(ValueError, match="bfloat16 or torch.float16"):
        AutocastInferer(dtype=torch.float32)
    with pytest.raises(ValueError, match="device_type"):
        AutocastInferer(device_type="tpu")
    with pytest.raises(TypeError, match="channels_last must be True or False"):
        AutocastInferer(channels_last="yes")
    with pytest.raises(TypeError, match="inferer must be"):
        AutocastInferer(inferer=3)
    assert AutocastInferer(dtype="bf16").dtype == torch.bfloat16
    assert isinstance(cpu_supports_bf16(), bool)
