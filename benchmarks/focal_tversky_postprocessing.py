"""Can post-processing stop a focal_tversky model from marking lesions on normal breast ultrasound (issue 24)?

The shipped BUSI model flags 31 of the 36 normal test images (``focal_tversky_real_data.py``). This runs the bundle's
own ``inference.json`` (its sigmoid probabilities, ``*_prob.png``) on four sets: the split's ``validation`` lesion
images, the BUSI normal images that are in no section of the split (the split trains and validates on lesion images
only, so the model never saw them: the validation set for normal images), the ``testing`` lesion images and
``testing_normal``. It then scores simple rules on the probabilities: the 0.5 threshold alone; only the largest
connected component (MONAI's ``KeepLargestConnectedComponent``); components below a fraction of the image removed
(``RemoveSmallObjects``); the whole mask dropped when the image's highest probability is below a gate. A rule is
chosen on the validation sets by ``(1 - p) * mean lesion DSC + p * fraction of normal images left empty``, with ``p``
BUSI's share of normal images (133 of 780), and reported on the test sets.

    python benchmarks/real_data_splits.py --work /tmp/real2d
    OMP_NUM_THREADS=2 python benchmarks/focal_tversky_postprocessing.py --datalist /tmp/real2d/busi_datalist.json \\
        --work /work/runs/ft_postprocessing

Writes ``table.md`` in ``--work``. Connected components are 8-connected (``scipy.ndimage.label`` with a full
structure, as MONAI's ``connectivity=None``); ``postprocess`` labels them with scipy because MONAI's two transforms
need scikit-image on a CPU, which this project does not install.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from bundle_runs import BUNDLE_RUN, Timings, bundle_configs, environment_line, run_command, write_table

REPO = Path(__file__).resolve().parents[1]
#: BUSI's normal images among all its images (Al-Dhabyani et al. 2020: 133 normal, 437 benign, 210 malignant)
NORMAL_SHARE = 133 / 780
#: the rules scored: name -> keyword arguments of ``postprocess``
RULES: dict[str, dict[str, float | bool]] = {
    "threshold 0.5 (the bundle's)": {},
    "largest component": {"largest": True},
    **{f"components >= {f:g} % of the image": {"min_fraction": f / 100} for f in (0.1, 0.25, 0.5, 1, 2, 3)},
    **{f"image dropped if max probability < {g:g}": {"gate": g} for g in (0.7, 0.9, 0.95, 0.99)},
    **{f"largest component, dropped if max < {g:g}": {"largest": True, "gate": g} for g in (0.9, 0.99)},
}


def postprocess(
    prob: np.ndarray, threshold: float = 0.5, gate: float = 0.0, min_fraction: float = 0.0, largest: bool = False
) -> np.ndarray:
    """The lesion mask of a 2D probability map: ``prob > threshold``, emptied when ``prob.max() < gate``, without
    8-connected components smaller than ``min_fraction`` of the image, and only the largest one if ``largest``."""
    mask = prob > threshold
    if prob.max() < gate:
        return np.zeros_like(mask)
    if not (min_fraction > 0 or largest) or not mask.any():
        return mask
    labels, n = ndimage.label(mask, structure=np.ones((3,) * mask.ndim))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = sizes >= min_fraction * mask.size
    if largest:
        keep &= np.arange(n) == np.argmax(sizes)
    return np.isin(labels, 1 + np.flatnonzero(keep))


def dice(mask: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks; 1 when both are empty."""
    total = int(mask.sum() + truth.sum())
    return 1.0 if total == 0 else 2.0 * float((mask & truth).sum()) / total


def score(
    lesion: Sequence[tuple[np.ndarray, np.ndarray]],
    normal: Sequence[np.ndarray],
    rule: dict,
    share: float = NORMAL_SHARE,
) -> dict[str, float]:
    """A rule on (probability, truth) lesion images and normal-image probabilities: mean lesion DSC, normal images
    flagged (any lesion pixel) and their mean flagged area (%), and the objective the rule is chosen by."""
    dsc = float(np.mean([dice(postprocess(p, **rule), t) for p, t in lesion]))
    masks = [postprocess(p, **rule) for p in normal]
    flagged = sum(bool(m.any()) for m in masks)
    return {
        "dsc": dsc,
        "flagged": flagged,
        "normal": len(masks),
        "area": 100.0 * float(np.mean([m.mean() for m in masks])),
        "objective": (1 - share) * dsc + share * (1 - flagged / len(masks)),
    }


def read_mask(label: str | list[str], shape: tuple[int, ...]) -> np.ndarray:
    """The union of a case's mask PNGs (BUSI gives some lesions two masks) as a boolean array of ``shape``."""
    truth = np.zeros(shape, bool)
    for path in label if isinstance(label, list) else [label]:
        mask = np.asarray(Image.open(path)) > 0
        truth |= mask[..., 0] if mask.ndim == 3 else mask
    return truth


def unused_normals(datalist: Path, normal_dir: Path) -> list[dict[str, str]]:
    """The normal images of ``normal_dir/images`` (masks in ``normal_dir/masks``) that no section of the split holds."""
    content = json.loads(datalist.read_text())
    used = {item["case_id"] for section in content.values() if isinstance(section, list) for item in section}
    return [{"image": str(p), "label": str(normal_dir / "masks" / f"{p.stem}_mask.png"), "case_id": p.stem}
            for p in sorted((normal_dir / "images").glob("*.png")) if p.stem not in used]  # fmt: skip


def predict(items: list[dict], model: Path, out: Path, timings: Timings, name: str, modality: dict | None = None
            ) -> list[np.ndarray]:
    """The model's probability maps of ``items`` by ``inference.json`` (run once into ``out``), in ``items``' order."""
    from monai_tversky.data import safe_case_name

    if not (out / "done").is_file():
        out.mkdir(parents=True, exist_ok=True)
        (out / "datalist.json").write_text(json.dumps({"modality": modality, "testing": items}, indent=1))
        run_command([*BUNDLE_RUN, "--config_file", bundle_configs("focal_tversky", "inference.json"),
                     "--ckpt_path", str(model), "--output_dir", str(out), "--input", str(out / "datalist.json")],
                    out.parent / f"{out.name}.log", timings, name)  # fmt: skip
        (out / "done").write_text("")
    probs = []
    for item in items:
        path = next((out / safe_case_name(item["case_id"])).glob("*_prob.png"))
        probs.append(np.asarray(Image.open(path), np.float32) / 255.0)
    return probs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datalist", required=True, type=Path, help="the BUSI split (benchmarks/real_data_splits.py)")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--model", type=Path, default=REPO / "bundles/focal_tversky/models/model.pt")
    ap.add_argument("--normal-dir", type=Path, default=REPO.parent / "shared/data/busi_256/normal")
    args = ap.parse_args()
    work, timings = args.work.resolve(), Timings()
    content = json.loads(args.datalist.read_text())
    sets = {"validation lesion": content["validation"], "validation normal": unused_normals(args.datalist,
            args.normal_dir), "test lesion": content["testing"], "test normal": content["testing_normal"]}  # fmt: skip
    probs = {k: predict(v, args.model.resolve(), work / k.replace(" ", "_"), timings, f"inference, {k}",
                        content.get("modality")) for k, v in sets.items()}  # fmt: skip
    data = {}
    for split in ("validation", "test"):
        lesion = [(p, read_mask(item["label"], p.shape)) for p, item in zip(probs[f"{split} lesion"],
                                                                             sets[f"{split} lesion"])]  # fmt: skip
        data[split] = (lesion, probs[f"{split} normal"])
    results = {name: {split: score(*data[split], rule) for split in data} for name, rule in RULES.items()}
    chosen = max(results, key=lambda name: results[name]["validation"]["objective"])
    confident = sum(float(p.max()) >= 0.99 for p in probs["validation normal"])
    lines = [
        f"{args.model}: BUSI validation {len(sets['validation lesion'])} lesion + {len(sets['validation normal'])} "
        f"normal images (the normal ones in no section of the split), test {len(sets['test lesion'])} lesion + "
        f"{len(sets['test normal'])} normal. Objective = {1 - NORMAL_SHARE:.2f} x lesion DSC + {NORMAL_SHARE:.2f} x "
        f"normal images left empty. Chosen on validation: **{chosen}**. Validation normal images whose highest "
        f"probability is >= 0.99: {confident} of {len(sets['validation normal'])}. {environment_line()}.",
        "",
        "| Rule | val DSC | val normals flagged (area %) | val objective | test DSC | test normals flagged (area %) "
        "| test objective |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        v, t = r["validation"], r["test"]
        lines.append(f"| {name} | {v['dsc']:.4f} | {v['flagged']} / {v['normal']} ({v['area']:.2f}) | "
                     f"{v['objective']:.4f} | {t['dsc']:.4f} | {t['flagged']} / {t['normal']} ({t['area']:.2f}) | "
                     f"{t['objective']:.4f} |")  # fmt: skip
    write_table(work, lines, timings)


if __name__ == "__main__":
    main()
