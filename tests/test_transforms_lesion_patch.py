"""Tests of RandLesionPatchd, the training patch selection of hashemi2018 (section III.E)."""

from __future__ import annotations

import itertools
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, MetaTensor, list_data_collate
from monai.transforms import Compose

import monai_tversky  # noqa: F401  (registers the short names for ConfigParser)
from monai_tversky.transforms import RandLesionPatchd, lesion_voxels_per_patch


def _phantom(shape=(40, 36, 30), seed=0, num_lesions=4) -> tuple[np.ndarray, np.ndarray]:
    """An image whose voxel values encode their position, and a label with a few small box lesions."""
    rng = np.random.default_rng(seed)
    label = np.zeros((1, *shape), dtype=np.uint8)
    for _ in range(num_lesions):
        corner = [rng.integers(0, s - 4) for s in shape]
        size = [rng.integers(1, 4) for _ in shape]
        label[(0, *(slice(c, c + n) for c, n in zip(corner, size)))] = 1
    position = np.ravel_multi_index(np.indices(shape), shape).astype(np.float32)
    return np.stack([position, -position]), label


def _brute_force_counts(lesion: np.ndarray, patch: tuple[int, ...]) -> np.ndarray:
    counts = np.zeros([s - p + 1 for s, p in zip(lesion.shape, patch)], dtype=int)
    for start in itertools.product(*(range(n) for n in counts.shape)):
        counts[start] = lesion[tuple(slice(s, s + p) for s, p in zip(start, patch))].sum()
    return counts


@pytest.mark.parametrize("shape,patch", [((13, 11, 9), (4, 5, 3)), ((17, 12), (6, 12)), ((9, 9, 9), (1, 1, 1))])
def test_lesion_voxels_per_patch_matches_brute_force(shape, patch):
    lesion = np.random.default_rng(1).random(shape) > 0.8
    expected = _brute_force_counts(lesion, patch)
    np.testing.assert_array_equal(lesion_voxels_per_patch(torch.as_tensor(lesion), patch), expected)
    np.testing.assert_array_equal(lesion_voxels_per_patch(lesion.astype(np.uint8), patch), expected)


@pytest.mark.parametrize("seed", range(4))
def test_every_patch_holds_enough_lesion_voxels(seed):
    image, label = _phantom(seed=seed)
    transform = RandLesionPatchd(["image", "label"], "label", (16, 16, 16), num_samples=12)
    transform.set_random_state(seed)
    valid = _brute_force_counts(label[0] > 0, (16, 16, 16)) >= 10
    assert valid.any() and not valid.all()  # the phantom makes the selection non-trivial
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback expected
        patches = transform({"image": image, "label": label, "case": "a"})
    assert len(patches) == 12
    for p in patches:
        assert p["image"].shape == (2, 16, 16, 16) and p["label"].shape == (1, 16, 16, 16)
        assert int((p["label"] > 0).sum()) >= 10
        start = np.unravel_index(int(p["image"][0, 0, 0, 0]), label.shape[1:])  # the image encodes positions
        assert valid[start]
        np.testing.assert_array_equal(  # image and label cropped at the same place
            np.asarray(p["label"]), label[(slice(None), *(slice(s, s + 16) for s in start))]
        )
        assert p["case"] == "a"


def test_all_valid_positions_can_be_drawn():
    label = np.zeros((1, 12, 12), dtype=np.uint8)
    label[0, 5:7, 5:7] = 1  # 4 lesion voxels; patches of 6x6 holding all four start in [1, 5]^2
    transform = RandLesionPatchd(["label"], "label", (6, 6), num_samples=400, min_lesion_voxels=4)
    transform.set_random_state(0)
    starts = Counter(tuple(int(c) - 3 for c in p["label"].meta["crop_center"]) for p in transform({"label": label}))
    assert set(starts) == set(itertools.product(range(1, 6), repeat=2))


def test_images_contribute_equally_through_a_dataloader():
    data = []
    for i, num_lesions in enumerate([1, 3, 8]):
        image, label = _phantom(seed=10 + i, num_lesions=num_lesions)
        label[0, 10:14, 10:14, 10:14] = 1  # every image has at least one lesion of 64 voxels
        data.append({"image": image, "label": label, "case": i})
    transform = RandLesionPatchd(["image", "label"], "label", (16, 16, 16), num_samples=3)
    loader = DataLoader(Dataset(data, transform), batch_size=3, collate_fn=list_data_collate)
    batch = next(iter(loader))
    assert batch["image"].shape == (9, 2, 16, 16, 16)
    assert Counter(batch["case"].tolist()) == {0: 3, 1: 3, 2: 3}
    assert bool(((batch["label"] > 0).flatten(1).sum(1) >= 10).all())


@pytest.mark.parametrize("lesion_voxels", [0, 9])
def test_too_few_lesion_voxels_falls_back_with_a_warning(lesion_voxels):
    image, label = _phantom(num_lesions=0)
    label[0].flat[np.linspace(0, label[0].size - 1, lesion_voxels).astype(int)] = 1
    transform = RandLesionPatchd(["image", "label"], "label", (16, 16, 16), num_samples=5)
    with pytest.warns(UserWarning, match="ordinary random patches"):
        patches = transform({"image": image, "label": label})
    assert len(patches) == 5 and all(p["image"].shape == (2, 16, 16, 16) for p in patches)


def test_image_smaller_than_the_patch_and_spatial_size_fallback():
    label = np.zeros((1, 8, 40, 30), dtype=np.uint8)
    label[0, :, 20:25, 5:10] = 1
    transform = RandLesionPatchd(["label"], "label", (16, 16, -1), num_samples=2)
    patches = transform({"label": label})
    assert all(p["label"].shape == (1, 8, 16, 30) and int(p["label"].sum()) >= 10 for p in patches)


def test_metatensor_affine_follows_the_crop_and_determinism():
    image, label = _phantom(seed=5)
    data = {"image": MetaTensor(image), "label": MetaTensor(label)}
    first = RandLesionPatchd(["image", "label"], "label", 16, num_samples=3).set_random_state(7)(data)
    second = RandLesionPatchd(["image", "label"], "label", 16, num_samples=3).set_random_state(7)(data)
    for i, (a, b) in enumerate(zip(first, second)):
        torch.testing.assert_close(a["image"], b["image"])
        start = np.unravel_index(int(a["image"][0, 0, 0, 0]), label.shape[1:])
        np.testing.assert_allclose(a["image"].affine[:3, 3].numpy(), start)  # identity affine, shifted to the crop
        assert a["image"].meta["patch_index"] == i


def test_lazy_execution_gives_the_same_patches():
    image, label = _phantom(seed=2)
    data = {"image": MetaTensor(image), "label": MetaTensor(label)}
    eager = Compose([RandLesionPatchd(["image", "label"], "label", 16, num_samples=2)]).set_random_state(3)
    lazy = Compose([RandLesionPatchd(["image", "label"], "label", 16, num_samples=2)], lazy=True).set_random_state(3)
    expected, result = eager(data), lazy(data)
    assert len(result) == 2
    for a, b in zip(expected, result):
        assert not b["image"].pending_operations
        torch.testing.assert_close(a["image"].as_tensor(), b["image"].as_tensor())
        torch.testing.assert_close(a["label"].affine, b["label"].affine)


def test_bundle_config_short_name():
    parser = ConfigParser({"crop": {"_target_": "RandLesionPatchd", "keys": ["image", "label"], "label_key": "label",
                                    "spatial_size": [16, 16, 16], "num_samples": 2}})
    assert isinstance(parser.get_parsed_content("crop"), RandLesionPatchd)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_samples"):
        RandLesionPatchd("image", "label", 16, num_samples=0)
    with pytest.raises(ValueError, match="min_lesion_voxels"):
        RandLesionPatchd("image", "label", 16, num_samples=1, min_lesion_voxels=-1)
    with pytest.raises(TypeError, match="spatial_size"):
        RandLesionPatchd("image", "label", "16", num_samples=1)
    transform = RandLesionPatchd(["image", "label"], "label", (8, 8, 8), num_samples=1)
    image, label = _phantom()
    with pytest.raises(KeyError, match="label"):
        transform({"image": image})
    with pytest.raises(ValueError, match="spatial shape"):
        transform({"image": image[:, :-1], "label": label})
    with pytest.raises(ValueError, match="spatial_size"):
        transform({"image": image[:, 0], "label": label[:, 0]})


@pytest.mark.parametrize("seed", range(3))
def test_one_hot_label_with_label_channel_gives_the_same_patches(seed):
    image, label = _phantom(seed=seed)
    one_hot = np.concatenate([1 - label, label])  # (background, lesion): the background is > 0 almost everywhere
    single = RandLesionPatchd(["image", "label"], "label", 16, num_samples=6).set_random_state(seed)
    channel = RandLesionPatchd(["image", "label"], "label", 16, num_samples=6, label_channel=1).set_random_state(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback expected
        expected = single({"image": image, "label": label})
        patches = channel({"image": image, "label": one_hot})
    assert channel.starts == single.starts
    for p, e in zip(patches, expected):
        assert p["label"].shape == (2, 16, 16, 16)
        np.testing.assert_array_equal(np.asarray(p["image"]), np.asarray(e["image"]))
        np.testing.assert_array_equal(np.asarray(p["label"][1:]), np.asarray(e["label"]))
        assert int((p["label"][1] > 0).sum()) >= 10
    # label_channel=0 of a single-channel label is the default behaviour
    zero = RandLesionPatchd(["label"], "label", 16, num_samples=6, label_channel=0).set_random_state(seed)
    zero({"label": label})
    assert zero.starts == single.starts


def test_label_channel_validation():
    image, label = _phantom()
    one_hot = np.concatenate([1 - label, label])
    with pytest.raises(ValueError, match=r"2 channels.*label_channel"):
        RandLesionPatchd(["image", "label"], "label", 16, num_samples=1)({"image": image, "label": one_hot})
    with pytest.raises(ValueError, match=r"label_channel=2 is out of range.*2 channel"):
        RandLesionPatchd(["label"], "label", 16, num_samples=1, label_channel=2)({"label": one_hot})
    with pytest.raises(ValueError, match="label_channel"):
        RandLesionPatchd(["label"], "label", 16, num_samples=1, label_channel=-1)
    with pytest.raises(TypeError, match="label_channel"):
        RandLesionPatchd(["label"], "label", 16, num_samples=1, label_channel=1.0)
    with pytest.raises(TypeError, match="label_channel"):
        RandLesionPatchd(["label"], "label", 16, num_samples=1, label_channel=True)
