"""The generalised_dice bundle's configs hold sudre2017's configuration, route WMH 2017 / BraTS labels to classes
(WMH's "other pathology" ignored in the loss and the metrics), and the study's statistic is the paper's."""

import csv
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.losses import GeneralizedDiceLoss
from monai.networks.nets import HighResNet
from monai.networks.nets.highresnet import DEFAULT_LAYER_PARAMS_3D

from monai_tversky.data import IGNORE_INDEX
from monai_tversky.engines import read_model_info, read_training_curve, root_cause
from monai_tversky.losses import (
    IgnoreIndexLoss,
    SensitivitySpecificityLoss,
    TwoClassDiceLoss,
    WeightedCrossEntropyLoss,
)
from monai_tversky.networks import DropoutHighResNet

from bundle_catalog import REPO, bundle_parser

BUNDLE = REPO / "bundles" / "generalised_dice"
CONFIGS = BUNDLE / "configs"
PAPER_CHANNELS = ["T1", "T2", "FLAIR"]  # sudre2017 section 3, the 3D WMH task


def _parser(*names, **overrides):
    return bundle_parser("generalised_dice", *names, **overrides)


def _write(path: Path, array: np.ndarray, dtype=np.float32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array.astype(dtype), np.diag([1.0, 1.0, 1.0, 1.0])), str(path))


def _wmh_tree(root: Path) -> np.ndarray:
    """Two WMH 2017 cases (``Utrecht/0``, ``Singapore/50``); returns the first case's label (0 / 1 / 2)."""
    rng = np.random.default_rng(0)
    first = None
    for site, case in (("Utrecht", "0"), ("Singapore", "50")):
        label = np.zeros((12, 12, 12), dtype=np.uint8)
        label[3:6, 3:6, 3:6] = 1
        label[8:10, 8:10, 8:10] = 2  # other pathology
        for m in ("T1", "FLAIR"):
            _write(root / site / case / "pre" / f"{m}.nii.gz", rng.random((12, 12, 12)) + 1.0)
        _write(root / site / case / "wmh.nii.gz", label, np.uint8)
        first = label if first is None else first
    return first


def test_paper_configuration_sudre2017():
    p = _parser("train.json")
    assert list(p.get_parsed_content("channels")) == PAPER_CHANNELS
    assert p["loss_name"] == "GDSC" and p["learning_rate"] == 1e-4  # GDL_v; the paper's best learning rate
    assert p["patch_size"] == [51] * 3 and p["batch_size"] == 5 and p["patches_per_image"] == 1  # Table 1, S
    assert p["min_lesion_voxels"] == 1  # "at least one foreground element"
    assert p["max_iterations"] == 3000 and p.get_parsed_content("max_epochs") * p["epoch_length"] == 3000
    # no augmentation: the random transforms only pad and pick foreground patches (their positions counted once)
    assert [t["_target_"] for t in p["train#random_transforms"]] == [
        "SpatialPadd", "LesionPatchIndicesd", "RandLesionPatchd"]  # fmt: skip
    net = p.get_parsed_content("network_def")
    assert isinstance(net, DropoutHighResNet) and isinstance(net, HighResNet)
    reference = HighResNet(3, 3, 2, layer_params=DEFAULT_LAYER_PARAMS_3D)  # MONAI's default = Li et al.'s network
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    loss = p.get_parsed_content("loss")
    assert isinstance(loss, GeneralizedDiceLoss) and loss.softmax and loss.to_onehot_y
    x, y = torch.randn(2, 2, 8, 8, 8), torch.randint(0, 2, (2, 1, 8, 8, 8))
    expected = GeneralizedDiceLoss(w_type="square", softmax=True, to_onehot_y=True)(x, y)  # w = 1 / V^2
    torch.testing.assert_close(loss(x, y), expected)
    optimizer = p.get_parsed_content("optimizer")
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["lr"] == 1e-4


@pytest.mark.parametrize(
    "name, cls",
    [("WCE", WeightedCrossEntropyLoss), ("SensSpec", SensitivitySpecificityLoss), ("DL2", TwoClassDiceLoss)],
)
def test_loss_name_picks_the_papers_other_losses(name, cls):
    loss = _parser("train.json", loss_name=name).get_parsed_content("loss")
    assert type(loss) is cls
    x, y = torch.randn(2, 2, 6, 6, 6), torch.randint(0, 2, (2, 1, 6, 6, 6))
    torch.testing.assert_close(loss(x, y), cls(softmax=True, to_onehot_y=True)(x, y))


def test_an_unknown_loss_name_is_the_last_line_of_bundle_run(tmp_path):
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(CONFIGS / "train.json"),
           "--args_file", str(REPO / "ci" / "generalised_dice_tiny_overrides.json"), "--loss_name", "Diec",
           "--phantom_dir", str(tmp_path / "phantom"), "--output_dir", str(tmp_path / "out"),
           "--ckpt_dir", str(tmp_path / "models")]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "unknown loss 'Diec'" in last and "GDSC" in last and "WCE" in last, result.stderr[-3000:]
    assert not (tmp_path / "models" / "model.pt").exists()


def test_three_classes_add_the_white_matter_class_and_per_class_metrics(tmp_path):
    p = _parser("train.json", num_classes=3, phantom_dir=str(tmp_path / "phantom"), phantom_cases=2,
                phantom_shape=[32, 32, 32])  # fmt: skip
    out = p.get_parsed_content("network_def")(torch.randn(1, 3, 16, 16, 16))
    assert out.shape == (1, 3, 16, 16, 16)
    metrics = p.get_parsed_content("validate#additional_metrics")
    assert sorted(metrics) == ["val_dice_lesion", "val_dice_white_matter"]
    data = p.get_parsed_content("data")
    label = np.asarray(nib.load(data["training"][0]["label"]).dataobj)
    assert set(np.unique(label)) == {0, 1, 2} and (label == 2).sum() > 10 * (label == 1).sum()


def test_wmh_other_pathology_is_ignored_in_loss_and_metrics(tmp_path):
    label = _wmh_tree(tmp_path / "WMH")
    p = _parser("train.json", dataset_dir=str(tmp_path / "WMH"), phantom_dir=str(tmp_path / "unused"))
    assert p.get_parsed_content("dataset_layout") == "wmh2017"
    assert list(p.get_parsed_content("channels")) == ["T1", "FLAIR"]  # what WMH 2017 distributes
    assert p.get_parsed_content("ignore_index") == IGNORE_INDEX
    loss = p.get_parsed_content("loss")
    assert isinstance(loss, IgnoreIndexLoss) and isinstance(loss.loss, GeneralizedDiceLoss)

    data = p.get_parsed_content("data")
    item = next(i for i in data["training"] + data["validation"] if i["case_id"] == "Utrecht_0")
    loaded = p.get_parsed_content("validate#preprocessing")(item)
    mapped = loaded["label"][0].numpy()
    np.testing.assert_array_equal(mapped == IGNORE_INDEX, label == 2)  # other pathology -> ignore index
    np.testing.assert_array_equal(mapped == 1, label == 1)

    # the loss equals GDL over the voxels that are not ignored (here: the region outside the "other pathology" cube
    # is all that counts, so predicting lesion there changes nothing)
    logits = torch.randn(1, 2, 12, 12, 12)
    target = torch.as_tensor(mapped)[None, None]
    moved = logits.clone()
    moved[..., 8:10, 8:10, 8:10] = torch.tensor([-5.0, 5.0])[:, None, None, None]
    torch.testing.assert_close(loss(logits, target), loss(moved, target))

    # scoring: a prediction of lesion on the ignored voxels is no false positive
    post = p.get_parsed_content("train#postprocessing")
    pred = torch.full((2, 12, 12, 12), -5.0)
    pred[0] = 5.0
    pred[:, 3:6, 3:6, 3:6] = torch.tensor([-5.0, 5.0])[:, None, None, None]  # the lesion, exactly
    pred[:, 8:10, 8:10, 8:10] = torch.tensor([-5.0, 5.0])[:, None, None, None]  # lesion on "other pathology"
    scored = post({"pred": pred, "label": torch.as_tensor(mapped)[None]})
    assert torch.equal(scored["pred"], scored["label"])  # a perfect score: the ignored voxels count for nothing


def test_brats_labels_become_contiguous_classes(tmp_path):
    root = tmp_path / "BraTS"
    label = np.zeros((10, 10, 10), dtype=np.uint8)
    label[2:4] = 1
    label[4:6] = 2
    label[6:8] = 4
    for case in ("BraTS2021_00000", "BraTS2021_00001"):
        for suffix in ("flair", "t1", "t1ce", "t2"):
            _write(root / case / f"{case}_{suffix}.nii.gz", np.random.default_rng(1).random((10, 10, 10)) + 1)
        _write(root / case / f"{case}_seg.nii.gz", label, np.uint8)
    for num_classes, expected in ((4, {0: 0, 1: 1, 2: 2, 4: 3}), (2, {0: 0, 1: 1, 2: 1, 4: 1})):
        p = _parser("train.json", dataset_dir=str(root), num_classes=num_classes)
        assert list(p.get_parsed_content("channels")) == ["FLAIR", "T1", "T1Gd", "T2"]
        assert p.get_parsed_content("ignore_index") is None
        item = p.get_parsed_content("data")["training"][0]
        mapped = p.get_parsed_content("validate#preprocessing")(item)["label"][0].numpy()
        for raw, cls in expected.items():
            assert np.all(mapped[label == raw] == cls), (num_classes, raw)
    with pytest.raises(Exception) as info:
        _parser("train.json", dataset_dir=str(root), num_classes=3).get_parsed_content("label_map")
    assert "num_classes must be 4 or 2" in str(root_cause(info.value))  # what install_error_summary prints last


def test_inference_builds_the_trained_network_from_model_json(tmp_path):
    train, infer = (json.loads((CONFIGS / n).read_text()) for n in ("train.json", "inference.json"))
    assert train["network_def"]["_target_"] == infer["network_def"]["_target_"] == "DropoutHighResNet"
    # without a model.json: the bundle's defaults
    p = _parser("inference.json", ckpt_path=str(tmp_path / "none" / "model.pt"))
    assert p.get_parsed_content("num_classes") == 2 and p.get_parsed_content("features") == [16, 32, 64]
    assert p.get_parsed_content("patch_size") == [51, 51, 51]
    assert list(p.get_parsed_content("channels")) == PAPER_CHANNELS
    # with one: its settings
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text(json.dumps(
        {"modalities": ["T1", "FLAIR"], "num_classes": 3, "features": [4, 8, 16], "patch_size": [24, 24, 24]}))
    p = _parser("inference.json", ckpt_path=str(tmp_path / "m" / "model.pt"))
    net = p.get_parsed_content("network_def")
    assert net(torch.randn(1, 2, 8, 8, 8)).shape == (1, 3, 8, 8, 8)
    assert p.get_parsed_content("inferer").roi_size == (24, 24, 24)


def test_the_demo_checkpoint_loads_and_the_card_is_complete():
    info = read_model_info(BUNDLE / "models" / "model.pt")
    assert info is not None and info["bundle"] == "generalised_dice"
    p = _parser("inference.json")
    net = p.get_parsed_content("network_def")
    state = torch.load(BUNDLE / "models" / "model.pt", weights_only=True)
    net.load_state_dict(state, strict=True)
    assert info["features"] == [16, 32, 64]  # the paper's width: what train.json fine-tunes in MONAI Label
    assert (BUNDLE / "models" / "model.pt").stat().st_size < 8 * 2**20
    card = (BUNDLE / "docs" / "README.md").read_text()
    assert "PLACEHOLDER" not in card
    for section in ("## Data", "## Training configuration", "## The study", "## Demo checkpoint", "## Commands",
                    "## Serving with MONAI Label"):
        assert section in card, section
    metadata = json.loads((CONFIGS / "metadata.json").read_text())
    assert metadata["network_data_format"]["outputs"]["pred"]["channel_def"] == {"0": "background", "1": "lesion"}


def _study():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return importlib.import_module("generalised_dice_study")
    finally:
        sys.path.pop(0)


def test_the_study_statistic_is_the_median_over_the_last_iterations(tmp_path):
    study = _study()
    assert study.last_window(3000) == 200 and study.last_window(250) == 17 and study.last_window(5) == 5
    path = tmp_path / "training_curve.csv"
    rng = np.random.default_rng(3)
    dice = rng.random(40)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["iteration", "epoch", "loss", "dice_lesion", "dice_mean"])
        for i, d in enumerate(dice, 1):
            writer.writerow([i, 1, 1 - d, f"{d:.6f}", f"{d:.6f}" if i != 38 else ""])  # one undefined Dice
    rows = read_training_curve(path)
    stat = study.curve_statistic(rows, 10)
    tail = np.round(dice[-10:], 6)
    tail[7] = 0.0  # iteration 38: no foreground anywhere counts as 0
    assert stat["median"] == pytest.approx(float(np.median(tail)))
    assert stat["q1"] == pytest.approx(float(np.percentile(tail, 25)))
    assert stat["q3"] == pytest.approx(float(np.percentile(tail, 75)))


def test_the_study_writes_table_and_isolines(tmp_path):
    study = _study()
    args = study.argparse.Namespace(losses=["GDSC", "WCE"], learning_rates=[1e-3, 1e-4], patch_sizes=[16, 24],
                                    batch_sizes=[5, 3], iterations=100, features=[4, 8, 16])  # fmt: skip
    results = [
        {"loss": loss, "learning_rate": lr, "patch_size": p, "batch_size": b, "median": m, "q1": m - 0.1, "q3": m,
         "status": "ok" if loss == "GDSC" else "failed: NonFiniteLossError", "iterations_done": 50,
         "validation_dice": m}
        for loss, base in (("GDSC", 0.8), ("WCE", 0.1)) for lr in (1e-3, 1e-4) for p, b in ((16, 5), (24, 3))
        for m in [base + (0.05 if lr == 1e-4 else 0.0)]
    ]  # fmt: skip
    lines = study.table(results, args)
    row = next(line for line in lines if line.startswith("| 24 | 3 | 0.0001 |"))
    assert "85.0 (10.0)" in row and "15.0 (10.0) failed at it. 50" in row
    figure = study.isoline_figure(results, args, tmp_path / "isolines.png")
    assert figure.stat().st_size > 10_000
    assert re.search(r"GDL_v \| WCE", lines[0])
