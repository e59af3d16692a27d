"""The MONAI Label TTA-uncertainty scoring method and strategy: the ranking and the bundle scoring without MONAI Label,
the MONAI Label classes (against an in-memory datastore) only where monailabel imports."""

from __future__ import annotations

import importlib.util
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_tversky.data import generate_phantom_dataset
from monai_tversky.serving import SCORE_KEY, most_uncertain, score_images

from bundle_catalog import bundle_dir, input_channels, tiny_network

HAS_MONAILABEL = importlib.util.find_spec("monailabel") is not None


def test_most_uncertain_ranks_scores_then_unscored():
    infos = {"a": {SCORE_KEY: 0.1}, "b": {}, "c": {SCORE_KEY: 0.3}, "d": {SCORE_KEY: float("nan")}}
    assert most_uncertain(infos) == "c"
    assert most_uncertain({"b": {}, "d": {SCORE_KEY: None}}) == "b"  # none scored: the first
    assert most_uncertain({}) is None


def test_most_uncertain_passes_over_recently_served():
    infos = {"a": {SCORE_KEY: 0.1}, "c": {SCORE_KEY: 0.3, "strategy": {"tta": {"ts": 1000}}}}
    assert most_uncertain(infos, strategy="tta", reset=60, now=1030) == "a"
    assert most_uncertain(infos, strategy="tta", reset=60, now=1100) == "c"
    assert most_uncertain({"c": infos["c"]}, strategy="tta", reset=60, now=1030) == "c"  # the only one left


def _tiny_bundle(tmp_path):
    """A copy of msseg with the tiny network of its CI overrides and an untrained model, and two 4D NIfTI
    studies (channels last) as MONAI Label serves them."""
    bundle = tmp_path / "msseg"
    shutil.copytree(bundle_dir("msseg"), bundle, ignore=shutil.ignore_patterns("output", "*.pt"))
    from bundle_catalog import bundle_parser

    net = bundle_parser("msseg", "inference.json", **tiny_network("msseg")).get_parsed_content("network_def")
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    datalist = generate_phantom_dataset(str(tmp_path / "phantom"), num_cases=2, shape=(24, 32, 32), seed=3,
                                        modalities=input_channels("msseg"), val_fraction=0.5, progress=False)
    studies = {}
    for i, item in enumerate(datalist["training"] + datalist["validation"]):
        arrays = [nib.load(f) for f in item["image"]]  # the channels in the bundle's order
        volume = np.stack([np.asarray(a.dataobj, dtype=np.float32) for a in arrays], axis=-1)
        path = tmp_path / f"study_{i}.nii.gz"
        nib.save(nib.Nifti1Image(volume, arrays[0].affine), str(path))
        studies[f"study_{i}"] = str(path)
    return bundle, studies


def test_score_images_runs_the_bundle(tmp_path):
    bundle, studies = _tiny_bundle(tmp_path)
    out = tmp_path / "out"
    scores = score_images(bundle, studies, device="cpu", output_dir=out, overrides=tiny_network("msseg"))
    assert set(scores) == set(studies) and all(s >= 0 for s in scores.values())
    for case in studies:
        assert (out / case / f"{case}_tta_variance.nii.gz").is_file()
    with pytest.raises(ValueError, match="--tta rot180"):
        score_images(bundle, studies, tta="none")
    with pytest.raises(FileNotFoundError):
        score_images(tmp_path / "nothing", studies)


class _Datastore:
    """The four calls the scoring method and the strategy make of MONAI Label's Datastore."""

    def __init__(self, images, labelled=()):
        self.images, self.labelled = dict(images), set(labelled)
        self.info = {i: {} for i in images}

    def get_unlabeled_images(self, label_tag=None, labels=None):
        return [i for i in self.images if i not in self.labelled]

    def get_image_uri(self, image_id):
        return self.images[image_id]

    def get_image_info(self, image_id):
        return dict(self.info[image_id])

    def update_image_info(self, image_id, info):
        self.info[image_id].update(info)


@pytest.mark.skipif(not HAS_MONAILABEL, reason="monailabel is not installed")
def test_monailabel_scoring_and_strategy(tmp_path, monkeypatch):
    from monai_tversky.serving import TTAUncertaintyScoring, TTAUncertaintyStrategy
    from monailabel.interfaces.tasks.scoring import ScoringMethod
    from monailabel.interfaces.tasks.strategy import Strategy

    bundle, studies = _tiny_bundle(tmp_path)
    import monai_tversky.serving.monailabel_tta as module

    real = module.score_images
    monkeypatch.setattr(module, "score_images",
                        lambda *a, **k: real(*a, **k, overrides=tiny_network("msseg")))
    datastore = _Datastore({**studies, "labelled": "unused"}, labelled=["labelled"])
    scoring = TTAUncertaintyScoring(str(bundle))
    assert isinstance(scoring, ScoringMethod)
    summary = scoring({"device": "cpu"}, datastore)
    assert summary["executed"] == 2 and set(summary["scores"]) == set(studies)
    assert scoring({"device": "cpu"}, datastore)["skipped"] == 2  # same model: not scored again
    strategy = TTAUncertaintyStrategy()
    assert isinstance(strategy, Strategy)
    picked = strategy({"strategy": "tta_uncertainty"}, datastore)
    assert picked["id"] == max(summary["scores"], key=summary["scores"].get)


def test_classes_need_monailabel():
    import monai_tversky.serving as serving

    if HAS_MONAILABEL:
        assert serving.TTAUncertaintyScoring.__name__ == "TTAUncertaintyScoring"
    else:
        with pytest.raises(ImportError, match="monailabel"):
            serving.TTAUncertaintyScoring
