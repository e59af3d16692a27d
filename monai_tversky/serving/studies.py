"""
MONAI Label studies from the bundles' data: one 4D NIfTI image per case (the channels last, in the order of the
bundle's ``metadata.json``) and its label under ``labels/final/``, which is how a MONAI Label datastore holds a
multi-channel case (it serves one image file per case). MSSEG 2016, ISBI 2015, a folder of cases named by modality
and the bundles' own datalists keep one file per modality; this turns them into studies::

    python -m monai_tversky.serving.studies --bundle bundles/msseg --input /data/case_folder --studies /data/studies
    python -m monai_tversky.serving.studies --bundle bundles/tversky_unet3d --input my_datalist.json --section training \\
        --studies /data/studies

Every input file is checked first (:func:`monai_tversky.data.build_inference_datalist`: missing, unreadable or
corrupt files, non-finite voxels, labels that are not masks, geometry mismatches), so a datastore is never built from
a broken case.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from monai_tversky.data import build_inference_datalist, case_output_path, safe_case_name

__all__ = ["bundle_input_channels", "write_monailabel_studies"]


def bundle_input_channels(bundle: str | os.PathLike) -> list[str]:
    """
    The channels a bundle's network takes, in order: ``network_data_format.inputs.image.channel_def`` of its
    ``configs/metadata.json`` (the order MONAI Label feeds a 4D study's channels in).

    Raises:
        FileNotFoundError: when the bundle has no ``configs/metadata.json``.
        ValueError: when the metadata has no input ``channel_def`` (or a gap in its channel numbers).
    """
    meta_file = Path(bundle) / "configs" / "metadata.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{bundle} is not a bundle folder: {meta_file} does not exist.")
    metadata = json.loads(meta_file.read_text())
    try:
        channel_def = metadata["network_data_format"]["inputs"]["image"]["channel_def"]
        return [str(channel_def[str(i)]) for i in range(len(channel_def))]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{meta_file} has no channel_def numbered 0..n-1 for its input image: {e!r}") from e


def write_monailabel_studies(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    studies_dir: str | os.PathLike,
    modalities: Sequence[str],
    section: str | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """
    Write MONAI Label studies: ``<studies_dir>/<case_id>.nii.gz``, the case's channels stacked last (X, Y, Z, C) in
    the order of ``modalities`` as float32 with the first channel's affine, and, for a case with a label,
    ``<studies_dir>/labels/final/<case_id>.nii.gz`` (uint8, 1 for lesion), the layout MONAI Label's local datastore
    reads. A case that already is one multi-channel file is written the same way (channels moved last).

    Args:
        source: a folder of cases, a datalist JSON, one image file or a list of per-modality files (see
            :func:`monai_tversky.data.build_inference_datalist`).
        studies_dir: the datastore folder (created).
        modalities: the channels, in the bundle's order (:func:`bundle_input_channels`).
        section: the datalist JSON's section. Defaults to ``None`` (its first of testing, test, validation,
            training).
        overwrite: replace studies that exist. Defaults to ``False`` (an existing study is an error: it may hold
            labels a user drew).

    Returns:
        one ``{"case_id", "image", "label"}`` per study written (``label`` ``None`` for an unlabelled case).

    Raises:
        FileExistsError: when a study exists and ``overwrite`` is False.
        ValueError / FileNotFoundError: from the input checks, naming the case and the file.
    """
    items = build_inference_datalist(source, modalities=list(modalities), section=section, check=True)
    studies = Path(studies_dir)
    labels = studies / "labels" / "final"
    written = []
    for item in items:
        case = safe_case_name(item["case_id"])
        image_out = case_output_path(studies, case, ".nii.gz")
        label_out = case_output_path(studies, case, ".nii.gz", subfolder=Path("labels") / "final")
        for path in (image_out, label_out):
            if path.exists() and not overwrite:
                raise FileExistsError(f"{path} exists (a study may hold labels drawn in MONAI Label): pass "
                                      "overwrite=True (--overwrite) to replace it.")
        files = item["image"] if isinstance(item["image"], (list, tuple)) else [item["image"]]
        first = nib.load(str(files[0]))
        if len(files) == 1:  # one multi-channel file: channels are its 4th axis already (or it has one channel)
            data = np.asarray(first.dataobj, dtype=np.float32)
            data = data[..., None] if data.ndim == 3 else data
        else:
            data = np.stack([np.asarray(nib.load(str(f)).dataobj, dtype=np.float32) for f in files], axis=-1)
        studies.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, first.affine), str(image_out))
        label = None
        if item.get("label"):
            lab = nib.load(str(item["label"]))
            mask = (np.asarray(lab.dataobj, dtype=np.float32) > 0.5).astype(np.uint8)
            labels.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(mask, lab.affine), str(label_out))
            label = str(label_out)
        written.append({"case_id": case, "image": str(image_out), "label": label})
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monai_tversky.serving.studies", description=__doc__.strip().split("\n\n")[0]
    )
    parser.add_argument("--bundle", required=True, help="the bundle folder (its metadata.json gives the channels)")
    parser.add_argument("--input", required=True, nargs="+",
                        help="a folder of cases, a datalist JSON, one image file, or one file per modality")
    parser.add_argument("--studies", required=True, help="the MONAI Label datastore folder to write")
    parser.add_argument("--section", default=None, help="the datalist JSON's section (default: its first of "
                                                        "testing, test, validation, training)")
    parser.add_argument("--overwrite", action="store_true", help="replace studies that exist")
    args = parser.parse_args(argv)
    source = args.input[0] if len(args.input) == 1 else args.input
    try:
        channels = bundle_input_channels(args.bundle)
        written = write_monailabel_studies(source, args.studies, channels, section=args.section,
                                           overwrite=args.overwrite)
    except (OSError, ValueError) as e:
        print(f"studies: {e}", file=sys.stderr)
        return 1
    labelled = sum(1 for w in written if w["label"])
    print(f"{len(written)} studies ({', '.join(channels)}, channels last) in {args.studies}, {labelled} with a label "
          "in labels/final/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
