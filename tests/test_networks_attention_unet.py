"""AttentionPyramidUNet (abraham2018 2.2): train/eval outputs in 2D and 3D, the input pyramid, the attention gates,
deep supervision with MONAI's DeepSupervisionLoss, gradients, determinism, export and input validation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from monai.losses import DeepSupervisionLoss, DiceLoss
from monai.networks.nets.attentionunet import AttentionBlock
from monai_tversky.networks import AttentionPyramidUNet, GatedDecoderLevel

SMALL = (4, 8, 16, 32)  # four levels like the paper's default, few feature maps


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "spatial_dims, shape",
    [(2, (2, 3, 64, 48)), (3, (2, 1, 16, 32, 24))],
)
def test_train_mode_returns_final_then_side_outputs_at_their_own_scale(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 2, channels=SMALL).train()
    outputs = net(torch.randn(*shape))
    assert isinstance(outputs, list) and len(outputs) == len(SMALL) - 1
    spatial = np.array(shape[2:])
    for level, out in enumerate(outputs):  # final (level 0), side at 1/2, side at 1/4
        assert out.shape == (shape[0], 2, *(spatial // 2**level))


@pytest.mark.parametrize("spatial_dims, shape", [(2, (1, 3, 32, 64)), (3, (1, 2, 16, 16, 8))])
def test_eval_mode_returns_only_the_final_output(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 1, channels=SMALL)
    train_final = net.train()(torch.zeros(*shape))[0]
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(*shape))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 1, *shape[2:])
    assert train_final.shape == out.shape


def test_default_channels_on_the_isic_image_size():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 3, 1).eval()  # channels (32, 64, 128, 256), ISIC 2018 resampled to 192 x 256
    with torch.no_grad():
        out = net(torch.rand(1, 3, 192, 256))
    assert out.shape == (1, 1, 192, 256) and torch.isfinite(out).all()


def test_without_deep_supervision_train_mode_returns_a_tensor():
    net = AttentionPyramidUNet(2, 1, 1, channels=SMALL, deep_supervision=False).train()
    assert len(net.side_heads) == 0
    out = net(torch.randn(2, 1, 16, 16))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 16, 16)


def test_attention_gates_on_every_skip_but_the_first_and_pyramid_on_every_pooled_encoder_level():
    channels = (4, 8, 16, 32, 64)
    net = AttentionPyramidUNet(2, 3, 1, channels=channels)
    gates = [m for m in net.modules() if isinstance(m, AttentionBlock)]
    assert len(gates) == len(channels) - 2
    # decoders run coarse to fine: levels 3, 2, 1 are gated, level 0 (the first skip connection) is not
    assert [d.gate is not None for d in net.decoders] == [True, True, True, False]
    for decoder, level in zip(net.decoders[:-1], (3, 2, 1)):
        # gating signal: the coarser level's features (channels[level + 1] maps); skip: channels[level] maps
        assert decoder.gate.W_g[0].conv.in_channels == channels[level + 1]
        assert decoder.gate.W_x[0].conv.in_channels == channels[level]
    # image pyramid into encoder levels 1 .. L-2 (each followed by a max pooling); not into the bottleneck
    assert [e.image_conv is not None for e in net.encoders] == [True, True, True, False]
    for encoder, level in zip(net.encoders[:-1], (1, 2, 3)):
        assert encoder.image_conv.conv.in_channels == 3 and encoder.image_conv.conv.out_channels == channels[level]
    assert len(net.side_heads) == len(channels) - 2


def test_input_pyramid_parameter_count_and_ablation():
    channels, in_ch = (4, 8, 16, 32), 3
    with_pyramid = _n_params(AttentionPyramidUNet(2, in_ch, 1, channels=channels))
    without = _n_params(AttentionPyramidUNet(2, in_ch, 1, channels=channels, input_pyramid=False))
    # each injected level l: a 3x3 convolution in_ch -> c_l with bias, and c_l more input maps for its first 3x3 conv
    extra = sum(in_ch * c * 9 + c + c * c * 9 for c in channels[1:-1])
    assert with_pyramid - without == extra


def test_pyramid_images_are_the_input_average_pooled_to_each_scale():
    torch.manual_seed(0)
    net = AttentionPyramidUNet(2, 2, 1, channels=(4, 8, 16, 32)).eval()
    x = torch.randn(1, 2, 16, 24)
    seen = []
    hooks = [
        e.image_conv.register_forward_hook(lambda m, i, o: seen.append(i[0])) for e in net.encoders if e.image_conv
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    xn = x.numpy()
    for level, image in enumerate(seen, start=1):
        f = 2**level
        block_mean = xn.reshape(1, 2, 16 // f, f, 24 // f, f).mean(axis=(3, 5))
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
    # independent: weights 1, 1/2, 1/4; the label resized by nearest-exact, i.e. the centre voxel of each 2^l block
    expected = sum(
        0.5**level * dice(out, label[..., 2**level // 2 :: 2**level, 2**level // 2 :: 2**level])
        for level, out in enumerate(outputs)
    )
    torch.testing.assert_close(combined, expected)


@pytest.mark.parametrize("spatial_dims, shape", [(2, (2, 3, 16, 16)), (3, (2, 1, 8, 8, 16))])
def test_every_parameter_receives_a_gradient(spatial_dims, shape):
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims, shape[1], 1, channels=SMALL).train()
    outputs = net(torch.randn(*shape))
    sum((out * torch.randn_like(out)).sum() for out in outputs).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
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
        assert len(got) == len(expected) == 3
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
        (2, (1, 3, 32, 36), "multiple of 8.*spatial size 36"),
        (2, (1, 3, 16, 16, 16), "expects a 4D input"),
        (3, (1, 3, 16, 16), "expects a 5D input"),
        (3, (1, 3, 16, 12, 16), "multiple of 8.*spatial size 12"),
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
    net = AttentionPyramidUNet(spatial_dims, 1, 1, channels=SMALL).train()  # smallest size: 8
    smallest = (8,) * spatial_dims
    with pytest.raises(ValueError, match=r"training mode needs more than one value per channel at its coarsest level "
                                         r"for batch norm.*batch size 1.*batch size > 1 or a larger input"):
        net(torch.randn(1, 1, *smallest))
    with pytest.raises(Exception, match="more than one value per channel"):
        torch.jit.script(net)(torch.randn(1, 1, *smallest))
    assert net(torch.randn(2, 1, *smallest))[0].shape == (2, 1, *smallest)
    larger = (16,) + smallest[1:]
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
