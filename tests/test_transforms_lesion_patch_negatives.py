"""RandLesionPatchd's negative patches (issue 24): MONAI's pos/neg semantics on top of hashemi2018's lesion patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai.transforms import RandCropByPosNegLabeld

from monai_tversky.transforms import RandLesionPatchd, lesion_voxels_per_patch


def _case(seed: int = 0):
    """A (1, 40, 36, 32) 'brain' (a box of nonzero, half-negative z-scores) holding two small lesions."""
    rng = np.random.default_rng(seed)
    image = np.zeros((2, 40, 36, 32), np.float32)
    image[:, 4:36, 4:32, 4:28] = rng.standard_normal((2, 32, 28, 24)).astype(np.float32)
    label = np.zeros((1, 40, 36, 32), np.float32)
    label[0, 8:12, 8:12, 8:12] = 1
    label[0, 28:31, 24:27, 20:23] = 1
    return {"image": torch.from_numpy(image), "label": torch.from_numpy(label)}


def _centre(patch_start, size):
    return tuple(s + p // 2 for s, p in zip(patch_start, size))


@pytest.mark.parametrize("pos,neg,expected", [(1.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 1.0, 0.5), (1.0, 3.0, 0.25)])
def test_share_of_lesion_patches_follows_pos_over_pos_plus_neg(pos, neg, expected):
    t = RandLesionPatchd(["image", "label"], "label", (8, 8, 8), num_samples=600, min_lesion_voxels=10, pos=pos,
                         neg=neg, image_key="image")  # fmt: skip
    t.set_random_state(3)
    data = _case()
    counts = lesion_voxels_per_patch(data["label"][0] > 0, (8, 8, 8))
    t(data)
    lesion_patch = np.array([counts[s] >= 10 for s in t.starts])
    # a negative patch centred in this brain holds >= 10 lesion voxels for under 1 % of its centres
    share_of_negatives_with_lesion = 0.01
    assert lesion_patch.mean() == pytest.approx(expected, abs=0.07 + share_of_negatives_with_lesion)
    if expected == 1.0:
        assert lesion_patch.all()


def test_negative_centres_lie_in_the_foreground_and_outside_lesions():
    data = _case(1)
    t = RandLesionPatchd(["image", "label"], "label", (10, 10, 10), num_samples=300, pos=0.0, neg=1.0,
                         image_key="image")  # fmt: skip
    t.set_random_state(0)
    out = t(data)
    foreground = (data["image"].abs() > 0).any(0)
    for s, patch in zip(t.starts, out):
        c = _centre(s, t.patch_size)
        # no clamping needed this far inside the image: the centre is the drawn voxel
        if all(5 <= ci <= dim - 5 for ci, dim in zip(c, data["label"].shape[1:])):
            assert foreground[c] and data["label"][(0, *c)] == 0
        assert tuple(patch["image"].shape[1:]) == (10, 10, 10)
        np.testing.assert_array_equal(
            patch["label"].numpy(), data["label"][:, s[0]:s[0] + 10, s[1]:s[1] + 10, s[2]:s[2] + 10].numpy())
    # half of the brain's z-scores are negative: |image| keeps them as foreground (the signed test would lose them)
    negative_side = [c for c in (_centre(s, t.patch_size) for s in t.starts) if (data["image"][:, c[0], c[1], c[2]] < 0).all()]
    assert negative_side, "no negative patch centred on a voxel whose channels are all negative"


def test_negative_patches_agree_with_monai_posneg_when_the_foreground_is_positive():
    """On a positive-valued image the negative centres are MONAI's: both draw from exactly the same voxel set
    (a 6^3 foreground box holding one lesion voxel, inside a 20^3 image: no centre needs clamping)."""
    image = torch.zeros((1, 20, 20, 20))
    image[:, 7:13, 7:13, 7:13] = torch.rand((1, 6, 6, 6)) + 0.5
    label = torch.zeros((1, 20, 20, 20))
    label[0, 9, 10, 11] = 1
    data = {"image": image, "label": label}
    ours = RandLesionPatchd(["image", "label"], "label", (4, 4, 4), num_samples=3000, pos=0.0, neg=1.0,
                            image_key="image")  # fmt: skip
    ours.set_random_state(5)
    ours(data)
    theirs = RandCropByPosNegLabeld(["image", "label"], "label", (4, 4, 4), pos=0.0, neg=1.0, num_samples=3000,
                                    image_key="image", image_threshold=0.0)  # fmt: skip
    theirs.set_random_state(5)
    crops = theirs(data)
    ours_centres = {_centre(s, ours.patch_size) for s in ours.starts}
    theirs_centres = {tuple(int(v) for v in c["image"].meta["crop_center"]) for c in crops}
    allowed = {(x, y, z) for x in range(7, 13) for y in range(7, 13) for z in range(7, 13)} - {(9, 10, 11)}
    assert ours_centres == allowed == theirs_centres


def test_without_an_image_key_any_non_lesion_voxel_is_a_centre():
    data = _case(3)
    t = RandLesionPatchd(["image", "label"], "label", (6, 6, 6), num_samples=500, pos=0.0, neg=1.0)
    t.set_random_state(1)
    t(data)
    centres = [_centre(s, t.patch_size) for s in t.starts]
    assert any(not (data["image"][:, c[0], c[1], c[2]] != 0).any() for c in centres)  # background drawn too
    assert all(data["label"][(0, *c)] == 0 for c in centres)


def test_the_paper_default_draws_the_same_patches_as_before():
    """neg=0 (the default) makes no extra random draw: hashemi2018's patches are those of the stream as it was."""
    data = _case(4)
    a = RandLesionPatchd(["image", "label"], "label", (12, 12, 12), num_samples=16)
    b = RandLesionPatchd(["image", "label"], "label", (12, 12, 12), num_samples=16, pos=5.0, neg=0.0, image_key="image")
    a.set_random_state(9)
    b.set_random_state(9)
    a(data)
    b(data)
    assert a.starts == b.starts
    counts = lesion_voxels_per_patch(data["label"][0] > 0, (12, 12, 12))
    rs = np.random.RandomState(9)
    valid = np.flatnonzero(counts >= 10)
    expected = valid[rs.randint(0, valid.size, size=16)]
    assert a.starts == [tuple(int(i) for i in np.unravel_index(f, counts.shape)) for f in expected]


@pytest.mark.parametrize(
    "kwargs,error,match",
    [({"pos": -1.0}, ValueError, "pos must be a finite number >= 0"), ({"neg": float("nan")}, ValueError, "neg"),
     ({"pos": 0.0, "neg": 0.0}, ValueError, "cannot both be 0"), ({"neg": "1"}, TypeError, "neg must be a number"),
     ({"pos": True}, TypeError, "pos must be a number")],
)  # fmt: skip
def test_invalid_weights(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandLesionPatchd(["image", "label"], "label", (8, 8, 8), num_samples=2, **kwargs)


def test_missing_or_mismatched_image_key_is_named():
    data = _case()
    with pytest.raises(KeyError, match="image_key 'img'"):
        RandLesionPatchd(["image", "label"], "label", (8, 8, 8), num_samples=2, neg=1.0, image_key="img")(data)
    data["image"] = data["image"][:, :20]
    with pytest.raises(ValueError, match="image 'image' has spatial shape"):
        t = RandLesionPatchd(["label"], "label", (8, 8, 8), num_samples=4, pos=0.0, neg=1.0, image_key="image")
        t(data)
