"""``ci/pack_bundle`` builds the release zip that ``monai.bundle.download`` fetches, extracts and runs, for every
bundle in ``bundles/``."""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser, download

from PIL import Image

from monai_tversky.data import generate_phantom_dataset, generate_phantom_dataset_2d

from bundle_catalog import BUNDLE_NAMES, REPO, bundle_dir, input_channels, metadata, tiny_network, tiny_overrides
from bundle_catalog import phantom_kind_2d, spatial_dims, tiny_overrides_file

PACK = REPO / "ci" / "pack_bundle"


def _load_script(path: Path):
    loader = importlib.machinery.SourceFileLoader(path.name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(path.name, loader))
    loader.exec_module(module)
    return module


pack_bundle = _load_script(PACK)  # the CLI is run as a subprocess in the download test and for exit statuses


def _release_candidate(dest: Path, name: str) -> Path:
    """A copy of the bundle with everything a release needs and the clutter a working bundle accumulates."""
    bundle = dest / name
    skip = shutil.ignore_patterns("output", "__pycache__", "checkpoint*")  # added below, small
    shutil.copytree(bundle_dir(name), bundle, symlinks=True, ignore=skip)
    for link in ("train.json", "metadata.json", "logging.conf"):  # the repository's top-level convenience symlinks
        if not (bundle / link).is_symlink():
            (bundle / link).symlink_to(f"configs/{link}")
    (bundle / "models").mkdir(exist_ok=True)
    (bundle / "docs").mkdir(exist_ok=True)
    if not (bundle / "docs" / "README.md").is_file():
        (bundle / "docs" / "README.md").write_text(f"# {name} (test copy)\n")
    if not (bundle / "LICENSE").is_file():
        (bundle / "LICENSE").write_text("test licence\n")
    # weights of the tiny network the tests run with
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    for key, value in tiny_network(name).items():
        parser[key] = value
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), bundle / "models" / "model.pt")
    # clutter that must stay out of the release
    (bundle / "models" / "checkpoint_checkpoint_epoch=3.pt").write_bytes(b"resume checkpoint")
    (bundle / "output" / "runs").mkdir(parents=True)
    (bundle / "output" / "runs" / "events.out.tfevents.0").write_bytes(b"tb")
    (bundle / "configs" / "__pycache__").mkdir()
    (bundle / "configs" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"pyc")
    (bundle / "configs" / ".inference.json.swp").write_bytes(b"editor")
    (bundle / "configs" / "monailabel_train.json").write_text("{}")
    (bundle / "docs" / "figure.png").symlink_to(bundle / "LICENSE")
    return bundle


def _pack(bundle: Path, dist: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PACK), str(bundle), "--dist", str(dist), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _expected_members(name: str) -> set[str]:
    """What a release holds, listed independently of pack_bundle's walk: the regular files a user needs (the
    configs, the model and the model.json recording what it was trained on, the model card and its figures)."""
    source = bundle_dir(name)
    wanted = {f"configs/{p.name}" for p in (source / "configs").iterdir() if p.is_file()}
    wanted |= {"models/model.pt", "docs/README.md", "LICENSE"}
    wanted |= {f"models/{p.name}" for p in (source / "models").glob("*.json") if p.is_file()}
    docs = source / "docs"
    wanted |= {
        f"docs/{p.relative_to(docs).as_posix()}"
        for p in docs.rglob("*")
        if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in p.relative_to(docs).parts)
    }
    return {f"{name}/{m}" for m in wanted} | _package_members(name)


def _package_members(name: str) -> set[str]:
    """The package the configs import, carried into every release: its modules and data files, no caches."""
    package = REPO / "monai_tversky"
    return {
        f"{name}/{p.relative_to(REPO).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix in (".py", ".json") or p.name == "py.typed")
    }


def _source_of(bundle: Path, member: str) -> Path:
    """Where a zip member comes from: the package from the repository, everything else from the bundle."""
    rel = member.split("/", 1)[1]
    return REPO / rel if rel.startswith("monai_tversky/") else bundle / rel


#: Runs ``python -m monai.bundle ...`` with the repository's editable install of monai_tversky switched off (its
#: meta-path finder removed), so only a copy on sys.path (the downloaded bundle's) can be imported; prints where the
#: package came from at exit.
_ISOLATED = (
    "import atexit, runpy, sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if 'monai_tversky' not in repr(f)]; "
    "sys.path[:] = [p for p in sys.path if p != %r]; "
    "atexit.register(lambda: print('monai_tversky from', getattr(sys.modules.get('monai_tversky'), '__file__', None))); "
    "sys.argv = ['monai.bundle', *sys.argv[1:]]; runpy.run_module('monai.bundle', run_name='__main__')"
) % str(REPO)


@pytest.fixture(scope="module", params=BUNDLE_NAMES)
def release(request, tmp_path_factory):
    name = request.param
    root = tmp_path_factory.mktemp(f"pack_{name}")
    bundle = _release_candidate(root, name)
    zip_path = pack_bundle.pack_bundle(bundle, root / "dist")
    assert zip_path == root / "dist" / f"{name}_v{metadata(name)['version']}.zip"
    return bundle, zip_path


def test_zip_layout(release):
    bundle, zip_path = release
    assert zip_path.is_file()
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        assert names == _expected_members(bundle.name)
        for name in names:
            assert zf.read(name) == _source_of(bundle, name).read_bytes(), name
            assert not zf.getinfo(name).is_dir()
    digest, _, file = (zip_path.parent / f"{zip_path.name}.sha256").read_text().strip().partition("  ")
    assert file == zip_path.name
    assert digest == hashlib.sha256(zip_path.read_bytes()).hexdigest()


def test_zip_is_reproducible(release, tmp_path):
    bundle, zip_path = release
    os.utime(bundle / "configs" / "inference.json")  # a newer mtime must not change the archive
    again = pack_bundle.pack_bundle(bundle, tmp_path)
    assert again.read_bytes() == zip_path.read_bytes()


@pytest.mark.parametrize("missing", ["LICENSE", "models/model.pt", "docs/README.md"])
def test_incomplete_bundle_is_refused(release, tmp_path, missing):
    bundle = tmp_path / release[0].name
    shutil.copytree(release[0], bundle, symlinks=True)
    (bundle / missing).unlink()
    result = _pack(bundle, tmp_path / "dist", "--skip-verify")
    assert result.returncode == 1
    assert missing in result.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").glob("*.zip"))


def test_invalid_metadata_is_refused(release, tmp_path):
    bundle = tmp_path / release[0].name
    shutil.copytree(release[0], bundle, symlinks=True)
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    del meta["network_data_format"]
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(pack_bundle.BundleError, match="network_data_format"):
        pack_bundle.pack_bundle(bundle, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


def test_version_missing_from_changelog_is_refused(release, tmp_path):
    bundle = tmp_path / release[0].name
    shutil.copytree(release[0], bundle, symlinks=True)
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    meta["version"] = "9.9.9"
    (bundle / "configs" / "metadata.json").write_text(json.dumps(meta))
    result = _pack(bundle, tmp_path / "dist", "--skip-verify")
    assert result.returncode == 1
    assert "9.9.9" in result.stderr and "changelog" in result.stderr


def test_cli_packs_several_bundles_and_names_one_only(release, tmp_path):
    bundle = release[0]
    other = tmp_path / f"{bundle.name}_copy"
    shutil.copytree(bundle, other, symlinks=True)
    assert pack_bundle.main([str(bundle), str(other), "--dist", str(tmp_path / "dist")]) == 0
    version = metadata(bundle.name)["version"]
    assert sorted(p.name for p in (tmp_path / "dist").glob("*.zip")) == sorted(
        [f"{bundle.name}_v{version}.zip", f"{other.name}_v{version}.zip"]
    )
    with pytest.raises(SystemExit):  # --name is the top folder of one zip
        pack_bundle.main([str(bundle), str(other), "--dist", str(tmp_path / "dist2"), "--name", "x"])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server(release, monkeypatch):
    """Serve the dist folder on 127.0.0.1 (a free port) from a thread; shut down after the test."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    handler = functools.partial(_QuietHandler, directory=str(release[1].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:No hash value provided")  # monai.bundle.download takes no hash: checked below
def test_download_from_local_server_and_infer(release, http_server, tmp_path):
    bundle, zip_path = release
    name, tiny = bundle.name, tiny_overrides(bundle.name)
    # the command line builds the same archive the server serves
    result = _pack(bundle, tmp_path / "dist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dist" / zip_path.name).read_bytes() == zip_path.read_bytes()
    bundle_dir = tmp_path / "downloaded"
    url = f"{http_server}/{zip_path.name}"
    download(name=name, version=metadata(name)["version"], bundle_dir=str(bundle_dir), url=url, progress=False)
    digest = (zip_path.parent / f"{zip_path.name}.sha256").read_text().split()[0]
    assert hashlib.sha256((bundle_dir / f"{name}.zip").read_bytes()).hexdigest() == digest  # what was downloaded
    got = bundle_dir / name
    assert sorted(str(p.relative_to(bundle_dir)) for p in got.rglob("*") if p.is_file()) == sorted(
        m for m in _expected_members(name)
    )
    assert (got / "configs" / "metadata.json").read_bytes() == (bundle / "configs" / "metadata.json").read_bytes()

    # run the downloaded bundle's inference from its own folder on one phantom case (tiny network, as packed)
    if spatial_dims(name) == 2:
        phantom = generate_phantom_dataset_2d(
            tmp_path / "phantom", num_cases=2, kind=phantom_kind_2d(name), shape=tiny["phantom_shape"], seed=1,
            val_fraction=0.5, progress=False,
        )
    else:
        phantom = generate_phantom_dataset(
            tmp_path / "phantom", num_cases=2, shape=tiny["phantom_shape"], modalities=input_channels(name), seed=1,
            val_fraction=0.5, progress=False,
        )
    case = phantom["validation"][0]  # build_inference_datalist takes a datalist's "validation" before "training"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)

    def bundle_run(config: list[str], *args: str) -> str:
        """One workflow of the downloaded bundle, from its own folder, with only its own copy of the package."""
        files = "[" + ",".join(f"'configs/{c}'" for c in config) + "]"
        # the tiny overrides as a file, as ci/smoke_bundle passes them (a None on the command line would be refused)
        cmd = [sys.executable, "-c", _ISOLATED, "run", "--config_file", files, "--args_file", str(tiny_overrides_file(name))]
        result = subprocess.run([*cmd, *args], cwd=got, capture_output=True, text=True, env=env, timeout=900)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        assert f"monai_tversky from {got / 'monai_tversky' / '__init__.py'}" in result.stdout, result.stdout[-2000:]
        return result.stdout

    datalist = str(tmp_path / "phantom" / "datalist.json")
    # train.json: one tiny epoch on its own tiny phantom, into a scratch checkpoint folder (the release's model stays)
    bundle_run(["train.json"], "--ckpt_dir", str(tmp_path / "ckpt"))
    assert list((tmp_path / "ckpt").glob("*.pt")), "training saved no checkpoint"
    bundle_run(["inference.json"], "--input", datalist)
    bundle_run(["inference.json", "evaluate.json"], "--input", datalist, "--output_dir", str(tmp_path / "eval"))
    assert list((tmp_path / "eval").rglob("metrics.csv")), sorted(p.name for p in (tmp_path / "eval").rglob("*"))

    out = got / "output" / "inference"  # the downloaded bundle's own output folder, not the shell's
    stem = case["case_id"]  # one folder per case, named by the datalist's case id
    if spatial_dims(name) == 2:  # 8-bit PNGs of the image's size
        for postfix in ("prob", "seg"):
            saved = list(out.rglob(f"{stem}_{postfix}.png"))
            assert [p.relative_to(out).as_posix() for p in saved] == [f"{stem}/{stem}_{postfix}.png"], sorted(
                str(p) for p in out.rglob("*")
            )
            assert Image.open(saved[0]).size == Image.open(case["image"]).size
        seg = np.asarray(Image.open(next(out.rglob(f"{stem}_seg.png"))))
        assert set(np.unique(seg).tolist()) <= {0, 255}
        return
    first = nib.load(case["image"][0])
    for postfix in ("prob", "seg"):
        saved = list(out.rglob(f"{stem}_{postfix}.nii.gz"))
        assert [p.relative_to(out).as_posix() for p in saved] == [f"{stem}/{stem}_{postfix}.nii.gz"], sorted(
            str(p) for p in out.rglob("*")
        )
        img = nib.load(saved[0])
        assert img.shape == first.shape  # one channel: the lesion probability / mask
        np.testing.assert_allclose(img.affine, first.affine, atol=1e-6)
    seg = np.asarray(nib.load(next(out.rglob(f"{stem}_seg.nii.gz"))).dataobj)
    assert set(np.unique(seg).tolist()) <= {0, 1}


def test_verify_without_jsonschema_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # `import jsonschema` raises ImportError
    meta_file = bundle_dir(BUNDLE_NAMES[0]) / "configs" / "metadata.json"
    with pytest.raises(pack_bundle.BundleError, match=r'pip install -e "\.\[verify\]"'):
        pack_bundle.verify_metadata_offline(meta_file, metadata(BUNDLE_NAMES[0]))


def test_jsonschema_is_an_extra_not_a_core_requirement():
    """MONAI Label's pydicom-seg pins jsonschema<4: as a core requirement it made pip backtrack monailabel."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("jsonschema")]
    assert any(d.startswith("jsonschema") for d in project["optional-dependencies"]["verify"])
    assert any(d.startswith("jsonschema") for d in project["optional-dependencies"]["test"])
