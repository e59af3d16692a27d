"""The tversky_unet3d bundle's configs hold salehi2017's configuration and agree with each other (no training here)."""

import json
import re
import shlex
from pathlib import Path

import pytest
import torch
from monai.data import MetaTensor
from monai.handlers import LrScheduleHandler
from monai.losses import DiceLoss, TverskyLoss
from monai.networks.nets import BasicUNet

from monai_tversky.engines import TRAINING_RECIPES, ModelCheckpointLoader, read_model_info
from monai_tversky.inferers import SplineFusionInferer

from bundle_catalog import bundle_parser

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "tversky_unet3d"
CONFIGS = BUNDLE / "configs"
PAPER_CHANNELS = ["T1", "T2", "FLAIR"]  # salehi2017 section 2.3


def _parser(*names, **overrides):
    return bundle_parser("tversky_unet3d", *names, **overrides)




def test_train_and_inference_define_the_same_network():
    train, infer = json.loads((CONFIGS / "train.json").read_text()), json.loads((CONFIGS / "inference.json").read_text())
    assert train["network_def"] == infer["network_def"]
    for key in ("phantom_cases", "phantom_shape", "seed"):  # inference's default cases are training's validation cases
        assert train[key] == infer[key], key
    without_record = _parser("inference.json", ckpt_path="/no/such/model.pt")  # else the model.json's values
    for key in ("features", "patch_size"):
        assert without_record.get_parsed_content(key) == train[key], key
    assert train["modalities"] == PAPER_CHANNELS  # explicit: the phantom and MSSEG 2016 have five channels
    assert infer["modalities"] == "auto"  # the channels the model was trained on, from its model.json
    channels = _parser("inference.json", ckpt_path="/no/such/model.pt").get_parsed_content("channels")
    assert list(channels) == PAPER_CHANNELS  # without a model.json: the bundle's default


def test_paper_configuration_salehi2017():
    p = _parser("train.json")
    assert p["alpha"] == 0.3 and p["beta"] == 0.7  # Table 1's best row
    assert p["learning_rate"] == 1e-4 and p["lr_decay"] == 0.9 and p["lr_step_size"] == 1000  # section 2.3
    assert list(p.get_parsed_content("channels")) == PAPER_CHANNELS
    net = p.get_parsed_content("network_def")
    assert isinstance(net, BasicUNet)
    assert net.conv_0.conv_0.conv.in_channels == 3 and net.final_conv.out_channels == 2  # 2-class softmax output
    base = p["features"][0]
    assert p["features"] == [base, 2 * base, 4 * base, 8 * base, 16 * base, base]  # doubled after each pooling
    assert p["network_def#act"] == "relu" and p["network_def#norm"] is None  # no normalisation in the paper
    loss = p.get_parsed_content("loss")
    assert isinstance(loss, TverskyLoss)
    assert (loss.alpha, loss.beta) == (0.3, 0.7)  # MONAI: alpha weighs false positives, beta false negatives
    assert loss.softmax and loss.to_onehot_y and not loss.include_background  # the index is over the lesion class
    optimizer = p.get_parsed_content("optimizer")
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 1e-4
    scheduler = p.get_parsed_content("lr_scheduler")
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR)
    assert scheduler.step_size == 1000 and scheduler.gamma == 0.9
    (schedule,) = [h for h in p.get_parsed_content("train#handlers") if isinstance(h, LrScheduleHandler)]
    assert schedule.epoch_level is False  # stepped every iteration: x 0.9 every 1,000 iterations
    inferer = p.get_parsed_content("validate#inferer").inferer  # inside the CPU's bf16 AutocastInferer
    assert isinstance(inferer, SplineFusionInferer) and inferer.fusion == "spline" and inferer.tta is None
    channel_def = p["_meta_#network_data_format#inputs#image#channel_def"]
    assert list(channel_def.values()) == PAPER_CHANNELS
    assert p["_meta_#network_data_format#outputs#pred#channel_def"] == {"0": "background", "1": "lesion"}


def test_the_loss_is_salehi2017_eq3_and_alpha_beta_one_half_is_the_dice_loss():
    """T = TP / (TP + alpha FP + beta FN) over the lesion class, p = softmax lesion probability (eq. 2-3)."""
    torch.manual_seed(0)
    logits, label = torch.randn(2, 2, 8, 8, 8), (torch.rand(2, 1, 8, 8, 8) > 0.8).float()
    p, g = torch.softmax(logits, 1)[:, 1], label[:, 0]
    tp, fp, fn = (p * g).sum((1, 2, 3)), (p * (1 - g)).sum((1, 2, 3)), ((1 - p) * g).sum((1, 2, 3))
    expected = (1 - tp / (tp + 0.3 * fp + 0.7 * fn)).mean()
    loss = _parser("train.json").get_parsed_content("loss")
    torch.testing.assert_close(loss(logits, label), expected, rtol=1e-5, atol=1e-6)
    dice = _parser("train.json", alpha=0.5, beta=0.5).get_parsed_content("loss")  # --alpha 0.5 --beta 0.5
    reference = DiceLoss(to_onehot_y=True, softmax=True, include_background=False, squared_pred=False)
    torch.testing.assert_close(dice(logits, label), reference(logits, label), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", ["train.json", "inference.json"])
def test_postprocessing_gives_one_lesion_channel(config):
    """Softmax over the two classes, then the lesion channel: the probability map, the 0.5 mask and the lesion
    metrics are single-channel (as msseg's), on the input's grid."""
    p = _parser(config, output_dir="/nonexistent")  # inference's SaveImaged are not run below
    key = "train#postprocessing" if config == "train.json" else "postprocessing"
    transforms = [t for t in p.get_parsed_content(key).transforms if type(t).__name__ != "SaveImaged"]
    affine = torch.diag(torch.tensor([1.0, 1.0, 1.2, 1.0]))
    logits = MetaTensor(torch.randn(2, 6, 7, 8), affine=affine)
    data = {"pred": logits}
    probability = None
    for t in transforms:
        if type(t).__name__ == "AsDiscreted":
            probability = data["pred"]
        data = t(data)
    torch.testing.assert_close(probability.as_tensor(), torch.softmax(logits.as_tensor(), 0)[1:2])
    assert data["pred"].shape == (1, 6, 7, 8) and set(data["pred"].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(data["pred"].affine, affine.double())


def test_inference_uses_spline_fusion_without_rotations_by_default():
    p = _parser("inference.json")
    inferer = p.get_parsed_content("inferer")
    assert isinstance(inferer, SplineFusionInferer)
    assert inferer.fusion == "spline" and inferer.tta is None  # --tta rot180 adds the 180-degree rotations
    assert _parser("inference.json", tta="rot180").get_parsed_content("inferer").tta == "rot180"
    writers = [t for t in p["postprocessing#transforms"] if t["_target_"] == "SaveImaged"]
    assert [w["output_postfix"] for w in writers] == ["prob", "seg", "tta_variance"]  # the last: save_uncertainty
    assert all(w["separate_folder"] and w["resample"] is False for w in writers)


def test_evaluate_overrides_inference():
    p = _parser("inference.json", "evaluate.json")
    targets = [h["_target_"] for h in p["handlers"]]
    assert "LesionReportHandler" in targets and "ModelCheckpointLoader" in targets
    assert p["key_metric#dsc#_target_"] == "LesionMetricHandler"
    assert {"sensitivity", "f2", "ppv", "ltpr", "lfpr", "apr_pooled"} <= set(p["additional_metrics"])
    assert p["preprocessing#transforms#0#keys"] == ["image", "label"]
    assert "require_label=True" in p["datalist"]
    assert p.get_parsed_content("run_name") == "Tversky alpha 0.3, beta 0.7, spline fusion"


def test_bundle_root_override_moves_every_output(tmp_path):
    """MONAI Label overrides bundle_root: checkpoints and outputs follow it."""
    p = _parser("train.json", bundle_root=str(tmp_path))
    assert p.get_parsed_content("ckpt_dir") == str(tmp_path / "models")
    assert p.get_parsed_content("output_dir").startswith(str(tmp_path))
    assert p.get_parsed_content("phantom_dir").startswith(str(tmp_path))


def test_the_phantom_has_the_papers_three_channels(tmp_path):
    p = _parser("train.json", phantom_dir=str(tmp_path / "phantom"), phantom_cases=2, phantom_shape=[24, 32, 32])
    data = p.get_parsed_content("data")
    assert data["modality"] == {"0": "T1", "1": "T2", "2": "FLAIR"}
    for item in data["training"] + data["validation"]:
        assert [Path(f).name for f in item["image"]] == ["T1.nii.gz", "T2.nii.gz", "FLAIR.nii.gz"]


def test_network_def_runs_on_a_patch():
    """The bundle's U-Net accepts a (1, 3, 64^3) patch and returns two logit channels at full resolution."""
    net = _parser("inference.json").get_parsed_content("network_def").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64, 64))
    assert out.shape == (1, 2, 64, 64, 64)


def test_shipped_demo_checkpoint_loads_and_says_what_it_is():
    """models/model.pt is a plain state dict of inference.json's network_def (what MONAI Label loads), a few MB;
    models/model.json records its channels, loss weights and recipe (its cross-patient scores:
    tests/test_bundle_shipped_cross_patient.py)."""
    model = BUNDLE / "models" / "model.pt"
    assert model.stat().st_size < 8 * 2**20
    net = _parser("inference.json").get_parsed_content("network_def")
    state = torch.load(model, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    info = read_model_info(model)
    assert info["bundle"] == "tversky_unet3d" and info["modalities"] == PAPER_CHANNELS
    assert (info["alpha"], info["beta"]) == (0.3, 0.7)


def test_inference_loads_the_model_with_a_named_check():
    p = _parser("inference.json")
    (loader,) = [h for h in p.get_parsed_content("handlers") if isinstance(h, ModelCheckpointLoader)]
    assert loader.what == "model" and "T1, T2, FLAIR" in loader.setting and "--ckpt_path" in loader.remedy


def _card_section(title: str) -> str:
    """The text of the model card's ``## <title>`` section (up to the next ``## ``)."""
    card = (BUNDLE / "docs" / "README.md").read_text(encoding="utf-8")
    start = card.index(f"\n## {title}\n")
    end = card.find("\n## ", start + 1)
    return card[start : end if end != -1 else None]


def _bundle_command(block: str) -> list[str]:
    """The first ``python -m monai.bundle run ...`` command of a markdown code block, as argv (continuations joined)."""
    text = block.replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "-m monai.bundle run" in ln)
    return shlex.split(re.split(r"\s#", line, maxsplit=1)[0])  # a comment, not an id such as validate#inferer


def test_the_card_is_complete():
    card = (BUNDLE / "docs" / "README.md").read_text(encoding="utf-8")
    assert "TODO" not in card
    for figure in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card):  # every figure the card shows is shipped
        assert (BUNDLE / "docs" / figure).is_file(), figure


def test_the_shipped_model_was_trained_by_the_command_the_card_gives():
    """The command in the card's "Shipped model" section, read as the bundle reads overrides, gives every setting
    models/training_run.json recorded for the shipped model: the overrides the command lists, the recipe's values for
    the keys the recipe sets, the config's values for the rest."""
    section = _card_section("Shipped model (open_ms_p19 + open_ms_p07)")
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    argv = _bundle_command(block)
    assert argv[:5] == ["python", "-m", "monai.bundle", "run", "--config_file"]
    assert argv[5] == "bundles/tversky_unet3d/train.json"  # the README's main command, from the repository root
    pairs = argv[6:]
    assert len(pairs) % 2 == 0 and all(k.startswith("--") for k in pairs[::2]), pairs
    overrides = {k[2:]: json.loads(v) if v[:1] in "[{0123456789-" else v for k, v in zip(pairs[::2], pairs[1::2])}
    record = json.loads((BUNDLE / "models" / "training_run.json").read_text())
    config = json.loads((CONFIGS / "train.json").read_text())
    recipe = TRAINING_RECIPES[overrides.get("recipe", "robust")]
    from_recipe = {"recipe": recipe.name, "pos_patches": recipe.pos, "neg_patches": recipe.neg,
                   "augment": recipe.augment, "loss_batch": recipe.batch}  # fmt: skip
    parser = _parser("train.json")
    for key, recorded in record["settings"].items():
        default = from_recipe[key] if key in from_recipe else config[key]
        if isinstance(default, str) and default.startswith("$"):  # e.g. cpu_bf16: what this machine decides
            default = parser.get_parsed_content(key)
            if key == "cpu_bf16" and not default:  # recorded on a CPU with native bf16
                continue
        expected = overrides.get(key, default)
        assert recorded == expected, (key, recorded, expected)
    assert record["channels"] == PAPER_CHANNELS and record["resumed_from"] is None
    # both open MS patients, each its own validation image (the model's selection was the folds')
    assert sorted(i["case_id"] for i in record["training"]) == sorted(i["case_id"] for i in record["validation"])
    assert len(record["training"]) == 2 and "datalist" in overrides
    info = read_model_info(BUNDLE / "models" / "model.pt")
    settings = record["settings"]
    assert 1 <= info["epoch"] <= settings["max_epochs"]
    assert info["epoch"] % settings["val_interval"] == 0 or info["epoch"] == settings["max_epochs"]
    assert info["patch_size"] == settings["patch_size"] and info["recipe"] == recipe.name
