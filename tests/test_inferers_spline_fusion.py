"""Tests of SplineFusionInferer (hashemi2018, section III.C)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.inferers import Inferer, sliding_window_inference

import monai_tversky  # noqa: F401  (registers the short names for ConfigParser)
from monai_tversky.inferers import SplineFusionInferer, bspline_weight_map, padded_window_grid

FUSIONS = ["spline", "uniform", "tile"]
TTAS = [None, "rot180", [(0,), (1,), ()]]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _crop(padded: torch.Tensor, grid, image_size) -> torch.Tensor:
    return padded[(..., *(slice(b, b + n) for b, n in zip(grid.pad_before, image_size)))]


def _conv_net(in_channels: int, out_channels: int, dims: int = 3, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    conv = torch.nn.Conv3d if dims == 3 else torch.nn.Conv2d
    return torch.nn.Sequential(conv(in_channels, 4, 3, padding=1), torch.nn.Tanh(), conv(4, out_channels, 1)).eval()


class _CountingNet(torch.nn.Module):
    """A 1x1 convolution that records how many windows it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.windows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.windows += x.shape[0]
        return x.mean(dim=1, keepdim=True)


@pytest.mark.parametrize("fusion,tta", list(itertools.product(FUSIONS, TTAS)))
def test_identity_network_returns_the_input(fusion, tta):
    x = torch.rand(2, 3, 21, 18, 13)
    inferer = SplineFusionInferer((8, 8, 8), sw_batch_size=5, fusion=fusion, tta=tta)
    assert isinstance(inferer, Inferer)
    out = inferer(x, _identity)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fusion,tta", list(itertools.product(FUSIONS, TTAS)))
def test_identity_network_2d(fusion, tta):
    x = torch.rand(1, 2, 37, 20, dtype=torch.float64)
    out = SplineFusionInferer((16, 12), sw_batch_size=3, fusion=fusion, tta=tta)(x, _identity)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x, rtol=1e-12, atol=1e-12)


# size-1 axes first, last, in the middle and everywhere but one axis, 2D and 3D (with the window size per shape)
SIZE_ONE_SHAPES = [
    ((1, 1, 12, 12, 1), (8, 8, 8)),
    ((1, 1, 1, 1, 12), (8, 8, 8)),
    ((1, 1, 1, 12), (8, 8)),
    ((1, 1, 12, 1), (8, 8)),
    ((2, 3, 1, 9, 1), (8, 8, 8)),
    ((1, 2, 7, 1, 10), (4, 4, 4)),
    ((1, 1, 1, 1, 1), (8, 8, 8)),
]


@pytest.mark.parametrize(
    "shape,roi,fusion,tta",
    [(shape, roi, f, t) for (shape, roi), f, t in itertools.product(SIZE_ONE_SHAPES, FUSIONS, TTAS)],
)
def test_identity_network_with_size_one_axes(shape, roi, fusion, tta):
    """Regression: the normalisation by Σw and the TTA count was skipped when a factor had a single element."""
    x = torch.rand(*shape, dtype=torch.float64)
    out = SplineFusionInferer(roi, sw_batch_size=4, fusion=fusion, tta=tta)(x, _identity)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x, rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("fusion,tta", list(itertools.product(FUSIONS, [None, "rot180"])))
def test_windows_on_cuda_output_on_cpu_equals_all_cpu(fusion, tta):
    x = torch.rand(2, 2, 21, 18, 13)
    kwargs = dict(roi_size=(8, 8, 8), sw_batch_size=5, fusion=fusion, tta=tta)
    out = SplineFusionInferer(**kwargs, sw_device="cuda", device="cpu")(x, _identity)
    assert out.device == torch.device("cpu")
    torch.testing.assert_close(out, SplineFusionInferer(**kwargs)(x, _identity), rtol=1e-6, atol=1e-6)

    net = _conv_net(2, 3)
    with torch.no_grad():
        expected = SplineFusionInferer(**kwargs)(x, net)
        net_cuda = _conv_net(2, 3).cuda()  # the same weights (same seed) on the GPU
        out = SplineFusionInferer(**kwargs, sw_device="cuda", device="cpu")(x, net_cuda)
    assert out.device == torch.device("cpu") and out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-3, atol=1e-3)  # cuDNN may use TF32


def test_window_counts_of_the_paper():
    # the paper's geometry scaled by 1/4 (128x224x256 volume, 64^3 windows -> 5x8x9 windows)
    net = _CountingNet()
    x = torch.rand(1, 1, 32, 56, 64)
    SplineFusionInferer((16, 16, 16), sw_batch_size=7)(x, net)
    assert net.windows == 5 * 8 * 9
    net.windows = 0
    SplineFusionInferer((16, 16, 16), sw_batch_size=7, tta="rot180")(x, net)
    assert net.windows == 4 * 5 * 8 * 9  # four predictions per window, 32 per voxel
    net.windows = 0
    SplineFusionInferer((16, 16, 16), fusion="tile", sw_batch_size=7)(x, net)
    assert net.windows == 2 * 4 * 4
    net.windows = 0
    SplineFusionInferer((16, 16, 16), sw_batch_size=7, tta="rot180")(torch.rand(3, 1, 16, 16, 16), net)
    assert net.windows == 3 * 4 * 3**3


@pytest.mark.parametrize("fusion,tta", list(itertools.product(FUSIONS, TTAS)))
def test_constant_network_gives_a_constant_output(fusion, tta):
    values = torch.tensor([0.25, -3.0])

    def constant(x):
        return values.view(1, 2, 1, 1, 1).expand(x.shape[0], 2, *x.shape[2:]).clone()

    inferer = SplineFusionInferer((8, 6, 10), sw_batch_size=4, fusion=fusion, tta=tta)
    out = inferer(torch.rand(2, 1, 19, 9, 30), constant)
    assert out.shape == (2, 2, 19, 9, 30)
    torch.testing.assert_close(out, values.view(1, 2, 1, 1, 1).expand_as(out), rtol=1e-6, atol=1e-6)


def test_flip_equivariant_network_is_unchanged_by_tta():
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(2, 3, 3, padding=1)
    with torch.no_grad():  # a kernel symmetric under every flip makes the network flip-equivariant
        flips = [(), (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]
        conv.weight.copy_(sum(conv.weight.flip(dims) for dims in flips))
    net = torch.nn.Sequential(conv, torch.nn.Sigmoid()).eval()
    x = torch.rand(1, 2, 20, 17, 24)
    with torch.no_grad():
        plain = SplineFusionInferer((8, 8, 8), sw_batch_size=8)(x, net)
        rotated = SplineFusionInferer((8, 8, 8), sw_batch_size=8, tta="rot180")(x, net)
        flipped = SplineFusionInferer((8, 8, 8), sw_batch_size=8, tta=[(0,), (1, 2)])(x, net)
    torch.testing.assert_close(rotated, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(flipped, plain, rtol=1e-5, atol=1e-6)


def test_tta_averages_the_rotated_back_predictions():
    net = _conv_net(1, 2, seed=3)  # not flip-equivariant
    x = torch.rand(1, 1, 18, 13, 16)
    rotations = [(), (2, 3), (2, 4), (3, 4)]  # the three 180° rotations of the (H, W, D) planes, on (B, C, H, W, D)
    with torch.no_grad():
        out = SplineFusionInferer((8, 8, 8), sw_batch_size=4, tta="rot180")(x, net)
        single = SplineFusionInferer((8, 8, 8), sw_batch_size=4)
        expected = sum(
            single(x, lambda w, d=dims: net(w.flip(d)).flip(d) if d else net(w)) for dims in rotations
        ) / len(rotations)
        plain = single(x, net)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert (out - plain).abs().max() > 1e-3  # the rotations do change this network's prediction


@pytest.mark.parametrize("dims,overlap", [(3, 0.5), (3, 0.25), (2, 0.5), (2, (0.5, 0.75))])
def test_uniform_matches_monai_constant_on_the_padded_input(dims, overlap):
    image_size, roi_size = ((19, 24, 13), (8, 8, 8)) if dims == 3 else ((33, 21), (12, 8))
    x = torch.rand(2, 2, *image_size)
    net = _conv_net(2, 3, dims)
    grid = padded_window_grid(image_size, roi_size, overlap)
    with torch.no_grad():
        out = SplineFusionInferer(roi_size, sw_batch_size=3, overlap=overlap, fusion="uniform")(x, net)
        ref = sliding_window_inference(F.pad(x, grid.torch_pad), roi_size, 3, net, overlap=overlap, mode="constant")
    torch.testing.assert_close(out, _crop(ref, grid, image_size), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding_mode,cval", [("constant", 0.0), ("constant", 2.5), ("replicate", 0.0),
                                               ("reflect", 0.0), ("circular", 0.0)])
def test_padding_matches_monai_on_the_same_padded_input(padding_mode, cval):
    image_size, roi_size = (21, 18, 13), (8, 8, 8)
    x = torch.rand(2, 1, *image_size)
    net = _conv_net(1, 2)
    grid = padded_window_grid(image_size, roi_size, 0.5)
    padded = F.pad(x, grid.torch_pad, mode=padding_mode, **({"value": cval} if padding_mode == "constant" else {}))
    inferer = SplineFusionInferer(roi_size, sw_batch_size=3, padding_mode=padding_mode, cval=cval)
    with torch.no_grad():
        out = inferer(x, net)
        weights = bspline_weight_map(roi_size)
        ref = sliding_window_inference(padded, roi_size, 3, net, overlap=0.5, roi_weight_map=weights)
    torch.testing.assert_close(out, _crop(ref, grid, image_size), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dims,order", [(3, 2), (2, 2), (3, 3)])
def test_spline_matches_monai_with_the_bspline_weight_map(dims, order):
    image_size, roi_size = ((19, 24, 13), (8, 8, 8)) if dims == 3 else ((33, 21), (12, 8))
    x = torch.rand(2, 1, *image_size)
    net = _conv_net(1, 2, dims)
    grid = padded_window_grid(image_size, roi_size, 0.5)
    with torch.no_grad():
        out = SplineFusionInferer(roi_size, sw_batch_size=4, spline_order=order)(x, net)
        ref = sliding_window_inference(
            F.pad(x, grid.torch_pad), roi_size, 4, net, overlap=0.5, roi_weight_map=bspline_weight_map(roi_size, order)
        )
        uniform = SplineFusionInferer(roi_size, sw_batch_size=4, fusion="uniform")(x, net)
    torch.testing.assert_close(out, _crop(ref, grid, image_size), rtol=1e-5, atol=1e-6)
    assert (out - uniform).abs().max() > 1e-4  # the weighting matters


def test_spline_order_zero_is_uniform():
    x = torch.rand(1, 1, 17, 12, 20)
    net = _conv_net(1, 1)
    with torch.no_grad():
        zero = SplineFusionInferer((8, 8, 8), spline_order=0)(x, net)
        uniform = SplineFusionInferer((8, 8, 8), fusion="uniform")(x, net)
    torch.testing.assert_close(zero, uniform, rtol=1e-6, atol=1e-7)


def test_tile_predicts_each_voxel_with_exactly_one_window():
    calls = []

    def window_id(x):  # each window is filled with its own index
        ids = torch.arange(len(calls), len(calls) + x.shape[0], dtype=x.dtype)
        calls.extend(ids.tolist())
        return ids.view(-1, 1, 1, 1).expand(x.shape[0], 1, *x.shape[2:]).clone()

    out = SplineFusionInferer((8, 6), fusion="tile", overlap=0.5, sw_batch_size=5)(torch.rand(1, 1, 20, 18), window_id)
    assert len(calls) == 3 * 3  # 20 -> 3 tiles of 8 (overlap ignored), 18 -> 3 tiles of 6
    values = out[0, 0]
    assert set(values.unique().tolist()) == set(calls)  # every tile shows, unblended
    assert torch.equal(values, values.round())
    assert all(int((values == v).sum()) <= 8 * 6 for v in calls)


@pytest.mark.parametrize("order", [2, 5])
def test_no_nan_at_image_borders(order):
    torch.manual_seed(1)
    x = torch.rand(1, 1, 40, 33, 24)
    net = _conv_net(1, 2)
    for pad_border in (True, False):  # without border padding corner voxels see window corners only
        inferer = SplineFusionInferer((16, 16, 16), sw_batch_size=4, spline_order=order, pad_border=pad_border)
        with torch.no_grad():
            out = inferer(x, net)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(inferer(x, _identity), x, rtol=1e-5, atol=1e-6)


def test_pad_border_false_matches_monai_uniform():
    x = torch.rand(1, 1, 24, 40, 16)
    net = _conv_net(1, 1)
    with torch.no_grad():
        out = SplineFusionInferer((8, 8, 8), fusion="uniform", pad_border=False, sw_batch_size=4)(x, net)
        ref = sliding_window_inference(x, (8, 8, 8), 4, net, overlap=0.5, mode="constant")
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_image_smaller_than_the_window(fusion):
    x = torch.rand(2, 1, 5, 9, 3)
    net = _conv_net(1, 2)
    inferer = SplineFusionInferer((16, 16, 16), fusion=fusion, tta="rot180", padding_mode="replicate")
    with torch.no_grad():
        out = inferer(x, net)
    assert out.shape == (2, 2, 5, 9, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(inferer(x, _identity), x, rtol=1e-6, atol=1e-6)


def test_non_positive_roi_uses_the_image_size_and_anisotropic_windows():
    x = torch.rand(1, 1, 30, 12, 7)
    net = _CountingNet()
    out = SplineFusionInferer((8, -1, 4), sw_batch_size=16)(x, net)
    assert out.shape == (1, 1, 30, 12, 7)
    torch.testing.assert_close(out, x, rtol=1e-6, atol=1e-6)
    grid = padded_window_grid((30, 12, 7), (8, 12, 4), 0.5)
    assert net.windows == int(np.prod(grid.num_windows))


def test_tuple_list_and_dict_outputs():
    x = torch.rand(1, 2, 15, 12, 10)
    net = _conv_net(2, 3)
    with torch.no_grad():
        main = SplineFusionInferer((8, 8, 8), sw_batch_size=2)(x, net)
        aux = SplineFusionInferer((8, 8, 8), sw_batch_size=2)(x, lambda w: net(w)[:, :1] * 2)
        for wrap in (lambda w: (net(w), net(w)[:, :1] * 2), lambda w: [net(w), net(w)[:, :1] * 2]):
            torch.testing.assert_close(SplineFusionInferer((8, 8, 8), sw_batch_size=2)(x, wrap), main)
            torch.testing.assert_close(SplineFusionInferer((8, 8, 8), sw_batch_size=2, output_index=1)(x, wrap), aux)
        as_dict = SplineFusionInferer((8, 8, 8), sw_batch_size=2, output_index="aux")
        torch.testing.assert_close(as_dict(x, lambda w: {"pred": net(w), "aux": net(w)[:, :1] * 2}), aux)
        single = SplineFusionInferer((8, 8, 8), sw_batch_size=2)(x, lambda w: {"pred": net(w)})
        torch.testing.assert_close(single, main)
        with pytest.raises(ValueError, match="output_index"):
            SplineFusionInferer((8, 8, 8))(x, lambda w: {"pred": net(w), "aux": net(w)})
        with pytest.raises(ValueError, match="output_index"):
            SplineFusionInferer((8, 8, 8), output_index=2)(x, lambda w: (net(w), net(w)))


def test_network_args_are_passed_on():
    x = torch.rand(1, 1, 10, 10)
    out = SplineFusionInferer((4, 4))(x, lambda w, scale, shift=0.0: w * scale + shift, 3.0, shift=1.0)
    torch.testing.assert_close(out, x * 3 + 1)


def test_metatensor_in_metatensor_out_and_bundle_config():
    affine = torch.diag(torch.tensor([0.5, 1.0, 2.0, 1.0], dtype=torch.float64))
    affine[:3, 3] = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    x = MetaTensor(torch.rand(1, 1, 20, 24, 16), affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    parser = ConfigParser({"inferer": {"_target_": "SplineFusionInferer", "roi_size": [8, 8, 8],
                                       "fusion": "spline", "tta": "rot180"}})
    inferer = parser.get_parsed_content("inferer")
    assert isinstance(inferer, SplineFusionInferer)
    net = _conv_net(1, 2)
    with torch.no_grad():
        out = inferer(x, net)  # MONAI Label calls inferer(inputs, network)
        plain = inferer(x.as_tensor(), net)
    assert isinstance(out, MetaTensor) and out.shape == (1, 2, 20, 24, 16)
    torch.testing.assert_close(out.affine, affine)
    assert out.meta["filename_or_obj"] == "case.nii.gz"
    torch.testing.assert_close(out.as_tensor(), plain)


def test_devices_and_progress():
    x = torch.rand(1, 1, 12, 12)
    out = SplineFusionInferer((8, 8), sw_device="cpu", device="cpu", progress=True)(x, _identity)
    assert out.device == torch.device("cpu")
    torch.testing.assert_close(out, x)


def test_half_precision_network_output_is_accumulated_in_float32():
    x = torch.rand(1, 1, 12, 10, 9)
    out = SplineFusionInferer((8, 8, 8))(x, lambda w: w.half())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x, rtol=1e-3, atol=1e-3)


def test_does_not_modify_the_input():
    x = torch.rand(2, 1, 12, 10, 9)
    copy = x.clone()
    SplineFusionInferer((8, 8, 8), tta="rot180")(x, lambda w: w.mul_(2))  # a network that works in place
    torch.testing.assert_close(x, copy, rtol=0, atol=0)


def test_invalid_arguments():
    for overlap in (1.0, -0.1, (0.5, 1.2, 0.5)):
        with pytest.raises(ValueError, match="overlap"):
            SplineFusionInferer((8, 8, 8), overlap=overlap)
    with pytest.raises(ValueError, match="overlap"):
        SplineFusionInferer((8, 8, 8), overlap=(0.5, 0.5))
    with pytest.raises(ValueError, match="fusion"):
        SplineFusionInferer((8, 8, 8), fusion="gaussian")
    with pytest.raises(ValueError, match="tta"):
        SplineFusionInferer((8, 8, 8), tta="rot90")
    with pytest.raises(ValueError, match="tta"):
        SplineFusionInferer((8, 8, 8), tta=[(0, 3)])
    with pytest.raises(ValueError, match="tta"):
        SplineFusionInferer((8, 8, 8), tta=[(1, 1)])
    with pytest.raises(ValueError, match="sw_batch_size"):
        SplineFusionInferer((8, 8, 8), sw_batch_size=0)
    with pytest.raises(ValueError, match="order"):
        SplineFusionInferer((8, 8, 8), spline_order=-1)
    with pytest.raises(ValueError, match="padding"):
        SplineFusionInferer((8, 8, 8), padding_mode="mirror")
    with pytest.raises(TypeError, match="roi_size"):
        SplineFusionInferer("64")
    inferer = SplineFusionInferer((8, 8, 8))
    with pytest.raises(ValueError, match="roi_size"):
        inferer(torch.rand(1, 1, 16, 16), _identity)
    with pytest.raises(ValueError, match="tta"):
        SplineFusionInferer(8, tta=[(2,)])(torch.rand(1, 1, 16, 16), _identity)
    with pytest.raises(ValueError, match="shape"):
        inferer(torch.rand(1, 1, 16, 16, 16), lambda w: w[..., ::2])
    with pytest.raises(TypeError, match="inputs"):
        inferer(np.zeros((1, 1, 16, 16, 16)), _identity)
    with pytest.raises(ValueError, match="reflect"):
        SplineFusionInferer((8, 8), padding_mode="reflect")(torch.rand(1, 1, 3, 3), _identity)


@pytest.mark.parametrize("tta", ["none", "null", "None"])
def test_tta_none_strings_from_a_command_line_mean_no_tta(tta):
    """``--tta null`` in ``python -m monai.bundle run`` arrives as a string; it means no test-time augmentation."""
    x = torch.rand(1, 1, 12, 10, 9)
    calls = []

    def net(windows):
        calls.append(windows.shape[0])
        return windows

    SplineFusionInferer((8, 8, 8), sw_batch_size=1000, tta=tta)(x, net)
    plain_calls = list(calls)
    calls.clear()
    SplineFusionInferer((8, 8, 8), sw_batch_size=1000, tta=None)(x, net)
    assert plain_calls == calls  # one network call per window batch, no rotations


class _ModeRecordingNet(torch.nn.Module):
    """A small convolution network that records whether each call ran in inference mode."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _conv_net(1, 2)
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(torch.is_inference_mode_enabled())
        return self.net(x)


@pytest.mark.parametrize("fusion,tta", [("spline", None), ("uniform", "rot180"), ("tile", None)])
def test_network_runs_in_inference_mode_under_no_grad_only(fusion, tta):
    x = torch.rand(1, 1, 14, 12, 10)
    inferer = SplineFusionInferer((8, 8, 8), sw_batch_size=3, fusion=fusion, tta=tta)
    net = _ModeRecordingNet()
    with torch.no_grad():  # as MONAI's SupervisedEvaluator and the bundles' inference run it
        fast = inferer(x, net)
    assert net.modes and all(net.modes)
    assert not fast.is_inference()  # the fused output is an ordinary tensor: post-transforms may modify it in place
    fast.mul_(1.0)
    net.modes.clear()
    with_grad = inferer(x, net)  # gradients enabled: autograd as before, and the same values
    assert net.modes and not any(net.modes)
    torch.testing.assert_close(fast, with_grad.detach(), rtol=0, atol=0)
