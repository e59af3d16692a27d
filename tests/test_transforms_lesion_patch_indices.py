"""LesionPatchIndicesd: RandLesionPatchd's patch positions counted once per image (before caching), not per draw."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from monai.bundle import ConfigParser
from monai.data import CacheDataset
from monai.transforms import Compose

from monai_tversky.transforms import LesionPatchIndices, LesionPatchIndicesd, RandLesionPatchd

SETTINGS = {"spatial_size": (8, 8, 8), "min_lesion_voxels": 10, "pos": 1.0, "neg": 1.0, "image_key": "image"}


def _case(seed: int = 0, lesions: bool = True):
    """A (2, 40, 36, 32) 'brain' (a box of nonzero, half-negative z-scores) holding two small lesions."""
    rng = np.random.default_rng(seed)
    image = np.zeros((2, 40, 36, 32), np.float32)
    image[:, 4:36, 4:32, 4:28] = rng.standard_normal((2, 32, 28, 24)).astype(np.float32)
    label = np.zeros((1, 40, 36, 32), np.float32)
    if lesions:
        label[0, 8:12, 8:12, 8:12] = 1
        label[0, 28:31, 24:27, 20:23] = 1
    return {"image": torch.from_numpy(image), "label": torch.from_numpy(label), "case": f"c{seed}"}


def _pair(num_samples: int = 6, **settings):
    kw = {**SETTINGS, **settings}
    plain = RandLesionPatchd(["image", "label"], "label", num_samples=num_samples, **kw)
    cached = RandLesionPatchd(["image", "label"], "label", num_samples=num_samples, indices_key="idx", **kw)
    return plain, cached, LesionPatchIndicesd("label", indices_key="idx", **kw)


def test_indices_are_the_positions_by_their_definition():
    data = _case()
    out = LesionPatchIndicesd("label", indices_key="idx", **SETTINGS)(data)
    idx = out["idx"]
    assert isinstance(idx, LesionPatchIndices) and "idx" not in data  # the input dictionary is left alone
    assert idx.spatial_shape == (40, 36, 32) and idx.patch_size == (8, 8, 8) and idx.grid == (33, 29, 25)
    assert idx.lesion_voxels == 4**3 + 3**3
    # lesion starts: brute force, every 8^3 box counted directly
    lab = data["label"][0].numpy() > 0
    expected = [np.ravel_multi_index((i, j, k), idx.grid) for i in range(33) for j in range(29) for k in range(25)
                if lab[i:i + 8, j:j + 8, k:k + 8].sum() >= 10]  # fmt: skip
    np.testing.assert_array_equal(np.sort(idx.lesion_starts), expected)
    # negative centres: non-lesion voxels where some channel of the image is nonzero (|z| > 0)
    fg = (data["image"].abs() > 0).any(0).numpy() & ~lab
    np.testing.assert_array_equal(np.sort(idx.negative_centres), np.flatnonzero(fg))
    assert idx.lesion_starts.dtype == np.int32 and idx.negative_centres.dtype == np.int32


@pytest.mark.parametrize("pos,neg", [(1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 3.0)])
def test_precomputed_indices_give_the_same_patches(pos, neg):
    plain, cached, indices = _pair(pos=pos, neg=neg)
    plain.set_random_state(11)
    cached.set_random_state(11)
    for seed in range(3):
        data = _case(seed)
        a, b = plain(data), cached(indices(data))
        assert plain.starts == cached.starts
        for pa, pb in zip(a, b):
            assert "idx" not in pb  # popped, as MONAI pops fg/bg indices: not copied into every patch
            torch.testing.assert_close(pa["image"], pb["image"], rtol=0, atol=0)
            torch.testing.assert_close(pa["label"], pb["label"], rtol=0, atol=0)


def test_lesion_free_image_warns_and_draws_as_before():
    plain, cached, indices = _pair(pos=1.0, neg=0.0)
    plain.set_random_state(2)
    cached.set_random_state(2)
    data = _case(lesions=False)
    with pytest.warns(UserWarning, match="its label has 0"):
        plain(data)
    with pytest.warns(UserWarning, match="its label has 0"):
        cached(indices(data))
    assert plain.starts == cached.starts


def test_mismatched_settings_are_named():
    data = _case()
    _, cached, _ = _pair()
    for other, name in [({"spatial_size": (10, 10, 10)}, "patch_size"), ({"min_lesion_voxels": 5}, "min_lesion_voxels")]:
        stale = LesionPatchIndicesd("label", indices_key="idx", **{**SETTINGS, **other})(data)
        with pytest.raises(ValueError, match=name):
            cached(stale)
    no_negatives = LesionPatchIndicesd("label", indices_key="idx", **{**SETTINGS, "neg": 0.0})(data)
    assert no_negatives["idx"].negative_centres is None
    with pytest.raises(ValueError, match="no negative centres"):
        cached(no_negatives)
    smaller = {k: v[:, :36] for k, v in data.items() if k != "case"}
    with pytest.raises(ValueError, match="spatial_shape"):
        cached({**smaller, "idx": LesionPatchIndicesd("label", indices_key="idx", **SETTINGS)(data)["idx"]})
    with pytest.raises(TypeError, match="LesionPatchIndices"):
        cached({**data, "idx": np.arange(3)})
    with pytest.raises(KeyError, match="image"):
        LesionPatchIndicesd("label", indices_key="idx", **SETTINGS)({"label": data["label"]})


def test_absent_indices_are_computed_per_call():
    plain, cached, _ = _pair()
    plain.set_random_state(5)
    cached.set_random_state(5)
    data = _case()
    plain(data)
    cached(data)
    assert plain.starts == cached.starts


def test_cache_dataset_caches_the_indices_and_draws_the_same_patches():
    """In a CacheDataset the indices transform (deterministic) runs once per image at caching; the patches of
    every epoch equal those of the pipeline without it."""
    plain, cached, indices = _pair(num_samples=4)
    items = [_case(0), _case(1)]
    ds_plain = CacheDataset(items, Compose([plain]), progress=False)
    ds_cached = CacheDataset(items, Compose([indices, cached]), progress=False)
    plain.set_random_state(9)
    cached.set_random_state(9)
    assert all(isinstance(c["idx"], LesionPatchIndices) for c in ds_cached._cache)  # cached with the image
    for _epoch in range(2):
        for i in range(len(items)):  # indexed directly: MONAI's DataLoader would reseed each dataset differently
            for pp, pc in zip(ds_plain[i], ds_cached[i]):
                assert "idx" not in pc
                torch.testing.assert_close(pp["image"], pc["image"], rtol=0, atol=0)
                torch.testing.assert_close(pp["label"], pc["label"], rtol=0, atol=0)
    # the cached item keeps its indices for the next epoch (CacheDataset hands out copies)
    assert all(isinstance(c["idx"], LesionPatchIndices) for c in ds_cached._cache)


def test_config_form():
    parser = ConfigParser({
        "idx": {"_target_": "LesionPatchIndicesd", "label_key": "label", "spatial_size": [8, 8, 8], "neg": 1.0,
                "image_key": "image"},
        "crop": {"_target_": "RandLesionPatchd", "keys": ["image", "label"], "label_key": "label", "spatial_size": 8,
                 "num_samples": 2, "neg": 1.0, "image_key": "image", "indices_key": "lesion_patch_indices"},
    })  # fmt: skip
    out = parser.get_parsed_content("crop")(parser.get_parsed_content("idx")(_case()))
    assert len(out) == 2 and tuple(out[0]["image"].shape) == (2, 8, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LesionPatchIndicesd("label", 8)({"label": _case()["label"]})  # no image: negatives bound by the label only


@pytest.mark.parametrize("as_numpy", [False, True])
def test_patches_own_their_memory_so_a_cache_can_be_handed_out_uncopied(as_numpy):
    """The bundles' CacheDataset hands its cached item to RandLesionPatchd without a copy (``copy_cache=False``):
    the patches must not be views of the cached volume, and the item's dictionary must keep its indices."""
    data = _case()
    if as_numpy:
        data = {**data, "image": data["image"].numpy(), "label": data["label"].numpy()}
    _, cached, indices = _pair(num_samples=4)
    item = indices(data)
    before = {k: np.array(item[k], copy=True) for k in ("image", "label")}
    patches = cached(item)
    assert "idx" in item and isinstance(item["idx"], LesionPatchIndices)  # popped from a copy of the dictionary
    for patch in patches:
        for key in ("image", "label"):
            patch[key][...] = -7.0  # a later transform writing in place
    for key in ("image", "label"):
        np.testing.assert_array_equal(np.asarray(item[key]), before[key])
