"""Per-window CPU inference time of the paper-size PatchDenseNet3D in the msseg bundle's inference path, today's
network against its fast eval path, side by side in one run, and what each variant does to the mask.

Variants (each times the same 64^3 window batches of a phantom case, interleaved, after a warm-up, outputs
dropped as the inferer drops them):

- ``plain``: the network as it ran before ``fast_eval`` (``fast_eval=False``), under ``torch.no_grad()`` as
  MONAI's ``SupervisedEvaluator`` runs it: the reference (1.00).
- ``fast_eval``: batch norm folded into the convolutions, channels-last (``channels_last_3d``) on the CPU, the
  classifier applied per level (on by default).
- ``fast_eval + inference_mode``: the same under ``torch.inference_mode()`` instead of ``no_grad``: the bundles'
  path (``SplineFusionInferer`` runs the network in inference mode when autograd is off, as it is in MONAI's
  evaluators).
- ``fast_eval + bf16``: the same under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (an option, not the default:
  it changes the probabilities by up to ~1e-2).

Then one whole case (spline fusion, half overlap, no rotations) is predicted by each variant through
``SplineFusionInferer`` and compared with ``plain``: the largest probability difference and the voxels whose 0.5
mask differs. Weights: the bundle's demo checkpoint (models/model.pt), so that the probabilities are a trained
model's, not a random one's.

    python benchmarks/msseg_inference_speed.py                  # 2 threads, 4 batches of 4 windows per round
    python benchmarks/msseg_inference_speed.py --rounds 5 --threads 2 --skip-case
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch

from monai_tversky.data import build_datalist
from monai_tversky.engines import load_checkpoint
from monai_tversky.inferers import SplineFusionInferer
from monai_tversky.networks import PatchDenseNet3D

REPO = Path(__file__).resolve().parents[1]
ROI = (64, 64, 64)


def variants(net: PatchDenseNet3D) -> dict[str, tuple[bool, contextlib.AbstractContextManager]]:
    """name -> (fast_eval, a factory of the context the forward runs in)."""
    return {
        "plain (before)": (False, torch.no_grad),
        "fast_eval": (True, torch.no_grad),
        "fast_eval + inference_mode": (True, torch.inference_mode),
        "fast_eval + bf16": (True, lambda: _chain(torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16))),
    }


@contextlib.contextmanager
def _chain(*contexts):
    with contextlib.ExitStack() as stack:
        for c in contexts:
            stack.enter_context(c)
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sw-batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=2, help="window batches timed per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-case", action="store_true", help="skip the whole-case mask comparison")
    parser.add_argument("--phantom-dir", default="/tmp/msseg_inference_speed_phantom")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    net = PatchDenseNet3D(in_channels=5).eval()
    net.load_state_dict(load_checkpoint(REPO / "bundles/msseg/models/model.pt", what="model"))
    data = build_datalist(phantom_dir=args.phantom_dir, phantom_cases=10, phantom_shape=(96, 128, 128), seed=2018)
    from monai.transforms import Compose, EnsureTyped, LoadImaged, NormalizeIntensityd

    load = Compose([
        LoadImaged(keys="image", ensure_channel_first=True, image_only=True),
        EnsureTyped(keys="image", dtype=torch.float32),
        NormalizeIntensityd(keys="image", nonzero=True, channel_wise=True),
    ])
    image = load(data["validation"][0])["image"].as_tensor()[None]
    # window batches from the case, as the inferer cuts them (the first windows lie on the border, so take the middle)
    windows = []
    for z in range(0, image.shape[2] - ROI[0] + 1, 16):
        for y in range(0, image.shape[3] - ROI[1] + 1, 16):
            windows.append(image[0, :, z:z + 64, y:y + 64, 32:96])
    batches = [torch.stack(windows[i:i + args.sw_batch_size]) for i in range(0, len(windows), args.sw_batch_size)]
    batches = [b for b in batches if b.shape[0] == args.sw_batch_size][: args.batches]
    table = variants(net)
    print(f"PatchDenseNet3D paper sizes, demo weights; {len(batches)} batches of {args.sw_batch_size} windows of "
          f"{ROI} per variant and round, {args.rounds} rounds, interleaved; {args.threads} threads; "
          f"torch {torch.__version__}")
    for fast, context in table.values():  # warm-up (oneDNN primitive creation)
        net.fast_eval = fast
        with context():
            net(batches[0])
    times: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(args.rounds):
        for name, (fast, context) in table.items():
            net.fast_eval = fast
            with context():
                for batch in batches:
                    t0 = time.perf_counter()
                    out = net(batch)
                    times[name].append((time.perf_counter() - t0) / batch.shape[0])
                    del out
    reference = statistics.median(times["plain (before)"])
    print(f"\n{'variant':<28} {'s/window median':>16} {'min':>8} {'x plain':>8}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<28} {med:16.3f} {min(values):8.3f} {med / reference:8.2f}")

    if args.skip_case:
        return
    print(f"\nwhole case {tuple(image.shape[2:])}, spline fusion, overlap 0.5, no rotations: against plain")
    inferer = SplineFusionInferer(ROI, sw_batch_size=args.sw_batch_size, overlap=0.5, fusion="spline")
    results = {}
    for name, (fast, context) in table.items():
        net.fast_eval = fast
        t0 = time.perf_counter()
        with context():
            results[name] = torch.sigmoid(inferer(image, net).float())
        seconds = time.perf_counter() - t0
        ref = results["plain (before)"]
        diff = float((results[name] - ref).abs().max())
        flipped = int(((results[name] > 0.5) != (ref > 0.5)).sum())
        print(f"{name:<28} {seconds:7.1f} s; max |p - p_plain| {diff:.2e}; mask voxels that differ: {flipped} of "
              f"{int((ref > 0.5).sum())} lesion voxels")


if __name__ == "__main__":
    main()
