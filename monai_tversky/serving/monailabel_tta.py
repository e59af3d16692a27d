"""A MONAI Label scoring method and active-learning strategy from the test-time augmentation uncertainty of a bundle.

:class:`TTAUncertaintyScoring` runs a bundle's own ``configs/inference.json`` over the datastore's unlabelled images
with the four test-time rotations (``tta="rot180"``) and ``save_uncertainty=True``, so that
``SplineFusionInferer(..., return_variance=True)`` returns the per-voxel variance of the rotated predictions and
``TTAUncertaintyScored`` reduces it to one score per case (the mean variance over the predicted lesion voxels;
Wang et al. 2019, arXiv:1807.07356). Each image's score goes into its datastore info under ``key`` (default
``"tta_uncertainty"``), as MONAI Label's epistemic scoring stores ``"epistemic_entropy"``.
:class:`TTAUncertaintyStrategy` then serves the unlabelled image with the highest score.

MONAI Label is imported only when one of the two classes is first used, so this module imports without it. In the
monaibundle app's ``main.py`` (MONAI Label 0.8.5)::

    # in init_scoring_methods, right after `methods: Dict[str, ScoringMethod] = {}`
    from monai_tversky.serving import TTAUncertaintyScoring
    methods["msseg_tta"] = TTAUncertaintyScoring(self.models["msseg"])
    # in init_strategies, before `return strategies`
    from monai_tversky.serving import TTAUncertaintyStrategy
    strategies["tta_uncertainty"] = TTAUncertaintyStrategy()

then ``POST /scoring/msseg_tta`` and ``POST /activelearning/tta_uncertainty``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

# TTAUncertaintyScoring and TTAUncertaintyStrategy (module attributes, built on first access) are left out of
# __all__: a star import or a scan of __all__ must not import MONAI Label
__all__ = ["score_images", "most_uncertain", "SCORE_KEY"]

logger = logging.getLogger("monai_tversky")

#: the datastore image-info key of the score (and, with ``_ts``, of the model time it was computed with)
SCORE_KEY = "tta_uncertainty"


def score_images(
    bundle_dir: str | os.PathLike,
    images: Mapping[str, str],
    device: str | torch.device | None = None,
    tta: str = "rot180",
    ckpt_path: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """
    The test-time augmentation uncertainty of each image, from the bundle's own inference configuration.

    Reads ``<bundle_dir>/configs/inference.json`` with ``save_uncertainty=True`` and ``tta``, sets its ``datalist``
    to ``images`` (one item per image, ``{"image": path, "case_id": id}``), runs its evaluator and reads the scores
    it writes (``tta_uncertainty.json``). The bundle's ``initialize`` (command-line checks) is not run; its
    ``checkpoint`` loader is.

    Args:
        bundle_dir: the bundle's folder (``configs/inference.json``, ``models/model.pt``).
        images: ``{image id: image file}``, e.g. MONAI Label's ``{id: datastore.get_image_uri(id)}``: one file
            per case with every channel the bundle takes (a 4D NIfTI, channels last, as MONAI Label studies are).
        device: where the network runs; None: the bundle's default (CUDA when available).
        tta: the test-time augmentation, at least two predictions. Defaults to ``"rot180"``.
        ckpt_path: the model; None: the bundle's ``models/model.pt``.
        output_dir: where the bundle's outputs go (probability map, mask, variance, scores); None: a temporary
            folder, removed afterwards.
        overrides: further config overrides, ``{id: value}``, e.g. ``{"sw_batch_size": 8}``.

    Returns:
        ``{image id: score}``, higher is more uncertain.

    Raises:
        FileNotFoundError: when the bundle has no ``configs/inference.json``.
        ValueError: when ``tta`` gives no test-time augmentation, or the bundle has no ``save_uncertainty`` key.
        RuntimeError: when an image got no score.
    """
    from monai.bundle import ConfigParser

    bundle_dir = Path(bundle_dir)
    config = bundle_dir / "configs" / "inference.json"
    if not config.is_file():
        raise FileNotFoundError(f"{config} does not exist: bundle_dir must be a bundle folder with configs/.")
    if not images:
        return {}
    from ..engines import check_save_uncertainty

    check_save_uncertainty(True, tta)
    parser = ConfigParser()
    parser.read_config(str(config))
    if "save_uncertainty" not in parser.get():
        raise ValueError(f"{config} has no save_uncertainty key: this bundle cannot save a test-time variance.")
    metadata = bundle_dir / "configs" / "metadata.json"
    if metadata.is_file():
        parser.read_meta(str(metadata))
    with tempfile.TemporaryDirectory(prefix="tta_uncertainty_") as scratch:
        out = Path(output_dir) if output_dir is not None else Path(scratch)
        settings: dict[str, Any] = {
            "bundle_root": str(bundle_dir),
            "output_dir": str(out),
            "tta": tta,
            "save_uncertainty": True,
            "datalist": [{"image": str(path), "case_id": str(image_id)} for image_id, path in images.items()],
            "inferer#progress": False,
        }
        if ckpt_path is not None:
            settings["ckpt_path"] = str(ckpt_path)
        if device is not None:
            settings["device"] = torch.device(device)
            settings["use_amp"] = torch.device(device).type == "cuda"
        settings.update(overrides or {})
        for key, value in settings.items():
            parser[key] = value
        parser.get_parsed_content("evaluator").run()
        scores_file = out / "tta_uncertainty.json"
        scores = json.loads(scores_file.read_text()) if scores_file.is_file() else {}
    missing = [i for i in images if str(i) not in scores]
    if missing:
        raise RuntimeError(f"no test-time augmentation score for {missing} (see the bundle's log above).")
    return {image_id: float(scores[str(image_id)]["tta_uncertainty"]) for image_id in images}


def most_uncertain(
    infos: Mapping[str, Mapping[str, Any]],
    key: str = SCORE_KEY,
    strategy: str | None = None,
    reset: float = 0.0,
    now: float | None = None,
) -> str | None:
    """
    The image to annotate next: the one with the highest score ``key`` among ``infos`` (``{image id: datastore image
    info}``, the unlabelled images); images without a score come after every scored one (in their given order).

    With ``strategy`` and ``reset > 0``, an image that this strategy served less than ``reset`` seconds ago (MONAI
    Label records ``info["strategy"][strategy]["ts"]`` when it serves one) is passed over while another is left, so
    that two annotators asking in turn get different images.

    Returns:
        the image id, or None when ``infos`` is empty.
    """
    if not infos:
        return None
    now = time.time() if now is None else now
    order = list(infos)

    def rank(image_id: str) -> tuple:
        info = infos[image_id] or {}
        score = info.get(key)
        scored = isinstance(score, (int, float)) and score == score  # not None, not NaN
        served = (info.get("strategy") or {}).get(strategy or "", {}).get("ts", 0) if strategy else 0
        recent = bool(reset > 0 and served and now - served < reset)
        return (recent, not scored, -(float(score) if scored else 0.0), order.index(image_id))

    return min(order, key=rank)


def _model_ts(path: str | os.PathLike) -> int:
    return int(os.stat(path).st_mtime) if os.path.exists(path) else 1


def _classes() -> dict[str, type]:
    """Build the MONAI Label classes (imports MONAI Label)."""
    try:
        from monailabel.interfaces.tasks.scoring import ScoringMethod
        from monailabel.interfaces.tasks.strategy import Strategy
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TTAUncertaintyScoring and TTAUncertaintyStrategy are MONAI Label components: install monailabel "
            "(pip install monailabel==0.8.5) in this environment."
        ) from e

    class TTAUncertaintyScoring(ScoringMethod):
        """
        MONAI Label scoring method: the test-time augmentation uncertainty (:func:`score_images`) of every unlabelled
        image, stored in its datastore info under ``key`` with the model's time under ``key + "_ts"``; images
        already scored with the current model are skipped.

        Args:
            bundle_dir: the served bundle's folder (the monaibundle app's ``self.models[name]``).
            key: the image-info key of the score. Defaults to ``"tta_uncertainty"``.
            tta: the test-time augmentation. Defaults to ``"rot180"``.
            max_samples: score at most this many images per request (0: all). A request's ``max_samples`` wins.
            device: where the network runs; None: the request's ``device`` (MONAI Label's default ``"cuda"``),
                the CPU when CUDA is not available.
        """

        def __init__(self, bundle_dir: str, key: str = SCORE_KEY, tta: str = "rot180", max_samples: int = 0,
                     device: str | None = None) -> None:
            super().__init__(f"Test-time augmentation uncertainty ({tta}) of {os.path.basename(str(bundle_dir))}")
            self.bundle_dir = str(bundle_dir)
            self.key = key
            self.tta = tta
            self.max_samples = int(max_samples)
            self.device = device

        def __call__(self, request: Mapping[str, Any], datastore: Any) -> dict[str, Any]:
            start = time.time()
            model = os.path.join(self.bundle_dir, "models", "model.pt")
            model_ts = _model_ts(model)
            unlabeled = list(datastore.get_unlabeled_images())
            todo = [i for i in unlabeled if datastore.get_image_info(i).get(f"{self.key}_ts") != model_ts]
            max_samples = int(request.get("max_samples", self.max_samples) or 0)
            todo = todo[:max_samples] if max_samples else todo
            device = self.device or request.get("device") or "cuda"
            if torch.device(device).type == "cuda" and not torch.cuda.is_available():
                device = "cpu"
            scores = {}
            if todo:
                images = {image_id: datastore.get_image_uri(image_id) for image_id in todo}
                scores = score_images(self.bundle_dir, images, device=device, tta=self.tta)
                for image_id, score in scores.items():
                    datastore.update_image_info(image_id, {self.key: score, f"{self.key}_ts": model_ts})
                    logger.info(f"TTA uncertainty: {image_id} => {score:.6g}")
            summary = {"total": len(unlabeled), "skipped": len(unlabeled) - len(todo), "executed": len(todo),
                       "scores": scores, "latency": round(time.time() - start, 3)}
            logger.info(f"TTA uncertainty scoring: {summary}")
            return summary

    class TTAUncertaintyStrategy(Strategy):
        """
        MONAI Label active-learning strategy: the unlabelled image with the highest test-time augmentation
        uncertainty (``key`` in its datastore info, written by :class:`TTAUncertaintyScoring`), see
        :func:`most_uncertain`; an image this strategy served less than ``reset`` seconds ago comes after the others.

        Args:
            key: the image-info key of the score. Defaults to ``"tta_uncertainty"``.
            reset: seconds during which a served image is passed over. Defaults to 3600.
        """

        def __init__(self, key: str = SCORE_KEY, reset: float = 3600.0) -> None:
            super().__init__("The unlabelled image with the highest test-time augmentation uncertainty")
            self.key = key
            self.reset = float(reset)

        def __call__(self, request: Mapping[str, Any], datastore: Any) -> dict[str, Any] | None:
            images = datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels"))
            infos = {i: datastore.get_image_info(i) for i in images}
            image = most_uncertain(infos, self.key, request.get("strategy"), self.reset)
            if image is None:
                return None
            score = infos[image].get(self.key)
            logger.info(f"{request.get('strategy')}: selected {image} ({self.key} {score})")
            return {"id": image, self.key: score}

    return {"TTAUncertaintyScoring": TTAUncertaintyScoring, "TTAUncertaintyStrategy": TTAUncertaintyStrategy}


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """The MONAI Label classes, built (and MONAI Label imported) on first access."""
    if name in ("TTAUncertaintyScoring", "TTAUncertaintyStrategy"):
        if not _CLASSES:
            _CLASSES.update(_classes())
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
