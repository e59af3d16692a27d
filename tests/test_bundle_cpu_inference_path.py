"""The bundles' CPU inference path (issue 25): the evaluator of ``inference.json`` / ``evaluate.json`` runs
``cpu_inferer``, the bundle's ``inferer`` under bf16 autocast + channels-last where the CPU has native bf16, and the
plain ``inferer`` (float32) elsewhere, on a GPU and with ``--cpu_bf16 False``. MONAI Label keeps reading ``inferer``."""

from __future__ import annotations

import json

import pytest
import torch
from bundle_catalog import BUNDLE_NAMES, bundle_dir
from monai.bundle import ConfigParser

from monai_tversky.inferers import AutocastInferer, cpu_supports_bf16


#: the bundles whose CPU inference is bf16 by default; focal_tversky's is float32 (its 128x128 image takes ~45 ms, and
#: bf16 moved 0.13 % of a phantom image's pixels across the threshold: under the 99.9 % bar); --cpu_bf16 True opts in
BF16_BY_DEFAULT = ("msseg", "tversky_unet3d", "generalised_dice")


def _parser(name: str, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(bundle_dir(name) / "configs" / f) for f in ("inference.json", "evaluate.json")])
    parser["bundle_root"] = str(bundle_dir(name))
    for key, value in overrides.items():
        parser[key] = value
    return parser


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_the_evaluators_run_the_cpu_path_around_the_bundles_inferer(name):
    for config in ("inference.json", "evaluate.json"):
        raw = json.loads((bundle_dir(name) / "configs" / config).read_text())
        evaluators = [v for v in raw.values() if isinstance(v, dict) and v.get("_target_", "").endswith("Evaluator")]
        assert evaluators and all(e["inferer"] == "@cpu_inferer" for e in evaluators), (name, config)
    parser = _parser(name, device=torch.device("cpu"))
    cpu_inferer = parser.get_parsed_content("cpu_inferer")
    assert isinstance(cpu_inferer, AutocastInferer)
    assert type(cpu_inferer.inferer) is type(parser.get_parsed_content("inferer"))  # MONAI Label's key unchanged
    on = cpu_supports_bf16() and name in BF16_BY_DEFAULT
    assert cpu_inferer.enabled is on and cpu_inferer.channels_last is on
    assert cpu_inferer.dtype == torch.bfloat16 and cpu_inferer.output_dtype == torch.float32
    # float32 on a GPU device (AMP there is MONAI's own) and by --cpu_bf16 False
    assert _parser(name, device=torch.device("cuda")).get_parsed_content("cpu_inferer").enabled is False
    off = _parser(name, device=torch.device("cpu"), cpu_bf16=False).get_parsed_content("cpu_inferer")
    assert off.enabled is False and off.channels_last is False


@pytest.mark.slow
@pytest.mark.skipif(not cpu_supports_bf16(), reason="the bf16 path is on only where the CPU has native bf16")
@pytest.mark.parametrize("name", BF16_BY_DEFAULT)
def test_the_bf16_path_gives_the_float32_segmentation(name, tmp_path):
    """The shipped model on a phantom case through the bundle's inferer (test-time rotations off): float32 outputs
    (the fusion in full precision), and the masks of the two paths agree on at least 99.9 % of the voxels (a random
    network on noise is no test: its outputs sit on the decision boundary)."""
    from monai_tversky.data import generate_phantom_dataset, generate_phantom_dataset_2d
    from bundle_catalog import input_channels, phantom_kind_2d, spatial_dims

    from monai.transforms import LoadImage

    if spatial_dims(name) == 3:
        data = generate_phantom_dataset(tmp_path, num_cases=1, shape=(64, 80, 64), modalities=input_channels(name),
                                        seed=3, val_fraction=0.0, progress=False)
        case = data["training"][0]
        x = torch.stack([torch.as_tensor(LoadImage(image_only=True)(f)).float() for f in case["image"]])[None]
        x = (x - x.mean(dim=(2, 3, 4), keepdim=True)) / x.std(dim=(2, 3, 4), keepdim=True).clamp_min(1e-6)
    else:
        data = generate_phantom_dataset_2d(tmp_path, num_cases=1, kind=phantom_kind_2d(name), shape=(128, 128),
                                           seed=3, val_fraction=0.0, progress=False)
        img = torch.as_tensor(LoadImage(image_only=True)(data["training"][0]["image"])).float() / 255.0
        x = (img[None] if img.ndim == 2 else img.permute(2, 0, 1))[None]
        x = x[:, : len(input_channels(name))]
    outputs = {}
    for enabled in (False, True):
        p = _parser(name, device=torch.device("cpu"), cpu_bf16=enabled)
        if "tta" in p.get():
            p["tta"] = "none"
        if "progress" in p["inferer"]:
            p["inferer#progress"] = False
        net = p.get_parsed_content("network_def").eval()
        net.load_state_dict(torch.load(bundle_dir(name) / "models" / "model.pt", map_location="cpu", weights_only=True))
        with torch.no_grad():
            out = p.get_parsed_content("cpu_inferer")(x, net)
        out = out[0] if isinstance(out, (list, tuple)) else out
        assert out.dtype == torch.float32
        outputs[enabled] = out.float().contiguous()
    fp32, bf16 = outputs[False], outputs[True]
    to_mask = (lambda o: o.argmax(1)) if fp32.shape[1] > 1 else (lambda o: o > 0)
    agreement = (to_mask(fp32) == to_mask(bf16)).float().mean().item()
    assert agreement >= 0.999, agreement
