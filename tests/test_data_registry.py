"""The shape of ``monai_tversky.data`` (issue 20): one layout registry for 2D and 3D, one data-source object that scans
a folder once, no import circle in the package, no private name imported across the data subpackages except from the
layouts' helpers module, and adding a layout is one file and one line (shown here with a toy layout)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bundle_catalog import REPO
from PIL import Image

import monai_tversky.data.layouts as layouts_pkg
from monai_tversky.data import (
    LAYOUTS,
    DataSource,
    Layout,
    build_inference_datalist,
    detect_layout,
    get_layout,
    layout_names,
    lesion_label_map,
)

PACKAGE = REPO / "monai_tversky"
HELPERS = "monai_tversky.data.layouts._helpers"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """``(module, [names])`` of every import in a module, at any depth (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names]))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in _imports(name, path):
            if not target.startswith("monai_tversky") or target == "monai_tversky":
                continue  # the root package only imports its subpackages to register their components
            for n in names:  # "from pkg import submodule" is an edge to the submodule
                if f"{target}.{n}" in modules:
                    graph[name].add(f"{target}.{n}")
            if target in modules and (not names or any(f"{target}.{n}" not in modules for n in names)):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or of one that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                result.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return result


def test_no_import_circle_in_the_package():
    graph = _graph()
    assert "monai_tversky.data.source" in graph["monai_tversky.data"]  # the graph is built (sub-module edges seen)
    assert _cycles(graph) == []
    # the check sees function-level imports (where the old layouts <-> layouts_wmh_brats circle hid)
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]


def test_no_private_name_crosses_the_data_modules():
    """Outside a module, nothing of ``monai_tversky.data`` is imported by a private name, and the only private
    module imported is the layouts' helpers module."""
    offenders = []
    for name, path in _modules().items():
        for target, names in _imports(name, path):
            if not target.startswith("monai_tversky.data"):
                continue
            private_module = any(part.startswith("_") for part in target.split(".")) and target != HELPERS
            private_names = [n for n in names if n.startswith("_")]
            if private_module or private_names:
                offenders.append(f"{name}: from {target} import {', '.join(names)}")
    assert offenders == []


def test_every_layout_module_ends_in_one_record_listed_once():
    folder = PACKAGE / "data" / "layouts"
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "_helpers", "layout"))
    assert sorted(layouts_pkg.LAYOUT_MODULES) == modules
    assert [x.name for x in LAYOUTS] == [getattr(layouts_pkg, m).LAYOUT.name for m in layouts_pkg.LAYOUT_MODULES]
    for dims in (2, 3):
        names = [x.name for x in LAYOUTS if x.spatial_dims == dims]
        assert len(names) == len(set(names))
        assert LAYOUTS[[x.name for x in LAYOUTS].index(names[-1])].detect(REPO)  # the catch-all comes last
    assert layout_names(3) == ("msseg2016", "isbi2015", "wmh2017", "brats", "folder")
    assert layout_names(2) == ("isic2018", "isic2017", "bus2017", "busi")  # the image folder serves inference only
    with pytest.raises(ValueError, match=r"layout must be one of \['auto', 'isic2018'.*'busi'\] but got 'msseg2016'"):
        get_layout("msseg2016", 2)


def _toy_2d(root: Path, n: int = 4) -> Path:
    (root / "scans").mkdir(parents=True)
    (root / "outlines").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (24, 32), dtype=np.uint8)).save(root / "scans" / f"s{i}.png")
        mask = np.zeros((24, 32), np.uint8)
        mask[5:10, 5:12] = 255
        Image.fromarray(mask).save(root / "outlines" / f"s{i}.png")
    return root


def test_a_new_layout_is_one_record_and_one_line(tmp_path, monkeypatch):
    """A layout a test writes in a few lines, put into the registry with one line, is detected, listed, split,
    checked and served for inference by the same code the bundles use."""
    from monai_tversky.data.layouts._helpers import existing_dir

    def items(root, channels, labels):
        out = []
        for p in sorted((root / "scans").glob("*.png")):
            item = {"image": str(p), "case_id": p.stem}
            if labels != "none":
                item["label"] = str(root / "outlines" / p.name)
            out.append(item)
        return out

    toy = Layout(name="toy", title="toy data set", spatial_dims=2, detect=lambda root: (root / "outlines").is_dir(),
                 items=items, kind="ultrasound")  # fmt: skip
    monkeypatch.setattr(layouts_pkg, "LAYOUTS", (*LAYOUTS[:-1], toy, LAYOUTS[-1]))  # the one line
    root = _toy_2d(tmp_path / "toy")
    assert detect_layout(root, spatial_dims=2) == "toy"
    source = DataSource(dataset_dir=root, spatial_dims=2)
    assert (source.layout_name, source.kind, source.channels) == ("toy", "ultrasound", ("US",))
    data = source.datalist(val_fraction=0.25, seed=0)
    assert len(data["training"]) == 3 and len(data["validation"]) == 1 and data["source"].startswith("toy data set")
    listed = build_inference_datalist(root, spatial_dims=2, require_label=True)
    assert [i["case_id"] for i in listed] == ["s0", "s1", "s2", "s3"] and all("label" in i for i in listed)
    assert existing_dir(root) == root.resolve()


def _ms_folder(root: Path, missing: dict[str, str] | None = None) -> Path:
    """Three cases of FLAIR, T1, T2 (+ GT); ``missing`` removes one modality from one case."""
    label = np.zeros((8, 8, 8), np.uint8)
    label[2:4, 2:4, 2:4] = 1
    for case in ("c1", "c2", "c3"):
        (root / case).mkdir(parents=True)
        for m in ("FLAIR", "T1", "T2"):
            if (missing or {}).get(case) == m:
                continue
            nib.save(nib.Nifti1Image(np.random.default_rng(1).normal(size=(8, 8, 8)).astype(np.float32), np.eye(4)),
                     str(root / case / f"{m}.nii.gz"))  # fmt: skip
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / case / "GT.nii.gz"))
    return root


def test_the_source_scans_a_folder_once(tmp_path, monkeypatch):
    root = _ms_folder(tmp_path / "cases")
    calls = {"detect": 0, "survey": 0}
    folder = get_layout("folder")
    real_survey = folder.survey

    def counting_survey(path):
        calls["survey"] += 1
        return real_survey(path)

    real_detect = layouts_pkg.detect_layout

    def counting_detect(*args, **kwargs):
        calls["detect"] += 1
        return real_detect(*args, **kwargs)

    import monai_tversky.data.source as source_module

    monkeypatch.setattr(source_module, "detect_layout", counting_detect)
    object.__setattr__(folder, "survey", counting_survey)  # a frozen record: patched for this test only
    try:
        source = DataSource(dataset_dir=root)
        for _ in range(3):  # what a train.json reads: channels, the source in words, the datalist (twice)
            assert source.channels == ("FLAIR", "T1", "T2")
            assert source.describe().startswith("folder of cases")
        first = source.datalist(val_fraction=0.34, seed=0, check="header")
        assert source.datalist(val_fraction=0.34, seed=0, check="header") is first
    finally:
        object.__setattr__(folder, "survey", real_survey)
    assert calls == {"detect": 1, "survey": 1}
    assert source.record()["left_out"] == {} and source.label_map(2).num_classes == 2


def test_auto_modalities_say_what_they_leave_out(tmp_path, caplog):
    """Issue 19, point 4: a folder where one case lacks T2 trains on the modalities every case has, and says so;
    asking for T2 stops naming the case."""
    root = _ms_folder(tmp_path / "cases", missing={"c2": "T2"})
    with caplog.at_level("WARNING", logger="monai_tversky"):
        source = DataSource(dataset_dir=root)
    assert source.channels == ("FLAIR", "T1")
    assert source.left_out == {"T2": ["c2"]} and source.record()["left_out"] == {"T2": ["c2"]}
    assert "left out: T2 (lacking in c2)" in caplog.text and "--modalities" in caplog.text
    explicit = DataSource(dataset_dir=root, modalities=["FLAIR", "T1", "T2"])
    with pytest.raises(FileNotFoundError, match=r"case 'c2' in .* has no image for modalities \['T2'\]"):
        explicit.datalist(check="header")


def test_label_maps_follow_the_layout_record():
    assert lesion_label_map("wmh2017", 2).ignore_index == -1
    assert lesion_label_map("brats", 4).target_values == (0, 1, 2, 3, 3)
    assert lesion_label_map("phantom", 3).class_names[2] == "white matter"
    assert lesion_label_map("busi", 2).class_names == {0: "background", 1: "lesion"}
    with pytest.raises(ValueError, match="num_classes must be 2"):
        lesion_label_map("wmh2017", 3)


def test_data_imports_nothing_from_serving():
    """``data/`` is below ``serving/`` (the MONAI Label studies command lives in ``serving/``): no upward import."""
    import ast
    from pathlib import Path

    import monai_tversky.data as data

    upward = []
    for path in Path(data.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            upward += [f"{path.name}: {n}" for n in names if n.startswith("monai_tversky.serving")]
    assert not upward, upward


def test_one_phantom_cache_for_both_generators(tmp_path):
    """The 3D and the 2D phantom data sets are written through the same cache (manifest, reuse, parameter check)."""
    from monai_tversky.data import generate_phantom_dataset, generate_phantom_dataset_2d
    from monai_tversky.data.phantoms import cache

    calls = []
    real = cache.cached_phantom_dataset

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    import monai_tversky.data.phantoms.datasets as datasets

    datasets.cached_phantom_dataset, saved = spy, datasets.cached_phantom_dataset
    try:
        generate_phantom_dataset(tmp_path / "ms", 2, (24, 24, 24), progress=False)
        generate_phantom_dataset_2d(tmp_path / "us", 2, kind="ultrasound", shape=(32, 32), progress=False)
    finally:
        datasets.cached_phantom_dataset = saved
    assert calls == [tmp_path / "ms", tmp_path / "us"]
    for folder in ("ms", "us"):
        manifest = json.loads((tmp_path / folder / cache.PHANTOM_MANIFEST).read_text())
        assert sorted(manifest["cases"]) == ["case_000", "case_001"]
    with pytest.raises(FileExistsError, match="kind: 'ultrasound' there, 'skin' now"):
        generate_phantom_dataset_2d(tmp_path / "us", 2, kind="skin", shape=(32, 32), progress=False)
