"""Time of the focal_tversky bundle's paper-size network (abraham2018's ``attn_reg``: 5 levels, 32..512 maps, 8.7 M
parameters) at ISIC 2018's 192 x 256, and its full-resolution behaviour:

1. one training iteration: batch 8 (the paper's ISIC batch) of 3 x 192 x 256, forward in training mode (4 outputs),
   the bundle's loss (focal Tversky on the side outputs, Tversky on the final, labels resized to each), backward,
   SGD step; the network, loss and optimiser are built from ``configs/train.json``;
2. one inference: batch 1, evaluation mode, no gradients (``configs/inference.json``'s network at the paper's
   ``features``);
3. the bundle's own inference (``configs/inference.json``, in this process) on an ISIC-size 2166 x 3188 RGB
   photograph with the shipped model (its width and channel from its ``model.json``): the time from the file to the
   written mask, and the mask's size.

Warm-up first, then ``--rounds`` rounds; median and minimum reported (../shared/BENCHMARKING.md). The peak resident
memory of the process (``ru_maxrss``) is reported too. On a GPU (``--device cuda``) the clock is read after
``torch.cuda.synchronize()`` and the peak is ``torch.cuda.max_memory_allocated()``.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/focal_tversky_timing.py --threads 1   # the card's CPU figures
    python benchmarks/focal_tversky_timing.py --device cuda                          # on a GPU
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from monai.bundle import ConfigParser
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "focal_tversky"
CONFIGS = BUNDLE / "configs"
PAPER_FEATURES = [32, 64, 128, 256, 512]  # attn_reg's maps per level (the paper's width: --features)


def _parser(config: str, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / config))
    parser["bundle_root"] = str(BUNDLE)
    for key, value in overrides.items():
        parser[key] = value
    return parser


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _rounds(step, rounds: int, device: torch.device) -> list[float]:
    step()  # warm-up
    times = []
    for _ in range(rounds):
        t0 = _clock(device)
        step()
        times.append(_clock(device) - t0)
    return times


def _line(name: str, times: list[float]) -> str:
    return f"{name}: median {statistics.median(times):.3f} s, min {min(times):.3f} s over {len(times)} rounds"


def training_iteration(device: torch.device, rounds: int, batch: int) -> list[float]:
    p = _parser("train.json", device=str(device), features=PAPER_FEATURES, phantom_kind="skin")
    network = p.get_parsed_content("network_def").to(device).train()
    loss_fn = p.get_parsed_content("loss")
    optimizer = torch.optim.SGD(network.parameters(), lr=p.get_parsed_content("learning_rate"),
                                momentum=p.get_parsed_content("momentum"))
    size = p.get_parsed_content("spatial_size")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, *size, generator=g).to(device)
    labels = (torch.rand(batch, 1, *size, generator=g) > 0.8).float().to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(images), labels)
        loss.backward()
        optimizer.step()

    return _rounds(step, rounds, device)


def inference(device: torch.device, rounds: int) -> list[float]:
    # the paper-size network, whatever width the shipped demo model has
    p = _parser("inference.json", device=str(device), features=PAPER_FEATURES, spatial_size=[192, 256],
                modalities=["R", "G", "B"])
    network = p.get_parsed_content("network_def").to(device).eval()
    image = torch.rand(1, 3, *p.get_parsed_content("spatial_size")).to(device)

    def step() -> None:
        with torch.no_grad():
            network(image)

    return _rounds(step, rounds, device)


def full_resolution(device: torch.device, work: Path) -> tuple[float, tuple[int, int], tuple[int, int], float]:
    """The bundle's inference.json on a 2166 x 3188 RGB JPEG of a dark ellipse on skin tone: (seconds, photograph
    size, mask size, Dice of the mask against the drawn ellipse), sizes as (H, W)."""
    rows, cols = np.mgrid[:2166, :3188]
    lesion = ((rows - 1083) / 600.0) ** 2 + ((cols - 1594) / 800.0) ** 2 < 1
    rng = np.random.default_rng(0)
    photo = np.where(lesion[..., None], [95, 60, 45], [215, 170, 150]) + rng.normal(0, 12, (2166, 3188, 3))
    path = work / "ISIC_0000000.jpg"
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(path, quality=90)
    p = _parser("inference.json", device=str(device), input=str(path), output_dir=str(work / "out"))
    evaluator = p.get_parsed_content("evaluator")
    t0 = _clock(device)
    evaluator.run()
    seconds = _clock(device) - t0
    mask = Image.open(work / "out" / "ISIC_0000000" / "ISIC_0000000_seg.png")
    seg = np.asarray(mask) > 0
    dice = 2.0 * np.count_nonzero(seg & lesion) / max(1, np.count_nonzero(seg) + np.count_nonzero(lesion))
    return seconds, (2166, 3188), (mask.height, mask.width), float(dice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up (default 5)")
    parser.add_argument("--batch", type=int, default=8, help="training batch (default 8, the paper's for ISIC)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--skip-full-resolution", action="store_true", help="skip the 2166 x 3188 inference")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}")
    print(_line(f"training iteration, batch {args.batch} x 3 x 192 x 256", training_iteration(device, args.rounds,
                                                                                             args.batch)))
    print(_line("inference, 1 x 3 x 192 x 256", inference(device, args.rounds)))
    if not args.skip_full_resolution:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, photo, mask, dice = full_resolution(device, Path(tmp))
        print(f"inference.json with the shipped model on a {photo[0]} x {photo[1]} RGB JPEG (load, resize, network, "
              f"resize back, two PNGs): {seconds:.2f} s; mask {mask[0]} x {mask[1]}; Dice against the drawn "
              f"ellipse {dice:.3f}")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    print(f"peak resident memory of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
