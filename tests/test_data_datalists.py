"""Tests of load/save/split/build of MONAI-style datalists."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from monai.data import load_decathlon_datalist

from monai_tversky.data import (
    build_datalist,
    build_inference_datalist,
    load_datalist,
    save_datalist,
    split_datalist,
)

SHAPE = (24, 32, 32)


def _nifti(path: Path, shape=(6, 7, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.zeros(shape, dtype=np.float32), np.eye(4)), str(path))
    return path


def _write_json(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def test_load_datalist_resolves_relative_paths_against_the_json_folder(tmp_path):
    (tmp_path / "lists" / "case_a").mkdir(parents=True)
    content = {
        "modality": {"0": "FLAIR", "1": "T1"},
        "training": [
            {"image": ["case_a/FLAIR.nii.gz", "/abs/T1.nii.gz"], "label": "../labels/a.nii.gz", "case_id": "case_a"}
        ],
        "validation": [{"image": "~/b.nii.gz", "label": None}],
        "test": ["c.nii.gz"],
    }
    path = _write_json(tmp_path / "lists" / "datalist.json", content)
    loaded = load_datalist(path)
    base = tmp_path / "lists"
    assert loaded["training"][0]["image"] == [str(base / "case_a" / "FLAIR.nii.gz"), "/abs/T1.nii.gz"]
    assert loaded["training"][0]["label"] == str(tmp_path / "labels" / "a.nii.gz")
    assert loaded["training"][0]["case_id"] == "case_a"  # not turned into a path, although the folder exists
    assert loaded["validation"][0] == {"image": str(Path("~/b.nii.gz").expanduser()), "label": None}
    assert loaded["test"] == [{"image": str(base / "c.nii.gz")}]
    assert loaded["modality"] == content["modality"]
    # the image and label paths are those MONAI's own loader gives
    monai_items = load_decathlon_datalist(path, data_list_key="training")
    assert monai_items[0]["image"] == loaded["training"][0]["image"]
    assert monai_items[0]["label"] == loaded["training"][0]["label"]
    # an explicit base_dir
    other = load_datalist(path, base_dir=tmp_path)
    assert other["training"][0]["image"][0] == str(tmp_path / "case_a" / "FLAIR.nii.gz")


def test_load_datalist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_datalist(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_datalist(bad)
    with pytest.raises(ValueError, match="no list"):
        load_datalist(_write_json(tmp_path / "empty.json", {"name": "x"}))
    with pytest.raises(ValueError, match=r"training\[1\]"):
        load_datalist(_write_json(tmp_path / "item.json", {"training": [{"image": "a"}, {"label": "b"}]}))


def test_save_then_load_round_trip(tmp_path):
    datalist = {
        "training": [{"image": [str(tmp_path / "d" / "a.nii.gz")], "label": str(tmp_path / "d" / "l.nii.gz")}],
        "validation": [{"image": ["/elsewhere/x.nii.gz"], "label": "/elsewhere/y.nii.gz"}],
    }
    path = save_datalist(datalist, tmp_path / "d" / "list.json")
    on_disk = json.loads(path.read_text())
    assert on_disk["training"][0] == {"image": ["a.nii.gz"], "label": "l.nii.gz"}
    assert on_disk["validation"][0]["label"] == "/elsewhere/y.nii.gz"
    assert load_datalist(path) == datalist


def test_split_datalist():
    items = [{"image": f"{i}.nii", "case_id": str(i)} for i in range(10)]
    split = split_datalist(items, val_fraction=0.3, seed=1)
    assert len(split["validation"]) == 3 and len(split["training"]) == 7
    assert sorted(split["training"] + split["validation"], key=lambda x: int(x["case_id"])) == items
    assert split == split_datalist(items, val_fraction=0.3, seed=1)
    assert split != split_datalist(items, val_fraction=0.3, seed=2)
    assert [int(i["case_id"]) for i in split["training"]] == sorted(int(i["case_id"]) for i in split["training"])
    assert split_datalist(items, val_fraction=0.0)["validation"] == []
    assert len(split_datalist(items[:2], val_fraction=0.01)["validation"]) == 1  # at least one
    assert split_datalist(items[:1], val_fraction=0.5) == {"training": items[:1], "validation": []}
    with pytest.raises(ValueError):
        split_datalist(items, val_fraction=1.0)


def test_split_datalist_keeps_groups_together():
    items = [{"image": f"s{s}_t{t}", "subject_id": f"s{s}"} for s in range(5) for t in range(1 + s % 3)]
    for seed in range(5):
        split = split_datalist(items, val_fraction=0.4, seed=seed, group_key="subject_id")
        train = {i["subject_id"] for i in split["training"]}
        val = {i["subject_id"] for i in split["validation"]}
        assert not train & val and len(val) == 2 and train | val == {f"s{s}" for s in range(5)}
        assert len(split["training"]) + len(split["validation"]) == len(items)


def test_build_datalist_from_phantom(tmp_path):
    datalist = build_datalist(phantom_dir=tmp_path, phantom_cases=3, phantom_shape=SHAPE, progress=False)
    assert len(datalist["training"]) == 2 and len(datalist["validation"]) == 1
    assert datalist["modality"] == {"0": "FLAIR", "1": "T1", "2": "T1Gd", "3": "PD", "4": "T2"}
    again = build_datalist(
        dataset_dir="", datalist="", phantom_dir=tmp_path, phantom_cases=3, phantom_shape=SHAPE, progress=False
    )
    assert again == datalist
    two = build_datalist(
        phantom_dir=tmp_path / "two", phantom_cases=2, phantom_shape=SHAPE, modalities=("FLAIR", "T2"), progress=False
    )
    assert len(two["training"][0]["image"]) == 2


def test_build_datalist_from_json(tmp_path):
    cases = []
    for name in ("a", "b", "c", "d", "e"):
        _nifti(tmp_path / name / "FLAIR.nii.gz")
        _nifti(tmp_path / name / "T1.nii.gz")
        _nifti(tmp_path / name / "GT.nii.gz")
        cases.append({"image": [f"{name}/FLAIR.nii.gz", f"{name}/T1.nii.gz"], "label": f"{name}/GT.nii.gz"})
    path = _write_json(tmp_path / "list.json", {"training": cases, "modality": {"0": "FLAIR", "1": "T1"}})
    datalist = build_datalist(datalist=path, val_fraction=0.2, seed=0)
    assert len(datalist["training"]) == 4 and len(datalist["validation"]) == 1
    assert datalist["modality"] == {"0": "FLAIR", "1": "T1"}
    assert all(Path(p).is_absolute() for i in datalist["training"] for p in i["image"])
    # a validation section is used as it is
    path2 = _write_json(tmp_path / "list2.json", {"training": cases[:3], "validation": cases[3:]})
    datalist2 = build_datalist(datalist=path2, modalities=("FLAIR", "T1"))
    assert [Path(i["label"]).parent.name for i in datalist2["validation"]] == ["d", "e"]
    assert datalist2["source"] == f"datalist {path2.resolve()}"
    # without a "modality" entry the channels must be named: the network's input depends on them
    for auto in (None, "auto"):
        with pytest.raises(ValueError, match=r"has no \"modality\" entry.*pass --modalities"):
            build_datalist(datalist=path2, modalities=auto)
    # modalities that do not match the channels stop the build
    with pytest.raises(ValueError, match="2 image channel"):
        build_datalist(datalist=path2, modalities=("FLAIR", "T1", "T2"))


def test_build_datalist_from_dataset_dir(tmp_path):
    for subject, n_tp in (("training01", 3), ("training02", 2), ("training03", 1)):
        for tp in range(1, n_tp + 1):
            for stem in ("flair", "mprage", "pd", "t2"):
                _nifti(tmp_path / subject / "preprocessed" / f"{subject}_{tp:02d}_{stem}_pp.nii")
            _nifti(tmp_path / subject / "masks" / f"{subject}_{tp:02d}_mask1.nii")
    datalist = build_datalist(dataset_dir=tmp_path, val_fraction=0.34)
    assert datalist["modality"] == {"0": "FLAIR", "1": "T1", "2": "PD", "3": "T2"}
    val_subjects = {i["subject_id"] for i in datalist["validation"]}
    assert len(val_subjects) == 1 and not val_subjects & {i["subject_id"] for i in datalist["training"]}
    forced = build_datalist(dataset_dir=tmp_path, layout="isbi2015", modalities=("FLAIR", "MPRAGE"))
    assert len(forced["training"][0]["image"]) == 2


def test_build_datalist_errors(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        build_datalist(dataset_dir=tmp_path, datalist=tmp_path / "x.json")
    with pytest.raises(ValueError, match="phantom_dir"):
        build_datalist()
    with pytest.raises(ValueError, match="layout"):
        build_datalist(dataset_dir=tmp_path, layout="brats2021")
    with pytest.raises(FileNotFoundError):
        build_datalist(dataset_dir=tmp_path / "nowhere")


def test_build_inference_datalist(tmp_path):
    flair = _nifti(tmp_path / "in" / "p1_FLAIR.nii.gz")
    t1 = _nifti(tmp_path / "in" / "p1_T1.nii.gz")
    assert build_inference_datalist(tmp_path / "in") == [{"image": [str(flair), str(t1)], "case_id": "p1"}]
    assert build_inference_datalist(flair) == [{"image": str(flair), "case_id": "p1_FLAIR"}]
    assert build_inference_datalist([flair, t1]) == [{"image": [str(flair), str(t1)], "case_id": "p1_FLAIR"}]
    content = {"training": [{"image": "a.nii"}], "testing": [{"image": "b.nii"}]}
    path = _write_json(tmp_path / "in" / "list.json", content)
    # items without a case_id get one (the case folder and the file stem), used to name the outputs
    expected = [{"image": str(tmp_path / "in" / "b.nii"), "case_id": "in/b"}]
    assert build_inference_datalist(path, check=False) == expected
    expected = [{"image": str(tmp_path / "in" / "a.nii"), "case_id": "in/a"}]
    assert build_inference_datalist(path, section="training", check=False) == expected
    with pytest.raises(FileNotFoundError, match=r"case 'in/b'.*in/b\.nii"):  # checked up front by default
        build_inference_datalist(path)
    with pytest.raises(FileNotFoundError, match="missing"):
        build_inference_datalist(tmp_path / "missing.nii.gz")
    with pytest.raises(FileNotFoundError, match="gone"):
        build_inference_datalist([flair, tmp_path / "gone.nii.gz"])


def test_bundle_config_finds_build_datalist_by_short_name(tmp_path):
    from monai.bundle import ConfigParser

    config = {
        "imports": ["$import monai_tversky"],
        "phantom_dir": str(tmp_path),
        "datalist": {
            "_target_": "build_datalist",
            "dataset_dir": "",
            "datalist": None,
            "phantom_dir": "@phantom_dir",
            "phantom_cases": 2,
            "phantom_shape": [24, 32, 32],
            "progress": False,
        },
        "train_data": "$@datalist['training']",
    }
    parser = ConfigParser(config)
    direct = build_datalist(phantom_dir=tmp_path, phantom_cases=2, phantom_shape=SHAPE, progress=False)
    assert parser.get_parsed_content("train_data") == direct["training"]
