"""No name from a user's datalist chooses a path outside the output folder (issue 19). ``safe_case_name`` and
``case_output_path`` against each trap, then every workflow that writes files named after a case, run with a datalist
of trap ids: inference (probability maps, masks, TTA variance maps), evaluation (the same plus the report's overlay
figures), and MONAI Label studies. Every file a run writes must lie inside its output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_catalog import BUNDLE_NAMES, bundle_parser, spatial_dims, tiny_overrides

from monai_tversky.data import (
    OutsideOutputFolderError,
    build_inference_datalist,
    case_output_path,
    safe_case_name,
)
from monai_tversky.serving.studies import write_monailabel_studies
from monai_tversky.metrics import LesionReport
from monai_tversky.transforms import case_output_name


@pytest.mark.parametrize(
    "case_id, expected",
    [
        ("Center_01/Patient_01", "Center_01_Patient_01"),  # the per-case folders' names as they always were
        ("/abs/path/victim", "abs_path_victim"),
        ("../../etc/passwd", "etc_passwd"),
        ("a/../../b", "a_b"),
        ("..\\..\\windows\\x", "windows_x"),
        ("./case", "case"),
        (".hidden", "hidden"),
        ("case.", "case"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1", "_com1"),
        ("ünï cödé", "ünï_cödé"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # NFC: the decomposed and the composed é give one name
        ("a:b*c?d|e<f>g\"h", "a_b_c_d_e_f_g_h"),
        ("tab\there\nnewline", "tab_here_newline"),
        (12, "12"),
    ],
)
def test_safe_case_name(case_id, expected):
    name = safe_case_name(case_id)
    assert name == expected
    assert "/" not in name and "\\" not in name and name not in ("", ".", "..")


@pytest.mark.parametrize("case_id", ["", "/", "..", "../..", "...", " ", "./", "\\"])
def test_ids_without_a_usable_name_are_refused(case_id):
    with pytest.raises(ValueError, match="gives no usable file name"):
        safe_case_name(case_id)


def test_long_ids_are_cut_and_stay_distinct():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(safe_case_name(a).encode()) <= 160 and safe_case_name(a) != safe_case_name(b)
    assert len(safe_case_name("é" * 200).encode()) <= 160  # cut on a character, not inside one


def test_case_output_path_stays_inside(tmp_path):
    out = tmp_path / "out"
    for case_id in ("/abs/victim", "../escape", "a/../../b", "CON", "x"):
        path = case_output_path(out, case_id, ".png", subfolder="overlays")
        assert path.parent == out / "overlays" and out.resolve() in path.resolve().parents
    with pytest.raises(ValueError, match="separator"):
        case_output_path(out, "x", "/../y.png")


def test_symbolic_links_out_of_the_folder_are_refused(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "linked").symlink_to(outside, target_is_directory=True)
    (out / "overlays").symlink_to(outside, target_is_directory=True)
    (out / "file.png").symlink_to(outside / "file.png")
    with pytest.raises(OutsideOutputFolderError, match="outside the output folder"):
        case_output_path(out, "linked")
    with pytest.raises(OutsideOutputFolderError):
        case_output_path(out, "x", ".png", subfolder="overlays")
    with pytest.raises(OutsideOutputFolderError):
        case_output_path(out, "file", ".png")
    inside = out / "inner"
    inside.mkdir()
    (out / "alias").symlink_to(inside, target_is_directory=True)
    assert case_output_path(out, "alias") == out / "alias"  # a link that stays inside is fine


def test_save_image_formatter_is_safe(tmp_path):
    from monai.transforms import SaveImage

    out = tmp_path / "out"
    saver = SaveImage(output_dir=str(out), output_postfix="prob", separate_folder=True, output_ext=".nii.gz")
    kwargs = case_output_name({"case_id": str(tmp_path / "victim")}, saver)
    written = Path(saver.folder_layout.filename(**kwargs))
    assert out.resolve() in written.resolve().parents and "victim" in written.name
    (tmp_path / "outside").mkdir()
    (out / "evil").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(OutsideOutputFolderError):
        case_output_name({"case_id": "evil"}, saver)


def test_report_overlays_stay_inside(tmp_path):
    """The issue's case: an evaluation item with case_id "/abs/path/victim" wrote /abs/path/victim.png."""
    victim = tmp_path / "victim"
    report = LesionReport(tmp_path / "report")
    pred = np.zeros((8, 8), np.uint8)
    pred[2:4, 2:4] = 1
    report.add_case(str(victim), pred, pred, overlay_slices="auto")
    report.add_case("../escape", pred, pred, overlay_slices="auto")
    assert not victim.with_suffix(".png").exists() and not (tmp_path / "escape.png").exists()
    assert all((tmp_path / "report" / "overlays").resolve() in p.resolve().parents for p in report.overlay_paths)
    with pytest.raises(ValueError, match="would write the same overlay files"):
        report.add_case("../../escape", pred, pred, overlay_slices="auto")
    pred3d = np.zeros((4, 8, 8), np.uint8)
    pred3d[1, 2:4, 2:4] = 1
    report.add_case("/x/y", pred3d, pred3d, overlay_slices="auto")
    assert report.overlay_paths[-1].parent == tmp_path / "report" / "overlays"
    assert report.overlay_paths[-1].name.startswith("x_y_axis")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _nifti_case(folder: Path, shape=(8, 8, 8)) -> dict:
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    label = np.zeros(shape, np.uint8)
    label[2:4, 2:4, 2:4] = 1
    nib.save(nib.Nifti1Image(image, np.eye(4)), str(folder / "FLAIR.nii.gz"))
    nib.save(nib.Nifti1Image(label, np.eye(4)), str(folder / "GT.nii.gz"))
    return {"image": [str(folder / "FLAIR.nii.gz")], "label": str(folder / "GT.nii.gz")}


def test_datalist_ids_are_checked_and_made_unique_by_output_name(tmp_path):
    case = _nifti_case(tmp_path / "in")
    items = [dict(case, case_id=i) for i in ("a/b", "a_b", "a b", "/x")]
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"testing": items}))
    named = build_inference_datalist(path, modalities=["FLAIR"], check="header")
    names = [safe_case_name(i["case_id"]) for i in named]
    assert names == ["a_b", "a_b_2", "a_b_3", "x"] and len(set(names)) == len(names)
    path.write_text(json.dumps({"testing": [dict(case, case_id="..")]}))
    with pytest.raises(ValueError, match=r"datalist item 0 .*gives no usable file name"):
        build_inference_datalist(path, modalities=["FLAIR"], check="header")


def test_monailabel_studies_stay_inside(tmp_path):
    case = _nifti_case(tmp_path / "in")
    victim = tmp_path / "victim"
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"testing": [dict(case, case_id=str(victim)), dict(case, case_id="../../up")]}))
    studies = tmp_path / "studies"
    before = _files(tmp_path)
    written = write_monailabel_studies(path, studies, modalities=["FLAIR"])
    new = _files(tmp_path) - before
    assert new and all(studies.resolve() in p.resolve().parents for p in new)
    assert {w["case_id"] for w in written} == {safe_case_name(victim), "up"}
    assert (studies / "labels" / "final" / "up.nii.gz").is_file() and not victim.with_suffix(".nii.gz").exists()


TRAP_IDS = ["{victim}", "../escape", "a/../../escape2", "CON", "ünï cödé", "a/b", "a_b"]


def _trap_datalist(name: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """A datalist JSON whose items are the bundle's tiny phantom cases under the trap ids (labels kept)."""
    tiny = {k: v for k, v in tiny_overrides(name).items() if k != "tta"}
    p = bundle_parser(name, "inference.json", **tiny, phantom_dir=str(tmp_path / "phantom"))
    phantom = p.get_parsed_content("datalist")  # generates the phantom; validation cases with labels
    ids = [t.format(victim=tmp_path / "victim") for t in TRAP_IDS]
    items = [{"image": phantom[i % len(phantom)]["image"], "label": phantom[i % len(phantom)]["label"], "case_id": c}
             for i, c in enumerate(ids)]  # fmt: skip
    path = tmp_path / "traps.json"
    path.write_text(json.dumps({"testing": items}, ensure_ascii=False))
    return path, ids


def _run_workflow(name: str, tmp_path: Path, configs: tuple[str, ...], out: Path, **overrides) -> None:
    """The bundle's inference (or inference + evaluate) on the trap datalist, in this process, untrained tiny net."""
    tiny = {k: v for k, v in tiny_overrides(name).items() if k != "tta"}
    datalist, _ = _trap_datalist(name, tmp_path)
    p = bundle_parser(name, *configs, **tiny, phantom_dir=str(tmp_path / "phantom"), **overrides)
    torch.save(p.get_parsed_content("network_def").state_dict(), tmp_path / "model.pt")
    for key, value in {"ckpt_path": str(tmp_path / "model.pt"), "input": str(datalist), "output_dir": str(out),
                       "device": torch.device("cpu"), "use_amp": False}.items():  # fmt: skip
        p[key] = value
    if spatial_dims(name) == 3:
        p["inferer#progress"] = False
    p.get_parsed_content("evaluator").run()


WORKFLOWS = [(n, ("inference.json", "evaluate.json"), {}) for n in BUNDLE_NAMES] + [
    (n, ("inference.json",), {"tta": "rot180", "save_uncertainty": True}) for n in BUNDLE_NAMES
    if spatial_dims(n) == 3
] + [("focal_tversky", ("inference.json",), {})]


@pytest.mark.slow
@pytest.mark.parametrize("name, configs, overrides", WORKFLOWS, ids=[f"{w[0]}-{w[1][-1][:-5]}" for w in WORKFLOWS])
def test_every_workflow_writes_only_inside_its_output_folder(name, configs, overrides, tmp_path):
    out = tmp_path / "out"
    _trap_datalist(name, tmp_path)  # phantom made before the snapshot
    before = _files(tmp_path)
    _run_workflow(name, tmp_path, configs, out, **overrides)
    new = _files(tmp_path) - before - {tmp_path / "model.pt", tmp_path / "traps.json"}
    outside = sorted(str(p) for p in new if out.resolve() not in p.resolve().parents)
    assert not outside, outside
    assert not (tmp_path / "victim").exists() and not list(tmp_path.glob("victim*"))
    assert not (tmp_path / "escape").exists() and not (tmp_path / "escape2").exists()
    folders = {p.name for p in out.iterdir() if p.is_dir() and p.name != "report"}
    expected = {safe_case_name(str(tmp_path / "victim")), "escape", "a_escape2", "_CON", "ünï_cödé", "a_b", "a_b_2"}
    assert folders == expected, folders
    for folder in folders:  # every case folder holds its own outputs, named after it
        assert any(f.name.startswith(f"{folder}_prob") for f in (out / folder).iterdir())
    if "evaluate.json" in configs:
        overlays = list((out / "report" / "overlays").iterdir())
        assert overlays and {o.name.split("_axis")[0].removesuffix(".png") for o in overlays} <= expected
    if overrides.get("save_uncertainty"):
        assert all(any("_tta_variance" in f.name for f in (out / d).iterdir()) for d in folders)


@pytest.mark.slow
def test_a_linked_case_folder_is_refused_in_a_bundle_run(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "escape").symlink_to(outside, target_is_directory=True)  # "../escape" names this folder
    with pytest.raises(Exception) as error:
        _run_workflow("tversky_unet3d", tmp_path, ("inference.json",), out)
    from monai_tversky.engines import root_cause

    assert isinstance(root_cause(error.value), OutsideOutputFolderError)
    assert not list(outside.iterdir())
    assert os.path.islink(out / "escape")
