"""Every bundle whose inference.json has a ``save_uncertainty`` key: off by default (the inferer returns one tensor,
as MONAI Label needs), on with ``--tta rot180 --save_uncertainty True`` it saves ``<case>_tta_variance`` with the
probability map's geometry and writes a per-case score, in inference and in evaluate; without test-time augmentation
it stops with an error naming ``--tta rot180``. Bundles without the key (focal_tversky: a whole-image
SimpleInferer, no test-time augmentation) are skipped."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_tversky.engines import check_save_uncertainty
from monai_tversky.inferers import SplineFusionInferer

from bundle_catalog import BUNDLE_NAMES, bundle_dir, bundle_parser, tiny_overrides, root_cause


def _has_key(name: str) -> bool:
    return "save_uncertainty" in json.loads((bundle_dir(name) / "configs" / "inference.json").read_text())


def _activation(name: str) -> str:
    """sigmoid or softmax: what the bundle's post-processing applies to the network output."""
    post = json.loads((bundle_dir(name) / "configs" / "inference.json").read_text())["postprocessing"]["transforms"]
    act = next(t for t in post if t["_target_"] == "Activationsd")
    return "softmax" if act.get("softmax") else "sigmoid"


UNCERTAIN = [pytest.param(n, marks=pytest.mark.skipif(not _has_key(n), reason=f"{n} has no save_uncertainty"))
             for n in BUNDLE_NAMES]


@pytest.mark.parametrize("name", UNCERTAIN)
def test_off_by_default_and_matching_activation(name):
    p = bundle_parser(name, "inference.json")
    assert p["save_uncertainty"] is False
    inferer = p.get_parsed_content("inferer")
    assert isinstance(inferer, SplineFusionInferer) and inferer.return_variance is False
    on = bundle_parser(name, "inference.json", tta="rot180", save_uncertainty=True).get_parsed_content("inferer")
    assert on.return_variance is True and on.variance_activation == _activation(name)
    assert "$monai_tversky.engines.check_save_uncertainty(@save_uncertainty, @tta)" in p["initialize"]
    for config in (("inference.json",), ("inference.json", "evaluate.json")):
        post = bundle_parser(name, *config)["postprocessing#transforms"]
        assert post[0]["_target_"] == "SplitVarianced"
        writers = {t["output_postfix"]: t for t in post if t["_target_"] == "SaveImaged"}
        variance = writers["tta_variance"]
        assert variance["keys"] == "variance" and variance["allow_missing_keys"] is True
        assert {k: v for k, v in variance.items() if k not in ("keys", "output_postfix", "allow_missing_keys")} == {
            k: v for k, v in writers["prob"].items() if k not in ("keys", "output_postfix")}
        # the score follows the variance's writer (in evaluate.json a multi-class bundle then one-hot encodes pred)
        targets = [t["_target_"] for t in post]
        score = post[targets.index("TTAUncertaintyScored")]
        assert targets.index("TTAUncertaintyScored") > post.index(variance) and score["output_dir"] == "@output_dir"


def test_check_names_the_fix():
    for tta in (None, "none", "None", [(0,)]):
        with pytest.raises(ValueError, match="--tta rot180"):
            check_save_uncertainty(True, tta)
    with pytest.raises(ValueError, match="True or False"):
        check_save_uncertainty("true", "rot180")
    check_save_uncertainty(True, "rot180")
    check_save_uncertainty(False, None)


@pytest.mark.parametrize("name", UNCERTAIN)
def test_initialize_stops_without_tta(name, tmp_path):
    p = bundle_parser(name, "inference.json", tta="none", save_uncertainty=True, output_dir=str(tmp_path))
    p["initialize"] = [e for e in p["initialize"] if "check_save_uncertainty" in e]
    with pytest.raises(Exception) as error:
        p.get_parsed_content("initialize")
    cause = root_cause(error.value)
    assert isinstance(cause, ValueError) and "--tta rot180" in str(cause)


def _run(name, tmp_path, config, **overrides):
    """The bundle's inference (or evaluate) on its tiny phantom with an untrained tiny network, in this process."""
    tiny = {k: v for k, v in tiny_overrides(name).items() if k not in ("tta",)}
    p = bundle_parser(name, *config, **tiny, phantom_dir=str(tmp_path / "phantom"), **overrides)
    net = p.get_parsed_content("network_def")
    torch.save(net.state_dict(), tmp_path / "model.pt")
    p["ckpt_path"] = str(tmp_path / "model.pt")
    p["device"] = torch.device("cpu")
    p["use_amp"] = False
    p["inferer#progress"] = False
    p.get_parsed_content("datalist")  # generates the phantom
    p.get_parsed_content("evaluator").run()


@pytest.mark.parametrize("config", [("inference.json",), ("inference.json", "evaluate.json")])
@pytest.mark.parametrize("name", UNCERTAIN)
def test_saves_variance_and_scores(name, config, tmp_path):
    out = tmp_path / "out"
    _run(name, tmp_path, config, output_dir=str(out), tta="rot180", save_uncertainty=True)
    scores = json.loads((out / "tta_uncertainty.json").read_text())
    assert scores and all(s["tta_uncertainty"] >= 0 for s in scores.values())
    assert (out / "tta_uncertainty.csv").is_file()
    for case in scores:
        prob = nib.load(str(out / case / f"{case}_prob.nii.gz"))
        variance = nib.load(str(out / case / f"{case}_tta_variance.nii.gz"))
        assert variance.shape == prob.shape == tuple(tiny_overrides(name)["phantom_shape"])
        np.testing.assert_allclose(variance.affine, prob.affine)
        values = np.asarray(variance.dataobj)
        assert values.dtype == np.float32 and values.min() >= 0 and values.max() <= 0.25  # of probabilities


@pytest.mark.parametrize("name", UNCERTAIN)
def test_default_writes_no_variance(name, tmp_path):
    out = tmp_path / "out"
    _run(name, tmp_path, ("inference.json",), output_dir=str(out), tta="rot180")
    assert not (out / "tta_uncertainty.json").exists() and not list(out.glob("*/*_tta_variance*"))
    assert list(out.glob("*/*_prob.nii.gz")) and list(out.glob("*/*_seg.nii.gz"))
