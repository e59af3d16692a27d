"""The real-data path as a newcomer meets it (issue 11), through ``python -m monai.bundle run`` as a user runs it, on
tiny NIfTI cases made here (a folder of cases with FLAIR, T1, T1POST, T2 and GT, like ../shared/data/open_ms_p19) and
a tiny phantom. One test per point of the issue; each looks at what the user sees: files written, log lines, and the
last line of the output when the run stops."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bundle_catalog import bundle_run, last_line, run_output

REPO = Path(__file__).resolve().parents[1]
TRAIN = "bundles/msseg/train.json"
INFER = "bundles/msseg/configs/inference.json"
EVALUATE = "['bundles/msseg/configs/inference.json','bundles/msseg/configs/evaluate.json']"
TINY = [
    "--patch_size", "[16,16,16]", "--patches_per_image", "2", "--batch_size", "2", "--sw_batch_size", "8",
    "--num_workers", "0", "--network_def#num_blocks", "2", "--network_def#growth_rate", "2",
    "--network_def#layers_per_block", "1", "--network_def#init_features", "4", "--network_def#upsample_features", "4",
]
PHANTOM = ["--phantom_shape", "[24,32,32]", "--phantom_cases", "3"]
#: hashemi2018's five channels (the bundle's default is the four public MS data share): a model a folder cannot feed
PAPER_CHANNELS = ["--modalities", "['FLAIR','T1','T1Gd','PD','T2']"]

pytestmark = pytest.mark.slow


def output(result) -> str:
    return run_output(result)


def _case(folder: Path, rng: np.random.Generator, shape=(24, 32, 32), names=("FLAIR", "T1", "T1POST", "T2")) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([1.0, 1.0, 1.2, 1.0])
    label = np.zeros(shape, np.uint8)
    label[8:14, 10:18, 12:20] = 1
    for name in names:
        image = rng.normal(0.0, 1.0, shape).astype(np.float32) + 3.0 * label
        nib.save(nib.Nifti1Image(image, affine), str(folder / f"{name}.nii.gz"))
    nib.save(nib.Nifti1Image(label, affine), str(folder / "GT.nii.gz"))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Three real-looking 4-modality cases, a phantom-trained model and a model trained on the cases."""
    root = tmp_path_factory.mktemp("real_data_path")
    rng = np.random.default_rng(0)
    for name in ("p01", "p02", "p03"):
        _case(root / "cases" / name, rng)
    phantom = bundle_run(TRAIN, *TINY, *PHANTOM, *PAPER_CHANNELS, "--phantom_dir", str(root / "phantom"), "--ckpt_dir",
                         str(root / "phantom_models"), "--output_dir", str(root / "phantom_out"), "--max_epochs", "1")
    assert phantom.returncode == 0, output(phantom)[-3000:]
    real = bundle_run(TRAIN, *TINY, "--dataset_dir", str(root / "cases"), "--ckpt_dir", str(root / "models"),
                      "--output_dir", str(root / "out"), "--max_epochs", "1")
    assert real.returncode == 0, output(real)[-3000:]
    return {"root": root, "phantom": phantom, "real": real}


def test_1_a_folder_of_cases_is_detected_for_training_and_inference(work):
    root = work["root"]
    record = json.loads((root / "out" / "training_run.json").read_text())
    assert record["channels"] == ["FLAIR", "T1", "T1Gd", "T2"]  # T1POST is T1-Gd; no PD asked for
    assert json.loads((root / "models" / "model.json").read_text())["modalities"] == record["channels"]
    # inference on one case folder takes the model's channels from its model.json: no --modalities needed
    result = bundle_run(INFER, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input",
                        str(root / "cases" / "p01"), "--output_dir", str(root / "infer_one"), "--tta", "none")
    assert result.returncode == 0, output(result)[-3000:]
    assert "channels ['FLAIR', 'T1', 'T1Gd', 'T2'], as" in output(result)
    # the phantom model wants PD, which the folder lacks: the message names the case, the modality and the fix
    result = bundle_run(INFER, *TINY, "--ckpt_path", str(root / "phantom_models" / "model.pt"), "--input",
                        str(root / "cases" / "p01"), "--output_dir", str(root / "infer_pd"))
    assert result.returncode != 0
    assert "has no image for modalities ['PD']" in output(result) and "--modalities" in last_line(result)


def test_2_a_short_run_leaves_a_model(work):
    """--max_epochs 1 with val_interval 2: the last epoch validates, so models/model.pt (and model.json) exist."""
    root = work["root"]
    assert "val_interval: 2" not in output(work["real"])  # the default, not an override
    assert (root / "models" / "model.pt").is_file() and (root / "models" / "model.json").is_file()
    assert "saved the best model so far to" in output(work["real"])


def test_3_inference_names_its_checkpoint_and_refuses_one_that_does_not_fit(work):
    root = work["root"]
    ckpt = root / "phantom_models" / "model.pt"  # 5 input channels
    result = bundle_run(INFER, *TINY, *PHANTOM, *PAPER_CHANNELS, "--phantom_dir", str(root / "phantom"), "--ckpt_path", str(ckpt),
                        "--output_dir", str(root / "infer_phantom"), "--tta", "none")
    assert result.returncode == 0, output(result)[-3000:]
    assert f"loading the model {ckpt}" in output(result)
    result = bundle_run(INFER, *TINY, "--ckpt_path", str(ckpt), "--input", str(root / "cases" / "p01"),
                        "--modalities", "['FLAIR','T1','T1Gd','T2']", "--output_dir", str(root / "infer_bad"))
    assert result.returncode != 0
    text = output(result)
    assert f"the model {ckpt} does not fit the network" in text
    assert "the checkpoint takes 5 input channel(s), the network 4" in text
    assert "4 input channels: FLAIR, T1, T1Gd, T2" in text and "--ckpt_path" in last_line(result)
    assert not (root / "infer_bad").exists() or not any((root / "infer_bad").rglob("*.nii.gz"))


def test_4_a_resume_checkpoint_of_another_run_is_refused_and_false_starts_afresh(work):
    root = work["root"]
    ckpt_dir = root / "phantom_models"  # holds the phantom run's checkpoint_epoch=1.pt
    result = bundle_run(TRAIN, *TINY, "--dataset_dir", str(root / "cases"), "--ckpt_dir", str(ckpt_dir),
                        "--output_dir", str(root / "out_refused"), "--max_epochs", "2")
    assert result.returncode != 0
    text = output(result)
    assert "holds the resume checkpoint" in text and "checkpoint_epoch=1.pt" in text
    assert "modalities: ['FLAIR', 'T1', 'T1Gd', 'PD', 'T2'] then, ['FLAIR', 'T1', 'T1Gd', 'T2'] now" in text
    assert "--resume False" in text and "--ckpt_dir" in last_line(result)
    fresh = bundle_run(TRAIN, *TINY, "--dataset_dir", str(root / "cases"), "--ckpt_dir", str(ckpt_dir),
                       "--output_dir", str(root / "out_fresh"), "--max_epochs", "2", "--resume", "False")
    assert fresh.returncode == 0, output(fresh)[-3000:]
    assert "not resuming from" in output(fresh) and "training starts afresh" in output(fresh)


def test_5_each_case_gets_its_own_output_folder(work):
    root = work["root"]
    out = root / "infer_all"
    for case in ("p01", "p02"):  # one case folder at a time, into the same output folder
        result = bundle_run(INFER, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input",
                            str(root / "cases" / case), "--output_dir", str(out), "--tta", "none")
        assert result.returncode == 0, output(result)[-3000:]
    result = bundle_run(INFER, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input",
                        str(root / "cases"), "--output_dir", str(root / "infer_folder"), "--tta", "none")
    assert result.returncode == 0, output(result)[-3000:]
    for folder, cases in ((out, ("p01", "p02")), (root / "infer_folder", ("p01", "p02", "p03"))):
        written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.nii.gz"))
        assert written == sorted(f"{c}/{c}_{k}.nii.gz" for c in cases for k in ("prob", "seg")), written
    image = nib.load(root / "cases" / "p02" / "FLAIR.nii.gz")
    seg = nib.load(out / "p02" / "p02_seg.nii.gz")
    assert seg.shape == image.shape and np.allclose(seg.affine, image.affine)


def test_6_inference_and_evaluation_check_their_inputs_before_predicting(work, tmp_path):
    root = work["root"]
    bad = tmp_path / "bad"
    _case(bad / "q01", np.random.default_rng(1))
    raw = bytearray((bad / "q01" / "T1.nii.gz").read_bytes())  # damage inside the gzip stream
    raw[len(raw) // 2 : len(raw) // 2 + 8] = b"\xff" * 8
    (bad / "q01" / "T1.nii.gz").write_bytes(bytes(raw))
    result = bundle_run(INFER, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input", str(bad),
                        "--output_dir", str(tmp_path / "out1"))
    assert result.returncode != 0 and "q01/T1.nii.gz is truncated or corrupt" in output(result)
    assert not list((tmp_path / "out1").rglob("*.nii.gz"))
    # evaluation: a label on another grid is found up front, before any window is predicted
    shifted = tmp_path / "shifted"
    _case(shifted / "q02", np.random.default_rng(2))
    nib.save(nib.Nifti1Image(np.zeros((24, 32, 30), np.uint8), np.diag([1.0, 1.0, 1.2, 1.0])),
             str(shifted / "q02" / "GT.nii.gz"))
    result = bundle_run(EVALUATE, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input", str(shifted),
                        "--output_dir", str(tmp_path / "out2"))
    assert result.returncode != 0
    assert "q02/GT.nii.gz does not match image" in output(result) and "spatial shape" in output(result)
    assert "evaluate: case" not in output(result) and not list((tmp_path / "out2").rglob("*.nii.gz"))


def test_7_long_work_shows_progress_in_a_log(work):
    """Not on a terminal (as here): a line per validated case with its time, a line per epoch with the run's
    estimated end."""
    text = output(work["real"])
    assert "validate: case 1/" in text and " took " in text
    two_epochs = bundle_run(TRAIN, *TINY, *PHANTOM, *PAPER_CHANNELS, "--phantom_dir", str(work["root"] / "phantom"), "--ckpt_dir",
                            str(work["root"] / "models_2"), "--output_dir", str(work["root"] / "out_2"),
                            "--max_epochs", "2", "--val_interval", "5")
    assert two_epochs.returncode == 0, output(two_epochs)[-3000:]
    assert "train: epoch 1/2 took" in output(two_epochs) and "left" in output(two_epochs)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset_dir", "/no/such/folder"], "dataset folder not found: /no/such/folder"),
        (["--modalities", "['FLAIR','T9']"], "T9"),
        (["--tta", "None"], "--tta None: monai.bundle ignores None given on the command line"),
        (["--resume", "false"], "Write --resume False"),
    ],
)
def test_8_a_user_error_ends_with_our_message(work, args, message):
    root = work["root"]
    result = bundle_run(TRAIN, *TINY, *PHANTOM, "--phantom_dir", str(root / "phantom"), "--ckpt_dir",
                        str(root / "models_err"), "--output_dir", str(root / "out_err"), "--max_epochs", "1", *args)
    assert result.returncode != 0
    assert message in last_line(result), last_line(result)
    assert "Failed to evaluate" not in last_line(result)


def test_9_the_console_prints_what_the_csv_holds(work, tmp_path):
    """A threshold above 1 predicts no lesion: PPV and LFPR are 0/0, NaN in metrics.csv and on the console."""
    root = work["root"]
    result = bundle_run(EVALUATE, *TINY, "--ckpt_path", str(root / "models" / "model.pt"), "--input",
                        str(root / "cases"), "--output_dir", str(tmp_path / "eval"), "--tta", "none",
                        "--threshold", "1.5")
    assert result.returncode == 0, output(result)[-3000:]
    rows = (tmp_path / "eval" / "report" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert all(row.split(",")[header.index("ppv")] == "nan" for row in rows[1:])
    metrics_line = next(line for line in output(result).splitlines() if "Metrics --" in line)
    assert "ppv: nan" in metrics_line and "lfpr: nan" in metrics_line


def test_10_the_split_is_logged_and_recorded(work):
    root = work["root"]
    record = json.loads((root / "out" / "training_run.json").read_text())
    train_ids = [i["case_id"] for i in record["training"]]
    val_ids = [i["case_id"] for i in record["validation"]]
    assert sorted(train_ids + val_ids) == ["p01", "p02", "p03"] and len(val_ids) == 1
    text = output(work["real"])
    assert f"training on 2 case(s): {', '.join(train_ids)}" in text
    assert f"validating on 1 case(s): {val_ids[0]}" in text
    assert record["source"].startswith("folder of cases") and record["settings"]["patch_size"] == [16, 16, 16]
    assert all(Path(p).is_file() for item in record["training"] for p in item["image"])
