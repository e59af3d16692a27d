"""The msseg bundle's configs hold the paper's configuration and agree with each other (no training here)."""

import json
from pathlib import Path

import torch

from monai_tversky.engines import IntervalDoublingStepLR
from monai_tversky.inferers import AutocastInferer, SplineFusionInferer
from monai_tversky.losses import FBetaLoss
from monai_tversky.networks import PatchDenseNet3D

from bundle_catalog import bundle_parser

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "msseg"
CONFIGS = BUNDLE / "configs"


def _parser(*names, **overrides):
    return bundle_parser("msseg", *names, **overrides)




def test_train_and_inference_define_the_same_network():
    train, infer = json.loads((CONFIGS / "train.json").read_text()), json.loads((CONFIGS / "inference.json").read_text())
    assert train["network_def"] == infer["network_def"]
    assert train["modalities"] == infer["default_modalities"]  # inference: the model's channels, else training's
    # inference's windows: the model's patch size (its model.json), else training's default
    assert _parser("inference.json", ckpt_path="/no/such/model.pt").get_parsed_content("patch_size") == train["patch_size"]
    for key in ("phantom_cases", "phantom_shape", "seed"):  # inference's default cases are training's validation cases
        assert train[key] == infer[key], key


def test_paper_configuration_hashemi2018():
    p = _parser("train.json")
    assert p["patch_size"] == [64, 64, 64] and p["min_lesion_voxels"] == 10
    assert p["f_beta"] == 1.5 and p["learning_rate"] == 5e-4 and p["lr_decay"] == 0.95
    assert p["lr_step_size"] == 500 and p["lr_doubling_period"] == 16000
    net = p.get_parsed_content("network_def")
    assert isinstance(net, PatchDenseNet3D)
    assert len(net.levels) == 5 and all(len(level.block) == 4 for level in net.levels)  # 5 blocks of 4 layers
    assert net.levels[0].block.layer0.conv.conv.out_channels == 12  # growth rate
    loss = p.get_parsed_content("loss")
    assert isinstance(loss, FBetaLoss) and loss.f_beta == 1.5 and loss.sigmoid
    assert isinstance(p.get_parsed_content("lr_scheduler"), IntervalDoublingStepLR)
    inferer = p.get_parsed_content("validate#inferer")  # spline fusion, in bf16 on a CPU that has it natively
    assert isinstance(inferer, AutocastInferer) and inferer.enabled == p.get_parsed_content("cpu_bf16")
    assert isinstance(inferer.inferer, SplineFusionInferer) and inferer.inferer.fusion == "spline"
    channel_def = p["_meta_#network_data_format#inputs#image#channel_def"]
    # the four channels MSSEG 2016 and open MS data share (issue 24); hashemi2018's PD by --modalities
    assert p["modalities"] == ["FLAIR", "T1", "T1Gd", "T2"]
    assert list(channel_def.values()) == list(p.get_parsed_content("channels"))


def test_inference_uses_spline_fusion_with_rotations():
    p = _parser("inference.json")
    inferer = p.get_parsed_content("inferer")
    assert isinstance(inferer, SplineFusionInferer)
    assert inferer.fusion == "spline" and inferer.tta == "rot180"  # original + 180 degrees in the 3 planes
    writers = [t for t in p["postprocessing#transforms"] if t["_target_"] == "SaveImaged"]
    assert [w["output_postfix"] for w in writers] == ["prob", "seg", "tta_variance"]  # the last: save_uncertainty


def test_evaluate_overrides_inference():
    p = _parser("inference.json", "evaluate.json")
    targets = [h["_target_"] for h in p["handlers"]]
    assert "LesionReportHandler" in targets and "ModelCheckpointLoader" in targets
    assert p["key_metric#dsc#_target_"] == "LesionMetricHandler"
    assert {"sensitivity", "f2", "ltpr", "lfpr", "apr_pooled"} <= set(p["additional_metrics"])
    load = p["preprocessing#transforms#0"]
    assert load["keys"] == ["image", "label"]


def test_bundle_root_override_moves_every_output(tmp_path):
    """MONAI Label overrides bundle_root: checkpoints and outputs follow it."""
    p = _parser("train.json", bundle_root=str(tmp_path))
    assert p.get_parsed_content("ckpt_dir") == str(tmp_path / "models")
    assert p.get_parsed_content("output_dir").startswith(str(tmp_path))
    assert p.get_parsed_content("phantom_dir").startswith(str(tmp_path))


def test_network_def_runs_on_a_patch():
    """The paper-size network accepts a (1, 4, 64^3) patch (the default channels: FLAIR, T1, T1Gd, T2) and returns one
    logit channel at full resolution."""
    parser = _parser("inference.json")
    net = parser.get_parsed_content("network_def").eval()
    assert parser.get_parsed_content("num_channels") == 4
    with torch.no_grad():
        out = net(torch.randn(1, 4, 64, 64, 64))
    assert out.shape == (1, 1, 64, 64, 64)


def test_shipped_demo_checkpoint_loads_into_the_inference_network():
    """models/model.pt is a plain state dict of inference.json's network_def (what MONAI Label loads)."""
    net = _parser("inference.json").get_parsed_content("network_def")
    state = torch.load(BUNDLE / "models" / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
