"""Every bundle's metadata as the model zoo's CI checks it, offline: ``verify_metadata`` against the shipped schema,
``verify_net_in_out``, and the agreement of metadata.json with the configs it describes."""

from __future__ import annotations

import copy
import sys
import hashlib
import json
from pathlib import Path

import jsonschema
import monai.apps.utils
import pytest
from monai.bundle import ConfigParser, verify_metadata, verify_net_in_out

import monai_tversky

from bundle_catalog import BUNDLE_NAMES, REPO, bundle_dir, tiny_network

SCHEMA_DIR = REPO / "ci" / "schemas"


@pytest.fixture(params=BUNDLE_NAMES)
def name(request) -> str:
    return request.param


def test_spec_files_present(name):
    """The model zoo's bundle layout, and the README's paths from the repository root (``bundles/<name>/train.json``)
    work as ``configs/train.json`` does."""
    bundle = bundle_dir(name)
    for path in ("configs/metadata.json", "configs/train.json", "configs/inference.json", "configs/evaluate.json",
                 "configs/multi_gpu_train.json", "configs/logging.conf", "models/model.pt", "docs/README.md",
                 "LICENSE"):
        assert (bundle / path).is_file(), f"{name}: {path}"
    for link in ("train.json", "metadata.json", "logging.conf"):
        assert (bundle / link).is_symlink(), f"{name}: {link}"
        assert (bundle / link).resolve() == (bundle / "configs" / link).resolve(), f"{name}: {link}"


def _meta_file(name: str) -> Path:
    return bundle_dir(name) / "configs" / "metadata.json"


def _metadata(name: str) -> dict:
    return json.loads(_meta_file(name).read_text())


def _schema_path(metadata: dict) -> Path:
    return SCHEMA_DIR / metadata["schema"].rsplit("/", 1)[-1]


def _pinned_sha256(name: str) -> str:
    for line in (SCHEMA_DIR / "SHA256SUMS").read_text().splitlines():
        digest, _, file = line.partition("  ")
        if file == name:
            return digest
    raise AssertionError(f"{name} is not pinned in ci/schemas/SHA256SUMS")


@pytest.fixture
def offline(monkeypatch):
    """Fail the test if MONAI tries to download anything (the schema must come from ci/schemas)."""

    def no_download(url, *args, **kwargs):
        raise AssertionError(f"attempted download of {url}")

    monkeypatch.setattr(monai.apps.utils, "_download_with_progress", no_download)


def test_schema_is_cached_verbatim_and_is_a_valid_json_schema(name):
    metadata = _metadata(name)
    schema_path = _schema_path(metadata)
    assert schema_path.is_file(), f"{metadata['schema']} is not cached in ci/schemas"
    assert hashlib.sha256(schema_path.read_bytes()).hexdigest() == _pinned_sha256(schema_path.name)
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    # the zoo's required top-level keys (what makes this the zoo's schema rather than a permissive stand-in)
    for key in ("version", "monai_version", "pytorch_version", "numpy_version", "network_data_format"):
        assert key in schema["required"]


def test_verify_metadata_passes_offline(offline, name):
    metadata = _metadata(name)
    schema_path = _schema_path(metadata)
    verify_metadata(
        meta_file=str(_meta_file(name)),
        filepath=str(schema_path),
        hash_val=_pinned_sha256(schema_path.name),
        hash_type="sha256",
    )


def _drop(path: list):
    def mutate(meta: dict) -> None:
        node = meta
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(path: list, value):
    def mutate(meta: dict) -> None:
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _drop(["network_data_format"]),
        _drop(["numpy_version"]),
        _set(["version"], 1),
        _set(["references"], "one string, not a list"),
        _drop(["network_data_format", "inputs", "image", "value_range"]),
        _set(["network_data_format", "inputs", "image", "num_channels"], "5"),
        _set(["network_data_format", "outputs", "pred", "spatial_shape"], [64.5, 64, 64]),
    ],
    ids=["no-network_data_format", "no-numpy_version", "int-version", "str-references", "no-value_range",
         "str-num_channels", "float-spatial_shape"],
)
def test_verify_metadata_rejects_a_broken_copy(tmp_path, offline, mutate, name):
    metadata = _metadata(name)
    broken = copy.deepcopy(metadata)
    mutate(broken)
    meta_file = tmp_path / "metadata.json"
    meta_file.write_text(json.dumps(broken))
    schema_path = _schema_path(metadata)
    with pytest.raises(ValueError, match="Failed validating"):
        verify_metadata(
            meta_file=str(meta_file),
            filepath=str(schema_path),
            hash_val=_pinned_sha256(schema_path.name),
            hash_type="sha256",
        )


#: import name -> distribution, where they differ
_DISTRIBUTION = {"PIL": "pillow", "ignite": "pytorch-ignite", "yaml": "pyyaml", "sklearn": "scikit-learn"}
#: listed by metadata.json's own fields (monai_version, pytorch_version, numpy_version), or MONAI Label's own process
_NOT_REQUIRED = {"monai", "torch", "numpy", "monailabel", "monai_tversky"}
#: needed only by the exported-model configs (inference_onnx.json, inference_trt.json), imported when they run; the
#: cards' export section names them
_EXPORT_ONLY = {"onnx", "onnxruntime", "onnxscript", "tensorrt", "torch_tensorrt", "openvino"}


def _assert_lists_what_the_carried_package_imports(required: dict) -> None:
    """A release carries ``monai_tversky`` (ci/pack_bundle) instead of requiring it (no index has it): every
    third-party module the package imports anywhere, and what ``python -m monai.bundle`` and the configs' handlers
    need (fire, tensorboard), must be in ``required_packages_version``, with no ``monai-tversky``."""
    import ast

    assert "monai-tversky" not in required
    imported = set()
    for path in Path(monai_tversky.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in _NOT_REQUIRED | _EXPORT_ONLY}
    needed = {_DISTRIBUTION.get(m, m) for m in third_party} | {"fire", "tensorboard"}
    assert needed <= set(required), f"not in required_packages_version: {sorted(needed - set(required))}"


@pytest.mark.parametrize("config", ["train.json", "inference.json"])
def test_metadata_describes_the_configs(config, name):
    """What the zoo's CI cannot see: metadata.json agrees with the network and data the configs build."""
    BUNDLE = bundle_dir(name)
    metadata = _metadata(name)
    assert metadata["version"] in metadata["changelog"]
    _assert_lists_what_the_carried_package_imports(metadata["required_packages_version"])
    assert "monai-label" in metadata["supported_apps"]

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / config))
    parser["bundle_root"] = str(BUNDLE)  # no path resolution needed, nothing is built below but plain values
    modalities = parser.get_parsed_content("channels")  # "modalities": "auto" resolves to the phantom's channels
    image = metadata["network_data_format"]["inputs"]["image"]
    pred = metadata["network_data_format"]["outputs"]["pred"]
    assert image["num_channels"] == len(modalities) == parser.get_parsed_content("network_def#in_channels")
    assert [image["channel_def"][str(i)] for i in range(len(modalities))] == list(modalities)
    assert pred["num_channels"] == parser.get_parsed_content("network_def#out_channels")
    assert len(pred["channel_def"]) == pred["num_channels"]
    # a patch-based bundle's network sees patches of its patch_size; a whole-image bundle's (focal_tversky) sees
    # whole images resized to its spatial_size, and has no patch_size
    patches = "patch_size" in parser.config
    assert image["is_patch_data"] is pred["is_patch_data"] is patches
    size = parser.get_parsed_content("patch_size" if patches else "spatial_size")
    inference = json.loads((BUNDLE / "configs" / "inference.json").read_text())
    if config == "train.json" and patches and "model_info_value" in str(inference.get("patch_size")):
        # inference windows follow the shipped model's record (generalised_dice's demo was trained on 24^3, the
        # paper's default is 51^3): metadata describes the shipped model, train.json the paper, and inference falls
        # back to train.json's patch size for a model without a record
        infer = ConfigParser()
        infer.read_config(str(BUNDLE / "configs" / "inference.json"))
        infer["bundle_root"], infer["ckpt_path"] = str(BUNDLE), str(BUNDLE / "no_such_model.pt")
        assert list(infer.get_parsed_content("patch_size")) == list(size)
        return
    assert image["spatial_shape"] == pred["spatial_shape"] == list(size)


def test_verify_net_in_out_tiny_network(offline, name):
    """MONAI's verify_net_in_out on the bundle with a tiny network_def (the paper's is tested below, slow)."""
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(_meta_file(name)),
        config_file=str(bundle_dir(name) / "configs" / "inference.json"),
        device="cpu",
        bundle_root=str(bundle_dir(name)),
        **tiny_network(name),
    )


def test_verify_net_in_out_detects_a_channel_mismatch(name):
    wrong = _metadata(name)["network_data_format"]["outputs"]["pred"]["num_channels"] + 1
    with pytest.raises(ValueError, match="output channel number"):
        verify_net_in_out(
            net_id="network_def",
            meta_file=str(_meta_file(name)),
            config_file=str(bundle_dir(name) / "configs" / "inference.json"),
            device="cpu",
            bundle_root=str(bundle_dir(name)),
            **{**tiny_network(name), "_meta_#network_data_format#outputs#pred#num_channels": wrong},
        )


@pytest.mark.slow
def test_verify_net_in_out_paper_network(offline, name):
    """The shipped network on one input of the declared size, exactly as the zoo's CI runs it: the paper's size
    (focal_tversky: the width its demo model's model.json records; the paper width is verified in
    test_bundle_focal_tversky_configs.py)."""
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(_meta_file(name)),
        config_file=str(bundle_dir(name) / "configs" / "inference.json"),
        device="cpu",
        bundle_root=str(bundle_dir(name)),
    )
