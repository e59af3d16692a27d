"""Tests of the test-time augmentation variance of SplineFusionInferer and of tta_uncertainty_score."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from monai.bundle import ConfigParser
from monai.data import MetaTensor

from monai_tversky.inferers import SplineFusionInferer, bspline_weight_map, padded_window_grid, tta_uncertainty_score

ACTIVATIONS = {None: lambda p: p, "sigmoid": torch.sigmoid, "softmax": lambda p: torch.softmax(p, dim=1)}


def _conv_net(in_channels: int, out_channels: int, dims: int, seed: int = 0) -> torch.nn.Module:
    """A small convolution network, not flip-equivariant, in float64 for exact comparisons."""
    torch.manual_seed(seed)
    conv = torch.nn.Conv3d if dims == 3 else torch.nn.Conv2d
    layers = [conv(in_channels, 4, 3, padding=1), torch.nn.Tanh(), conv(4, out_channels, 1)]
    return torch.nn.Sequential(*layers).double().eval()


def _ramp_net(scale: float, offset: float = 0.0):
    """``x + offset + scale·i``, ``i`` the index along the first spatial axis of the window: flipping that axis
    changes the prediction at ``i`` to ``x + offset + scale·(n - 1 - i)``."""

    def net(x: torch.Tensor) -> torch.Tensor:
        n = x.shape[2]
        ramp = torch.arange(n, dtype=x.dtype).view(1, 1, n, *(1,) * (x.ndim - 3))
        return x + offset + scale * ramp

    return net


def _reference(x, net, roi_size, fusion, flips, activation):
    """Mean and variance fused independently: every window predicted under every flip (flipped back), the variance
    by ``torch.var`` over the flips, and the windows blended with an explicit NumPy weighted sum over the padded
    image (zero padding), divided by the summed weights and cropped."""
    image_size = x.shape[2:]
    grid = padded_window_grid(image_size, roi_size, 0.0 if fusion == "tile" else 0.5)
    weight = bspline_weight_map(roi_size, dtype=torch.float64).numpy() if fusion == "spline" else np.ones(roi_size)
    padded = np.pad(x.numpy(), [(0, 0), (0, 0), *zip(grid.pad_before, grid.pad_after)])
    mean_sum = var_sum = None
    weight_sum = np.zeros(padded.shape[2:])
    for start in itertools.product(*grid.starts):
        where = tuple(slice(s, s + r) for s, r in zip(start, roi_size))
        window = torch.from_numpy(padded[(..., *where)].copy())
        preds = []
        for axes in flips:
            dims = [a + 2 for a in axes]
            preds.append(net(window.flip(dims)).flip(dims) if dims else net(window))
        preds = torch.stack(preds)  # (T, B, C_out, *roi_size)
        mean = preds.mean(dim=0).numpy()
        var = torch.var(torch.stack([ACTIVATIONS[activation](p) for p in preds]), dim=0, unbiased=False).numpy()
        if mean_sum is None:
            mean_sum = np.zeros((*mean.shape[:2], *padded.shape[2:]))
            var_sum = np.zeros_like(mean_sum)
        mean_sum[(..., *where)] += weight * mean
        var_sum[(..., *where)] += weight * var
        weight_sum[where] += weight
    crop = tuple(slice(b, b + n) for b, n in zip(grid.pad_before, image_size))
    return (torch.from_numpy(mean_sum[(..., *crop)] / weight_sum[crop]),
            torch.from_numpy(var_sum[(..., *crop)] / weight_sum[crop]))


@pytest.mark.parametrize("fusion", ["spline", "uniform", "tile"])
def test_ramp_network_variance_by_hand(fusion):
    """Two predictions ``x + c·i`` and ``x + c·(n-1-i)`` per window: mean ``x + c(n-1)/2``, variance
    ``c²(i - (n-1)/2)²``, the same in every window; the fusion of equal windows is that value again."""
    scale, roi_size = 0.5, (8, 6)
    x = torch.rand(2, 1, 16, 12, dtype=torch.float64)  # whole tiles
    inferer = SplineFusionInferer(roi_size, sw_batch_size=3, fusion=fusion, tta=[(), (0,)], return_variance=True)
    mean, variance = inferer(x, _ramp_net(scale))
    torch.testing.assert_close(mean, x + scale * 3.5, rtol=0, atol=1e-12)
    if fusion == "tile":  # each voxel's window is the tile that holds it: i = row mod 8
        i = torch.arange(16, dtype=torch.float64) % 8
        expected = (scale * (i - 3.5)) ** 2
        torch.testing.assert_close(variance, expected.view(1, 1, 16, 1).expand_as(x), rtol=0, atol=1e-12)
        first_tile = [3.0625, 1.5625, 0.5625, 0.0625, 0.0625, 0.5625, 1.5625, 3.0625]  # (i - 3.5)² / 4
        assert variance[0, 0, :8, 0].tolist() == pytest.approx(first_tile)
    else:  # the windows are shifted by half a window, so voxels mix positions: check against the reference
        expected = _reference(x, _ramp_net(scale), roi_size, fusion, [(), (0,)], None)[1]
        torch.testing.assert_close(variance, expected, rtol=1e-10, atol=1e-12)


def test_variance_is_computed_accurately_for_large_outputs_with_a_small_spread():
    """Outputs around 100 with a spread of 0.01: mean-of-squares minus squared mean from raw float32 sums would lose
    the variance (about 1e-3) to rounding of the squares (about 1e4 · 6e-8)."""
    scale = 0.01
    x = torch.zeros(1, 1, 16, 12)
    inferer = SplineFusionInferer((8, 6), fusion="tile", tta=[(), (0,)], return_variance=True)
    _, variance = inferer(x, _ramp_net(scale, offset=100.0))
    assert variance.dtype == torch.float32
    i = torch.arange(16, dtype=torch.float32) % 8
    torch.testing.assert_close(variance[0, 0], ((scale * (i - 3.5)) ** 2).view(16, 1).expand(16, 12),
                               rtol=1e-3, atol=1e-8)


# (dims, image size, roi size, tta, activation): 2D and 3D, rot180 and flip lists, every activation
CASES = [
    (3, (13, 10, 11), (8, 6, 8), "rot180", "sigmoid"),
    (3, (9, 12, 7), (6, 8, 4), [(0,), (1, 2), ()], None),
    (2, (19, 14), (8, 6), "rot180", "softmax"),
    (2, (15, 11), (6, 8), [(), (0,), (1,), (0, 1)], "sigmoid"),
]


@pytest.mark.parametrize("fusion", ["spline", "uniform", "tile"])
@pytest.mark.parametrize("dims,image_size,roi_size,tta,activation", CASES)
def test_mean_and_variance_match_an_independent_weighted_sum(fusion, dims, image_size, roi_size, tta, activation):
    x = torch.rand(2, 2, *image_size, dtype=torch.float64)  # batch of two, image not a whole number of windows
    net = _conv_net(2, 3, dims)
    inferer = SplineFusionInferer(roi_size, sw_batch_size=5, fusion=fusion, tta=tta, return_variance=True,
                                  variance_activation=activation)
    flips = [(), *itertools.combinations(range(dims), 2)] if tta == "rot180" else tta
    with torch.no_grad():
        mean, variance = inferer(x, net)
        expected_mean, expected_variance = _reference(x, net, roi_size, fusion, flips, activation)
    assert mean.shape == variance.shape == (2, 3, *image_size) and variance.dtype == torch.float64
    torch.testing.assert_close(mean, expected_mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(variance, expected_variance, rtol=1e-9, atol=1e-14)
    assert variance.min() >= 0 and variance.max() > 1e-6  # the flips do change this network's prediction
    if activation is not None:  # the variance of values in [0, 1] is at most 1/4
        assert variance.max() <= 0.25


@pytest.mark.parametrize("fusion,tta,activation", [("spline", "rot180", "sigmoid"), ("uniform", [(1,), ()], None),
                                                   ("tile", "rot180", "softmax")])
def test_mean_is_unchanged_by_return_variance(fusion, tta, activation):
    x = torch.rand(2, 1, 14, 12, 9)
    net = _conv_net(1, 2, 3).float()
    kwargs = dict(roi_size=(8, 8, 8), sw_batch_size=4, fusion=fusion, tta=tta)
    with torch.no_grad():
        plain = SplineFusionInferer(**kwargs)(x, net)
        mean, variance = SplineFusionInferer(**kwargs, return_variance=True, variance_activation=activation)(x, net)
    torch.testing.assert_close(mean, plain, rtol=0, atol=0)
    assert variance.shape == plain.shape and variance.dtype == plain.dtype


@pytest.mark.parametrize("dims,tta", [(3, "rot180"), (2, "rot180"), (3, [(0,), (2,), (0, 1, 2)]), (2, [(), (1,)])])
@pytest.mark.parametrize("fusion", ["spline", "uniform", "tile"])
def test_flip_equivariant_networks_have_zero_variance(dims, tta, fusion):
    """The identity and a pointwise network predict the same under every flip: the variance is zero."""
    x = torch.rand(2, 2, *((13, 11, 9) if dims == 3 else (21, 17)))
    roi_size = (8,) * dims
    for net in (lambda w: w, lambda w: torch.tanh(2.0 * w - 1.0)):
        for activation in (None, "sigmoid", "softmax"):
            inferer = SplineFusionInferer(roi_size, sw_batch_size=3, fusion=fusion, tta=tta, return_variance=True,
                                          variance_activation=activation)
            mean, variance = inferer(x, net)
            torch.testing.assert_close(mean, net(x), rtol=1e-5, atol=1e-6)
            assert variance.min() >= 0
            torch.testing.assert_close(variance, torch.zeros_like(variance), rtol=0, atol=1e-6)


def test_network_that_works_in_place_on_its_input():
    """The first prediction is kept for the variance: a network that returns its input, modified in place, must
    not change it afterwards."""
    x = torch.rand(1, 1, 12, 10)
    inferer = SplineFusionInferer((8, 8), fusion="tile", tta=[(), (), (0,)], return_variance=True)
    mean, variance = inferer(x, lambda w: w.mul_(1.0))
    torch.testing.assert_close(mean, x)
    torch.testing.assert_close(variance, torch.zeros_like(x), rtol=0, atol=1e-12)


def test_metatensor_in_metatensors_out_and_bundle_config():
    affine = torch.diag(torch.tensor([0.5, 1.0, 2.0, 1.0], dtype=torch.float64))
    x = MetaTensor(torch.rand(1, 1, 14, 12, 10), affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    parser = ConfigParser({"inferer": {"_target_": "SplineFusionInferer", "roi_size": [8, 8, 8], "tta": "rot180",
                                       "return_variance": True, "variance_activation": "sigmoid"}})
    inferer = parser.get_parsed_content("inferer")
    net = _conv_net(1, 1, 3).float()
    with torch.no_grad():
        out = inferer(x, net)
        plain = inferer(x.as_tensor(), net)
    assert isinstance(out, tuple) and len(out) == 2 and all(isinstance(o, MetaTensor) for o in out)
    torch.testing.assert_close([o.as_tensor() for o in out], list(plain))
    variance = out[1]  # the metadata of the mean: test_inferers_spline_fusion.py
    assert variance.shape == (1, 1, 14, 12, 10) and variance.meta["filename_or_obj"] == "case.nii.gz"
    torch.testing.assert_close(variance.affine, affine)


def test_gradients_flow_through_mean_and_variance():
    x = torch.rand(1, 1, 10, 9)
    net = _conv_net(1, 1, 2).float().train()
    # one window batch: the window buffer is refilled in place between batches, which autograd does not allow
    mean, variance = SplineFusionInferer((8, 8), sw_batch_size=64, tta="rot180", return_variance=True,
                                         variance_activation="sigmoid")(x, net)
    (mean.sum() + variance.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_windows_on_cuda_variance_on_cpu_equals_all_cpu():
    x = torch.rand(2, 2, 21, 18, 13)
    kwargs = dict(roi_size=(8, 8, 8), sw_batch_size=5, tta="rot180", return_variance=True,
                  variance_activation="softmax")
    net = _conv_net(2, 3, 3).float()
    with torch.no_grad():
        expected = SplineFusionInferer(**kwargs)(x, net)
        out = SplineFusionInferer(**kwargs, sw_device="cuda", device="cpu")(x, _conv_net(2, 3, 3).float().cuda())
    for fused, reference in zip(out, expected):
        assert fused.device == torch.device("cpu")
        torch.testing.assert_close(fused, reference, rtol=1e-3, atol=1e-4)  # cuDNN may use TF32


def test_variance_activation_strings_and_ignored_without_return_variance():
    x = torch.rand(1, 1, 12, 10)
    for none in ("none", "null", "None"):
        assert SplineFusionInferer((8, 8), tta="rot180", return_variance=True, variance_activation=none)\
            .variance_activation is None
    assert SplineFusionInferer((8, 8), tta="rot180", variance_activation="Sigmoid").variance_activation == "sigmoid"
    out = SplineFusionInferer((8, 8), variance_activation="sigmoid")(x, lambda w: w)  # no tta, no variance: ignored
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, x)


def test_invalid_arguments():
    for tta in (None, "none", "null", [(0,)], [()]):
        with pytest.raises(ValueError, match="return_variance needs tta"):
            SplineFusionInferer((8, 8, 8), tta=tta, return_variance=True)
    with pytest.raises(ValueError, match="return_variance needs tta"):
        SplineFusionInferer((8,), tta="rot180", return_variance=True)  # no plane to rotate in 1D
    with pytest.raises(ValueError, match="return_variance needs tta"):  # the dimension is known only at the call
        SplineFusionInferer(8, tta="rot180", return_variance=True)(torch.rand(1, 1, 16), lambda w: w)
    with pytest.raises(TypeError, match="return_variance"):
        SplineFusionInferer((8, 8, 8), tta="rot180", return_variance="true")
    for activation in ("relu", "Softmax2d", 1):
        with pytest.raises(ValueError, match="variance_activation"):
            SplineFusionInferer((8, 8, 8), tta="rot180", return_variance=True, variance_activation=activation)


def test_uncertainty_score_by_hand():
    variance = torch.tensor([
        [[[0.1, 0.2], [0.3, 0.4]]],  # case 0: foreground at 0.2 and 0.4
        [[[0.0, 0.0], [0.0, 0.8]]],  # case 1: nothing predicted: the whole volume
    ])
    mask = torch.tensor([[[[0, 1], [0, 1]]], [[[0, 0], [0, 0]]]])
    torch.testing.assert_close(tta_uncertainty_score(variance, mask), torch.tensor([0.3, 0.2]))
    torch.testing.assert_close(tta_uncertainty_score(variance), torch.tensor([0.25, 0.2]))
    torch.testing.assert_close(tta_uncertainty_score(variance, mask.bool()), torch.tensor([0.3, 0.2]))


def test_uncertainty_score_over_channels():
    variance = torch.tensor([[[[0.1, 0.2, 0.3]], [[0.5, 0.7, 0.9]]]])  # (1, 2, 1, 3)
    one_channel = torch.tensor([[[[1.0, 0.0, 1.0]]]])  # used for both channels: 0.1, 0.3, 0.5, 0.9
    torch.testing.assert_close(tta_uncertainty_score(variance, one_channel), torch.tensor([0.45]))
    per_channel = torch.tensor([[[[1, 0, 0]], [[0, 0, 1]]]])  # 0.1 and 0.9
    torch.testing.assert_close(tta_uncertainty_score(variance, per_channel), torch.tensor([0.5]))
    meta = tta_uncertainty_score(MetaTensor(variance), MetaTensor(one_channel))
    assert type(meta) is torch.Tensor
    torch.testing.assert_close(meta, torch.tensor([0.45]))


def test_uncertainty_score_from_the_inferer():
    """End to end: ``x + (1 + 9x)·i`` on a constant case ``x = 1`` and a case ``x = 0``, whole tiles of 8 rows,
    flips of the rows: variance ``(1 + 9x)²(i - 3.5)²``, whose mean over ``i = 0..7`` is ``(1 + 9x)² · 5.25``."""
    x = torch.stack([torch.ones(1, 16, 12), torch.zeros(1, 16, 12)]).double()

    def net(w):
        return w + (1 + 9 * w) * _ramp_net(1.0)(torch.zeros_like(w))

    inferer = SplineFusionInferer((8, 6), fusion="tile", tta=[(), (0,)], return_variance=True)
    mean, variance = inferer(x, net)
    torch.testing.assert_close(mean, x + (1 + 9 * x) * 3.5)  # 36 and 3.5
    mask = mean > 10.0  # case 0: every voxel; case 1: none, so its whole volume counts
    torch.testing.assert_close(tta_uncertainty_score(variance, mask), torch.tensor([525.0, 5.25], dtype=torch.float64))


def test_uncertainty_score_invalid_arguments():
    variance = torch.rand(2, 1, 4, 4)
    with pytest.raises(TypeError, match="variance"):
        tta_uncertainty_score(variance.numpy())
    with pytest.raises(TypeError, match="mask"):
        tta_uncertainty_score(variance, variance.numpy() > 0.5)
    with pytest.raises(ValueError, match="variance"):
        tta_uncertainty_score(torch.rand(4, 4))
    for shape in ((2, 4, 4), (1, 1, 4, 4), (2, 2, 4, 4), (2, 1, 4, 5)):
        with pytest.raises(ValueError, match="mask"):
            tta_uncertainty_score(variance, torch.ones(shape))
