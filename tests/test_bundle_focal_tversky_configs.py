"""The focal_tversky bundle's configs (abraham2018): the defaults build the shipped model (BUSI-trained, ultrasound,
the paper's width, trained with augmentation), the paper's configuration is two overrides away, one command-line
override per row of the paper's ablation, the phantom kinds, ISIC 2018 / BUS 2017 routing, and whole-image inference at any image size (an
ISIC-size 2166 x 3188 photograph in, a 2166 x 3188 mask out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import verify_net_in_out
from monai.losses import DiceLoss, TverskyLoss
from monai.transforms import Invertd, RandFlipd, SaveImaged
from PIL import Image

from monai_tversky.data import PILReaderHW
from monai_tversky.engines import InverseTimeDecayLR
from monai_tversky.losses import DeepSupervisionCombinedLoss, FocalTverskyLoss
from monai_tversky.networks import AttentionPyramidUNet

from bundle_catalog import assert_spatial_augmentation_aligned, bundle_parser

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "focal_tversky"
CONFIGS = BUNDLE / "configs"
TINY = json.loads((REPO / "ci" / "focal_tversky_tiny_overrides.json").read_text())
PAPER_FEATURES = [32, 64, 128, 256, 512]  # attn_reg: encoder 32..256 maps, 512-map centre
SHIPPED_FEATURES = PAPER_FEATURES  # the shipped BUSI model: the paper's width (the configs' default)
PAPER_SKIN = {"phantom_kind": "skin", "features": PAPER_FEATURES}  # the paper's ISIC configuration

# abraham2018 Table 1/2 rows: (row, network_variant, loss)
ROWS = [
    ("U-Net + DL", "unet", "dice"),
    ("U-Net + TL", "unet", "tversky"),
    ("U-Net + FTL", "unet", "focal_tversky"),
    ("Attn U-Net + DL", "attn_unet", "dice"),
    ("Attn U-Net + Multi-Input + DL", "attn_unet_pyramid", "dice"),
    ("Attn U-Net + Multi-Input + TL", "attn_unet_pyramid", "tversky"),
    ("Attn U-Net + Multi-Input + FTL", "attn_unet_pyramid", "focal_tversky"),
]


def _parser(*names, **overrides):
    return bundle_parser("focal_tversky", *names, **overrides)


def _shapes(net: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _write_model(bundle: Path, record: dict) -> None:
    """A model.pt of the network ``record`` describes (built here, apart from the configs) and its model.json."""
    (bundle / "models").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = AttentionPyramidUNet(spatial_dims=2, in_channels=len(record["modalities"]), out_channels=1,
                               channels=record["features"])
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    (bundle / "models" / "model.json").write_text(json.dumps(record))


def _structure(net: AttentionPyramidUNet) -> tuple[int, int, int, int]:
    """(levels, gated skips, pyramid injections, side outputs)."""
    return (
        len(net.encoders) + 1,
        sum(d.gate is not None for d in net.decoders),
        sum(e.image_conv is not None for e in net.encoders),
        len(net.side_heads),
    )




def test_train_and_inference_define_the_same_network_and_phantom():
    train = json.loads((CONFIGS / "train.json").read_text())
    infer = json.loads((CONFIGS / "inference.json").read_text())
    assert train["network_def"] == infer["network_def"]
    for key in ("phantom_cases", "phantom_shape", "val_fraction", "seed", "modalities"):  # inference's default cases
        assert train[key] == infer[key], key                                              # are training's validation
    assert train["network_variant"] == "attn_unet_pyramid" and train["phantom_kind"] == "ultrasound"
    assert train["network_def"]["channels"] == "@features" and train["features"] == SHIPPED_FEATURES


def test_network_width_is_one_key_recorded_in_model_json(tmp_path):
    """``features`` sets the maps per level; model.json records it, so inference builds the trained width."""
    p = _parser("train.json", bundle_root=tmp_path)
    assert _shapes(p.get_parsed_content("network_def")) == _shapes(
        AttentionPyramidUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=SHIPPED_FEATURES))
    assert p.get_parsed_content("model_info")["features"] == SHIPPED_FEATURES
    for width, channels in ((PAPER_FEATURES, 3), ([8, 16, 32, 64, 128], 3)):
        p = _parser("train.json", bundle_root=tmp_path, phantom_kind="skin", features=width)
        assert _shapes(p.get_parsed_content("network_def")) == _shapes(
            AttentionPyramidUNet(spatial_dims=2, in_channels=channels, out_channels=1, channels=width))
        assert p.get_parsed_content("model_info")["features"] == width
        assert p.get_parsed_content("run_signature")["settings"]["features"] == width
    # without a model.json, inference builds the shipped model's width and channel
    empty = tmp_path / "empty"
    assert _shapes(_parser("inference.json", bundle_root=empty).get_parsed_content("network_def")) == _shapes(
        AttentionPyramidUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=SHIPPED_FEATURES))


def test_the_defaults_are_the_shipped_models_and_the_paper_bus_recipe():
    p = _parser("train.json")
    net = p.get_parsed_content("network_def")
    assert net.in_channels == 1 and _structure(net) == (5, 3, 3, 3)
    assert p.get_parsed_content("spatial_size") == [128, 128]  # abraham2018's BUS size
    assert p.get_parsed_content("batch_size") == 16 and p.get_parsed_content("max_epochs") == 100
    channel_def = p["_meta_#network_data_format#inputs#image#channel_def"]
    assert list(channel_def.values()) == list(p.get_parsed_content("channels")) == ["US"]
    assert p["_meta_#network_data_format#inputs#image#spatial_shape"] == [128, 128]


def test_paper_configuration_abraham2018():
    p = _parser("train.json", **PAPER_SKIN)
    net = p.get_parsed_content("network_def")
    assert isinstance(net, AttentionPyramidUNet) and net.spatial_dims == 2 and net.in_channels == 3
    assert _structure(net) == (5, 3, 3, 3)  # attn_reg: 5 levels, 3 gated skips, pyramid at 3 levels, 4 outputs
    outputs = net.train()(torch.zeros(2, 3, 192, 256))
    assert [tuple(o.shape[-2:]) for o in outputs] == [(192, 256), (96, 128), (48, 64), (24, 32)]
    loss = p.get_parsed_content("loss")
    assert isinstance(loss, DeepSupervisionCombinedLoss)
    assert type(loss.loss) is TverskyLoss and isinstance(loss.side_loss, FocalTverskyLoss)
    assert (loss.loss.alpha, loss.loss.beta) == (0.3, 0.7)  # MONAI's naming: the paper's alpha = 0.7 on FN
    assert loss.side_loss.gamma == pytest.approx(4 / 3) and loss.loss.batch
    assert p.get_parsed_content("spatial_size") == [192, 256]
    assert p.get_parsed_content("batch_size") == 8 and p.get_parsed_content("max_epochs") == 50
    optimizer = p.get_parsed_content("optimizer")
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["lr"] == 0.01 and optimizer.defaults["momentum"] == 0.9
    scheduler = p.get_parsed_content("lr_scheduler")
    assert isinstance(scheduler, InverseTimeDecayLR) and scheduler.decay == 1e-6
    handlers = p["train#handlers"]
    lr = next(h for h in handlers if h["_target_"] == "LrScheduleHandler")
    assert lr["epoch_level"] is False  # Keras decays per update
    # no augmentation by default (abraham2018: "we do not augment our datasets")
    assert p.get_parsed_content("augment") is False
    assert not any(isinstance(t, RandFlipd) for t in p.get_parsed_content("train#preprocessing").transforms)
    assert any(isinstance(t, RandFlipd) for t in _parser("train.json", augment=True).get_parsed_content(
        "train#preprocessing").transforms)
    assert list(p.get_parsed_content("channels")) == ["R", "G", "B"]


@pytest.mark.parametrize("row, variant, loss_name", ROWS, ids=[r[0] for r in ROWS])
def test_each_ablation_row_is_one_command_line_override(row, variant, loss_name):
    p = _parser("train.json", network_variant=variant, loss_name=loss_name)
    net = p.get_parsed_content("network_def")
    expected = {"unet": (5, 0, 0, 0), "attn_unet": (5, 3, 0, 3), "attn_unet_pyramid": (5, 3, 3, 3)}[variant]
    assert _structure(net) == expected
    loss = p.get_parsed_content("loss")
    one = {"dice": DiceLoss, "tversky": TverskyLoss, "focal_tversky": FocalTverskyLoss}[loss_name]
    if variant == "unet":  # a plain U-Net: one output, the plain loss
        assert type(loss) is one
        out = net.train()(torch.zeros(2, net.in_channels, 32, 32))
        assert isinstance(out, torch.Tensor)
    else:
        assert isinstance(loss, DeepSupervisionCombinedLoss)
        final = TverskyLoss if loss_name == "focal_tversky" else one
        assert type(loss.loss) is final and type(loss.side_loss) is one
    # the run signature tells the rows apart: a resume checkpoint of one row is not resumed by another
    assert p.get_parsed_content("run_signature")["settings"]["loss_name"] == loss_name


def test_ultrasound_phantom_kind_follows_bus_2017():
    p = _parser("train.json", phantom_kind="ultrasound")
    assert p.get_parsed_content("channels") == ("US",) and p.get_parsed_content("image_mode") == "L"
    assert p.get_parsed_content("network_def").in_channels == 1
    assert p.get_parsed_content("spatial_size") == [128, 128]
    assert p.get_parsed_content("batch_size") == 16 and p.get_parsed_content("max_epochs") == 100
    assert p.get_parsed_content("phantom_dir").endswith("phantom_ultrasound")


@pytest.mark.parametrize("kind, shape", [("skin", (3, 32, 48)), ("ultrasound", (1, 32, 48))])
def test_training_pipeline_on_the_phantom(kind, shape, tmp_path):
    p = _parser("train.json", bundle_root=tmp_path, phantom_kind=kind, phantom_shape=[40, 60], phantom_cases=4,
                spatial_size=[32, 48], num_workers=0)
    data = p.get_parsed_content("data")
    assert data["modality"] == {"skin": {"0": "R", "1": "G", "2": "B"}, "ultrasound": {"0": "US"}}[kind]
    item = p.get_parsed_content("train#preprocessing")(data["training"][0])
    assert tuple(item["image"].shape) == shape and tuple(item["label"].shape) == (1, 32, 48)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert set(torch.unique(item["label"]).tolist()) == {0.0, 1.0}
    assert (tmp_path / "output" / f"phantom_{kind}" / "datalist.json").is_file()


def _isic(root: Path, n=4) -> Path:
    for folder in ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((60 + i, 80, 3), 200, np.uint8)).save(
            root / "ISIC2018_Task1-2_Training_Input" / f"ISIC_{i:07d}.jpg")
        mask = np.zeros((60 + i, 80), np.uint8)
        mask[20:40, 30:50] = 255
        Image.fromarray(mask).save(root / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_{i:07d}_segmentation.png")
    return root


def _bus(root: Path, n=4) -> Path:
    (root / "original").mkdir(parents=True)
    (root / "GT").mkdir()
    for i in range(1, n + 1):
        Image.fromarray(np.full((50, 70), 90, np.uint8)).save(root / "original" / f"{i:06d}.png")
        mask = np.zeros((50, 70), np.uint8)
        mask[10:20, 10:25] = 255
        Image.fromarray(mask).save(root / "GT" / f"{i:06d}.png")
    return root


@pytest.mark.parametrize("dataset, kind, size, batch", [("isic", "skin", [192, 256], 8),
                                                        ("bus", "ultrasound", [128, 128], 16)])
def test_dataset_dir_routes_isic_and_bus(dataset, kind, size, batch, tmp_path):
    root = (_isic if dataset == "isic" else _bus)(tmp_path / dataset)
    p = _parser("train.json", bundle_root=tmp_path, dataset_dir=str(root))
    assert p.get_parsed_content("data_kind") == kind
    assert p.get_parsed_content("spatial_size") == size and p.get_parsed_content("batch_size") == batch
    assert p.get_parsed_content("network_def").in_channels == (3 if kind == "skin" else 1)
    data = p.get_parsed_content("data")
    assert len(data["training"]) == 3 and len(data["validation"]) == 1
    item = p.get_parsed_content("validate#preprocessing")(data["validation"][0])
    assert tuple(item["image"].shape[1:]) == tuple(size)
    assert not (tmp_path / "output" / "phantom_skin").exists()  # the data set replaced the phantom


def test_bundle_root_override_moves_every_output(tmp_path):
    """MONAI Label overrides bundle_root: checkpoints and outputs follow it."""
    p = _parser("train.json", bundle_root=tmp_path)
    assert p.get_parsed_content("ckpt_dir") == str(tmp_path / "models")
    for key in ("output_dir", "phantom_dir", "log_dir"):
        assert p.get_parsed_content(key).startswith(str(tmp_path))


def test_inference_takes_the_models_settings_from_its_model_json(tmp_path):
    (tmp_path / "models").mkdir()
    record = {"modalities": ["US"], "spatial_size": [64, 64], "network_variant": "unet", "loss": "dice",
              "features": [6, 12, 24, 48, 96]}
    (tmp_path / "models" / "model.json").write_text(json.dumps(record))
    p = _parser("inference.json", "evaluate.json", bundle_root=tmp_path)
    assert p.get_parsed_content("channels") == ("US",) and p.get_parsed_content("phantom_kind") == "ultrasound"
    assert p.get_parsed_content("spatial_size") == [64, 64]
    assert _structure(p.get_parsed_content("network_def")) == (5, 0, 0, 0)
    assert p.get_parsed_content("features") == [6, 12, 24, 48, 96]
    assert _shapes(p.get_parsed_content("network_def")) == _shapes(AttentionPyramidUNet(
        spatial_dims=2, in_channels=1, out_channels=1, channels=[6, 12, 24, 48, 96], attention=False,
        input_pyramid=False, deep_supervision=False))
    assert p.get_parsed_content("run_name") == "unet + dice"
    # explicit values win
    p = _parser("inference.json", bundle_root=tmp_path, network_variant="attn_unet", spatial_size=[96, 96],
                features=[4, 8, 16, 32, 64])
    assert _structure(p.get_parsed_content("network_def")) == (5, 3, 0, 3)
    assert p.get_parsed_content("spatial_size") == [96, 96]
    assert p.get_parsed_content("network_def").final_head.conv.in_channels == 4


def test_inference_loads_a_model_of_the_width_its_model_json_records(tmp_path):
    """A narrower model than the paper's runs through inference.json with no flag: the width comes from model.json,
    and the loaded weights are the file's."""
    record = {"modalities": ["US"], "spatial_size": [32, 32], "network_variant": "attn_unet_pyramid",
              "features": [4, 8, 16, 32, 64]}
    _write_model(tmp_path, record)
    image = np.zeros((40, 50), np.uint8)
    image[10:25, 15:30] = 200
    Image.fromarray(image).save(tmp_path / "case.png")
    p = _parser("inference.json", bundle_root=tmp_path, input=str(tmp_path / "case.png"),
                output_dir=str(tmp_path / "out"))
    p.get_parsed_content("evaluator").run()
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    for k, v in p.get_parsed_content("network").state_dict().items():
        assert torch.equal(v, state[k]), k
    assert Image.open(tmp_path / "out" / "case" / "case_seg.png").size == (50, 40)
    # the same file without its model.json does not fit the paper-size network, and the error says what to do
    (tmp_path / "models" / "model.json").unlink()
    p = _parser("inference.json", bundle_root=tmp_path, input=str(tmp_path / "case.png"),
                output_dir=str(tmp_path / "out2"), modalities="['US']", spatial_size=[32, 32])
    with pytest.raises(Exception, match="--features"):
        p.get_parsed_content("evaluator").run()


def test_inference_and_evaluation_pipelines():
    p = _parser("inference.json")
    post = p.get_parsed_content("postprocessing").transforms
    assert any(isinstance(t, Invertd) for t in post)  # the prediction goes back to the image's size
    writers = [t for t in p["postprocessing#transforms"] if t["_target_"] == "SaveImaged"]
    assert [w["output_postfix"] for w in writers] == ["prob", "seg"]
    assert all(w["output_ext"] == ".png" and w["scale"] == 255 for w in writers)
    loader = p.get_parsed_content("preprocessing").transforms[0]
    assert isinstance(loader._loader.readers[-1], PILReaderHW)
    e = _parser("inference.json", "evaluate.json")
    targets = [h["_target_"] for h in e["handlers"]]
    assert "LesionReportHandler" in targets and "ModelCheckpointLoader" in targets
    assert e["key_metric#dsc#metric_name"] == "dsc"
    assert e["additional_metrics#precision#metric_name"] == "ppv"  # the paper's columns: DSC, precision, recall
    assert e["additional_metrics#recall#metric_name"] == "sensitivity"
    resized = [t for t in e["preprocessing#transforms"] if t["_target_"] == "Resized"]
    assert [t["keys"] for t in resized] == ["image"]  # labels are scored at the image's own size


def test_shipped_checkpoint_loads_into_the_inference_network():
    """models/model.pt is a plain state dict of inference.json's network_def (what MONAI Label loads)."""
    net = _parser("inference.json").get_parsed_content("network_def")
    state = torch.load(BUNDLE / "models" / "model.pt", map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    info = json.loads((BUNDLE / "models" / "model.json").read_text())
    assert info["network_variant"] == "attn_unet_pyramid" and info["modalities"] == ["US"]
    # the paper's width, and its model.json says so; stored in float16 (17 MB instead of 35), loaded into float32
    assert info["features"] == SHIPPED_FEATURES and "BUSI" in info["data"]
    assert (BUNDLE / "models" / "model.pt").stat().st_size < 20 * 2**20
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert _shapes(net) == _shapes(AttentionPyramidUNet(spatial_dims=2, in_channels=1, out_channels=1,
                                                        channels=info["features"]))


def test_isic_size_photograph_in_mask_of_that_size_out(tmp_path):
    """Whole-image inference at the training size; the mask and the probability map come back at 2166 x 3188."""
    rows, cols = np.mgrid[:2166, :3188]
    lesion = ((rows - 1000) / 500.0) ** 2 + ((cols - 1600) / 700.0) ** 2 < 1
    photo = np.where(lesion[..., None], [90, 60, 40], [210, 170, 150]).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "ISIC_9999999.jpg", quality=90)
    bundle = tmp_path / "bundle"
    _write_model(bundle, {"modalities": ["R", "G", "B"], "spatial_size": [192, 256],
                          "network_variant": "attn_unet_pyramid", "features": TINY["features"]})
    p = _parser("inference.json", bundle_root=bundle, input=str(tmp_path / "ISIC_9999999.jpg"),
                output_dir=str(tmp_path / "out"))
    assert any(isinstance(t, SaveImaged) for t in p.get_parsed_content("postprocessing").transforms)
    seen = []
    p.get_parsed_content("network").register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape)))
    p.get_parsed_content("evaluator").run()
    assert seen == [(1, 3, 192, 256)]  # the network saw the photograph at the training size (model.json's)
    seg = Image.open(tmp_path / "out" / "ISIC_9999999" / "ISIC_9999999_seg.png")
    prob = Image.open(tmp_path / "out" / "ISIC_9999999" / "ISIC_9999999_prob.png")
    assert seg.size == prob.size == (3188, 2166) and seg.mode == prob.mode == "L"
    assert set(np.unique(np.asarray(seg)).tolist()) <= {0, 255}
    assert not (bundle / "output").exists()  # nothing generated into the bundle, nothing next to the input
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ISIC_9999999.jpg", "bundle", "out"]


def test_verify_net_in_out_paper_width():
    """MONAI's verify_net_in_out on the paper-width network (the shipped demo model is narrower): 3 x 192 x 256 in,
    1 x 192 x 256 out, as metadata.json declares."""
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(CONFIGS / "metadata.json"),
        config_file=str(CONFIGS / "inference.json"),
        device="cpu",
        bundle_root=str(BUNDLE),
        features=PAPER_FEATURES,
    )



@pytest.mark.parametrize("kind, flips_up_down", [("ultrasound", False), ("skin", True)])
def test_augmentation_is_monai_flip_affine_and_intensity_and_keeps_image_and_label_aligned(kind, flips_up_down):
    """``--augment True`` (issue 24): left-right flips (up-down too for skin: an ultrasound image has its transducer
    at the top), a small affine, intensity scale/shift, gamma and noise, all MONAI's; the spatial ones move image and
    mask together and the mask stays 0/1."""
    from monai.transforms import (
        RandAdjustContrastd, RandAffined, RandGaussianNoised, RandScaleIntensityd, RandShiftIntensityd,
    )  # fmt: skip

    p = _parser("train.json", augment=True, phantom_kind=kind)
    augmentation = p.get_parsed_content("train#augmentation")
    assert [type(t) for t in augmentation] == [RandFlipd, RandFlipd, RandAffined, RandScaleIntensityd,
                                               RandShiftIntensityd, RandAdjustContrastd, RandGaussianNoised]
    up_down, left_right = augmentation[0], augmentation[1]
    assert (up_down.flipper.spatial_axis, left_right.flipper.spatial_axis) == (0, 1)
    assert (up_down.prob > 0) is flips_up_down and left_right.prob == 0.5
    # the pipeline runs them after loading only with --augment True
    plain = p.get_parsed_content("train#preprocessing").transforms
    assert any(isinstance(t, RandAffined) for t in plain)
    assert not any(isinstance(t, RandAffined) for t in _parser("train.json").get_parsed_content(
        "train#preprocessing").transforms)  # fmt: skip
    spatial = [t for t in augmentation if isinstance(t, (RandFlipd, RandAffined))]
    label = torch.zeros((1, 64, 64))
    label[0, 20:40, 24:44] = 1
    image = label * 0.6 + 0.2  # the image is a function of the label: 0.2 outside, 0.8 inside
    assert_spatial_augmentation_aligned(spatial, image, label, inside=0.8)
