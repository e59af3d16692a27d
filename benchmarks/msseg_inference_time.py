"""Wall time of the msseg bundle's paper-configuration inference on one 128x224x256 five-channel volume.

hashemi2018 pad by half a patch, so 64^3 windows at 50% overlap give 5x8x9 = 360 windows, and four test-time
rotations make 1,440 window predictions (the paper: about 5 minutes per volume on a GTX 1080). Running them all on
a 2-core CPU takes longer than a CI job, so this script times the real PatchDenseNet3D (paper sizes, eval mode) on
``--windows`` batches of ``sw_batch_size`` windows and scales to 1,440 predictions; the fusion's own overhead is
measured end to end by benchmarks/inferer.py (about 0.1 s per volume on this CPU) and is added. ``--full`` runs the
real SplineFusionInferer over the whole volume instead (use it on a GPU).

    python benchmarks/msseg_inference_time.py [--threads 2] [--device cuda] [--full]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from monai_tversky.inferers import SplineFusionInferer, padded_window_grid
from monai_tversky.networks import PatchDenseNet3D

VOLUME, ROI = (128, 224, 256), (64, 64, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sw-batch-size", type=int, default=4)
    parser.add_argument("--windows", type=int, default=3, help="timed window batches (after one warm-up batch)")
    parser.add_argument("--full", action="store_true", help="run the whole inference instead of extrapolating")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    net = PatchDenseNet3D(in_channels=5).to(device).eval()
    grid = padded_window_grid(VOLUME, ROI, 0.5)
    n_windows = 1
    for starts in grid.starts:
        n_windows *= len(starts)
    predictions = 4 * n_windows
    print(f"volume {VOLUME}, windows {ROI}, overlap 0.5 -> {n_windows} windows x 4 rotations = {predictions} "
          f"predictions; PatchDenseNet3D paper sizes; {args.device}, threads={args.threads}")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode(), torch.autocast(device.type, enabled=device.type == "cuda"):
        if args.full:
            inferer = SplineFusionInferer(ROI, sw_batch_size=args.sw_batch_size, tta="rot180", progress=True)
            image = torch.randn(1, 5, *VOLUME, device=device)
            sync()
            t0 = time.perf_counter()
            inferer(image, net)
            sync()
            print(f"measured: {time.perf_counter() - t0:.1f} s per volume")
            return
        batch = torch.randn(args.sw_batch_size, 5, *ROI, device=device)
        net(batch)  # warm-up
        times = []
        for _ in range(args.windows):
            sync()
            t0 = time.perf_counter()
            net(batch)
            sync()
            times.append((time.perf_counter() - t0) / args.sw_batch_size)
    per_window = statistics.median(times)
    print(f"per window prediction: median {per_window:.3f} s (min {min(times):.3f}) over {args.windows} batches of "
          f"{args.sw_batch_size}")
    print(f"extrapolated: {per_window * predictions / 60:.1f} min per volume ({predictions} predictions)")


if __name__ == "__main__":
    main()
