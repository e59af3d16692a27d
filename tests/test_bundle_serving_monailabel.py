"""Every bundle loaded the way MONAI Label loads a bundle, without installing monailabel (it pins many packages).

The calls below replicate, step by step, MONAI Label's

- ``BundleInferTask`` (``monailabel/tasks/infer/bundle.py``: ``__init__``, ``_load_bundle_config``, ``pre_transforms``,
  ``inferer``, ``post_transforms``, ``_update_device``) and ``BasicInferTask`` (``monailabel/tasks/infer/
  basic_infer.py``: ``_get_network``, ``run_inferer``), repository Project-MONAI/MONAILabel;
- ``BundleTrainTask`` (``monailabel/tasks/train/bundle.py``: ``__init__``, ``_partition_datalist``,
  ``_load_checkpoint``, ``__call__``, ``run_single_gpu``).

MONAI Label serves one image file per case from its datastore, so the images here are 4D NIfTI files holding the
bundle's channels (msseg: FLAIR, T1, T1Gd, PD, T2; tversky_unet3d: T1, T2, FLAIR) in the order of metadata.json's
``channel_def``, or, for a 2D bundle (focal_tversky), PNG files as MONAI Label serves 2D studies (RGB or grayscale,
with 0/255 label PNGs). The bundle copy is configured with the tiny network of ``ci/<bundle>_tiny_overrides.json``
by editing its config files, as a user customising a bundle would; MONAI Label itself then overrides only what it
overrides.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigItem, ConfigParser
from monai.data import partition_dataset
from monai.transforms import Activationsd, AsDiscreted, Compose, Invertd, SaveImaged

from PIL import Image

from monai_tversky.data import generate_phantom_dataset, generate_phantom_dataset_2d

from bundle_catalog import BUNDLE_NAMES, bundle_dir, input_channels, phantom_kind_2d, spatial_dims, tiny_overrides

DEVICE = "cpu"  # what monailabel.utils.others.generic.name_to_device returns without CUDA


def _configure(config_file: Path, overrides: dict) -> None:
    """Write ``overrides`` into a bundle config file (only ids whose top-level key the file has)."""
    parser = ConfigParser()
    parser.read_config(str(config_file))
    for key, value in overrides.items():
        if key.split("#")[0] in parser.config:
            parser[key] = value
    ConfigParser.export_config_file(parser.config, str(config_file), indent=4)


def _make_bundle(dest: Path, name: str) -> Path:
    """A copy of the bundle (configs only, no symlinks, no outputs) configured tiny, with a tiny model.pt."""
    bundle = dest / name
    (bundle / "models").mkdir(parents=True)
    shutil.copytree(bundle_dir(name) / "configs", bundle / "configs", symlinks=True)
    for config in ("inference.json", "train.json"):
        _configure(bundle / "configs" / config, tiny_overrides(name))
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def")
    with torch.no_grad():  # non-trivial batch-norm statistics, so that a checkpoint that is not loaded shows
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    if spatial_dims(name) == 2:
        # the 2D network's ten levels of freshly initialised convolutions shrink the signal to ~1e-4 when batch norm
        # divides by statistics it never saw: statistics of its own activations on random images (as training
        # leaves them) let the served probabilities vary over the image, so that the comparisons below mean something
        size = tiny_overrides(name)["spatial_size"]
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()
                    m.momentum = None  # cumulative average over the calibration batches
            net.train()
            for _ in range(3):
                net(torch.rand(4, len(input_channels(name)), *size))
            net.eval()
    # the format CheckpointSaver(save_dict={"model": network}) writes: the bare state dict
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    return bundle


def _make_datastore_2d(dest: Path, name: str, num_cases: int) -> list[dict]:
    """MONAI Label datastore items of a 2D bundle: one PNG image (RGB or grayscale) and one 0/255 label PNG per case."""
    phantom = generate_phantom_dataset_2d(
        dest / "phantom", num_cases=num_cases, kind=phantom_kind_2d(name), shape=tiny_overrides(name)["phantom_shape"],
        seed=0, val_fraction=0.0, progress=False,
    )
    images, labels = dest / "datastore", dest / "datastore" / "labels" / "final"
    labels.mkdir(parents=True)
    items = []
    for case in phantom["training"]:
        image, label = images / f"{case['case_id']}.png", labels / f"{case['case_id']}.png"
        shutil.copyfile(case["image"], image)
        shutil.copyfile(case["label"], label)
        items.append({"image": str(image), "label": str(label)})
    return items


def _make_datastore(dest: Path, name: str, num_cases: int = 3) -> list[dict]:
    """MONAI Label datastore items: one 4D NIfTI image (the bundle's channels, last) and one label file per case
    (a 2D bundle: PNG files)."""
    if spatial_dims(name) == 2:
        return _make_datastore_2d(dest, name, num_cases)
    phantom = generate_phantom_dataset(
        dest / "phantom", num_cases=num_cases, shape=tiny_overrides(name)["phantom_shape"],
        modalities=input_channels(name), seed=0, val_fraction=0.0, progress=False,
    )
    images, labels = dest / "datastore", dest / "datastore" / "labels" / "final"
    labels.mkdir(parents=True)
    items = []
    for case in phantom["training"]:
        channels = [nib.load(p) for p in case["image"]]
        volume = np.stack([np.asarray(c.dataobj, dtype=np.float32) for c in channels], axis=-1)
        image = images / f"{case['case_id']}.nii.gz"
        nib.save(nib.Nifti1Image(volume, channels[0].affine), image)
        label = labels / f"{case['case_id']}.nii.gz"
        shutil.copyfile(case["label"], label)
        items.append({"image": str(image), "label": str(label)})
    return items


@pytest.fixture(scope="module", params=BUNDLE_NAMES)
def served(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(f"monailabel_{name}")
    return SimpleNamespace(
        name=name, root=root, bundle=_make_bundle(root, name), datastore=_make_datastore(root, name),
        tiny=tiny_overrides(name), dims=spatial_dims(name),
    )


def _load_bundle_config(path: str, config: str) -> ConfigParser:
    # BundleInferTask._load_bundle_config / BundleTrainTask._load_bundle_config
    bundle_config = ConfigParser()
    bundle_config.read_config(config)
    bundle_config.config.update({"bundle_root": path})
    return bundle_config


def _update_device(bundle_config: ConfigParser, device: str) -> None:
    # BundleInferTask._update_device
    bundle_config.config.update({"device": device})
    if bundle_config.ref_resolver.items.get("device"):
        bundle_config.ref_resolver.items["device"] = ConfigItem(config=device, id="device")


def _transforms(bundle_config: ConfigParser, keys: tuple[str, ...]) -> list:
    # BundleInferTask.pre_transforms / post_transforms: the first of the ids present, a Compose unpacked
    out: list = []
    for k in keys:
        if bundle_config.get(k):
            c = bundle_config.get_parsed_content(k, instantiate=True)
            out = list(c.transforms) if isinstance(c, Compose) else c
    return out


def test_ids_monailabel_uses_exist(served):
    """The ids BundleConstants names (infer and train) resolve, and building the infer pieces writes nothing."""
    path = str(served.bundle)
    infer = _load_bundle_config(path, os.path.join(path, "configs", "inference.json"))
    _update_device(infer, DEVICE)
    assert isinstance(infer.get_parsed_content("network_def"), torch.nn.Module)
    assert isinstance(infer.get_parsed_content("network"), torch.nn.Module)
    assert callable(infer.get_parsed_content("inferer"))
    assert _transforms(infer, ("preprocessing", "pre_transforms"))
    assert _transforms(infer, ("postprocessing", "post_transforms"))
    assert not (served.bundle / "output").exists()  # e.g. no phantom generated by an eagerly resolved datalist

    train = _load_bundle_config(path, os.path.join(path, "configs", "train.json"))
    for key in ("network_def", "network", "train#trainer#max_epochs", "train#dataset#data", "train#handlers",
                "validate#dataset#data", "device"):
        assert train.get(key) is not None, key
    assert isinstance(train.get("train#handlers"), list)


@pytest.mark.slow
def test_infer_task(served, tmp_path):
    path = str(served.bundle)
    # --- BundleInferTask.__init__
    config_paths = [c for c in ("inference.json", "inference.yaml") if os.path.exists(os.path.join(path, "configs", c))]
    assert config_paths == ["inference.json"]
    bundle_config = _load_bundle_config(path, os.path.join(path, "configs", config_paths[0]))
    model_path = os.path.join(path, "models", "model.pt")
    assert os.path.exists(model_path)
    network = bundle_config.get_parsed_content("network_def", instantiate=True)
    with open(os.path.join(path, "configs", "metadata.json")) as fp:
        metadata = json.load(fp)
    key_image, image = next(iter(metadata["network_data_format"]["inputs"].items()))
    key_pred, pred = next(iter(metadata["network_data_format"]["outputs"].items()))
    assert (key_image, key_pred) == ("image", "pred")  # BasicInferTask's input_key and output_label_key
    labels = {v.lower(): int(k) for k, v in pred.get("channel_def", {}).items() if v.lower() != "background"}
    # one label served, whether the network has a background channel or not, under the value the served mask marks
    # lesions with (MONAI Label's /info/ shows this map; a 1-channel sigmoid network's channel_def key is that value)
    assert labels == {"lesion": 1}
    assert pred["num_channels"] == len(pred["channel_def"])
    with torch.no_grad():  # the network's output channels are the ones metadata.json declares
        assert copy.deepcopy(network).eval()(torch.zeros(1, image["num_channels"], *[16] * served.dims)).shape[
            1
        ] == len(pred["channel_def"])
    assert len(image["spatial_shape"]) == served.dims  # MONAI Label's `dimension`: 3, or 2 for PNG studies
    assert image["num_channels"] == len(image["channel_def"])

    # --- BasicInferTask.__call__ -> pre_transforms, run_inferer, post_transforms
    data = {"image": served.datastore[0]["image"], "image_path": served.datastore[0]["image"], "device": DEVICE}
    _update_device(bundle_config, DEVICE)
    pre = _transforms(bundle_config, ("preprocessing", "pre_transforms"))
    assert pre, "no preprocessing in inference.json"
    for t in pre:  # LoadImaged is wrapped in LoadImageTensord, which calls it unchanged for a file path
        data = t(data)
    assert tuple(data["image"].shape) == (image["num_channels"], *served.tiny["phantom_shape"])

    inferer = next(
        bundle_config.get_parsed_content(k, instantiate=True) for k in ("inferer",) if bundle_config.get(k)
    )
    # BasicInferTask._get_network
    net = copy.deepcopy(network).to(torch.device(DEVICE))
    # monailabel 0.8.5 calls torch.load(path, map_location=...) with torch's default, weights_only=True from torch 2.6
    # (the project's minimum); test_checkpoint_safety checks that default refuses a crafted file
    checkpoint = torch.load(model_path, map_location=torch.device(DEVICE), weights_only=True)
    model_state_dict = checkpoint.get("model", checkpoint)
    assert set(network.state_dict()) == set(model_state_dict)
    net.load_state_dict(model_state_dict, strict=True)
    net.eval()
    # BasicInferTask.run_inferer
    inputs = data["image"]
    inputs = inputs if torch.is_tensor(inputs) else torch.from_numpy(inputs)
    with torch.no_grad():
        outputs = inferer(inputs[None].to(torch.device(DEVICE)), net)
    data["pred"] = outputs[0]

    post = _transforms(bundle_config, ("postprocessing", "post_transforms"))
    post = [t for t in post if not isinstance(t, SaveImaged)]  # BundleInferTask's default post_filter
    assert any(isinstance(t, Activationsd) for t in post)
    prob = None
    for t in post:  # (MONAI Label then appends its Restored, which needs pred on the image's grid: checked below)
        if isinstance(t, AsDiscreted):  # the lesion probability is what the threshold is applied to
            prob = data["pred"].clone()
        data = t(data)
    assert prob is not None and tuple(prob.shape[1:]) == tuple(served.tiny["phantom_shape"])
    if prob.shape[0] > 1:  # a softmax over classes before an argmax (generalised_dice): the lesion's is saved
        prob = prob[1:]
    assert prob.shape[0] == 1
    seg = data["pred"]
    if served.dims == 2:  # MONAI Label's Writer transposes the mask and writes a 2D PNG only from a 2D array
        assert tuple(seg.shape) == tuple(served.tiny["phantom_shape"])[::-1]  # (W, H)
        assert "spatial_shape" not in data["image"].meta  # so its Restored leaves the (W, H) mask as it is
        seg = seg.transpose(0, 1)[None]
    assert tuple(seg.shape) == (1, *served.tiny["phantom_shape"])
    assert set(torch.unique(seg).tolist()) <= {0.0, float(labels["lesion"])}
    # building MONAI Label's pieces must not generate the embedded phantom into the served bundle
    assert not (served.bundle / "output").exists()

    # the same case through the bundle's own inference (CheckpointLoader, SupervisedEvaluator, SaveImaged) agrees
    parser = ConfigParser()
    parser.read_config(os.path.join(path, "configs", "inference.json"))
    # cpu_bf16 False: MONAI Label runs `inferer` in float32; the bundle's own evaluator runs `cpu_inferer`, bf16 on a
    # CPU with native bf16 (tests/test_bundle_cpu_inference_path.py compares those two paths)
    parser.update({"bundle_root": path, "input": served.datastore[0]["image"], "output_dir": str(tmp_path),
                   "cpu_bf16": False})
    parser.get_parsed_content("evaluator").run()
    if served.dims == 2:  # 8-bit PNGs: probability x 255 (rounded), mask 0/255
        stem = Path(served.datastore[0]["image"]).stem
        saved_prob = np.asarray(Image.open(tmp_path / stem / f"{stem}_prob.png"), dtype=np.float64)
        saved_seg = np.asarray(Image.open(tmp_path / stem / f"{stem}_seg.png"), dtype=np.float64)
        np.testing.assert_allclose(prob[0].numpy() * 255, saved_prob, atol=1.0)
        np.testing.assert_array_equal(seg[0].numpy() * 255, saved_seg)
    else:
        stem = Path(served.datastore[0]["image"]).name.replace(".nii.gz", "")
        saved_prob = nib.load(tmp_path / stem / f"{stem}_prob.nii.gz")  # one folder per case, named by its case id
        saved_seg = nib.load(tmp_path / stem / f"{stem}_seg.nii.gz")
        np.testing.assert_allclose(prob[0].numpy(), saved_prob.get_fdata(), atol=1e-5)
        np.testing.assert_array_equal(seg[0].numpy(), saved_seg.get_fdata())
        np.testing.assert_allclose(saved_seg.affine, nib.load(served.datastore[0]["image"]).affine, atol=1e-6)
    # and the probabilities vary over the image: the comparison above is not between two constant maps
    assert float(prob.std()) > 1e-4

    if served.dims == 2:  # epistemic scoring (monaibundle app): train mode (a deeply supervised network returns
        # [final, side outputs]; run_inferer keeps the final one's batch axis), no Invertd: still a 2D mask
        data = {"image": served.datastore[0]["image"], "image_path": served.datastore[0]["image"], "device": DEVICE}
        for t in pre:
            data = t(data)
        with torch.no_grad():
            data["pred"] = inferer(data["image"][None].to(torch.device(DEVICE)), copy.deepcopy(net).train())[0]
        for t in _transforms(bundle_config, ("postprocessing", "post_transforms")):
            if not isinstance(t, (SaveImaged, Invertd)):
                data = t(data)
        assert data["pred"].ndim == 2 and "spatial_shape" not in data["image"].meta

    # a network whose checkpoint was not loaded predicts differently: the checkpoint is what MONAI Label serves
    patch = inputs[(None, slice(None), *[slice(0, 16)] * served.dims)]
    with torch.no_grad():
        assert not torch.allclose(copy.deepcopy(network).eval()(patch), net(patch), atol=1e-4)


_TRAIN_SCRIPT = """
import json, sys
import monai.bundle
args = json.load(open(sys.argv[1]))
# BundleTrainTask.run_single_gpu
monai.bundle.run(run_id="run", init_id=None, final_id=None, meta_file=args["meta_file"],
                 config_file=args["config_file"], **args["overrides"])
"""


@pytest.mark.slow
def test_train_task(served, tmp_path):
    bundle = tmp_path / served.name
    shutil.copytree(served.bundle, bundle)  # training rewrites models/: keep the module's bundle as it is
    path = str(bundle)
    pretrained = torch.load(bundle / "models" / "model.pt", weights_only=True)

    # --- BundleTrainTask.__init__
    config_paths = [c for c in ("train.json", "train.yaml") if os.path.exists(os.path.join(path, "configs", c))]
    assert config_paths == ["train.json"]
    bundle_config_path = os.path.join(path, "configs", config_paths[0])
    bundle_config = _load_bundle_config(path, bundle_config_path)
    bundle_metadata_path = os.path.join(path, "configs", "metadata.json")
    assert (bundle / "configs" / "multi_gpu_train.json").is_file()  # used when MONAI Label trains on several GPUs

    # --- BundleTrainTask.__call__ (request: max_epochs=1, pretrained=True, val_split=0.2, device=cpu)
    datalist = [{"image": d["image"], "label": d["label"]} for d in served.datastore]  # _fetch_datalist
    train_ds, val_ds = partition_dataset(datalist, ratios=[0.8, 0.2], shuffle=False)  # _partition_datalist
    assert train_ds and val_ds
    train_handlers = bundle_config.get("train#handlers", [])
    model_pytorch = os.path.join(path, "models", "model.pt")
    # _load_checkpoint
    if os.path.exists(model_pytorch) and not [t for t in train_handlers if t.get("_target_") == "CheckpointLoader"]:
        train_handlers.insert(
            0,
            {
                "_target_": "CheckpointLoader",
                "load_path": model_pytorch,
                "load_dict": {"model": "$@network"},
                "strict": False,
            },
        )
    overrides = {
        "bundle_root": path,
        "train#trainer#max_epochs": 1,
        "train#dataset#data": train_ds,
        "device": DEVICE,
        "train#handlers": train_handlers,
        "validate#dataset#data": val_ds,
    }
    args = tmp_path / "args.json"
    run_args = {"meta_file": bundle_metadata_path, "config_file": bundle_config_path, "overrides": overrides}
    args.write_text(json.dumps(run_args))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _TRAIN_SCRIPT, str(args)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert f"Restored all variables from {model_pytorch}" in result.stdout + result.stderr

    # one epoch ran: a resume checkpoint, a new best model.pt with trained weights, TensorBoard logs, all in the bundle
    assert list((bundle / "models").glob("checkpoint*.pt"))
    trained = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert set(trained) == set(pretrained)
    assert any(not torch.equal(trained[k], pretrained[k]) for k in pretrained)
    assert list((bundle / "output" / "runs").glob("events.out.tfevents.*"))
    # the datastore's data replaced the embedded default: no phantom was generated
    assert not list((bundle / "output").glob("phantom*"))


def test_request_options_reach_the_inferer(served):
    """What a MONAI Label user changes per request (test-time augmentation, fusion, window batch): BundleInferTask
    shows ``displayable_configs`` of inference.json among its options and, per request, updates that dict and
    re-parses the config before it builds the inferer (``monailabel/tasks/infer/bundle.py``: ``__init__`` and
    ``pre_transforms``), so the bundle's inferer must read its settings from there."""
    from monai.inferers import SimpleInferer

    from monai_tversky.inferers import SplineFusionInferer

    shipped = bundle_dir(served.name)  # as released (the served copy has the tiny overrides written into it)
    bundle_config = _load_bundle_config(str(shipped), str(shipped / "configs" / "inference.json"))
    if not bundle_config.get("displayable_configs"):  # whole-image inference: nothing to choose per request
        assert isinstance(bundle_config.get_parsed_content("inferer", instantiate=True), SimpleInferer)
        return
    displayable = bundle_config.get_parsed_content("displayable_configs", instantiate=True)
    assert set(displayable) == {"tta", "fusion", "sw_batch_size"}
    default = bundle_config.get_parsed_content("inferer", instantiate=True)
    assert isinstance(default, SplineFusionInferer) and default.fusion == displayable["fusion"]
    request = {**displayable, "tta": "none", "fusion": "tile", "sw_batch_size": 2}  # BasicInferTask: config + request
    bundle_config["displayable_configs"].update({c: request[c] for c in displayable})
    bundle_config.parse()
    inferer = bundle_config.get_parsed_content("inferer", instantiate=True)
    assert inferer.tta is None and inferer.fusion == "tile" and inferer.sw_batch_size == 2
    request = {**displayable, "tta": "rot180", "fusion": "uniform", "sw_batch_size": 3}
    bundle_config["displayable_configs"].update({c: request[c] for c in displayable})
    bundle_config.parse()
    inferer = bundle_config.get_parsed_content("inferer", instantiate=True)
    assert inferer.tta is not None and inferer.fusion == "uniform" and inferer.sw_batch_size == 3
