"""SplitVarianced and TTAUncertaintyScored: the (mean, variance) pair of SplineFusionInferer(return_variance=True)
through MONAI's SupervisedEvaluator (decollated per item), saved with the input's geometry, and scored per case."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import torch

from monai.data import DataLoader, Dataset, MetaTensor, decollate_batch
from monai.engines import SupervisedEvaluator
from monai.transforms import Activationsd, AsDiscreted, Compose, SaveImaged

from monai_tversky.inferers import SplineFusionInferer, tta_uncertainty_score
from monai_tversky.transforms import SplitVarianced, StoreCaseIdd, TTAUncertaintyScored, case_output_name


def test_split_passes_a_single_prediction_through():
    pred = MetaTensor(torch.rand(1, 4, 4, 4))
    out = SplitVarianced()({"pred": pred, "image": 1})
    assert out["pred"] is pred and "variance" not in out


@pytest.mark.parametrize("container", [tuple, list])
def test_split_puts_the_variance_under_its_key(container):
    affine = torch.diag(torch.tensor([2.0, 1.0, 1.5, 1.0]))
    mean, variance = MetaTensor(torch.rand(1, 3, 3, 3), affine=affine), torch.rand(1, 3, 3, 3)
    out = SplitVarianced(keys="pred", variance_key="var")({"pred": container((mean, variance))})
    assert out["pred"] is mean
    assert isinstance(out["var"], MetaTensor)  # a plain variance gets the mean's metadata
    torch.testing.assert_close(out["var"].as_tensor(), variance)
    torch.testing.assert_close(out["var"].affine, affine.double())


def test_split_rejects_mismatched_keys():
    with pytest.raises(ValueError, match="one key per key"):
        SplitVarianced(keys=["pred", "prob"], variance_key="variance")
    with pytest.raises(ValueError, match="must differ"):
        SplitVarianced(keys="pred", variance_key="pred")


def test_decollated_pair_of_batched_meta_tensors_is_split_per_item():
    """decollate_batch turns the batched (mean, variance) tuple into one list of two MetaTensors per item."""
    affine = torch.stack([torch.eye(4), torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))])
    mean = MetaTensor(torch.rand(2, 1, 3, 3, 3), affine=affine)
    mean.is_batch = True
    variance = MetaTensor(torch.rand(2, 1, 3, 3, 3), affine=affine.clone())
    variance.is_batch = True
    items = decollate_batch({"pred": (mean, variance)})
    assert isinstance(items[1]["pred"], list) and len(items[1]["pred"]) == 2
    out = SplitVarianced()(items[1])
    torch.testing.assert_close(out["variance"].as_tensor(), variance[1].as_tensor())
    torch.testing.assert_close(out["variance"].affine, affine[1].double())


def test_score_over_the_mask_is_written_per_case(tmp_path):
    variance = torch.zeros(1, 4, 4, 4)
    variance[0, 0, 0, :2] = 0.2
    mask = torch.zeros(1, 4, 4, 4)
    mask[0, 0, 0, :] = 1  # 4 voxels, two of variance 0.2: score 0.1
    scorer = TTAUncertaintyScored(output_dir=tmp_path)
    out = scorer({"variance": MetaTensor(variance, meta={"case_id": "a"}), "pred": mask})
    assert out["tta_uncertainty"] == pytest.approx(0.1)
    out = scorer({"variance": MetaTensor(variance, meta={"filename_or_obj": "/d/b.nii.gz"}), "pred": torch.zeros(1, 4, 4, 4)})
    assert out["tta_uncertainty"] == pytest.approx(float(variance.mean()))  # empty mask: the whole volume
    scores = json.loads((tmp_path / "tta_uncertainty.json").read_text())
    assert scores == {"a": {"tta_uncertainty": pytest.approx(0.1), "lesion_voxels": 4},
                      "b": {"tta_uncertainty": pytest.approx(0.4 / 64), "lesion_voxels": 0}}
    rows = list(csv.DictReader((tmp_path / "tta_uncertainty.csv").open()))
    assert [r["case_id"] for r in rows] == ["a", "b"] and float(rows[0]["tta_uncertainty"]) == pytest.approx(0.1)


def test_score_passes_through_without_a_variance(tmp_path):
    scorer = TTAUncertaintyScored(output_dir=tmp_path, allow_missing_keys=True)
    out = scorer({"pred": torch.ones(1, 2, 2)})
    assert "tta_uncertainty" not in out and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="one variance key"):
        TTAUncertaintyScored(keys=["a", "b"])


def _conv_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv3d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv3d(3, 1, 1)).eval()


def test_supervised_evaluator_saves_the_variance_with_the_input_geometry(tmp_path):
    """The real path: SupervisedEvaluator stores the inferer's tuple under "pred", decollates it per item, and the
    post-processing splits it, saves the variance beside the probability map and scores each case."""
    affines = [np.diag([1.0, 1.2, 2.0, 1.0]), np.diag([0.8, 0.8, 1.5, 1.0])]
    affines[1][:3, 3] = [10.0, -5.0, 3.0]
    rng = np.random.default_rng(0)
    data = []
    for i, affine in enumerate(affines):
        path = tmp_path / f"img{i}.nii.gz"
        nib.save(nib.Nifti1Image(rng.random((12, 10, 9)).astype(np.float32), affine), str(path))
        data.append({"image": str(path), "case_id": f"case_{i}"})
    from monai.transforms import LoadImaged

    pre = Compose([LoadImaged("image", ensure_channel_first=True, image_only=True), StoreCaseIdd("image")])
    out_dir = tmp_path / "out"
    save = dict(output_dir=str(out_dir), separate_folder=True, resample=False, output_dtype=torch.float32,
                output_name_formatter=case_output_name)
    post = Compose([
        SplitVarianced(keys="pred", variance_key="variance"),
        Activationsd("pred", sigmoid=True),
        SaveImaged("pred", output_postfix="prob", **save),
        AsDiscreted("pred", threshold=0.5),
        SaveImaged("variance", output_postfix="tta_variance", allow_missing_keys=True, **save),
        TTAUncertaintyScored("variance", mask_key="pred", output_dir=str(out_dir), allow_missing_keys=True),
    ])
    inferer = SplineFusionInferer((8, 8, 8), sw_batch_size=4, tta="rot180", return_variance=True,
                                  variance_activation="sigmoid")
    network = _conv_net()
    loader = DataLoader(Dataset(data, pre), batch_size=2)  # both cases in one batch: decollated into two items
    evaluator = SupervisedEvaluator(torch.device("cpu"), loader, network, inferer=inferer, postprocessing=post)
    evaluator.run()

    scores = json.loads((out_dir / "tta_uncertainty.json").read_text())
    assert sorted(scores) == ["case_0", "case_1"]
    for i, affine in enumerate(affines):
        image = nib.load(str(tmp_path / f"img{i}.nii.gz"))
        saved = nib.load(str(out_dir / f"case_{i}" / f"case_{i}_tta_variance.nii.gz"))
        prob = nib.load(str(out_dir / f"case_{i}" / f"case_{i}_prob.nii.gz"))
        assert saved.shape == prob.shape == (12, 10, 9)
        np.testing.assert_allclose(saved.affine, affine, atol=1e-6)
        # the saved variance is the inferer's, and the score the one of tta_uncertainty_score over the mask
        x = torch.from_numpy(np.asarray(image.dataobj, dtype=np.float32))[None, None]
        with torch.no_grad():
            logits, variance = inferer(x, network)
        np.testing.assert_allclose(np.asarray(saved.dataobj), variance[0, 0].numpy(), rtol=1e-5, atol=1e-8)
        expected = tta_uncertainty_score(variance, mask=torch.sigmoid(logits) >= 0.5)
        assert scores[f"case_{i}"]["tta_uncertainty"] == pytest.approx(float(expected[0]), rel=1e-5)
        assert float(variance.max()) > 0
