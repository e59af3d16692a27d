"""Tests of monai_tversky.data.make_ms_phantom: properties measured on its output, independently of its code."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from monai_tversky.data import PHANTOM_CI_SHAPE, PHANTOM_MODALITIES, PHANTOM_SHAPE, PHANTOM_TISSUES, make_ms_phantom

CSF, GM, WM, LESION = (PHANTOM_TISSUES[k] for k in ("csf", "grey_matter", "white_matter", "lesion"))
SMALL = PHANTOM_CI_SHAPE


def test_outputs_shapes_dtypes_and_affine():
    image, label, affine = make_ms_phantom(SMALL, spacing=(1.0, 1.5, 2.0), seed=0)
    assert image.shape == (5, *SMALL) and image.dtype == np.float32
    assert label.shape == (1, *SMALL) and label.dtype == np.uint8
    assert set(np.unique(label)) <= {0, 1} and label.sum() > 0
    assert np.all(np.isfinite(image)) and image.min() >= 0.0
    np.testing.assert_allclose(np.diag(affine), [1.0, 1.5, 2.0, 1.0])
    # the volume is centred on the origin: the centre voxel maps to (0, 0, 0)
    centre = np.append((np.asarray(SMALL) - 1) / 2.0, 1.0)
    np.testing.assert_allclose(affine @ centre, [0, 0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("modalities", [("FLAIR",), ("GADO", "DP"), ("T2", "T1", "T1POST")])
def test_channel_count_follows_modalities(modalities):
    image, _, _ = make_ms_phantom(SMALL, modalities=modalities, seed=1)
    assert image.shape[0] == len(modalities)


def test_deterministic_under_seed():
    a = make_ms_phantom(SMALL, seed=7)
    b = make_ms_phantom(SMALL, seed=7)
    c = make_ms_phantom(SMALL, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("seed", range(6))
def test_lesion_load_in_msseg_range_and_lesion_count_scaled(seed):
    _, label, _ = make_ms_phantom(SMALL, seed=seed)
    load = label.mean()
    assert 1e-4 <= load <= 1e-2  # MSSEG 2016: 647 to 51,870 of 128 * 224 * 256 voxels
    n_components = ndimage.label(label[0])[1]
    assert 3 <= n_components <= 8  # 15..90 scaled by the volume ratio ** (2/3)


@pytest.mark.parametrize("seed", range(4))
def test_connected_components_match_n_lesions(seed):
    _, label, _ = make_ms_phantom(SMALL, n_lesions=12, lesion_load=0.004, seed=seed)
    # distinct under 6- and under 26-connectivity: lesions never touch, not even diagonally
    assert ndimage.label(label[0])[1] == 12
    assert ndimage.label(label[0], structure=np.ones((3, 3, 3)))[1] == 12


def test_lesion_load_follows_argument():
    for load in (3e-4, 3e-3, 1e-2):
        _, label, _ = make_ms_phantom(SMALL, n_lesions=10, lesion_load=load, seed=3)
        assert load * 0.6 <= label.mean() <= load * 1.6


@pytest.mark.parametrize("seed", range(3))
def test_lesions_lie_in_white_matter(seed):
    # with n_lesions and lesion_load given, the lesion-free head is drawn first from the same seed: a run with no
    # lesion gives the tissue each lesion voxel replaced
    _, _, _, healthy = make_ms_phantom(SMALL, n_lesions=0, lesion_load=0.005, seed=seed, return_tissue=True)
    _, label, _, tissue = make_ms_phantom(SMALL, n_lesions=15, lesion_load=0.005, seed=seed, return_tissue=True)
    lesion = label[0].astype(bool)
    assert lesion.sum() > 0
    assert np.all(healthy[lesion] == WM)
    np.testing.assert_array_equal(tissue == LESION, lesion)
    np.testing.assert_array_equal(tissue[~lesion], healthy[~lesion])


def test_some_lesions_are_periventricular():
    _, label, _, tissue = make_ms_phantom(SMALL, n_lesions=20, lesion_load=0.005, seed=0, return_tissue=True)
    csf, n = ndimage.label(tissue == CSF)
    outer = 1 + int(np.argmax(ndimage.sum(np.ones_like(csf), csf, range(1, n + 1))))  # the shell around the brain
    ventricles = (csf > 0) & (csf != outer)
    assert ventricles.sum() > 0
    lesions, _ = ndimage.label(label[0])
    touching = np.unique(lesions[ndimage.binary_dilation(ventricles) & (lesions > 0)])
    assert 3 <= touching.size <= 17  # about 40% of 20


def test_tissue_contrasts():
    image, label, _, tissue = make_ms_phantom(SMALL, n_lesions=15, lesion_load=0.006, seed=2, return_tissue=True)
    lesion, wm, gm, csf = label[0] > 0, tissue == WM, tissue == GM, tissue == CSF
    masks = {"lesion": lesion, "wm": wm, "gm": gm, "csf": csf}
    mean = {m: {t: float(image[c][mask].mean()) for t, mask in masks.items()} for c, m in enumerate(PHANTOM_MODALITIES)}
    # MS lesions: hyperintense on FLAIR, T2 and PD, hypointense on T1; CSF suppressed on FLAIR, bright on T2
    assert mean["FLAIR"]["lesion"] > 1.3 * mean["FLAIR"]["wm"]
    assert mean["T2"]["lesion"] > 1.3 * mean["T2"]["wm"]
    assert mean["PD"]["lesion"] > 1.1 * mean["PD"]["wm"]
    assert mean["T1"]["lesion"] < 0.8 * mean["T1"]["wm"]
    assert mean["FLAIR"]["csf"] < 0.5 * mean["FLAIR"]["wm"]
    assert mean["T2"]["csf"] > mean["T2"]["gm"] > mean["T2"]["wm"]
    assert mean["T1"]["wm"] > mean["T1"]["gm"] > mean["T1"]["csf"]
    assert np.all(image[:, tissue == 0] == 0)  # skull-stripped background


def _deep_white_matter(tissue):
    return ndimage.binary_erosion(tissue == WM, structure=np.ones((3, 3, 3)), iterations=2)  # beyond the blur


def test_noise_level_and_bias_field():
    kwargs = {"n_lesions": 0, "lesion_load": 0.001, "modalities": ("FLAIR",), "seed": 4, "return_tissue": True}
    clean, _, _, tissue = make_ms_phantom(SMALL, noise=0.0, bias=0.0, **kwargs)
    deep = _deep_white_matter(tissue)
    wm_value = clean[0][deep]
    np.testing.assert_allclose(wm_value, wm_value.mean(), rtol=1e-5)  # piecewise constant without noise and bias

    biased, _, _, _ = make_ms_phantom(SMALL, noise=0.0, bias=0.15, **kwargs)
    ratio = biased[0][deep] / wm_value
    assert np.exp(-0.15) - 1e-4 <= ratio.min() < ratio.max() <= np.exp(0.15) + 1e-4
    assert ratio.max() / ratio.min() > 1.05
    # the field is smooth: neighbouring voxels differ by far less than the field's range
    assert np.abs(np.diff(biased[0], axis=0)[deep[1:] & deep[:-1]]).max() < 0.02

    noisy, _, _, _ = make_ms_phantom(SMALL, noise=0.03, bias=0.0, **kwargs)
    residual = noisy[0][deep] - wm_value
    # Rician noise at a signal-to-noise ratio of about 15 is close to Gaussian with sigma = 0.03 * brightest tissue
    sigma = 0.03 * 1.0  # FLAIR's brightest tissue signal (lesion, 1.0) times the per-case jitter (0.95 to 1.05)
    assert 0.9 * 0.95 * sigma < residual.std() < 1.1 * 1.05 * sigma
    assert abs(residual.mean()) < 0.2 * sigma


def test_empty_label_is_a_normal_output():
    image, label, _ = make_ms_phantom(SMALL, n_lesions=0, seed=5)
    assert label.sum() == 0 and np.all(np.isfinite(image))


@pytest.mark.slow
def test_full_size_case_matches_msseg_statistics():
    image, label, _ = make_ms_phantom(PHANTOM_SHAPE, seed=11)
    assert image.shape == (5, 128, 224, 256)
    assert 1e-4 <= label.mean() <= 1e-2
    assert 15 <= ndimage.label(label[0])[1] <= 90


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"shape": (16, 64, 64)}, ValueError),
        ({"shape": (48, 64)}, ValueError),
        ({"shape": (48.5, 64, 64)}, ValueError),
        ({"spacing": (1.0, 0.0, 1.0)}, ValueError),
        ({"modalities": ("FLAIR", "DWI")}, ValueError),
        ({"modalities": ("T1POST", "GADO")}, ValueError),
        ({"modalities": ()}, ValueError),
        ({"n_lesions": -1}, ValueError),
        ({"n_lesions": 2.5}, ValueError),
        ({"lesion_load": 0.0}, ValueError),
        ({"lesion_load": 0.2}, ValueError),
        ({"noise": -0.1}, ValueError),
        ({"bias": 1.0}, ValueError),
        ({"seed": "0"}, TypeError),
    ],
)
def test_invalid_arguments(kwargs, error):
    args = {"shape": SMALL, **kwargs}
    with pytest.raises(error):
        make_ms_phantom(**args)
