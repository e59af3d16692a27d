"""Ignite handler that writes a lesion-segmentation report (CSV, summary, PR curve, overlays) of an evaluator run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from ignite.engine import Engine, Events

from monai_tversky.metrics import LesionReport

__all__ = ["LesionReportHandler"]


def _case_name(batch_item: Any, output_item: dict, index: int) -> str:
    """``case_id`` from the datalist item, else the image file's parent folder and stem, else the index."""
    if isinstance(batch_item, dict) and batch_item.get("case_id"):
        return str(batch_item["case_id"])
    meta = getattr(output_item.get("image"), "meta", {}) or {}
    source = meta.get("filename_or_obj")
    if isinstance(source, (list, tuple)) and source:
        source = source[0]
    if source:
        path = Path(str(source))
        return f"{path.parent.name}_{path.name.split('.')[0]}" if path.parent.name else path.name.split(".")[0]
    return f"case_{index:04d}"


def _display_image(image: Any, spatial_shape: Sequence[int]) -> torch.Tensor:
    """
    The intensities shown under a case's overlays, on the prediction's grid: the first channel (the mean of the
    channels of a 3-channel 2D image: its grey level), resized (bi/trilinearly) to ``spatial_shape`` when the
    evaluation scores the prediction on another grid than the network's input (e.g. a 2D bundle that resizes each
    image for the network and its prediction back to the image's own size).
    """
    image = (image.as_tensor() if hasattr(image, "as_tensor") else torch.as_tensor(image)).float()
    ndim = len(spatial_shape)
    shown = image.mean(dim=0) if ndim == 2 and image.ndim == 3 and image.shape[0] == 3 else image[0]
    if tuple(shown.shape) != tuple(spatial_shape):
        mode = "bilinear" if ndim == 2 else "trilinear"
        shown = F.interpolate(shown[None, None], size=tuple(spatial_shape), mode=mode, align_corners=False)[0, 0]
    return shown


class LesionReportHandler:
    """Feed every case an evaluator scores into a :class:`monai_tversky.metrics.LesionReport` and write it.

    Reads, per decollated output item, the binary prediction ``pred_key``, the probabilities ``prob_key`` (for
    APR and the precision-recall curve), the label and the image (under the overlays: its first channel, or the
    grey level of an RGB 2D image, resized to the prediction's grid when the two differ). The report
    (``metrics.csv``, ``summary.csv``, ``pr_curve.png``, ``overlays/``) is written when the run completes, and
    the summary means are logged. Under ``torch.distributed`` each rank would hold its own cases, so attach it
    on one process only.

    Args:
        output_dir: the report folder.
        pred_key: key of the binary prediction in the engine output. Defaults to ``"pred"``.
        prob_key: key of the probability map, or None to skip APR. Defaults to ``"prob"``.
        label_key: key of the label. Defaults to ``"label"``.
        image_key: key of the image shown under the overlays, or None. Defaults to ``"image"``.
        overlay_slices: per case: ``"auto"`` (the slice with most lesion voxels), slice indices, or None.
        run_name: legend entry of the PR curve.
        connectivity: lesion connectivity for LTPR/LFPR (see ``lesion_metrics``).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        pred_key: str = "pred",
        prob_key: str | None = "prob",
        label_key: str = "label",
        image_key: str | None = "image",
        overlay_slices: str | int | Sequence[int] | None = "auto",
        run_name: str | None = None,
        connectivity: int | None = None,
    ) -> None:
        self.output_dir = output_dir
        self.pred_key, self.prob_key, self.label_key, self.image_key = pred_key, prob_key, label_key, image_key
        self.overlay_slices = overlay_slices
        self.run_name = run_name
        self.connectivity = connectivity
        self.report: LesionReport | None = None
        self.paths: dict[str, Any] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._add_cases)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _start(self, engine: Engine) -> None:
        self.report = LesionReport(self.output_dir, connectivity=self.connectivity, run_name=self.run_name)

    def _add_cases(self, engine: Engine) -> None:
        outputs = engine.state.output
        outputs = outputs if isinstance(outputs, list) else [outputs]
        batch = engine.state.batch if isinstance(engine.state.batch, list) else [None] * len(outputs)
        for i, (item, batch_item) in enumerate(zip(outputs, batch)):
            if self.label_key not in item or item[self.label_key] is None:
                raise ValueError(f"LesionReportHandler needs labels: the output has no {self.label_key!r} "
                                 f"(evaluate on a datalist whose items have a label).")
            image = item.get(self.image_key) if self.image_key else None
            pred = item[self.pred_key][0]
            self.report.add_case(
                _case_name(batch_item, item, len(self.report.rows) + i),
                pred,
                item[self.label_key][0],
                prob=item[self.prob_key][0] if self.prob_key else None,
                image=None if image is None else _display_image(image, pred.shape),
                spacing=None,
                overlay_slices=self.overlay_slices,
            )

    def _write(self, engine: Engine) -> None:
        self.paths = self.report.write()
        engine.logger.info(f"lesion report written to {self.output_dir}: {self.paths}")
