"""CPU training-step speed of each bundle, measured side by side (issue 21): the bundle's own network, loss, optimiser
and a batch from its own training data loader, one training step (forward, loss, backward, optimiser step) timed per
variant, variants interleaved within each round, minimum and median over the rounds after a warm-up
(``../shared/BENCHMARKING.md``):

- ``fp32``: the step as the bundle ran it before (float32, the default contiguous layout);
- ``bf16``: the forward pass under ``torch.autocast("cpu", torch.bfloat16)`` (``AutocastInferer``; the backward
  follows); the loss is computed in float32;
- ``cl``: channels-last (``channels_last`` / ``channels_last_3d``) network and inputs;
- ``bf16+cl``: both (what the bundles' ``cpu_bf16`` and ``channels_last`` turn on);
- ``compile``, ``bf16+cl+compile``: the same under ``torch.compile`` (its compile time reported apart).

The effect on the loss curve: ``--curve-steps N`` trains every variant for N steps from the same initial weights on
the same batches (cycled) and reports the mean and last losses beside fp32's, and the steps skipped for non-finite
gradients (as the bundles' ``SkipNonFiniteGradients`` skips them: bf16 3D convolutions on 2-voxel maps glitch). The data loading cost is reported per
step for the bundle's cached pipeline (``CacheDataset``: decoded, resized images kept; the random crop / flips run per
step) against the same transforms uncached (``Dataset``: every file read and decoded again).

    # the model card's figures (one thread each; each bundle at its configured defaults):
    OMP_NUM_THREADS=1 python benchmarks/cpu_training_speed.py --bundle focal_tversky --threads 1 2 --curve-steps 60
    python benchmarks/cpu_training_speed.py --bundle msseg --override '{"patch_size": [32, 32, 32]}'
    # a quick check that it runs:
    python benchmarks/cpu_training_speed.py --bundle focal_tversky --quick

Prints one table per bundle (step time in seconds, ratio to fp32 at the same thread count) and writes it to
``--out`` (JSON) when given.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("fp32", "bf16", "cl", "bf16+cl", "compile", "bf16+cl+compile")
QUICK_OVERRIDES = {
    "focal_tversky": {"features": [4, 8, 16, 32, 64], "phantom_cases": 8, "phantom_shape": [64, 64],
                      "spatial_size": [64, 64], "batch_size": 4},
    "msseg": {"phantom_cases": 3, "phantom_shape": [32, 32, 32], "patch_size": [16, 16, 16], "batch_size": 1,
              "patches_per_image": 2},
    "tversky_unet3d": {"phantom_cases": 3, "phantom_shape": [32, 32, 32], "patch_size": [16, 16, 16],
                       "batch_size": 1, "patches_per_image": 2},
    "generalised_dice": {"phantom_cases": 3, "phantom_shape": [32, 32, 32], "patch_size": [16, 16, 16],
                         "batch_size": 1, "patches_per_image": 1, "features": [4, 4, 8]},
}  # fmt: skip


def bundle_parts(bundle: str, overrides: dict, work: Path):
    """The bundle's network, loss, optimiser and training data loader, from its ``configs/train.json``."""
    from monai.bundle import ConfigParser

    configs = REPO / "bundles" / bundle / "configs"
    parser = ConfigParser()
    parser.read_config(str(configs / "train.json"))
    parser.read_meta(str(configs / "metadata.json"))
    parser["bundle_root"] = str(REPO / "bundles" / bundle)
    settings = {"output_dir": str(work / "out"), "ckpt_dir": str(work / "models"), "phantom_dir": str(work / "phantom"),
                "num_workers": 0, "device": torch.device("cpu"), **overrides}  # fmt: skip
    for key, value in settings.items():
        parser[key] = value
    network = parser.get_parsed_content("network")
    loss = parser.get_parsed_content("loss")  # every bundle's loss object (the model zoo's name)
    optimizer = parser.get_parsed_content("optimizer")
    return parser, network, loss, optimizer


def fresh(network, optimizer):
    """A copy of the network with the same weights and a new optimiser of the same kind and settings."""
    net = copy.deepcopy(network).train()
    return net, type(optimizer)(net.parameters(), **optimizer.defaults)


def make_step(variant: str, network, optimizer, loss_fn, ndim: int):
    """The training step of one variant, as SupervisedTrainer runs it with the variant's inferer."""
    from monai_tversky.inferers import AutocastInferer

    net, opt = fresh(network, optimizer)
    inferer = AutocastInferer(enabled="bf16" in variant, channels_last="cl" in variant)
    model = torch.compile(net) if "compile" in variant else net

    def step(batch) -> float:
        inputs, targets = batch
        outputs = inferer(inputs, model)
        loss = loss_fn(outputs, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None):
            step.skipped += 1  # as the bundles' SkipNonFiniteGradients handler: no step from non-finite gradients
            opt.zero_grad(set_to_none=True)
        opt.step()
        return float(loss.detach())

    step.skipped = 0
    return step


def time_variants(variants, network, optimizer, loss_fn, batches, rounds: int, warmup: int) -> dict:
    ndim = batches[0][0].ndim
    steps, compile_s, failed = {}, {}, {}
    for v in variants:
        try:
            steps[v] = make_step(v, network, optimizer, loss_fn, ndim)
            start = time.perf_counter()
            for i in range(warmup):
                steps[v](batches[i % len(batches)])
            if "compile" in v:
                compile_s[v] = time.perf_counter() - start
        except Exception as e:  # noqa: BLE001 - a variant that cannot run is reported, not fatal
            failed[v] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            steps.pop(v, None)
    times: dict[str, list[float]] = {v: [] for v in steps}
    for r in range(rounds):
        for v in steps:  # interleaved: every variant once per round
            batch = batches[r % len(batches)]
            start = time.perf_counter()
            steps[v](batch)
            times[v].append(time.perf_counter() - start)
    return {"times": times, "compile_s": compile_s, "failed": failed}


def loss_curves(variants, network, optimizer, loss_fn, batches, n: int) -> dict:
    curves = {}
    for v in variants:
        torch.manual_seed(0)
        try:
            step = make_step(v, network, optimizer, loss_fn, batches[0][0].ndim)
            curves[v] = [step(batches[i % len(batches)]) for i in range(n)]
            curves[f"{v} skipped"] = step.skipped
        except Exception as e:  # noqa: BLE001
            curves[v] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return curves


def data_time(parser, n: int) -> dict:
    """Seconds per batch from the bundle's training loader (cached) and from the same transforms uncached."""
    from monai.data import DataLoader, Dataset

    loader = parser.get_parsed_content("train#dataloader")
    uncached = DataLoader(Dataset(parser.get_parsed_content("train#dataset").data,
                                  transform=parser.get_parsed_content("train#preprocessing")),
                          batch_size=loader.batch_size, shuffle=False, num_workers=0)  # fmt: skip
    result = {}
    for name, dl in (("cached", loader), ("uncached", uncached)):
        start, count = time.perf_counter(), 0
        for _ in dl:
            count += 1
            if count >= n:
                break
        result[name] = (time.perf_counter() - start) / max(count, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", action="append", help="bundle name (repeat; default: every bundle)")
    ap.add_argument("--override", default="{}", help="JSON of top-level keys for every bundle (e.g. a smaller patch)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--threads", nargs="+", type=int, default=[1])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batches", type=int, default=4, help="distinct training batches drawn from the loader")
    ap.add_argument("--curve-steps", type=int, default=0, help="steps of the loss-curve comparison (0: none)")
    ap.add_argument("--data-batches", type=int, default=4, help="batches timed for the data-loading comparison")
    ap.add_argument("--quick", action="store_true", help="tiny data and networks, 2 rounds: checks that it runs")
    ap.add_argument("--out", default="", help="write the results as JSON here")
    args = ap.parse_args()
    bundles = args.bundle or sorted(p.parent.parent.name for p in (REPO / "bundles").glob("*/configs/train.json"))
    from monai_tversky.inferers import cpu_supports_bf16

    print(f"torch {torch.__version__}, native bf16 on this CPU: {cpu_supports_bf16()}")
    results = {}
    for bundle in bundles:
        overrides = {**(QUICK_OVERRIDES.get(bundle, {}) if args.quick else {}), **json.loads(args.override)}
        with tempfile.TemporaryDirectory() as tmp:
            parser, network, loss_fn, optimizer = bundle_parts(bundle, overrides, Path(tmp))
            loader = parser.get_parsed_content("train#dataloader")
            batches = []
            for batch in loader:
                batches.append((batch["image"].as_tensor().float(), batch["label"].as_tensor().float()))
                if len(batches) >= args.batches:
                    break
            shape = tuple(batches[0][0].shape)
            rounds = 2 if args.quick else args.rounds
            entry = {"input": shape, "overrides": overrides, "threads": {}}
            for threads in args.threads:
                torch.set_num_threads(threads)
                entry["threads"][threads] = time_variants(args.variants, network, optimizer, loss_fn, batches,
                                                          rounds, args.warmup)  # fmt: skip
            if args.curve_steps:
                torch.set_num_threads(max(args.threads))
                entry["curves"] = loss_curves(args.variants, network, optimizer, loss_fn, batches, args.curve_steps)
            entry["data_s_per_batch"] = data_time(parser, args.data_batches)
            results[bundle] = entry
            report(bundle, entry)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")


def report(bundle: str, entry: dict) -> None:
    print(f"\n## {bundle}: input batch {entry['input']}, overrides {entry['overrides'] or 'none'}")
    print("| threads | variant | step s (min) | step s (median) | speed-up vs fp32 (median) | compile s |")
    print("|---|---|---|---|---|---|")
    for threads, res in entry["threads"].items():
        base = statistics.median(res["times"]["fp32"]) if "fp32" in res["times"] else None
        for v, t in res["times"].items():
            ratio = f"{base / statistics.median(t):.2f}×" if base else "—"
            comp = f"{res['compile_s'][v]:.0f}" if v in res["compile_s"] else ""
            print(f"| {threads} | {v} | {min(t):.3f} | {statistics.median(t):.3f} | {ratio} | {comp} |")
        for v, why in res["failed"].items():
            print(f"| {threads} | {v} | failed: {why} | | | |")
    curves = entry.get("curves")
    if curves:
        print("\n| variant | mean loss | last loss | mean abs. difference to fp32 | steps skipped (non-finite gradients) |")
        print("|---|---|---|---|---|")
        ref = curves.get("fp32")
        for v, c in curves.items():
            if v.endswith(" skipped"):
                continue
            if isinstance(c, str):
                print(f"| {v} | failed: {c} | | |")
                continue
            diff = statistics.mean(abs(a - b) for a, b in zip(c, ref)) if isinstance(ref, list) else float("nan")
            print(f"| {v} | {statistics.mean(c):.4f} | {c[-1]:.4f} | {diff:.4f} | {curves.get(f'{v} skipped', 0)} |")
    d = entry["data_s_per_batch"]
    print(f"\ndata loading per batch: cached {d['cached']:.3f} s, uncached {d['uncached']:.3f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
