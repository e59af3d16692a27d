"""AttentionPyramidUNet (abraham2018 2.2): the default structure against the authors' Keras code (``attn_reg`` in
``newmodels.py`` of github.com/nabsabraham/focal-tversky-unet), train/eval outputs in 2D and 3D, the input pyramid,
the attention gates, deep supervision with MONAI's DeepSupervisionLoss and DeepSupervisionCombinedLoss, gradients,
determinism, export and input validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from monai.losses import DeepSupervisionLoss, DiceLoss, TverskyLoss
from monai.networks.nets.attentionunet import AttentionBlock
from monai_tversky.losses import DeepSupervisionCombinedLoss, FocalTverskyLoss
from monai_tversky.networks import (
    ABRAHAM2018_NETWORKS,
    AttentionPyramidUNet,
    GatedDecoderLevel,
    attention_unet_variant,
    final_output,
)

SMALL = (4, 8, 16, 32, 64)  # five levels like the default (attn_reg), few feature maps


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "spatial_dims, shape",
    [(2, (2, 3, 64, 48)), (3, (2, 1, 16, 32, 16))],
)
def test_train_mode_returns_final_then_side_outputs_at_their_own_scale(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 2, channels=SMALL).train()
    outputs = net(torch.randn(*shape))
    assert isinstance(outputs, list) and len(outputs) == len(SMALL) - 1
    spatial = np.array(shape[2:])
    for level, out in enumerate(outputs):  # final (level 0), side at 1/2, 1/4, 1/8
        assert out.shape == (shape[0], 2, *(spatial // 2**level))


@pytest.mark.parametrize("spatial_dims, shape", [(2, (1, 3, 32, 64)), (3, (1, 2, 16, 16, 32))])
def test_eval_mode_returns_only_the_final_output(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 1, channels=SMALL)
    train_final = net.train()(torch.zeros(*shape))[0]
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(*shape))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, *shape[2:])
    assert train_final.shape == out.shape


# The authors' network, attn_reg in newmodels.py (github.com/nabsabraham/focal-tversky-unet, commit 94fa7f7): encoder
# conv1 .. conv4 and center (two 3x3 conv + BN + ReLU each, UnetConv2D), image pyramid conv_scale2 .. conv_scale4
# (AveragePooling2D of the input, 3x3 conv + ReLU, concatenated with pool1 .. pool3), attention gates attn1 .. attn3 on
# conv4, conv3, conv2 (inner maps 128, 64, 32; conv1 is a plain skip), and four outputs, each a 1x1 conv to one map:
# pred1 (conv6, 1/8), pred2 (conv7, 1/4), pred3 (conv8, 1/2), final (conv9, 1).
AUTHORS_CHANNELS = (32, 64, 128, 256, 512)


def _conv_params(cin: int, cout: int, kernel_voxels: int) -> int:
    """A convolution with bias (Keras Conv2D's default and ours)."""
    return cin * cout * kernel_voxels + cout


def _two_conv_params(cin: int, cout: int, spatial_dims: int) -> int:
    """Two 3x3 convolutions, each followed by batch norm (trainable weight and bias per map): Keras UnetConv2D."""
    k = 3**spatial_dims
    return _conv_params(cin, cout, k) + 2 * cout + _conv_params(cout, cout, k) + 2 * cout


def _closed_form_parameter_count(spatial_dims, in_ch, out_ch, channels, input_pyramid=True, deep_supervision=True):
    """Trainable parameters of AttentionPyramidUNet, counted from the architecture in its docstring."""
    num_levels, k = len(channels), 3**spatial_dims
    n = _two_conv_params(in_ch, channels[0], spatial_dims)
    for level in range(1, num_levels):  # pooled encoder levels; the pyramid enters all but the centre
        inject = input_pyramid and level < num_levels - 1
        n += _two_conv_params(channels[level - 1] + inject * channels[level], channels[level], spatial_dims)
        n += inject * _conv_params(in_ch, channels[level], k)
    for level in range(num_levels - 1):  # decoder: 2x transposed conv (kernel 2), two 3x3 convs, gate above level 0
        n += _conv_params(channels[level + 1], channels[level], 2**spatial_dims)
        n += _two_conv_params(2 * channels[level], channels[level], spatial_dims)
        if level > 0:  # MONAI AttentionBlock: 1x1 conv + BN on g and on x, 1x1 conv to one map + BN
            f = channels[level] // 2
            n += _conv_params(channels[level + 1], f, 1) + 2 * f + _conv_params(channels[level], f, 1) + 2 * f
            n += _conv_params(f, 1, 1) + 2
    n += _conv_params(channels[0], out_ch, 1)
    if deep_supervision:
        n += sum(_conv_params(channels[level], out_ch, 1) for level in range(1, num_levels - 1))
    return n


def test_defaults_have_the_five_levels_of_attn_reg():
    net = AttentionPyramidUNet(2, 3, 1)
    assert net.size_divisor == 16  # four 2x max poolings (pool1 .. pool4)
    assert len(net.encoders) == 4 and len(net.decoders) == 4
    encoder = [net.encoder0.conv_1.conv.out_channels] + [e.convs.conv_1.conv.out_channels for e in net.encoders]
    assert encoder == list(AUTHORS_CHANNELS)  # conv1, conv2, conv3, conv4 (see the docstring on its 64), center
    for block in [net.encoder0] + [e.convs for e in net.encoders]:  # UnetConv2D: (3x3 conv, BN, ReLU) x 2
        for conv in (block.conv_0, block.conv_1):
            assert conv.conv.kernel_size == (3, 3) and isinstance(conv.adn.N, nn.BatchNorm2d)
            assert isinstance(conv.adn.A, nn.ReLU)
    # decoder levels 3, 2, 1, 0 (coarse to fine) with the maps of conv6, conv7, conv8, conv9
    assert [d.convs.conv_1.conv.out_channels for d in net.decoders] == [256, 128, 64, 32]


def test_defaults_gate_the_three_coarsest_skips_like_attn_reg():
    net = AttentionPyramidUNet(2, 3, 1)
    gates = [m for m in net.modules() if isinstance(m, AttentionBlock)]
    assert len(gates) == 3
    # decoders run coarse to fine (levels 3, 2, 1, 0): attn1 on conv4, attn2 on conv3, attn3 on conv2; conv1 ungated
    assert [d.gate is not None for d in net.decoders] == [True, True, True, False]
    assert [d.gate for d in net.decoders[:3]] == gates
    for gate, level, inner in zip(gates, (3, 2, 1), (128, 64, 32)):  # attn_reg's inter_shape 128, 64, 32
        assert gate.W_x[0].conv.in_channels == AUTHORS_CHANNELS[level]  # the skip connection
        assert gate.W_g[0].conv.in_channels == AUTHORS_CHANNELS[level + 1]  # gating signal: the coarser features
        assert gate.W_x[0].conv.out_channels == gate.W_g[0].conv.out_channels == inner


def test_defaults_inject_the_image_pyramid_at_the_three_pooled_encoder_levels_like_attn_reg():
    net = AttentionPyramidUNet(2, 3, 1)
    # level 0 takes the image itself (conv1 on img_input); encoders[l - 1] is level l; no pyramid into the centre
    assert net.encoder0.conv_0.conv.in_channels == 3
    assert [e.image_conv is not None for e in net.encoders] == [True, True, True, False]
    assert sum(1 for m in net.modules() if isinstance(m, type(net.encoders[0])) and m.image_conv is not None) == 3
    for level, encoder in enumerate(net.encoders[:3], start=1):  # conv_scale2, conv_scale3, conv_scale4
        conv = encoder.image_conv.conv
        assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (3, AUTHORS_CHANNELS[level], (3, 3))
        assert isinstance(encoder.image_conv.adn.A, nn.ReLU) and "N" not in encoder.image_conv.adn._modules
        assert isinstance(encoder.image_pool, nn.AvgPool2d) and isinstance(encoder.pool, nn.MaxPool2d)
        # input_l = concatenate([conv_scale_l, pool_{l-1}]) feeds the level's two convolutions
        assert encoder.convs.conv_0.conv.in_channels == AUTHORS_CHANNELS[level] + AUTHORS_CHANNELS[level - 1]


def test_defaults_on_the_isic_image_size_give_attn_regs_four_outputs_at_1_half_quarter_eighth():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 3, 1).train()  # ISIC 2018 resampled to 192 x 256, RGB
    heads = [net.final_head, *net.side_heads]  # final (conv9), pred3 (conv8), pred2 (conv7), pred1 (conv6)
    assert [(h.conv.in_channels, h.conv.out_channels, h.conv.kernel_size) for h in heads] == [
        (32, 1, (1, 1)), (64, 1, (1, 1)), (128, 1, (1, 1)), (256, 1, (1, 1))
    ]
    pyramid, decoded, head_inputs = [], [], []
    hooks = [e.image_conv.register_forward_hook(lambda m, i, o: pyramid.append(i[0])) for e in net.encoders[:3]]
    hooks += [d.register_forward_hook(lambda m, i, o: decoded.append(o)) for d in net.decoders]
    hooks += [h.register_forward_hook(lambda m, i, o: head_inputs.append(i[0])) for h in heads]
    with torch.no_grad():
        outputs = net(torch.rand(1, 3, 192, 256))
    for h in hooks:
        h.remove()
    assert [tuple(p.shape[2:]) for p in pyramid] == [(96, 128), (48, 64), (24, 32)]  # input_scale2 .. 4
    assert isinstance(outputs, list) and len(outputs) == 4
    assert [tuple(o.shape) for o in outputs] == [(1, 1, 192, 256), (1, 1, 96, 128), (1, 1, 48, 64), (1, 1, 24, 32)]
    # each output is its head on the decoder level of its scale: decoded runs levels 3, 2, 1, 0
    assert all(a is b for a, b in zip(head_inputs, decoded[::-1]))
    assert all(torch.isfinite(o).all() for o in outputs)
    assert min(o.min() for o in outputs) < 0 or max(o.max() for o in outputs) > 1  # logits, not sigmoids


def test_parameter_count_is_the_closed_form_and_matches_attn_reg_where_the_layers_are_the_same():
    net = AttentionPyramidUNet(2, 3, 1)
    assert _n_params(net) == _closed_form_parameter_count(2, 3, 1, AUTHORS_CHANNELS) == 8_683_725
    for kwargs in ({"input_pyramid": False}, {"deep_supervision": False}):
        assert _n_params(AttentionPyramidUNet(2, 3, 1, **kwargs)) == _closed_form_parameter_count(
            2, 3, 1, AUTHORS_CHANNELS, **kwargs)
    assert _n_params(AttentionPyramidUNet(3, 2, 3, channels=SMALL)) == _closed_form_parameter_count(3, 2, 3, SMALL)
    # attn_reg, counted by hand from newmodels.py (Keras trainable parameters; BN moving statistics excluded):
    # conv1 + conv_scale2 + conv2 + conv_scale3 + conv3, conv_scale4, and the heads final, pred3, pred2, pred1
    keras_levels_0_to_2 = (
        _two_conv_params(3, 32, 2) + _conv_params(3, 64, 9) + _two_conv_params(64 + 32, 64, 2)
        + _conv_params(3, 128, 9) + _two_conv_params(128 + 64, 128, 2)
    )
    assert keras_levels_0_to_2 == 10_272 + 94_336 + 372_992
    assert _n_params(net.encoder0) + _n_params(net.encoders[0]) + _n_params(net.encoders[1]) == keras_levels_0_to_2
    assert _n_params(net.encoders[2].image_conv) == _conv_params(3, 256, 9) == 7_168
    assert [_n_params(h) for h in [net.final_head, *net.side_heads]] == [33, 65, 129, 257]


def test_bus_grayscale_128_trains_with_the_combined_loss_and_evaluates_to_one_map():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 1, 1).train()  # BUS 2017 resampled to 128 x 128, one channel
    x = torch.rand(2, 1, 128, 128)
    label = (torch.rand(2, 1, 128, 128) > 0.9).float()
    outputs = net(x)
    assert [tuple(o.shape[2:]) for o in outputs] == [(128, 128), (64, 64), (32, 32), (16, 16)]
    loss = DeepSupervisionCombinedLoss(
        final_loss=TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True),
        side_loss=FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, sigmoid=True),
    )(outputs, label)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 128, 128))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, 128, 128)


def test_without_deep_supervision_train_mode_returns_a_tensor():
    net = AttentionPyramidUNet(2, 1, 1, channels=SMALL, deep_supervision=False).train()
    assert len(net.side_heads) == 0
    out = net(torch.randn(2, 1, 16, 16))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 16, 16)


def test_gates_and_pyramid_follow_the_level_count():
    for channels in [(4, 8, 16), (4, 8, 16, 32), (4, 8, 16, 32, 64, 128)]:
        net = AttentionPyramidUNet(2, 3, 1, channels=channels)
        levels = len(channels)
        assert [d.gate is not None for d in net.decoders] == [True] * (levels - 2) + [False]
        assert [e.image_conv is not None for e in net.encoders] == [True] * (levels - 2) + [False]
        assert len(net.side_heads) == levels - 2


def test_input_pyramid_parameter_count_and_ablation():
    channels, in_ch = SMALL, 3
    with_pyramid = _n_params(AttentionPyramidUNet(2, in_ch, 1, channels=channels))
    without = _n_params(AttentionPyramidUNet(2, in_ch, 1, channels=channels, input_pyramid=False))
    # each injected level l: a 3x3 convolution in_ch -> c_l with bias, and c_l more input maps for its first 3x3 conv
    extra = sum(in_ch * c * 9 + c + c * c * 9 for c in channels[1:-1])
    assert with_pyramid - without == extra


def test_without_attention_the_skips_are_plain_and_only_the_gates_parameters_go():
    torch.manual_seed(0)
    gated = AttentionPyramidUNet(2, 3, 1, channels=SMALL)
    plain = AttentionPyramidUNet(2, 3, 1, channels=SMALL, attention=False)
    assert not any(isinstance(m, AttentionBlock) for m in plain.modules())
    assert all(d.gate is None for d in plain.decoders)
    gates = sum(_n_params(d.gate) for d in gated.decoders if d.gate is not None)
    assert gates > 0 and _n_params(gated) - _n_params(plain) == gates
    # the rest of the structure (pyramid, outputs) is unchanged
    assert [e.image_conv is not None for e in plain.encoders] == [e.image_conv is not None for e in gated.encoders]
    outputs = plain.train()(torch.randn(2, 3, 32, 48))
    assert [tuple(o.shape[-2:]) for o in outputs] == [(32, 48), (16, 24), (8, 12), (4, 6)]


def test_plain_skips_concatenate_the_encoder_features_unchanged():
    """attention=False: the decoder sees the skip as it is (no gate scaling)."""
    torch.manual_seed(0)
    decoder = GatedDecoderLevel(2, 8, 4, 4, "relu", "batch", True, 0.0, attention=False).eval()
    seen = {}
    decoder.convs.register_forward_hook(lambda m, inputs, out: seen.setdefault("x", inputs[0]))
    skip, coarse = torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        decoder(coarse, skip)
    assert torch.equal(seen["x"][:, :4], skip)


@pytest.mark.parametrize(
    "variant, gates, pyramid, outputs",
    [("unet", 0, 0, 1), ("attn_unet", 3, 0, 4), ("attn_unet_pyramid", 3, 3, 4)],
)
def test_ablation_variants_of_abraham2018(variant, gates, pyramid, outputs):
    """The networks of Tables 1-2: U-Net (authors' unet), Attn U-Net (attn_reg_ds), + Multi-Input (attn_reg)."""
    options = attention_unet_variant(variant)
    net = AttentionPyramidUNet(2, 3, 1, channels=SMALL, **options).train()
    assert sum(d.gate is not None for d in net.decoders) == gates
    assert sum(e.image_conv is not None for e in net.encoders) == pyramid
    out = net(torch.randn(2, 3, 32, 32))
    assert (len(out) if isinstance(out, list) else 1) == outputs
    assert final_output(out).shape == (2, 1, 32, 32)
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 32, 32)).shape == (1, 1, 32, 32)


def test_attention_unet_variant_names_and_errors():
    assert attention_unet_variant("attn_unet_pyramid") == {"attention": True, "input_pyramid": True,
                                                           "deep_supervision": True}
    # the proposed network is the default one
    default = AttentionPyramidUNet(2, 3, 1)
    assert {k: getattr(default, k) for k in ("attention", "input_pyramid", "deep_supervision")} == \
        ABRAHAM2018_NETWORKS["attn_unet_pyramid"]
    assert attention_unet_variant(" U-Net ".strip().replace("-", "")) == ABRAHAM2018_NETWORKS["unet"]
    assert attention_unet_variant("Attn-UNet") == ABRAHAM2018_NETWORKS["attn_unet"]
    options = attention_unet_variant("unet")
    options["attention"] = True  # a copy: the table is not changed
    assert ABRAHAM2018_NETWORKS["unet"]["attention"] is False
    with pytest.raises(ValueError, match="unknown network variant 'resnet'; choose one of unet, attn_unet"):
        attention_unet_variant("resnet")


def test_final_output_takes_the_full_resolution_output():
    final, side = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 4, 4)
    assert final_output([final, side]) is final and final_output((final, side)) is final
    assert final_output(final) is final
    with pytest.raises(TypeError, match="expected a tensor or a list"):
        final_output([])
    with pytest.raises(TypeError, match="expected a tensor or a list"):
        final_output({"pred": final})


def test_pyramid_images_are_the_input_average_pooled_to_each_scale():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 2, 1, channels=SMALL).eval()
    x = torch.randn(1, 2, 32, 48)
    seen = []
    hooks = [
        e.image_conv.register_forward_hook(lambda m, i, o: seen.append(i[0])) for e in net.encoders if e.image_conv
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    xn = x.numpy()
    assert len(seen) == 3
    for level, image in enumerate(seen, start=1):
        f = 2**level
        block_mean = xn.reshape(1, 2, 32 // f, f, 48 // f, f).mean(axis=(3, 5))
        np.testing.assert_allclose(image.numpy(), block_mean, rtol=1e-5, atol=1e-6)



def _bilinear_2x_numpy(a: np.ndarray) -> np.ndarray:
    """Hand-worked 2x bilinear upsampling (half-pixel centres, edge clamped) of the last two axes."""
    for axis in (-2, -1):
        n = a.shape[axis]
        idx = np.arange(n)
        prev, nxt = np.take(a, np.maximum(idx - 1, 0), axis=axis), np.take(a, np.minimum(idx + 1, n - 1), axis=axis)
        even, odd = 0.75 * a + 0.25 * prev, 0.75 * a + 0.25 * nxt
        a = np.stack([even, odd], axis=axis).reshape(*a.shape[:axis % a.ndim], 2 * n, *a.shape[axis % a.ndim + 1:])
    return a


def test_gate_is_driven_by_the_coarser_features_and_scales_the_skip_by_one_coefficient_per_pixel():
    torch.manual_seed(0)
    level = GatedDecoderLevel(2, coarse_channels=6, skip_channels=4, out_channels=4, act="relu", norm="batch",
                              bias=True, dropout=0.0, attention=True).eval()
    coarse, skip = torch.randn(2, 6, 5, 7), torch.randn(2, 4, 10, 14)
    seen = {}
    hook = level.gate.register_forward_hook(lambda m, args, kwargs, out: seen.update(kwargs, out=out), with_kwargs=True)
    with torch.no_grad():
        level(coarse, skip)
    hook.remove()
    np.testing.assert_allclose(seen["g"].numpy(), _bilinear_2x_numpy(coarse.numpy()), rtol=1e-5, atol=1e-6)
    assert torch.equal(seen["x"], skip)
    coefficients = seen["out"] / skip  # additive attention: x * alpha, alpha in [0, 1] shared by all channels
    torch.testing.assert_close(coefficients, coefficients[:, :1].expand_as(coefficients), rtol=1e-4, atol=1e-5)
    assert coefficients.min() >= 0 and coefficients.max() <= 1


def test_train_outputs_feed_monai_deep_supervision_loss():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 1, 1, channels=SMALL).train()
    x = torch.randn(2, 1, 32, 32)
    label = (torch.rand(2, 1, 32, 32) > 0.7).float()
    outputs = net(x)
    dice = DiceLoss(sigmoid=True)
    combined = DeepSupervisionLoss(dice, weight_mode="exp")(outputs, label)
    # independent: weights 1, 1/2, 1/4, 1/8; the label resized by nearest-exact, i.e. the centre voxel of each 2^l block
    expected = sum(
        0.5**level * dice(out, label[..., 2**level // 2 :: 2**level, 2**level // 2 :: 2**level])
        for level, out in enumerate(outputs)
    )
    torch.testing.assert_close(combined, expected)


def test_train_outputs_feed_the_combined_loss_with_labels_resized_to_each_of_the_four_scales():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 1, 1, channels=SMALL).train()
    label = (torch.rand(2, 1, 32, 48) > 0.7).float()
    outputs = net(torch.randn(2, 1, 32, 48))
    assert len(outputs) == 4
    final = TverskyLoss(alpha=0.3, beta=0.7, sigmoid=True)
    side = FocalTverskyLoss(alpha=0.3, beta=0.7, gamma=4 / 3, sigmoid=True)
    combined = DeepSupervisionCombinedLoss(final_loss=final, side_loss=side)(outputs, label)
    # abraham2018 / attn_reg: Tversky on the final output, focal Tversky on the three side outputs, all weights 1
    resized = [label[..., f // 2 :: f, f // 2 :: f] for f in (2, 4, 8)]
    assert [tuple(r.shape[2:]) for r in resized] == [tuple(o.shape[2:]) for o in outputs[1:]]
    expected = final(outputs[0], label) + sum(side(o, r) for o, r in zip(outputs[1:], resized))
    torch.testing.assert_close(combined, expected)


def _biases_before_batch_norm(net: torch.nn.Module) -> set[str]:
    """Names of the convolution biases whose output goes straight into batch norm (MONAI's ``Convolution`` with a
    norm, the attention gate's ``W_g``, ``W_x`` and ``psi``): batch norm in training mode subtracts the batch mean,
    so such a bias cancels and its gradient is zero by construction (up to float rounding)."""
    names = {id(p): n for n, p in net.named_parameters()}
    found = set()

    def edge(m: torch.nn.Module, last: bool) -> torch.nn.Module:
        while isinstance(m, torch.nn.Sequential) and len(m):
            m = m[-1] if last else m[0]
        return m

    for module in net.modules():
        children = list(module.children())
        for a, b in zip(children, children[1:]):
            conv, norm = edge(a, last=True), edge(b, last=False)
            if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm) and isinstance(
                conv, torch.nn.modules.conv._ConvNd
            ) and conv.bias is not None:
                found.add(names[id(conv.bias)])
    return found


@pytest.mark.parametrize("spatial_dims, shape", [(2, (2, 3, 16, 32)), (3, (2, 1, 16, 16, 16))])
def test_every_parameter_receives_a_gradient(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 1, channels=SMALL).train()
    outputs = net(torch.randn(*shape))
    sum((out * torch.randn_like(out)).sum() for out in outputs).backward()
    cancelled = _biases_before_batch_norm(net)
    assert any(".gate.psi." in n for n in cancelled) and any("encoder0.conv_0.conv.bias" == n for n in cancelled)
    largest = max(float(p.grad.abs().max()) for p in net.parameters())
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if name in cancelled:  # zero in exact arithmetic: only rounding is left
            assert float(p.grad.abs().max()) <= 1e-4 * largest, name
        else:
            assert p.grad.abs().sum() > 0, name


def test_deterministic_under_a_fixed_seed():
    x = torch.randn(2, 3, 16, 16)
    runs = []
    for _ in range(2):
        torch.manual_seed(321)
        net = AttentionPyramidUNet(2, 3, 1, channels=SMALL, dropout=0.1).train()
        torch.manual_seed(5)
        runs.append((net.state_dict(), net(x)))
    for key in runs[0][0]:
        torch.testing.assert_close(runs[0][0][key], runs[1][0][key], rtol=0, atol=0)
    for a, b in zip(runs[0][1], runs[1][1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("train", [True, False])
def test_torchscript_script_matches_eager_in_train_and_eval_mode(train):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 3, 1, channels=SMALL).train(train)
    x = torch.randn(2, 3, 16, 16)
    scripted = torch.jit.script(net)
    with torch.no_grad():
        expected, got = net(x), scripted(x)
    if train:
        assert len(got) == len(expected) == 4
        for a, b in zip(expected, got):
            torch.testing.assert_close(a, b)
    else:
        torch.testing.assert_close(got, expected)


def test_trace_in_eval_mode_matches_eager():
    from monai.networks.utils import convert_to_torchscript

    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 3, 1, channels=(4, 8, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # verify=True compares the traced module's output against the eager module's (convert_to_torchscript: eval)
        ts = convert_to_torchscript(net, inputs=[torch.randn(1, 3, 16, 16)], verify=True, use_trace=True,
                                    rtol=1e-5, atol=1e-6)
    assert isinstance(ts, torch.jit.ScriptModule)


def test_onnx_export_in_eval_mode_is_valid_and_matches_eager():
    onnx = pytest.importorskip("onnx")
    from monai.networks.utils import convert_to_onnx

    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 3, 1, channels=(4, 8, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # verify=True runs the exported graph (onnx.reference; onnxruntime is not needed) and compares the outputs
        model = convert_to_onnx(net, [torch.randn(1, 3, 16, 16)], input_names=["x"], output_names=["logits"],
                                verify=True, rtol=1e-4, atol=1e-5)
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["logits"]


@pytest.mark.parametrize(
    "spatial_dims, shape, message",
    [
        (2, (1, 2, 32, 32), "built for 3 input channels, got 2"),
        (2, (1, 3, 32, 36), "multiple of 16.*spatial size 36"),
        (2, (1, 3, 16, 16, 16), "expects a 4D input"),
        (3, (1, 3, 16, 16), "expects a 5D input"),
        (3, (1, 3, 16, 12, 16), "multiple of 16.*spatial size 12"),
    ],
)
def test_bad_input_raises_a_clear_value_error(spatial_dims, shape, message):
    net = AttentionPyramidUNet(spatial_dims, 3, 1, channels=SMALL)
    with pytest.raises(ValueError, match=message):
        net(torch.randn(*shape))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_training_with_one_value_per_channel_at_the_bottleneck_is_a_clear_value_error(spatial_dims):
    """Batch norm in training needs > 1 value per channel; batch 1 at the smallest size leaves 1 at the bottleneck."""
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, 1, 1, channels=SMALL).train()  # smallest size: 16
    smallest = (16,) * spatial_dims
    with pytest.raises(ValueError, match=r"training mode needs more than one value per channel at its coarsest level "
                                         r"for batch norm.*batch size 1.*batch size > 1 or a larger input"):
        net(torch.randn(1, 1, *smallest))
    with pytest.raises(Exception, match="more than one value per channel"):
        torch.jit.script(net)(torch.randn(1, 1, *smallest))
    assert net(torch.randn(2, 1, *smallest))[0].shape == (2, 1, *smallest)
    larger = (32,) + smallest[1:]
    assert net(torch.randn(1, 1, *larger))[0].shape == (1, 1, *larger)
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 1, *smallest)).shape == (1, 1, *smallest)
    no_norm = AttentionPyramidUNet(spatial_dims, 1, 1, channels=SMALL, norm=None).train()
    assert not no_norm.coarsest_batch_norm and net.coarsest_batch_norm
    assert no_norm(torch.randn(1, 1, *smallest))[0].shape == (1, 1, *smallest)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"spatial_dims": 4}, ValueError, "spatial_dims"),
        ({"channels": (32,)}, ValueError, "at least 2"),
        ({"channels": (32, 0)}, ValueError, r"channels\[1\]"),
        ({"in_channels": 0}, ValueError, "in_channels"),
        ({"out_channels": 1.5}, TypeError, "out_channels"),
        ({"dropout": 1.0}, ValueError, "dropout"),
    ],
)
def test_bad_hyperparameters_are_rejected_at_construction(kwargs, error, message):
    args = {"spatial_dims": 2, "in_channels": 3, "out_channels": 1}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        AttentionPyramidUNet(**args)


def test_bundle_config_resolves_the_short_name():
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {"imports": ["$import monai_tversky"],
         "network_def": {"_target_": "AttentionPyramidUNet", "spatial_dims": 2, "in_channels": 3, "out_channels": 1}}
    )
    assert isinstance(parser.get_parsed_content("network_def"), AttentionPyramidUNet)
