"""Cost of drawing training patches from a whole brain volume (issue 24): ``RandLesionPatchd`` counting the lesion
voxels of every patch position on every draw, against the same draws from positions counted once per image
(``LesionPatchIndicesd`` before the ``CacheDataset`` cache, what the 3D bundles' ``train.json`` now do), and MONAI's
``RandCropByPosNegLabeld`` with ``FgBgToIndicesd``'s precomputed indices (the MONAI way, which cannot ask for a
minimum number of lesion voxels per patch: its positive patches are centred on any lesion voxel).

Two levels, each timed side by side, variants interleaved within each round, median over the rounds after a warm-up
(``../shared/BENCHMARKING.md``):

- ``draw``: the cropping transform alone on the decoded volume (8 patches of 32^3, half on lesions, half centred on
  lesion-free brain: the robust recipe's draw);
- ``fetch``: one item of the bundle's own training pipeline (``train#dataset`` of its ``train.json``: the patches
  drawn from the cached volume, augmented): as configured now (the positions precomputed, the cache handed out
  without a copy, ``copy_cache=False``), with the cached item deep-copied first (MONAI's default, what the bundles
  did before), and with neither.

    OMP_NUM_THREADS=1 python benchmarks/lesion_patch_sampling.py --case ../shared/data/open_ms_p19 --rounds 10

Prints the table (seconds, ratio to the per-draw count) and writes it to ``--out`` (JSON) when given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from monai.transforms import FgBgToIndicesd, RandCropByPosNegLabeld

from monai_tversky.transforms import LesionPatchIndicesd, RandLesionPatchd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CASE = REPO.parent / "shared" / "data" / "open_ms_p19"


def load_case(folder: Path, modalities: list[str]) -> dict[str, torch.Tensor]:
    image = [nib.load(str(folder / f"{m}.nii.gz")).get_fdata(dtype=np.float32) for m in modalities]
    label = nib.load(str(folder / "GT.nii.gz")).get_fdata(dtype=np.float32)
    return {"image": torch.as_tensor(np.stack(image)), "label": torch.as_tensor(label[None])}


def draw_variants(case: dict, patch: int, samples: int) -> dict:
    """The cropping transform alone: ``{name: (prepare, draw)}``; ``prepare`` (None: nothing) runs once, as at
    caching."""
    lesion = {"spatial_size": patch, "min_lesion_voxels": 10, "pos": 1.0, "neg": 1.0, "image_key": "image"}
    per_draw = RandLesionPatchd(["image", "label"], "label", num_samples=samples, **lesion).set_random_state(0)
    cached = RandLesionPatchd(["image", "label"], "label", num_samples=samples, indices_key="idx",
                              **lesion).set_random_state(0)  # fmt: skip
    monai_crop = RandCropByPosNegLabeld(
        ["image", "label"], "label", spatial_size=patch, pos=1, neg=1, num_samples=samples, image_key="image",
        fg_indices_key="label_fg_indices", bg_indices_key="label_bg_indices",
    ).set_random_state(0)
    return {
        "RandLesionPatchd, positions counted per draw (before)": (None, per_draw),
        "RandLesionPatchd + LesionPatchIndicesd (now)": (
            lambda: LesionPatchIndicesd("label", indices_key="idx", **lesion)(case), cached),
        "MONAI RandCropByPosNegLabeld + FgBgToIndicesd": (
            lambda: FgBgToIndicesd("label", image_key="image")(case), monai_crop),
    }  # fmt: skip


def bundle_datasets(bundle: str, case_dir: Path, work: Path, overrides: dict) -> dict:
    """The bundle's ``train#dataset`` on one case: without the precomputed positions and with the cache copied per
    item (``before``), with the positions and the copy, and as configured (``now``)."""
    from monai.bundle import ConfigParser

    data_dir = work / "cases"
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / case_dir.name
    if not link.exists():
        link.symlink_to(case_dir.resolve())
    out = {}
    for i, name in enumerate(("before", "positions precomputed, cache copied", "now")):
        parser = ConfigParser()
        parser.read_config(str(REPO / "bundles" / bundle / "configs" / "train.json"))
        parser.read_meta(str(REPO / "bundles" / bundle / "configs" / "metadata.json"))
        parser["bundle_root"] = str(REPO / "bundles" / bundle)
        run = work / f"run{i}"
        settings = {"output_dir": str(run), "ckpt_dir": str(run / "models"), "dataset_dir": str(data_dir),
                    "num_workers": 0, "val_fraction": 0.0, "device": torch.device("cpu"), **overrides}  # fmt: skip
        for key, value in settings.items():
            parser[key] = value
        if name != "now":
            parser["train#dataset#copy_cache"] = True
        if name == "before":
            transforms = parser["train#random_transforms"]
            parser["train#random_transforms"] = [t for t in transforms if t["_target_"] != "LesionPatchIndicesd"]
            for t in parser["train#random_transforms"]:
                t.pop("indices_key", None)
        parser["train#dataset#data"] = parser.get_parsed_content("data")["training"][:1] or parser.get_parsed_content(
            "data")["validation"][:1]
        out[name] = parser.get_parsed_content("train#dataset")
        if name == "now" and out[name].copy_cache is not False:
            raise SystemExit(f"{bundle}'s train#dataset copies its cache (copy_cache {out[name].copy_cache!r}): "
                             "this benchmark's 'now' row assumes train.json sets copy_cache false")
    return out


def interleaved(calls: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a patient folder (FLAIR.nii.gz, ..., GT.nii.gz)")
    ap.add_argument("--bundle", default="tversky_unet3d", choices=("tversky_unet3d", "msseg", "generalised_dice"))
    ap.add_argument("--modalities", nargs="+", default=["FLAIR", "T1", "T1POST", "T2"])
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.case / "GT.nii.gz").is_file():
        raise SystemExit(f"{args.case} holds no GT.nii.gz: give --case a patient folder of the open MS data.")

    case = load_case(args.case, args.modalities)
    rows = {}
    calls, prepare_s = {}, {}
    for name, (prepare, transform) in draw_variants(case, args.patch, args.samples).items():
        prepared = case
        if prepare is not None:
            start = time.perf_counter()
            prepared = prepare()
            prepare_s[name] = time.perf_counter() - start
        calls[name] = (lambda t, d: lambda: t(d))(transform, prepared)
    rows["draw"] = interleaved(calls, args.rounds, args.warmup)

    overrides = {"patch_size": [args.patch] * 3, "patches_per_image": args.samples, "recipe": "robust"}
    with tempfile.TemporaryDirectory() as tmp:
        datasets = bundle_datasets(args.bundle, args.case, Path(tmp), overrides)
        rows["fetch"] = interleaved({f"{args.bundle} train#dataset[0], {k}": (lambda ds: lambda: ds[0])(ds)
                                     for k, ds in datasets.items()}, args.rounds, args.warmup)  # fmt: skip

    shape = tuple(case["label"].shape[1:])
    print(f"case {args.case.name} {shape}, {int(case['label'].sum())} lesion voxels; {args.samples} patches of "
          f"{args.patch}^3 per draw, half on lesions; {args.threads} thread(s); median of {args.rounds} rounds")
    report = {}
    for level, times in rows.items():
        base = statistics.median(next(iter(times.values())))
        print(f"\n{level}:")
        print(f"| variant | median s | min s | speed-up | once per image s |\n|---|---|---|---|---|")
        for name, t in times.items():
            med = statistics.median(t)
            once = prepare_s.get(name)
            print(f"| {name} | {med:.4f} | {min(t):.4f} | {base / med:.1f}x | {'' if once is None else f'{once:.3f}'} |")
            report.setdefault(level, {})[name] = {"median_s": med, "min_s": min(t), "speedup": base / med,
                                                  "once_per_image_s": once}  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
