"""Where a bundle's cases come from, decided once per run: a data set folder in one of the layouts, a datalist JSON,
or the embedded phantom; its layout, channels and (2D) kind of image, and the datalist built from it."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .image2d import pil_mode_for_channels
from .inference_datalists import build_inference_datalist
from .json_files import load_datalist
from .label_maps import LabelMap
from .layouts import LAYOUTS, Layout, detect_layout, get_layout, lesion_label_map
from .layouts._helpers import existing_dir
from .modalities import PHANTOM_MODALITIES, canonical_modalities
from .phantoms import PHANTOM2D_CHANNELS, PHANTOM2D_KINDS, PHANTOM2D_SHAPES, PHANTOM_SHAPE
from .phantoms import generate_phantom_dataset, generate_phantom_dataset_2d
from .splits import split_datalist
from .validation import check_datalist

__all__ = ["DataSource", "resolve_layout", "is_auto"]

logger = logging.getLogger("monai_tversky")


def is_auto(modalities: Sequence[str] | str | None) -> bool:
    """Whether ``modalities`` asks for the source's own channels (``None``, ``""`` or ``"auto"``)."""
    return modalities is None or (isinstance(modalities, str) and modalities.strip().lower() in ("", "auto"))


def _declared_channels(loaded: Mapping[str, Any]) -> tuple[str, ...] | None:
    """A datalist's ``"modality"`` entry (the Decathlon's ``{"0": "FLAIR", "1": "T1"}``) as channels, or ``None``."""
    declared = loaded.get("modality")
    if isinstance(declared, Mapping) and declared and all(str(k).isdigit() for k in declared):
        return tuple(str(declared[k]) for k in sorted(declared, key=int))
    return None


def _check_kind(kind: str) -> str:
    if kind not in PHANTOM2D_KINDS:
        raise ValueError(f"kind (phantom_kind) must be one of {list(PHANTOM2D_KINDS)}, got {kind!r}.")
    return kind


def _no_2d_layout(dataset_dir: Any) -> ValueError:
    titles = ", ".join(f"{x.title} ({x.name})" for x in LAYOUTS if x.spatial_dims == 2 and x.training)
    return ValueError(
        f"{dataset_dir} is in none of the 2D layouts, {titles}, in the folder or one of its sub-folders (ISIC 2018 "
        "Task 1: ISIC2018_Task1-2_Training_Input/ + ISIC2018_Task1_Training_GroundTruth/; ISIC 2017: "
        "ISIC-2017_Training_Data/ + ISIC-2017_Training_Part1_GroundTruth/ or images/ + masks/; BUS 2017 dataset B: "
        "original/ + GT/; BUSI: benign/, malignant/, normal/): pass --datalist my.json (a \"training\" list of "
        "{\"image\": ..., \"label\": ...} items) for any other layout."
    )


class DataSource:
    """
    The source of a bundle's cases, resolved once: the bundle configs build one (``"source": {"_target_":
    "DataSource", ...}``) and read it (``@source.channels``, ``@source.datalist(...)``, ``@source.describe()``),
    so a data set folder is scanned for its layout and channels once per run.

    - ``dataset_dir``: a folder; its layout is ``layout`` or, with ``"auto"``, the first of
      :data:`~monai_tversky.data.LAYOUTS` of ``spatial_dims`` dimensions that recognises it
      (:func:`~monai_tversky.data.detect_layout`). Its cases are split with
      :func:`~monai_tversky.data.split_datalist`, keeping the layout's groups together (ISBI 2015's subjects,
      BUSI's near-duplicates).
    - ``datalist``: a MONAI-style JSON (:func:`~monai_tversky.data.load_datalist`); its ``"validation"`` section
      is used when present, otherwise its ``"training"`` items are split (by ``subject_id`` or ``group_id`` when
      the items have one).
    - neither: the embedded phantom, generated once into ``phantom_dir``: the MS phantom (3D) or the 2D phantom of
      ``phantom_kind``.

    Channels (3D): ``modalities`` when given; else a datalist's ``"modality"`` entry, the layout's own (MSSEG
    2016: FLAIR, T1, T1Gd, PD, T2; ISBI 2015: FLAIR, T1, PD, T2; WMH 2017: T1, FLAIR; BraTS: FLAIR, T1, T1Gd,
    T2), a folder's: those every case has (the modalities some case lacks are left out, logged, and recorded in
    :meth:`record`), or for the phantom ``default_modalities``. 2D: ``modalities`` (three names: RGB, one:
    grayscale), else a datalist's ``"modality"``, else those of the source's kind (``("R", "G", "B")`` for skin,
    ``("US",)`` for ultrasound). Empty strings count as not given, so a config may leave ``dataset_dir`` and
    ``datalist`` as ``""``.

    Args:
        dataset_dir: a data set folder. Defaults to ``None``.
        datalist: a datalist JSON file. Defaults to ``None``.
        layout: ``"auto"`` or a layout name of ``spatial_dims`` dimensions. Defaults to ``"auto"``.
        modalities: the channels, or ``"auto"`` (see above). Defaults to ``"auto"``.
        phantom_dir: where the phantom is generated (needed when neither source is given). Defaults to ``None``.
        spatial_dims: 3 (volumes) or 2 (images). Defaults to 3.
        phantom_kind: the 2D phantom's kind, ``"skin"`` or ``"ultrasound"``, also the kind assumed for a 2D datalist
            that declares no ``"modality"``. Defaults to ``"skin"``.
        default_modalities: the 3D phantom's channels. Defaults to ``("FLAIR", "T1", "T1Gd", "PD", "T2")``.

    Attributes:
        origin: ``"dataset"``, ``"datalist"`` or ``"phantom"``.
        layout: the :class:`~monai_tversky.data.Layout` of a data set folder, else ``None``.
        layout_name: the layout's name, ``"datalist"`` or ``"phantom"`` (what :func:`resolve_layout` gives).
        channels: the input channels, in order.
        kind: a 2D source's kind of image (``"skin"``, ``"ultrasound"``); ``None`` in 3D.
        left_out: ``{modality: [ids of the cases without it]}``: the modalities ``"auto"`` left out of a folder.

    Raises:
        ValueError: when both sources are given, ``layout`` or ``phantom_kind`` is unknown, a folder is in no
            layout a bundle trains on (2D), a datalist names no channels (3D, without ``modalities``), or the
            channels do not suit the images (2D: neither 3 nor 1).
        FileNotFoundError: when a source does not exist.
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike | None = None,
        datalist: str | os.PathLike | None = None,
        layout: str = "auto",
        modalities: Sequence[str] | str | None = "auto",
        phantom_dir: str | os.PathLike | None = None,
        spatial_dims: int = 3,
        phantom_kind: str = "skin",
        default_modalities: Sequence[str] = PHANTOM_MODALITIES,
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3 but got {spatial_dims!r}.")
        self.dataset_dir = str(dataset_dir) if dataset_dir else None
        self.datalist_path = str(datalist) if datalist else None
        self.phantom_dir = str(phantom_dir) if phantom_dir else None
        self.spatial_dims = spatial_dims
        if self.dataset_dir and self.datalist_path:
            raise ValueError(f"give dataset_dir or datalist, not both (got {dataset_dir!r} and {datalist!r}).")
        if layout != "auto":
            get_layout(layout, spatial_dims)  # an unknown name stops here, naming the ones there are
        self.requested = "auto" if is_auto(modalities) else modalities
        self.left_out: dict[str, list[str]] = {}
        self.layout: Layout | None = None
        self._loaded: dict[str, Any] | None = None
        self._built: dict[tuple, dict[str, Any]] = {}
        if self.datalist_path:
            self.origin = "datalist"
            self._loaded = load_datalist(self.datalist_path)
        elif self.dataset_dir:
            self.origin = "dataset"
            root = existing_dir(self.dataset_dir)
            name = detect_layout(root, spatial_dims) if layout == "auto" else layout
            self.layout = get_layout(name, spatial_dims)
            if not self.layout.training:
                raise _no_2d_layout(self.dataset_dir)
        else:
            self.origin = "phantom"
        self.kind = self._resolve_kind(_check_kind(phantom_kind)) if spatial_dims == 2 else None
        self.channels = self._resolve_channels(modalities, default_modalities)
        if self.left_out:
            dropped = "; ".join(f"{m} (lacking in {', '.join(c)})" for m, c in self.left_out.items())
            logger.warning(
                f"modalities auto: the channels are {', '.join(self.channels)}, those every case of "
                f"{self.dataset_dir} has; left out: {dropped}. Pass --modalities with the channels to use (a case "
                "without one of them then stops the run, naming it)."
            )

    @property
    def layout_name(self) -> str:
        """The layout's name, ``"datalist"`` or ``"phantom"``."""
        return self.layout.name if self.layout is not None else self.origin

    def _resolve_kind(self, phantom_kind: str) -> str:
        if self.layout is not None:
            return str(self.layout.kind)
        if self._loaded is not None:
            declared = _declared_channels(self._loaded)
            if declared is not None:
                return "skin" if pil_mode_for_channels(declared) == "RGB" else "ultrasound"
        return phantom_kind

    def _resolve_channels(self, modalities, default_modalities) -> tuple[str, ...]:
        if self.spatial_dims == 2:
            if not is_auto(modalities):
                channels = (modalities,) if isinstance(modalities, str) else tuple(str(m) for m in modalities)
                pil_mode_for_channels(channels)
                return channels
            declared = _declared_channels(self._loaded) if self._loaded is not None else None
            if declared is not None:
                pil_mode_for_channels(declared)
                return declared
            return PHANTOM2D_CHANNELS[str(self.kind)]
        if not is_auto(modalities):
            return canonical_modalities(modalities)
        if self._loaded is not None:
            declared = _declared_channels(self._loaded)
            if declared is None:
                raise ValueError(
                    f"datalist {self.datalist_path} has no \"modality\" entry naming its channels: pass --modalities "
                    "with the channel order of its \"image\" lists, e.g. --modalities \"['FLAIR','T1','T2']\"."
                )
            return declared
        if self.layout is not None:
            if self.layout.survey is not None:
                survey = self.layout.survey(existing_dir(self.dataset_dir))
                self.left_out = dict(survey.left_out)
                return survey.channels
            return tuple(self.layout.channels)
        return tuple(default_modalities)

    def describe(self) -> str:
        """Where the cases come from, in words (a datalist's ``"source"`` entry, ``model.json``'s ``"data"``)."""
        if self.origin == "datalist":
            return f"datalist {Path(self.datalist_path).expanduser().resolve()}"
        if self.origin == "dataset":
            return f"{self.layout.title} {Path(self.dataset_dir).expanduser().resolve()}"
        where = f" {Path(self.phantom_dir).expanduser().resolve()}" if self.phantom_dir else ""
        return f"synthetic 2D {self.kind} phantom{where}" if self.spatial_dims == 2 else f"synthetic phantom{where}"

    def record(self) -> dict[str, Any]:
        """What a run record says of its data: the source, its layout, the channels asked for and used, and the
        modalities left out (``{modality: [case ids]}``, empty unless ``"auto"`` narrowed a folder's)."""
        requested = self.requested if isinstance(self.requested, str) else list(self.requested)
        return {"source": self.describe(), "layout": self.layout_name, "modalities": requested,
                "channels": list(self.channels), "left_out": {k: list(v) for k, v in self.left_out.items()}}  # fmt: skip

    def label_map(self, num_classes: int = 2, class_names: Mapping[int | str, str] | None = None) -> LabelMap:
        """The classes of this source's labels (:func:`~monai_tversky.data.lesion_label_map` of its layout)."""
        return lesion_label_map(self.layout_name, num_classes, class_names)

    def image_size(self) -> tuple[int, int]:
        """abraham2018's training image size ``(H, W)`` for a 2D source's kind: 192 x 256 (skin), 128 x 128
        (ultrasound)."""
        return PHANTOM2D_SHAPES[str(self.kind)]

    def cases(
        self,
        input: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        require_label: bool = False,
        section: str | None = None,
        **phantom: Any,
    ) -> list[dict[str, Any]]:
        """
        The cases inference (or, with ``require_label``, evaluation) runs on: ``input`` when given (a datalist JSON,
        a folder in any layout, one image file or a list of files, with this source's channels, labels checked as
        lesion masks: :func:`~monai_tversky.data.build_inference_datalist`), else this source's validation cases
        (the phantom's, for an inference config's default source), checked either way before anything is
        predicted.

        Args:
            input: what to run on; empty or ``None``: the source's validation cases.
            require_label: every case must have a label (evaluation). Defaults to ``False``.
            section: the JSON section to take (see :func:`~monai_tversky.data.build_inference_datalist`).
            phantom: arguments of :meth:`datalist` for the source's own cases (``phantom_cases``, ``phantom_shape``,
                ``seed``, ``label_values``, ...).
        """
        if input:
            return build_inference_datalist(
                input, modalities=self.channels if self.spatial_dims == 3 else None, section=section,
                require_label=require_label, spatial_dims=self.spatial_dims,
            )  # fmt: skip
        return self.datalist(**phantom)["validation"]

    def datalist(
        self,
        val_fraction: float = 0.2,
        seed: int = 0,
        phantom_cases: int | None = None,
        phantom_shape: Sequence[int] | None = None,
        check: bool | str = True,
        progress: bool = True,
        label_values: str | Sequence[float] | None = "binary",
        phantom_white_matter: bool = False,
    ) -> dict[str, Any]:
        """
        The training data, ``{"training": [...], "validation": [...], "modality": {"0": ..., ...}, "source": str}``
        (2D: and ``"kind"``), built once per set of arguments (a config that reads it twice scans nothing twice).

        A single case is used for validation as well, with a warning. Then every file is read once
        (:func:`~monai_tversky.data.check_datalist`): a missing, unreadable, truncated or corrupt file, non-finite
        voxels, a label holding other values than ``label_values``, a wrong channel count (3D) or an image/label
        geometry mismatch stops with an error naming the file.

        Args:
            val_fraction: fraction of the cases (groups) for validation, in [0, 1). Defaults to 0.2.
            seed: seed of the split and of the phantom. Defaults to 0.
            phantom_cases: number of phantom cases. Defaults to 8 (3D) or 40 (2D).
            phantom_shape: the phantom's spatial size; ``None``: 128 x 224 x 256 (3D), the kind's paper size (2D).
            check: ``True`` reads every file's voxels, ``"header"`` only the headers, ``False`` nothing.
            progress: show a progress bar while generating the phantom. Defaults to ``True``.
            label_values: what labels must hold (see :func:`~monai_tversky.data.check_datalist`); 2D masks are
                always checked as lesion masks (0 and one value). Defaults to ``"binary"``.
            phantom_white_matter: the 3D phantom's labels also mark white matter, 2. Defaults to ``False``.

        Raises:
            ValueError: when neither a source nor ``phantom_dir`` is given, a datalist has no training items, or
                the check fails.
            FileNotFoundError: when a listed file does not exist.
        """
        key = (val_fraction, seed, phantom_cases, None if phantom_shape is None else tuple(phantom_shape), check,
               None if label_values is None or isinstance(label_values, str) else tuple(label_values),
               label_values if isinstance(label_values, str) else None, phantom_white_matter)  # fmt: skip
        if key not in self._built:
            self._built[key] = self._build(val_fraction, seed, phantom_cases, phantom_shape, check, progress,
                                           label_values, phantom_white_matter)  # fmt: skip
        return self._built[key]

    def _build(self, val_fraction, seed, phantom_cases, phantom_shape, check, progress, label_values, white_matter):
        if self.origin == "datalist":
            training = self._loaded.get("training", [])
            if not training:
                raise ValueError(f"datalist {self.datalist_path} has no 'training' items.")
            if isinstance(self._loaded.get("validation"), list):
                result = {"training": training, "validation": self._loaded["validation"]}
            else:
                group = next((k for k in ("subject_id", "group_id") if any(k in i for i in training)), None)
                result = split_datalist(training, val_fraction, seed, group_key=group)
        elif self.origin == "dataset":
            items = self.layout.items(existing_dir(self.dataset_dir), self.channels if self.spatial_dims == 3 else None,
                                      "required")  # fmt: skip
            result = split_datalist(items, val_fraction, seed, group_key=self.layout.group_key)
        else:
            if not self.phantom_dir:
                what = "synthetic 2D phantom" if self.spatial_dims == 2 else "synthetic phantom"
                raise ValueError(f"give dataset_dir, datalist or phantom_dir (where the {what} is generated).")
            if self.spatial_dims == 2:
                generated = generate_phantom_dataset_2d(
                    self.phantom_dir, 40 if phantom_cases is None else phantom_cases, kind=self.kind,
                    shape=phantom_shape, seed=seed, val_fraction=val_fraction, progress=progress,
                )  # fmt: skip
            else:
                generated = generate_phantom_dataset(
                    self.phantom_dir, 8 if phantom_cases is None else phantom_cases,
                    PHANTOM_SHAPE if phantom_shape is None else phantom_shape, modalities=self.channels, seed=seed,
                    val_fraction=val_fraction, progress=progress, white_matter_class=bool(white_matter),
                )  # fmt: skip
            result = {"training": generated["training"], "validation": generated["validation"]}
        if not result["validation"] and len(result["training"]) == 1 and val_fraction > 0:
            warnings.warn("the data set has a single case: it is used for validation as well as training.", stacklevel=3)
            result["validation"] = list(result["training"])
        result["modality"] = {str(i): m for i, m in enumerate(self.channels)}
        result["source"] = self.describe()
        if self.spatial_dims == 2:
            result["kind"] = self.kind
        if check:
            verify = "header" if check == "header" else True
            if self.spatial_dims == 2:
                check_datalist(result, modalities=None, verify_data=verify, label_values="binary", label_channels=None)
            else:
                check_datalist(result, modalities=self.channels, verify_data=verify, label_values=label_values)
        return result


def resolve_layout(
    dataset_dir: str | os.PathLike | None = None, datalist: str | os.PathLike | None = None, layout: str = "auto"
) -> str:
    """The layout a 3D bundle's data arguments lead to: ``"phantom"`` (no source), ``"datalist"``, the given
    ``layout``, or the detected one (:func:`~monai_tversky.data.detect_layout`)."""
    if datalist:
        return "datalist"
    if not dataset_dir:
        return "phantom"
    return detect_layout(dataset_dir) if layout == "auto" else layout
