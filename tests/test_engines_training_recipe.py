"""The 3D bundles' training recipes (issue 24): ``training_recipe`` and what each bundle's train.json builds from it."""

from __future__ import annotations

import pytest
import torch

from bundle_catalog import assert_spatial_augmentation_aligned, bundle_parser
from monai.transforms import (
    RandAdjustContrastd,
    RandAffined,
    RandBiasFieldd,
    RandFlipd,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from monai_tversky.engines import TRAINING_RECIPES, training_recipe
from monai_tversky.transforms import RandLesionPatchd

BUNDLES_3D = ("msseg", "tversky_unet3d", "generalised_dice")
AUGMENTATION = (RandFlipd, RandAffined, RandBiasFieldd, RandScaleIntensityd, RandShiftIntensityd, RandAdjustContrastd,
                RandGaussianNoised)  # fmt: skip


def _items(folder, n=2):
    return [{"image": [str(folder / f"c{i}" / "FLAIR.nii.gz"), str(folder / f"c{i}" / "T1.nii.gz")],
             "label": str(folder / f"c{i}" / "GT.nii.gz")} for i in range(n)]  # fmt: skip


def test_auto_is_the_paper_on_the_phantom_and_robust_on_anything_else(tmp_path):
    phantom = tmp_path / "phantom"
    assert training_recipe("auto", _items(phantom), phantom)["name"] == "paper"
    assert training_recipe("AUTO", _items(tmp_path / "real"), phantom)["name"] == "robust"
    mixed = _items(phantom) + _items(tmp_path / "real", 1)
    assert training_recipe("auto", mixed, phantom)["name"] == "robust"
    assert training_recipe("auto", [], phantom)["name"] == "robust"
    assert training_recipe("auto", None, None)["name"] == "robust"
    # a folder beside the phantom's whose name starts alike is not inside it
    assert training_recipe("auto", _items(tmp_path / "phantom_real"), phantom)["name"] == "robust"


def test_named_recipes_and_their_settings():
    paper, robust = training_recipe("paper"), training_recipe(" Robust ")
    assert (paper["pos"], paper["neg"], paper["augment"], paper["batch"]) == (1.0, 0.0, False, False)
    assert (robust["pos"], robust["neg"], robust["augment"], robust["batch"]) == (1.0, 1.0, True, True)
    assert set(TRAINING_RECIPES) == {"paper", "robust"}


def test_unknown_recipe_is_named():
    with pytest.raises(ValueError, match=r"recipe must be 'auto' or one of \['paper', 'robust'\], got 'fast'"):
        training_recipe("fast")


def _train_transforms(parser):
    return list(parser.get_parsed_content("train#preprocessing").transforms)


@pytest.mark.parametrize("bundle", BUNDLES_3D)
def test_real_data_trains_with_the_robust_recipe_and_the_phantom_with_the_papers(bundle, tmp_path):
    """MONAI Label replaces train#dataset#data with its studies: real data, so the robust recipe; the phantom's
    cases keep the paper's; --recipe paper brings it back on real data."""
    cases = {"real": _items(tmp_path / "studies"), "phantom": _items(tmp_path / "output" / "phantom")}
    for data, recipe, expected in [("real", "auto", "robust"), ("phantom", "auto", "paper"),
                                   ("real", "paper", "paper"), ("phantom", "robust", "robust")]:  # fmt: skip
        parser = bundle_parser(bundle, "train.json", **{"train#dataset#data": cases[data], "recipe": recipe,
                                                       "phantom_dir": str(tmp_path / "output" / "phantom")})  # fmt: skip
        transforms = _train_transforms(parser)
        patch = next(t for t in transforms if isinstance(t, RandLesionPatchd))
        augmentation = [t for t in transforms if isinstance(t, AUGMENTATION)]
        settings = TRAINING_RECIPES[expected]
        assert (patch.pos, patch.neg, patch.image_key) == (settings.pos, settings.neg, "image"), (data, recipe)
        assert [type(t) for t in augmentation] == (list(AUGMENTATION) if settings.augment else []), (data, recipe)
        assert parser.get_parsed_content("run_settings")["recipe"] == expected
        assert parser.get_parsed_content("loss").batch == settings.batch, (data, recipe)


@pytest.mark.parametrize("bundle", BUNDLES_3D)
def test_each_setting_overrides_alone(bundle, tmp_path):
    parser = bundle_parser(bundle, "train.json", **{"train#dataset#data": _items(tmp_path), "neg_patches": 0.5,
                                                    "augment": False})  # fmt: skip
    transforms = _train_transforms(parser)
    patch = next(t for t in transforms if isinstance(t, RandLesionPatchd))
    assert patch.neg == 0.5 and not [t for t in transforms if isinstance(t, AUGMENTATION)]


def test_a_lesion_free_patch_needs_the_batch_loss():
    """Why the robust recipe sums the loss over the batch: per patch, MONAI's TverskyLoss gives a lesion-free patch
    with a single false-positive voxel nearly the worst loss (1 - smooth / (alpha FP + smooth)), however many lesion
    voxels the batch's other patch gets right; over the batch, that false positive costs what one voxel should."""
    from monai.losses import TverskyLoss

    target = torch.zeros((2, 1, 8, 8, 8))
    target[0, 0, 2:6, 2:6, 2:6] = 1  # 64 lesion voxels in the first patch, none in the second
    pred = target.clone()
    pred[1, 0, 0, 0, 0] = 1  # one false positive in the lesion-free patch
    per_patch = TverskyLoss(alpha=0.3, beta=0.7)(pred, target)
    batch = TverskyLoss(alpha=0.3, beta=0.7, batch=True)(pred, target)
    # per patch: the mean of 0 (perfect) and 1 - 1e-5 / (0.3 + 1e-5); over the batch: 1 - (64 + 1e-5) / (64.3 + 1e-5)
    assert float(per_patch) == pytest.approx(0.5 * (1 - 1e-5 / (0.3 + 1e-5)), rel=1e-5)
    assert float(batch) == pytest.approx(1 - (64 + 1e-5) / (64 + 0.3 + 1e-5), rel=1e-5)
    assert float(batch) < 0.01 < 0.49 < float(per_patch)


def test_the_augmentation_keeps_image_and_label_aligned_and_the_label_binary(tmp_path):
    """The spatial transforms move image and label together (the label is nearest-resampled and stays 0/1)."""
    parser = bundle_parser("tversky_unet3d", "train.json", **{"train#dataset#data": _items(tmp_path), "recipe": "robust"})
    augmentation = [t for t in _train_transforms(parser) if isinstance(t, (RandFlipd, RandAffined))]
    label = torch.zeros((1, 24, 24, 24))
    label[0, 6:12, 8:14, 10:16] = 1
    image = torch.cat([label * 3.0 - 1.0, label * -2.0]).float()  # the image is a function of the label
    assert_spatial_augmentation_aligned(augmentation, image, label, inside=2.0)


def _cache_snapshot(item: dict) -> dict:
    return {k: (v.clone(), len(v.applied_operations)) if isinstance(v, torch.Tensor) else v for k, v in item.items()}


def _assert_cache_unchanged(cached: dict, snapshot: dict) -> None:
    assert set(cached) == set(snapshot)
    for key, value in snapshot.items():
        if isinstance(value, tuple):
            assert torch.equal(cached[key], value[0]), f"the cached {key!r} was written into"
            assert len(cached[key].applied_operations) == value[1], f"the cached {key!r}'s applied_operations grew"
        else:
            assert cached[key] is value


def _draw_rounds(dataset, transforms, rounds: int = 4) -> None:
    for t in transforms:
        if hasattr(t, "prob"):
            t.prob = 1.0  # every augmentation fires: the worst case for writes into the cache
    for seed in range(rounds):
        dataset.transform.set_random_state(seed)
        patches = dataset[0]
        assert len(patches) >= 1 and all(p["image"].shape[1:] == p["label"].shape[1:] for p in patches)


@pytest.mark.parametrize("bundle", BUNDLES_3D)
def test_the_training_cache_is_handed_out_without_a_copy_and_never_written_into(bundle, tmp_path):
    """train#dataset is a CacheDataset with ``copy_cache=False`` (a deep copy of a whole cached brain volume per draw
    was most of a 3D loader item's time): safe only if nothing after the cached part writes into the cached item.
    The bundle's own random transforms and augmentation (robust recipe, every one forced to fire), run through a
    CacheDataset made as train.json makes it, leave the cached volume, its metadata and its patch indices as they
    were; and the same check catches a pipeline that does write into it (a MONAI crop's view, written in place)."""
    from monai.data import CacheDataset, MetaTensor
    from monai.transforms import Compose, Lambdad, RandSpatialCropd

    parser = bundle_parser(bundle, "train.json", **{"train#dataset#data": _items(tmp_path), "recipe": "robust"})
    assert parser.get("train#dataset#copy_cache") is False
    channels = len(parser.get_parsed_content("channels"))
    generator = torch.Generator().manual_seed(0)
    image = torch.zeros((channels, 40, 40, 40))
    image[:, 4:36, 4:36, 4:36] = torch.randn((channels, 32, 32, 32), generator=generator)  # a "brain" in a zero border
    label = torch.zeros((1, 40, 40, 40))
    label[0, 14:24, 16:26, 12:22] = 1
    item = {"image": MetaTensor(image), "label": MetaTensor(label)}
    random_part = list(parser.get_parsed_content("train#random_transforms"))
    augmentation = list(parser.get_parsed_content("train#augmentation"))
    dataset = CacheDataset([item], Compose(random_part + augmentation), cache_rate=1.0, num_workers=0,
                           copy_cache=parser.get("train#dataset#copy_cache"), progress=False)  # fmt: skip
    cached = dataset._cache[0]
    assert "lesion_patch_indices" in cached  # LesionPatchIndicesd is in the cached part
    snapshot = _cache_snapshot(cached)
    _draw_rounds(dataset, augmentation)
    _assert_cache_unchanged(dataset._cache[0], snapshot)

    # the check can fail: a MONAI crop (a view) written in place reaches the cache when it is not copied
    writer = Compose([RandSpatialCropd(["image", "label"], roi_size=(8, 8, 8)), Lambdad("image", lambda x: x.mul_(2))])
    plain = {"image": MetaTensor(image.clone()), "label": MetaTensor(label.clone())}
    unsafe = CacheDataset([plain], writer, cache_rate=1.0, num_workers=0, copy_cache=False, progress=False)
    snapshot = _cache_snapshot(unsafe._cache[0])
    unsafe[0]
    with pytest.raises(AssertionError, match="was written into"):
        _assert_cache_unchanged(unsafe._cache[0], snapshot)
