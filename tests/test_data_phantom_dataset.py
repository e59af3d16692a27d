"""Tests of monai_tversky.data.generate_phantom_dataset: files, datalist, caching and interruption safety."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_tversky.data import (
    PHANTOM_DATALIST,
    PHANTOM_MANIFEST,
    generate_phantom_dataset,
    load_datalist,
    make_ms_phantom,
)
from monai_tversky.data.phantoms import datasets as phantom_dataset_module

SHAPE = (24, 32, 32)
MODALITIES = ("FLAIR", "T1", "T1Gd", "PD", "T2")


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_files_layout_and_datalist(tmp_path):
    out = tmp_path / "phantom"
    datalist = generate_phantom_dataset(out, num_cases=3, shape=SHAPE, seed=5, progress=False)
    assert [i["case_id"] for i in datalist["training"]] == ["case_000", "case_001"]
    assert [i["case_id"] for i in datalist["validation"]] == ["case_002"]
    assert datalist["modality"] == {str(i): m for i, m in enumerate(MODALITIES)}
    for item in datalist["training"] + datalist["validation"]:
        assert [Path(p).name for p in item["image"]] == [f"{m}.nii.gz" for m in MODALITIES]
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in [*item["image"], item["label"]])
    # the JSON on disk holds relative paths; load_datalist resolves them to the returned ones
    on_disk = json.loads((out / PHANTOM_DATALIST).read_text())
    assert on_disk["training"][0]["label"] == "case_000/label.nii.gz"
    loaded = load_datalist(out / PHANTOM_DATALIST)
    assert loaded["training"] == datalist["training"] and loaded["validation"] == datalist["validation"]


def test_case_i_is_the_phantom_of_its_derived_seed(tmp_path):
    datalist = generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, seed=3, val_fraction=0.0, progress=False)
    item = datalist["training"][1]
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(1,)))
    image, label, affine = make_ms_phantom(SHAPE, seed=rng)
    for channel, path in zip(image, item["image"]):
        nii = nib.load(path)
        assert nii.get_data_dtype() == np.int16
        np.testing.assert_allclose(np.asarray(nii.dataobj), channel, atol=5e-4 + 1e-6)  # int16, scl_slope 0.001
        np.testing.assert_allclose(nii.affine, affine)
        assert nii.header["qform_code"] == 1 and nii.header["sform_code"] == 1
    lab = nib.load(item["label"])
    assert lab.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(lab.dataobj), label[0])


def test_second_call_reuses_without_rewriting(tmp_path):
    first = generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, progress=False)
    before = _mtimes(tmp_path)
    second = generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, progress=False)
    assert second == first
    assert _mtimes(tmp_path) == before


def test_more_cases_generates_only_the_new_ones(tmp_path):
    generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, val_fraction=0.0, progress=False)
    before = {k: v for k, v in _mtimes(tmp_path).items() if k.startswith("case_")}
    datalist = generate_phantom_dataset(tmp_path, num_cases=3, shape=SHAPE, val_fraction=0.0, progress=True)
    after = _mtimes(tmp_path)
    assert all(after[k] == v for k, v in before.items())
    assert len(datalist["training"]) == 3 and (tmp_path / "case_002" / "label.nii.gz").is_file()


def test_other_parameters_refuse_then_overwrite(tmp_path):
    generate_phantom_dataset(tmp_path, num_cases=1, shape=SHAPE, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="seed"):
        generate_phantom_dataset(tmp_path, num_cases=1, shape=SHAPE, seed=1, progress=False)
    old = nib.load(tmp_path / "case_000" / "FLAIR.nii.gz").get_fdata()
    generate_phantom_dataset(tmp_path, num_cases=1, shape=SHAPE, seed=1, overwrite=True, progress=False)
    new = nib.load(tmp_path / "case_000" / "FLAIR.nii.gz").get_fdata()
    assert not np.array_equal(old, new)
    assert json.loads((tmp_path / PHANTOM_MANIFEST).read_text())["params"]["seed"] == 1


def test_fewer_modalities_is_another_data_set(tmp_path):
    generate_phantom_dataset(tmp_path / "a", num_cases=1, shape=SHAPE, modalities=("FLAIR", "GADO"), progress=False)
    names = sorted(p.name for p in (tmp_path / "a" / "case_000").iterdir())
    assert names == ["FLAIR.nii.gz", "T1Gd.nii.gz", "label.nii.gz"]
    with pytest.raises(FileExistsError, match="modalities"):
        generate_phantom_dataset(tmp_path / "a", num_cases=1, shape=SHAPE, progress=False)


def test_interrupted_run_resumes(tmp_path, monkeypatch):
    real_write_case = phantom_dataset_module._write_case
    calls = []

    def failing_write_case(root, name, index, params):
        calls.append(name)
        if index == 1:
            raise KeyboardInterrupt  # the user pressed Ctrl-C while case 1 was being generated
        return real_write_case(root, name, index, params)

    monkeypatch.setattr(phantom_dataset_module, "_write_case", failing_write_case)
    with pytest.raises(KeyboardInterrupt):
        generate_phantom_dataset(tmp_path, num_cases=3, shape=SHAPE, progress=False)
    manifest = json.loads((tmp_path / PHANTOM_MANIFEST).read_text())
    assert list(manifest["cases"]) == ["case_000"]
    assert not (tmp_path / PHANTOM_DATALIST).exists()
    case0 = (tmp_path / "case_000" / "FLAIR.nii.gz").stat().st_mtime_ns

    monkeypatch.setattr(phantom_dataset_module, "_write_case", real_write_case)
    datalist = generate_phantom_dataset(tmp_path, num_cases=3, shape=SHAPE, progress=False)
    assert (tmp_path / "case_000" / "FLAIR.nii.gz").stat().st_mtime_ns == case0
    assert len(datalist["training"]) + len(datalist["validation"]) == 3
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_damaged_case_is_regenerated(tmp_path):
    generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, progress=False)
    damaged = tmp_path / "case_001" / "T2.nii.gz"
    damaged.write_bytes(damaged.read_bytes()[:100])
    untouched = (tmp_path / "case_000" / "T2.nii.gz").stat().st_mtime_ns
    generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, progress=False)
    assert (tmp_path / "case_000" / "T2.nii.gz").stat().st_mtime_ns == untouched
    assert nib.load(damaged).get_fdata().shape == SHAPE


def test_unrelated_files_are_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    generate_phantom_dataset(tmp_path, num_cases=1, shape=SHAPE, progress=False)
    generate_phantom_dataset(tmp_path, num_cases=1, shape=SHAPE, seed=9, overwrite=True, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "kwargs", [{"num_cases": 0}, {"seed": -1}, {"seed": None}, {"val_fraction": 1.0}, {"shape": (8, 8, 8)}]
)
def test_invalid_arguments(tmp_path, kwargs):
    args = {"num_cases": 1, "shape": SHAPE, **kwargs}
    with pytest.raises(ValueError):
        generate_phantom_dataset(tmp_path, **args)
    assert not any(tmp_path.iterdir())  # nothing written before the arguments are checked


def test_relocatable(tmp_path):
    generate_phantom_dataset(tmp_path / "a", num_cases=1, shape=SHAPE, progress=False)
    os.rename(tmp_path / "a", tmp_path / "b")
    datalist = load_datalist(tmp_path / "b" / PHANTOM_DATALIST)
    assert all(Path(p).is_file() for p in datalist["training"][0]["image"])
    assert str(tmp_path / "b") in datalist["training"][0]["label"]


def test_concurrent_callers_generate_once(tmp_path, monkeypatch):
    # two ranks of a torchrun job asking for the same data set: the file lock makes the second one reuse the first's
    real_write_case = phantom_dataset_module._write_case
    written = []

    def counting_write_case(root, name, index, params):
        written.append(name)
        return real_write_case(root, name, index, params)

    monkeypatch.setattr(phantom_dataset_module, "_write_case", counting_write_case)
    results = [None, None]

    def call(slot):
        results[slot] = generate_phantom_dataset(tmp_path, num_cases=2, shape=SHAPE, progress=False)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(written) == ["case_000", "case_001"]
    assert results[0] is not None and results[0] == results[1]
