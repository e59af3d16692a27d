"""The bundles of the repository, for tests that loop over ``bundles/*/`` instead of one file per bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: every folder of bundles/ holding configs/metadata.json, by name
BUNDLE_NAMES: list[str] = sorted(p.name for p in (REPO / "bundles").iterdir() if (p / "configs" / "metadata.json").is_file())


def bundle_dir(name: str) -> Path:
    return REPO / "bundles" / name


def tiny_overrides_file(name: str) -> Path:
    """``ci/<name>_tiny_overrides.json``: what ``ci/smoke_bundle`` passes as ``--args_file``."""
    return REPO / "ci" / f"{name}_tiny_overrides.json"


def tiny_overrides(name: str) -> dict:
    """The bundle's CI overrides (tiny network and phantom): ``ci/<name>_tiny_overrides.json``."""
    return json.loads(tiny_overrides_file(name).read_text())


#: top-level keys a bundle's network_def takes its size from (focal_tversky: ``features``, the maps per level)
NETWORK_SIZE_KEYS = ("features",)


def tiny_network(name: str) -> dict:
    """The overrides of ``tiny_overrides`` that shrink the network: ``network_def#...`` ids and size keys."""
    return {k: v for k, v in tiny_overrides(name).items() if k.startswith("network_def#") or k in NETWORK_SIZE_KEYS}


def metadata(name: str) -> dict:
    return json.loads((bundle_dir(name) / "configs" / "metadata.json").read_text())


def input_channels(name: str) -> list[str]:
    """The channels the bundle's network takes, in order (metadata.json's ``channel_def`` of the input image)."""
    channel_def = metadata(name)["network_data_format"]["inputs"]["image"]["channel_def"]
    return [channel_def[str(i)] for i in range(len(channel_def))]


def spatial_dims(name: str) -> int:
    """2 or 3: the dimensionality of the bundle's input (metadata.json's ``spatial_shape``, MONAI Label's
    ``dimension``)."""
    return len(metadata(name)["network_data_format"]["inputs"]["image"]["spatial_shape"])


def phantom_kind_2d(name: str) -> str:
    """The 2D phantom kind (``skin``, ``ultrasound``) whose channels a 2D bundle's network takes."""
    from monai_tversky.data import PHANTOM2D_CHANNELS

    return next(k for k, channels in PHANTOM2D_CHANNELS.items() if list(channels) == input_channels(name))


def bundle_parser(name: str, *config_names: str, bundle_root: str | Path | None = None, **overrides):
    """A ``ConfigParser`` over the bundle's ``configs/<config_names>`` (merged in order, as ``--config_file "[a, b]"``
    merges them) with its metadata, ``bundle_root`` (default: the bundle's folder) and ``overrides`` set."""
    from monai.bundle import ConfigParser

    configs = bundle_dir(name) / "configs"
    parser = ConfigParser()
    parser.read_config([str(configs / n) for n in config_names])
    parser.read_meta(str(configs / "metadata.json"))
    parser["bundle_root"] = str(bundle_root if bundle_root is not None else bundle_dir(name))
    for k, v in overrides.items():
        parser[k] = v
    return parser


def bundle_run(config: str, *args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run --config_file <config> <args>`` as a user runs it (one thread)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", config, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def run_output(result: subprocess.CompletedProcess) -> str:
    """stdout and stderr of a run, in that order."""
    return result.stdout + result.stderr


def last_line(result: subprocess.CompletedProcess) -> str:
    """The last non-empty line a user sees at the end of a run (stderr comes last on a terminal when it stops)."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain: what a config expression raised under MONAI's "Failed to evaluate"."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def assert_spatial_augmentation_aligned(transforms, image, label, inside: float, rounds: int = 5) -> None:
    """Run the spatial ``transforms`` (each forced to fire, a new seed per round) on an image that is a function
    of its 0/1 label (``inside`` in channel 0 where the label is 1) and assert what a correct spatial augmentation
    keeps: the label stays 0/1 and non-empty, and away from the lesion border (bilinear image, nearest label) the
    image's channel 0 is still ``inside`` wherever the label is 1. Works for 2D and 3D, ``(C, *spatial)``."""
    import numpy as np
    import torch

    for t in transforms:
        t.prob = 1.0
    pool = torch.nn.functional.max_pool2d if label.ndim == 3 else torch.nn.functional.max_pool3d
    rng = np.random.RandomState(0)
    for _ in range(rounds):
        data = {"image": image.clone(), "label": label.clone()}
        for t in transforms:
            t.set_random_state(int(rng.randint(1 << 30)))
            data = t(data)
        lab, img = torch.as_tensor(data["label"]), torch.as_tensor(data["image"])
        assert set(torch.unique(lab).tolist()) <= {0.0, 1.0} and lab.sum() > 0
        core = pool((lab[0] <= 0.5).float()[None, None], 3, 1, 1)[0, 0] == 0
        assert core.any()
        assert torch.allclose(img[0][core], torch.tensor(inside), atol=1e-4)
