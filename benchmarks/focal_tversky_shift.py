"""How much a focal_tversky model keeps under an image shift another hospital's scanner could bring (issue 24): the
BUSI test split as it is, and the same images with one change each (darker or brighter gamma, lower contrast, a
brightness offset, blur, speckle-like multiplicative noise, half the resolution), every model scored on every
version by the bundle's own ``inference.json`` + ``evaluate.json``. A proxy for another site, which we do not have:
no shift here moves the anatomy, the probe or the annotators.

    python benchmarks/real_data_splits.py --work /tmp/real2d
    OMP_NUM_THREADS=2 python benchmarks/focal_tversky_shift.py --datalist /tmp/real2d/busi_datalist.json \\
        --work /work/runs/busi_shift --model shipped=bundles/focal_tversky/models/model.pt \\
        --model new=/work/runs/busi_paper_aug/attn_unet_multiinput_ftl/models/model.pt

Each ``--model NAME=PATH`` is a ``model.pt`` with its ``model.json`` beside it (the network is built from it).
Prints the mean test DSC per model and shift (and the change from the unshifted images) and writes ``table.md``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from bundle_runs import Timings, environment_line, evaluate, read_summary, write_table

BUNDLE = "focal_tversky"


def _gamma(g: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    return lambda x, _: 255.0 * (x / 255.0) ** g


#: name -> f(image as float 0..255, rng) -> image; each a change a scanner, its settings or its export could make
SHIFTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "none": lambda x, _: x,
    "gamma 0.67 (brighter mid-tones)": _gamma(0.67),
    "gamma 1.5 (darker mid-tones)": _gamma(1.5),
    "contrast x0.7 about the mean": lambda x, _: x.mean() + 0.7 * (x - x.mean()),
    "brightness +25": lambda x, _: x + 25.0,
    "blur (Gaussian, 1.5 px at 256 px)": lambda x, _: np.asarray(
        Image.fromarray(x.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5)), np.float32),
    "speckle (x Rayleigh-like noise, sd 0.2)": lambda x, rng: x * rng.normal(1.0, 0.2, x.shape).clip(0.2, None),
    "half resolution (down and up)": lambda x, _: np.asarray(
        Image.fromarray(x.clip(0, 255).astype(np.uint8)).resize((x.shape[1] // 2, x.shape[0] // 2), Image.BILINEAR)
        .resize((x.shape[1], x.shape[0]), Image.BILINEAR), np.float32),
}  # fmt: skip


def shifted_datalist(datalist: Path, shift: str, folder: Path, seed: int = 0) -> Path:
    """A datalist of the split's ``testing`` images with ``shift`` applied (grayscale PNGs in ``folder``), the masks
    unchanged. Made once."""
    path = folder / "datalist.json"
    if path.is_file():
        return path
    content = json.loads(datalist.read_text())
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for item in content["testing"]:
        image = np.asarray(Image.open(item["image"]).convert("L"), np.float32)
        out = folder / f"{Path(item['image']).stem}.png"
        Image.fromarray(SHIFTS[shift](image, rng).clip(0, 255).round().astype(np.uint8)).save(out)
        items.append({**item, "image": str(out)})
    path.write_text(json.dumps({"modality": content.get("modality"), "testing": items}, indent=1))
    return path


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.split(" (")[0]).strip("_")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datalist", required=True, type=Path, help="the BUSI split (benchmarks/real_data_splits.py)")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--model", action="append", required=True, help="NAME=path/to/model.pt (model.json beside it)")
    ap.add_argument("--shifts", nargs="*", default=list(SHIFTS), help=f"a subset of: {list(SHIFTS)}")
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    for name, path in models.items():
        if not Path(path).is_file() or not (Path(path).parent / "model.json").is_file():
            raise SystemExit(f"--model {name}={path}: no model.pt with its model.json beside it there.")
    unknown = sorted(set(args.shifts) - set(SHIFTS))
    if unknown:
        raise SystemExit(f"unknown shift(s) {unknown}; choose from {list(SHIFTS)}")
    work = args.work.resolve()
    timings = Timings()
    dsc: dict[str, dict[str, float]] = {}
    for shift in args.shifts:
        data = shifted_datalist(args.datalist.resolve(), shift, work / "images" / _slug(shift))
        for name, path in models.items():
            report = evaluate(BUNDLE, Path(path).resolve(), work / "eval" / name / _slug(shift),
                              ["--input", str(data)], timings, f"{name} on {shift}")  # fmt: skip
            dsc.setdefault(name, {})[shift] = float(read_summary(report)["dsc"]["mean"])
    names = list(models)
    header = ["shift", *(f"{n}: DSC (change)" for n in names)]
    lines = [
        f"BUSI test split ({args.datalist.name}), each image changed as the row says; mean DSC over the images, the "
        f"change from the unchanged images in brackets. Models: "
        + "; ".join(f"{n} = {p}" for n, p in models.items()) + f". {environment_line()}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for shift in args.shifts:
        cells = []
        for n in names:
            base = dsc[n].get("none")
            change = "" if base is None or shift == "none" else f" ({dsc[n][shift] - base:+.3f})"
            cells.append(f"{dsc[n][shift]:.3f}{change}")
        lines.append(f"| {shift} | " + " | ".join(cells) + " |")
    if len(args.shifts) > 1:
        lines.append("| mean over the changed versions | " + " | ".join(
            f"{np.mean([dsc[n][s] for s in args.shifts if s != 'none']):.3f}" for n in names) + " |")
    write_table(work, lines, timings)


if __name__ == "__main__":
    main()
