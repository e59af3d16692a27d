"""PatchDenseNet3D (hashemi2018 III.A.2): shapes, the paper's structure, parameter bookkeeping, gradients,
determinism, TorchScript/ONNX export and input validation."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from monai_tversky.networks import DenseBottleneckLayer, PatchDenseNet3D

# a small configuration that keeps every structural feature (5 levels, dropout, bottlenecks) but runs in well under a
# second on a CPU at 32^3
TINY = dict(growth_rate=3, num_blocks=5, layers_per_block=2, init_features=4, upsample_features=3)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_parameter_count(
    in_channels=5, out_channels=1, growth_rate=12, num_blocks=5, layers_per_block=4, init_features=24, bn_size=4,
    compression=0.5, upsample_features=16, input_stride=1,
) -> int:
    """Closed-form parameter count of the architecture as the paper describes it (bias-free convolutions followed by
    batch norm with weight and bias; the classifier has a bias), written independently of the implementation."""
    k, u, s = growth_rate, upsample_features, input_stride
    bn = 2  # batch-norm weight + bias per channel
    total = 0
    stem_in = in_channels
    if s > 1:  # extra s^3 stride-s convolution
        total += in_channels * init_features * s**3 + bn * init_features
        stem_in = init_features
    total += stem_in * init_features * 27 + bn * init_features  # three initial 3x3x3 convolutions
    total += 2 * (init_features * init_features * 27 + bn * init_features)
    c, fused = init_features, 0
    for level in range(num_blocks):
        if level > 0:  # transition: 1x1x1 convolution, compression, max pooling
            reduced = int(c * compression)
            total += c * reduced + bn * reduced
            c = reduced
        for _ in range(layers_per_block):  # 1x1x1 bottleneck to 4k maps, 3x3x3 convolution to k maps
            total += c * bn_size * k + bn * bn_size * k + bn_size * k * k * 27 + bn * k
            c += k
        if level == 0:
            fused += c
        else:  # `level` 2x2x2 stride-2 transposed convolutions
            total += c * u * 8 + bn * u + (level - 1) * (u * u * 8 + bn * u)
            fused += u
    if s > 1:  # transposed convolution restoring the input resolution
        total += fused * init_features * s**3 + bn * init_features
        fused = init_features
    return total + fused * out_channels + out_channels


def test_default_is_the_paper_configuration_and_maps_64_cubed_patches_to_logits_of_the_same_size():
    torch.manual_seed(0)
    net = PatchDenseNet3D().eval()  # 5 MSSEG channels, growth rate 12, 5 dense blocks of 4 layers
    with torch.no_grad():
        out = net(torch.randn(1, 5, 64, 64, 64))
    assert out.shape == (1, 1, 64, 64, 64)
    assert torch.isfinite(out).all()
    assert _n_params(net) == expected_parameter_count()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"input_stride": 2, "in_channels": 4},
        dict(TINY, bn_size=2, compression=0.75, out_channels=2),
        dict(TINY, input_stride=3, num_blocks=2),
    ],
)
def test_parameter_count_matches_the_closed_form(kwargs):
    assert _n_params(PatchDenseNet3D(**kwargs)) == expected_parameter_count(**kwargs)


def test_input_stride_2_takes_128_cubed_patches_and_restores_the_resolution():
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=4, input_stride=2, growth_rate=2, num_blocks=3, layers_per_block=1,
                          init_features=4, upsample_features=2).eval()
    first = net.stem.input_stride_conv.conv
    assert isinstance(first, nn.Conv3d) and first.kernel_size == (2, 2, 2) and first.stride == (2, 2, 2)
    restore = net.head.restore_resolution.conv
    assert isinstance(restore, nn.ConvTranspose3d) and restore.kernel_size == (2, 2, 2) and restore.stride == (2,) * 3
    seen = []
    hook = net.stem.conv0.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with torch.no_grad():
        out = net(torch.randn(1, 4, 128, 128, 128))
    hook.remove()
    assert seen == [torch.Size([1, 4, 64, 64, 64])]  # the dense part runs at half resolution
    assert out.shape == (1, 1, 128, 128, 128)


@pytest.mark.slow
def test_paper_configuration_with_input_stride_2_maps_128_cubed_patches_to_logits_of_the_same_size():
    """hashemi2018's ISBI setting at full size: the paper's network with the extra stride-2 convolution, 128^3."""
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=5, input_stride=2).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 5, 128, 128, 128))
    assert out.shape == (1, 1, 128, 128, 128)
    assert torch.isfinite(out).all()
    assert _n_params(net) == expected_parameter_count(in_channels=5, input_stride=2)


def test_structure_follows_the_paper():
    net = PatchDenseNet3D()  # hashemi2018 III.A.2 with its sizes
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))]
    plain = [m for m in convs if isinstance(m, nn.Conv3d)]
    # three initial 3x3x3 convolutions + five dense blocks of four 3x3x3 convolutions
    assert sum(m.kernel_size == (3, 3, 3) for m in plain) == 3 + 5 * 4
    stem = [m for m in net.stem.modules() if isinstance(m, nn.Conv3d)]
    assert len(stem) == 3 and all(m.kernel_size == (3, 3, 3) and m.padding == (1, 1, 1) for m in stem)
    for level_index, level in enumerate(net.levels):
        layers = [m for m in level.block.modules() if isinstance(m, DenseBottleneckLayer)]
        assert len(layers) == 4
        for layer in layers:  # 1x1x1 bottleneck (4k maps) before each 3x3x3 convolution (k = 12 maps)
            assert layer.bottleneck.conv.kernel_size == (1, 1, 1) and layer.bottleneck.conv.out_channels == 48
            assert layer.conv.conv.kernel_size == (3, 3, 3) and layer.conv.conv.out_channels == 12
            # dropout 0.2 only after the 3x3x3 convolution, after batch norm and ReLU
            assert [type(m) for m in layer.conv.adn] == [nn.BatchNorm3d, nn.ReLU, nn.Dropout]
            assert layer.conv.adn.D.p == pytest.approx(0.2)
            assert not any(isinstance(m, nn.Dropout) for m in layer.bottleneck.modules())
        if level_index == 0:
            assert level.transition is None
        else:  # transition block: 1x1x1 convolution + max pooling with stride 2
            conv, pool = level.transition.conv.conv, level.transition.pool
            assert conv.kernel_size == (1, 1, 1)
            assert isinstance(pool, nn.MaxPool3d) and pool.kernel_size == 2 and pool.stride == 2
            ups = [m for m in level.upsample.modules() if isinstance(m, nn.ConvTranspose3d)]
            assert len(ups) == level_index and all(m.stride == (2, 2, 2) for m in ups)
    # every convolution but the classifier is followed by batch norm and ReLU
    n_norm = sum(isinstance(m, nn.BatchNorm3d) for m in net.modules())
    n_relu = sum(isinstance(m, nn.ReLU) for m in net.modules())
    assert n_norm == n_relu == len(convs) - 1
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 20
    classifier = net.head.classifier.conv
    assert classifier.kernel_size == (1, 1, 1) and classifier.out_channels == 1


def test_every_dense_block_reaches_the_classifier_at_input_resolution():
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=2, **TINY).eval()
    shapes = []
    hooks = [lvl.register_forward_hook(lambda m, i, o: shapes.append((o[0].shape, o[1].shape))) for lvl in net.levels]
    with torch.no_grad():
        net(torch.randn(1, 2, 32, 32, 32))
    for h in hooks:
        h.remove()
    for level, (block_shape, up_shape) in enumerate(shapes):
        assert tuple(block_shape[2:]) == (32 // 2**level,) * 3
        assert tuple(up_shape[2:]) == (32, 32, 32)
    # block 0 is used as it is (4 + 2 * 3 maps), the others through 3-map upsampling paths
    assert net.head.classifier.conv.in_channels == 10 + 4 * 3


def test_dense_layer_is_conv_bn_relu_then_dropout_and_concatenates_its_input():
    torch.manual_seed(0)
    layer = DenseBottleneckLayer(5, growth_rate=3, bn_size=2, dropout_prob=0.2, act="relu", norm="batch")
    for m in layer.modules():  # non-trivial running statistics so that batch norm is not the identity
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    layer.eval()
    x = torch.randn(2, 5, 6, 6, 6)

    def conv_bn_relu(t, block, padding):
        bn = block.adn.N
        t = F.conv3d(t, block.conv.weight, None, padding=padding)
        return F.relu(F.batch_norm(t, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps))

    expected_new = conv_bn_relu(conv_bn_relu(x, layer.bottleneck, 0), layer.conv, 1)
    with torch.no_grad():
        out = layer(x)
    assert out.shape == (2, 8, 6, 6, 6)
    torch.testing.assert_close(out[:, :5], x, rtol=0, atol=0)
    torch.testing.assert_close(out[:, 5:], expected_new)


def test_every_parameter_receives_a_gradient():
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=3, input_stride=2, **TINY).train()
    out = net(torch.randn(2, 3, 32, 32, 32))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_deterministic_under_a_fixed_seed():
    x = torch.randn(2, 2, 16, 16, 16)
    outs, states = [], []
    for _ in range(2):
        torch.manual_seed(123)
        net = PatchDenseNet3D(in_channels=2, **dict(TINY, num_blocks=3)).train()
        states.append(net.state_dict())
        torch.manual_seed(7)  # dropout masks
        outs.append(net(x))
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    # dropout is active in training and off in evaluation
    torch.manual_seed(8)
    assert not torch.equal(net(x), outs[1])
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)


def _export_net_and_input():
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=2, input_stride=2, **dict(TINY, num_blocks=3))
    return net, torch.randn(1, 2, 8, 8, 8)  # the smallest size it takes: 2 * 2**2


@pytest.mark.parametrize("use_trace", [False, True])
def test_torchscript_export_matches_eager(use_trace):
    from monai.networks.utils import convert_to_torchscript

    net, x = _export_net_and_input()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # verify=True compares the TorchScript module's output against the eager module's
        ts = convert_to_torchscript(net, inputs=[x], verify=True, use_trace=use_trace, rtol=1e-5, atol=1e-6)
    assert isinstance(ts, torch.jit.ScriptModule)


def test_onnx_export_is_valid_and_matches_eager():
    onnx = pytest.importorskip("onnx")
    from monai.networks.utils import convert_to_onnx

    net, x = _export_net_and_input()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # verify=True runs the exported graph (onnx.reference; onnxruntime is not needed) and compares the outputs
        model = convert_to_onnx(net, [x], input_names=["x"], output_names=["logits"], verify=True, rtol=1e-4,
                                atol=1e-5)
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["logits"]


def test_scripted_network_still_rejects_bad_input():
    net = torch.jit.script(PatchDenseNet3D(in_channels=2, **dict(TINY, num_blocks=3)).eval())
    with pytest.raises(Exception, match="input channels"):
        net(torch.randn(1, 3, 16, 16, 16))


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        ({}, (1, 4, 32, 32, 32), "built for 5 input channels, got 4"),
        ({}, (1, 5, 32, 40, 32), "multiple of 16.*spatial size 40"),
        ({"input_stride": 2}, (1, 5, 48, 32, 32), "multiple of 32.*spatial size 48"),
        ({}, (5, 32, 32, 32), "expects a 5D input"),
        ({}, (1, 5, 32, 32), "expects a 5D input"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, shape, message):
    net = PatchDenseNet3D(**dict(TINY, **kwargs))
    with pytest.raises(ValueError, match=message):
        net(torch.randn(*shape))


def test_training_with_one_value_per_channel_at_the_coarsest_level_is_a_clear_value_error():
    """Batch norm in training needs > 1 value per channel; batch 1 at the smallest size leaves 1 at the coarsest
    level."""
    torch.manual_seed(0)
    net = PatchDenseNet3D(in_channels=2, input_stride=2, **dict(TINY, num_blocks=3)).train()  # smallest size: 8
    with pytest.raises(ValueError, match=r"training mode needs more than one value per channel at its coarsest level "
                                         r"for batch norm.*batch size 1.*batch size > 1 or a larger input"):
        net(torch.randn(1, 2, 8, 8, 8))
    scripted = torch.jit.script(net)
    with pytest.raises(Exception, match="more than one value per channel"):
        scripted(torch.randn(1, 2, 8, 8, 8))
    # what is accepted: a batch of 2, a larger input, evaluation mode, a network without batch norm
    assert net(torch.randn(2, 2, 8, 8, 8)).shape == (2, 1, 8, 8, 8)
    assert net(torch.randn(1, 2, 8, 16, 8)).shape == (1, 1, 8, 16, 8)
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 2, 8, 8, 8)).shape == (1, 1, 8, 8, 8)
    no_bn = PatchDenseNet3D(in_channels=2, input_stride=2, norm=("group", {"num_groups": 1}),
                            **dict(TINY, num_blocks=3)).train()
    assert not no_bn.coarsest_batch_norm and net.coarsest_batch_norm
    assert no_bn(torch.randn(1, 2, 8, 8, 8)).shape == (1, 1, 8, 8, 8)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"growth_rate": 0}, ValueError),
        ({"num_blocks": 0}, ValueError),
        ({"layers_per_block": -1}, ValueError),
        ({"in_channels": 0}, ValueError),
        ({"input_stride": 0}, ValueError),
        ({"compression": 0.0}, ValueError),
        ({"compression": 1.5}, ValueError),
        ({"dropout_prob": 1.0}, ValueError),
        ({"dropout_prob": -0.1}, ValueError),
        ({"growth_rate": 2.5}, TypeError),
        ({"num_blocks": True}, TypeError),
    ],
)
def test_bad_hyperparameters_are_rejected_at_construction(kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        PatchDenseNet3D(**kwargs)


def test_bundle_config_resolves_the_short_name():
    from monai.bundle import ConfigParser

    parser = ConfigParser(
        {"imports": ["$import monai_tversky"],
         "network_def": {"_target_": "PatchDenseNet3D", "in_channels": 4, "growth_rate": 2, "num_blocks": 2}}
    )
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, PatchDenseNet3D) and net.in_channels == 4


def test_dropout_is_accepted_under_monai_s_name():
    """MONAI Label's epistemic scoring sets ``network_def#dropout`` (MONAI's BasicUNet name): it replaces dropout_prob."""

    def rates(net):
        return sorted({m.p for m in net.modules() if isinstance(m, torch.nn.Dropout3d | torch.nn.Dropout)})

    assert rates(PatchDenseNet3D(**TINY)) == [0.2]  # the paper's dropout_prob
    assert rates(PatchDenseNet3D(**TINY, dropout=0.5)) == [0.5]
    assert rates(PatchDenseNet3D(**TINY, dropout_prob=0.1, dropout=0.3)) == [0.3]
    assert rates(PatchDenseNet3D(**TINY, dropout=0.0)) == []
    with pytest.raises(ValueError, match="dropout must be in"):
        PatchDenseNet3D(**TINY, dropout=1.0)
