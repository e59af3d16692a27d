"""MONAI Label studies from per-modality files: ``monai_tversky.serving.studies`` (one 4D NIfTI per case, channels last
in the bundle's order, labels under labels/final/)."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from monai_tversky.data import generate_phantom_dataset
from monai_tversky.serving.studies import bundle_input_channels, write_monailabel_studies

from bundle_catalog import BUNDLE_NAMES, REPO, bundle_dir, input_channels, spatial_dims

BUNDLES_3D = [name for name in BUNDLE_NAMES if spatial_dims(name) == 3]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies_phantom")
    data = generate_phantom_dataset(root / "phantom", num_cases=3, shape=(24, 28, 24), seed=3, val_fraction=0.34,
                                    progress=False, modalities=input_channels("msseg"))  # fmt: skip
    datalist = root / "datalist.json"
    datalist.write_text(json.dumps(data))
    return data, datalist


@pytest.mark.parametrize("name", BUNDLES_3D)
def test_channels_are_the_bundle_metadata_s(name):
    assert bundle_input_channels(bundle_dir(name)) == input_channels(name)


@pytest.mark.parametrize("name", BUNDLES_3D)
def test_studies_stack_the_bundle_s_channels_last_with_the_labels_beside(phantom, tmp_path, name):
    data, datalist = phantom
    channels = bundle_input_channels(bundle_dir(name))
    # the phantom's folder of cases named by modality: the bundle's channels are picked from it, in its order
    written = write_monailabel_studies(datalist.parent / "phantom", tmp_path / "studies", channels)
    cases = sorted(data["training"] + data["validation"], key=lambda item: item["case_id"])
    assert [w["case_id"] for w in written] == [c["case_id"] for c in cases]
    order = {m.upper(): i for i, m in enumerate(data["modality"].values())}  # the phantom's files, by modality
    for study, item in zip(written, cases):
        img = nib.load(study["image"])
        first = nib.load(item["image"][0])
        assert img.shape == (*first.shape, len(channels)) and img.get_data_dtype() == np.float32
        np.testing.assert_allclose(img.affine, first.affine)
        for c, modality in enumerate(channels):  # channel c is the file of the bundle's c-th modality
            source = item["image"][order[modality.upper()]]
            np.testing.assert_array_equal(np.asarray(img.dataobj)[..., c], np.asarray(nib.load(source).dataobj,
                                                                                        dtype=np.float32))
        assert study["label"] == str(tmp_path / "studies" / "labels" / "final" / f"{study['case_id']}.nii.gz")
        lab = np.asarray(nib.load(study["label"]).dataobj)
        np.testing.assert_array_equal(lab, np.asarray(nib.load(item["label"]).dataobj) > 0.5)
        assert set(np.unique(lab)) <= {0, 1}


def test_existing_studies_are_kept_unless_overwrite(phantom, tmp_path):
    _, datalist = phantom
    channels = input_channels("msseg")
    write_monailabel_studies(datalist, tmp_path, channels, section="validation")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_monailabel_studies(datalist, tmp_path, channels, section="validation")
    assert write_monailabel_studies(datalist, tmp_path, channels, section="validation", overwrite=True)


def test_a_case_without_the_bundle_s_channel_is_named(phantom, tmp_path):
    data, _ = phantom
    item = data["validation"][0]
    with pytest.raises(ValueError, match="channel"):  # 4 files given, 3 channels asked for: the check names it
        write_monailabel_studies(item["image"], tmp_path, ["T1", "T2", "FLAIR"])


def test_command_line(phantom, tmp_path):
    _, datalist = phantom
    cmd = [sys.executable, "-m", "monai_tversky.serving.studies", "--bundle", str(bundle_dir("msseg")), "--input",
           str(datalist), "--section", "training", "--studies", str(tmp_path / "s")]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 studies" in result.stdout and "2 with a label" in result.stdout
    assert len(list((tmp_path / "s").glob("*.nii.gz"))) == 2
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)  # again: refused, with the way out
    assert result.returncode == 1 and "--overwrite" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([*cmd[:4], str(tmp_path / "nowhere"), *cmd[5:]], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "not a bundle folder" in result.stderr
