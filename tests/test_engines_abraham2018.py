"""Engine pieces the focal_tversky bundle adds: Keras's inverse-time SGD decay (abraham2018), settings read back from
a model's model.json, run signatures that tell ablation rows apart, and the lesion report of 2D evaluations."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from PIL import Image

from monai.data import MetaTensor
from monai_tversky.engines import (
    InverseTimeDecayLR,
    LesionReportHandler,
    model_info_value,
    resume_checkpoint,
    run_signature,
)


def _keras_sgd_lr(lr0: float, decay: float, iterations: int) -> float:
    """Keras 2.2 ``optimizers.SGD.get_updates``: ``lr = lr0 * (1 / (1 + decay * iterations))``, per update."""
    return lr0 * (1.0 / (1.0 + decay * iterations))


def test_inverse_time_decay_is_keras_sgd_decay_per_iteration_and_resumes():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.01, momentum=0.9)
    sched = InverseTimeDecayLR(opt, decay=1e-2)
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([_keras_sgd_lr(0.01, 1e-2, t) for t in range(30)])
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01, momentum=0.9)
    sched2 = InverseTimeDecayLR(opt2, decay=1e-2)
    sched2.load_state_dict(sched.state_dict())
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(_keras_sgd_lr(0.01, 1e-2, 31))


def test_inverse_time_decay_of_the_paper_is_small():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    sched = InverseTimeDecayLR(opt)  # decay 1e-6
    for _ in range(12_000):  # ~ the paper's ISIC run: 50 epochs of 1,946 / 8 iterations
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 1.012)
    with pytest.raises(ValueError, match="decay must be a finite number >= 0"):
        InverseTimeDecayLR(opt, decay=-1e-6)
    with pytest.raises(ValueError, match="decay must be a finite number >= 0"):
        InverseTimeDecayLR(opt, decay=math.inf)


def test_model_info_value_reads_the_record_beside_the_model(tmp_path):
    model = tmp_path / "model.pt"
    assert model_info_value(model, "spatial_size", [192, 256]) == [192, 256]  # no record
    (tmp_path / "model.json").write_text(json.dumps({"spatial_size": [64, 64], "network_variant": "unet",
                                                      "loss": None}))
    assert model_info_value(model, "spatial_size", [192, 256]) == [64, 64]
    assert model_info_value(model, "network_variant", "attn_unet_pyramid") == "unet"
    assert model_info_value(model, "loss", "focal_tversky") == "focal_tversky"  # null: the default
    assert model_info_value(model, "missing", 3) == 3
    (tmp_path / "model.json").write_text("{not json")
    assert model_info_value(model, "spatial_size", [1, 2]) == [1, 2]


def test_run_signature_settings_tell_ablation_rows_apart(tmp_path):
    net = torch.nn.Conv2d(3, 1, 1)
    base = run_signature("focal_tversky", net, ["R", "G", "B"], "phantom")
    assert "settings" not in base  # as before for the bundles that pass none
    dice = run_signature("focal_tversky", net, ["R", "G", "B"], "phantom", settings={"loss": "dice", "gamma": 4 / 3})
    ftl = run_signature("focal_tversky", net, ["R", "G", "B"], "phantom", settings={"loss": "focal_tversky",
                                                                                    "gamma": 4 / 3})
    assert dice["settings"] == {"loss": "dice", "gamma": 4 / 3} and dice != ftl
    # a resume checkpoint of the Dice row is refused to the focal Tversky row
    (tmp_path / "checkpoint_epoch=1.pt").write_bytes(b"x")
    (tmp_path / "training_run.json").write_text(json.dumps({"signature": dice}))
    assert resume_checkpoint(tmp_path, 5, json.loads(json.dumps(dice))) == str(tmp_path / "checkpoint_epoch=1.pt")
    with pytest.raises(ValueError, match="another training run"):
        resume_checkpoint(tmp_path, 5, ftl)


def test_lesion_report_handler_on_2d_cases_evaluated_at_their_own_size(tmp_path):
    """A 2D bundle feeds the network a resized image but scores the prediction at the image's own size: the image
    under the overlay is resized to the prediction, and an RGB image is shown by its grey level."""
    rng = np.random.default_rng(0)
    label = torch.zeros(1, 60, 90)
    label[0, 20:40, 30:60] = 1
    pred = torch.zeros_like(label)
    pred[0, 22:40, 30:62] = 1
    affine = torch.eye(4, dtype=torch.float64)
    output = {
        "pred": MetaTensor(pred, affine=affine),
        "label": MetaTensor(label, affine=affine),
        "prob": MetaTensor(pred * 0.8 + 0.1, affine=affine),
        "image": MetaTensor(torch.as_tensor(rng.random((3, 24, 32)), dtype=torch.float32)),  # the network's input
    }
    handler = LesionReportHandler(tmp_path / "report", run_name="2D")
    engine = Engine(lambda e, b: [output])
    handler.attach(engine)
    engine.run([[{"case_id": "ISIC_0000007"}]], max_epochs=1)
    with open(tmp_path / "report" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["case"] == "ISIC_0000007"
    tp, fp, fn = 18 * 30, 18 * 2, 2 * 30
    assert float(rows[0]["dsc"]) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert float(rows[0]["ppv"]) == pytest.approx(tp / (tp + fp)) and float(rows[0]["sensitivity"]) == pytest.approx(
        tp / (tp + fn))
    assert float(rows[0]["ltpr"]) == 1.0 and float(rows[0]["lfpr"]) == 0.0
    # a 2D surface distance in pixels (a 3D reading of a (1, H, W) case would call every voxel surface)
    assert 0.0 < float(rows[0]["sd"]) < 2.0
    assert Image.open(tmp_path / "report" / "overlays" / "ISIC_0000007.png").size[0] == 90 * 4


def test_lesion_report_caps_the_overlay_of_a_photograph_sized_case(tmp_path):
    """An ISIC-size 2166 x 3188 case: the overlay's longer side is 1024 pixels, not 4 x 3188."""
    from monai_tversky.metrics import LesionReport

    label = np.zeros((2166, 3188), dtype=bool)
    label[800:1400, 1200:2000] = True
    report = LesionReport(tmp_path / "r")
    report.add_case("big", label, label, image=np.random.default_rng(0).random((2166, 3188)), overlay_slices="auto")
    width, height = Image.open(report.overlay_paths[0]).size
    assert width == 1024 and round(2166 * 1024 / 3188) < height < 1024  # the image, then the legend strip below
    with pytest.raises(ValueError, match="overlay_max_size"):
        LesionReport(tmp_path / "r", overlay_max_size=0)
