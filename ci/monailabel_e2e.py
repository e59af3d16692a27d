#!/usr/bin/env python
"""The Python half of ci/monailabel_e2e: one bundle in a real MONAI Label server, end to end.

    python ci/monailabel_e2e.py run --bundle msseg --work /tmp/mle2e/msseg --result /tmp/mle2e/msseg.json
    python ci/monailabel_e2e.py table /tmp/mle2e/*.json

``run`` (in the virtual environment that has monailabel, monai and monai_tversky): writes a small phantom, turns it
into MONAI Label studies (3D: one 4D NIfTI per case with ``python -m monai_tversky.serving.studies``; 2D: the phantom's
PNG images, labels as 0/255 PNGs under ``labels/final/``), the last study left unlabelled for scoring; downloads the
monaibundle app, copies the bundle into it, starts ``monailabel start_server`` on 127.0.0.1 (offline flags of the
msseg card, epistemic scoring on), and checks over HTTP:

  info          GET /info/: the bundle is served and trainable, its label map has lesion: 1
  infer         POST /infer/<bundle>?image=<id> (TTA off through displayable_configs where the bundle has them): the
                mask has the study's shape (and affine, 3D), label values within the label map
  train         POST /train/<bundle> {"max_epochs": 1, "val_split": 0.5}, GET /train/ until it ends: status DONE and
                models/model.pt changed (a served model narrower than train.json's network, focal_tversky's demo
                model, gets its width written into the app copy's train.json first, as the bundle's card says)
  infer_after_train  the infer check again: the model the training wrote is served
  scoring       POST /scoring/<method>, GET /scoring/ until it ends: DONE, and the unlabelled study has a score
                (epistemic_entropy) in the datastore
  activelearning  POST /activelearning/<strategy> for each strategy /info/ lists: an image id of the datastore

The server is stopped (its process group killed) whatever happens. The result (timings, every check) is written to
``--result`` as it goes; exit status 1 when a check failed. ``table`` prints the summary table of result files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KNOWN_FOCAL_TVERSKY_WIDTH = (
    "known: MONAI Label loads models/model.pt into configs/train.json's network, so their widths (features) must agree "
    "(models/model.json records the served model's; see the focal_tversky card, 'Training from MONAI Label')"
)


def venv_env(**extra) -> dict:
    """The environment with this Python's bin folder first on PATH: the `monailabel` command is a shell script that
    runs `python -m monailabel.main` with whichever python PATH finds first."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(bindir).parent)
    env.update(extra)
    return env


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Failed(Exception):
    """A failed check: the message names it."""


class Result:
    def __init__(self, bundle: str, path: Path | None):
        self.path = path
        self.data = {"bundle": bundle, "checks": {}, "times": {}, "notes": []}

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.data["checks"][name] = {"ok": bool(ok), "detail": detail}
        log(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")
        self.save()

    def time(self, name: str, seconds: float) -> None:
        self.data["times"][name] = round(seconds, 1)
        self.save()

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        log(f"note: {text}")
        self.save()

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, indent=2))

    @property
    def failed(self) -> list[str]:
        return [k for k, v in self.data["checks"].items() if not v["ok"]]


# ---------------------------------------------------------------------------------------------------------------
# bundle, phantom, studies


def bundle_meta(bundle_dir: Path) -> dict:
    return json.loads((bundle_dir / "configs" / "metadata.json").read_text())


def bundle_dims(meta: dict) -> int:
    shape = meta["network_data_format"]["inputs"]["image"].get("spatial_shape") or [0, 0, 0]
    return len(shape)  # what MONAI Label's BundleInferTask takes as the dimension


def infer_params(bundle_dir: Path) -> tuple[dict, str]:
    """Request params that turn test-time augmentation off, from inference.json's displayable_configs."""
    config = json.loads((bundle_dir / "configs" / "inference.json").read_text())
    displayable = config.get("displayable_configs") or {}
    if "tta" in displayable:
        return {"tta": "none"}, f"displayable_configs {displayable}; request sets tta none"
    return {}, (f"inference.json has no 'tta' in displayable_configs ({displayable or 'none'}): request uses the "
                f"bundle's defaults (inferer {config.get('inferer', {}).get('_target_', '?')})")


def make_studies(bundle_dir: Path, work: Path, dims: int, shape: list[int], cases: int) -> tuple[Path, list[str], str]:
    """Phantom -> studies; returns (studies dir, study ids, the unlabelled study's id). With ``--zip-url`` the
    phantom and the studies come from the downloaded release's own copy of the package (``bundle_dir`` on
    ``sys.path``): the environment has no other."""
    from monai_tversky.serving import studies as studies_mod

    channels = studies_mod.bundle_input_channels(bundle_dir)
    phantom, studies = work / "phantom", work / "studies"
    if studies.exists():
        shutil.rmtree(studies)
    if dims == 3:
        from monai_tversky.data import generate_phantom_dataset

        log(f"phantom: {cases} cases of {shape} ({', '.join(channels)}) in {phantom}")
        generate_phantom_dataset(phantom, num_cases=cases, shape=shape, modalities=channels, seed=0, progress=False)
        cmd = [sys.executable, "-m", "monai_tversky.serving.studies", "--bundle", str(bundle_dir),
               "--input", str(phantom), "--studies", str(studies)]
        log("studies: " + " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(bundle_dir))  # cwd: a release's package
        print(proc.stdout + proc.stderr, end="", flush=True)
        if proc.returncode != 0:
            raise Failed(f"studies: python -m monai_tversky.serving.studies failed (rc {proc.returncode})")
        ext = ".nii.gz"
    else:
        from monai_tversky.data import PHANTOM2D_CHANNELS, generate_phantom_dataset_2d

        kind = next((k for k, v in PHANTOM2D_CHANNELS.items() if list(v) == list(channels)), None)
        if kind is None:
            raise Failed(f"studies: no 2D phantom has the channels {channels} (PHANTOM2D_CHANNELS: {PHANTOM2D_CHANNELS})")
        log(f"phantom: {cases} {kind} images of {shape} ({', '.join(channels)}) in {phantom}")
        generate_phantom_dataset_2d(phantom, num_cases=cases, kind=kind, shape=shape, seed=0, progress=False)
        # monai_tversky.serving.studies writes NIfTI only; a 2D MONAI Label datastore holds the image files as they are
        (studies / "labels" / "final").mkdir(parents=True)
        for case in sorted(p.name for p in phantom.glob("case_*") if p.is_dir()):
            shutil.copy(phantom / case / "image.png", studies / f"{case}.png")
            shutil.copy(phantom / case / "label.png", studies / "labels" / "final" / f"{case}.png")
        log(f"studies: {cases} PNG images (+ 0/255 PNG labels under labels/final/) in {studies}")
        ext = ".png"
    ids = sorted(p.name[: -len(ext)] for p in studies.glob(f"*{ext}"))
    if len(ids) != cases:
        raise Failed(f"studies: expected {cases} studies in {studies}, found {ids}")
    unlabelled = ids[-1]
    (studies / "labels" / "final" / f"{unlabelled}{ext}").unlink()  # left for scoring
    log(f"studies: {ids}; {unlabelled} left unlabelled (for scoring)")
    return studies, ids, unlabelled


# ---------------------------------------------------------------------------------------------------------------
# server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, app: Path, studies: Path, bundle: str, port: int, log_file: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.log_file = log_file
        exe = Path(sys.executable).parent / "monailabel"
        self.cmd = [str(exe), "start_server", "--app", str(app), "--studies", str(studies),
                    "--conf", "models", bundle, "--conf", "zoo_source", "ngc", "--conf", "sam2", "false",
                    "--conf", "epistemic_model", bundle, "--conf", "epistemic_max_samples", "2",
                    "--conf", "epistemic_simulation_size", "2", "--host", "127.0.0.1", "--port", str(port)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = venv_env(PYTHONUNBUFFERED="1")  # tracebacks in the log at once, not at exit
        # no scoring run of its own at start-up / after train / after active learning: the script's POST /scoring
        # is the one measured (MONAI Label's default would start one at once and answer our POST with 429)
        env["MONAI_LABEL_AUTO_UPDATE_SCORING"] = "false"
        log("server: MONAI_LABEL_AUTO_UPDATE_SCORING=false " + " ".join(self.cmd))
        self._fh = open(self.log_file, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.log_file.parent), start_new_session=True)

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def mark(self) -> int:
        """The log's size now: last_error(mark) looks only at what was logged after it."""
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def last_error(self, mark: int = 0, n: int = 14) -> str:
        """The end of the last traceback logged since ``mark`` (its deepest frames and the exception line)."""
        size, t0 = -1, time.monotonic()
        while time.monotonic() - t0 < 15 and self.mark() != size:  # until the server has finished logging it
            size = self.mark()
            time.sleep(2)
        lines = self.lines_since(mark)
        if lines is None:
            return "(no server log)"
        starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
        if not starts:
            return "(no traceback in the server log)"
        block = [lines[starts[-1]]]
        for ln in lines[starts[-1] + 1:]:
            if ln.startswith("[20"):  # the next log record
                break
            block.append(ln)
        return "\n".join(["Traceback (most recent call last): ..."] + block[1:][-n:])

    def lines_since(self, mark: int = 0) -> list[str] | None:
        """The log's lines after ``mark`` (None when it cannot be read)."""
        try:
            with open(self.log_file, errors="replace") as f:
                f.seek(mark)
                return f.read().splitlines()
        except OSError:
            return None

    def grep(self, words: tuple[str, ...], n: int = 25, mark: int = 0) -> str:
        lines = self.lines_since(mark) or []
        return "\n".join([ln for ln in lines if any(w in ln for w in words)][-n:])

    def wait_up(self, timeout: float) -> float:
        import requests

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise Failed(f"server: monailabel start_server exited with {self.proc.returncode} before serving; "
                             f"log tail:\n{self.tail()}")
            try:
                if requests.get(self.url + "/info/", timeout=10).status_code == 200:
                    return time.monotonic() - t0
            except requests.RequestException:
                pass
            time.sleep(3)
        raise Failed(f"server: /info/ did not answer within {timeout:.0f} s; log tail:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"server: stopping (process group {self.proc.pid})")
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # children left in the group (a train/scoring subprocess) after the leader exited
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._fh.close()


# ---------------------------------------------------------------------------------------------------------------
# checks


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_mask(path: Path):
    """(array, affine or None) of a returned mask, read the way its format is read for the study."""
    import numpy as np

    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        img = nib.load(str(path))
        return np.asarray(img.dataobj), img.affine
    from PIL import Image

    return np.asarray(Image.open(path)), None


def poll_task(server: Server, kind: str, task_id: str | None, timeout: float) -> dict:
    """GET /<kind>/ until the task is no longer SUBMITTED/RUNNING; returns the task."""
    import requests

    t0, last = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        r = requests.get(f"{server.url}/{kind}/", timeout=30)
        if r.status_code == 200:
            task = r.json()
            if task_id is None or task.get("id") == task_id:
                status = task.get("status")
                if status != last:
                    log(f"{kind}: task {task.get('id')} {status}")
                    last = status
                if status not in ("SUBMITTED", "RUNNING"):
                    return task
        if server.proc.poll() is not None:
            raise Failed(f"{kind}: the server exited ({server.proc.returncode}) while the task ran; log tail:\n"
                         f"{server.tail()}")
        time.sleep(5)
    raise Failed(f"{kind}: task {task_id} still running after {timeout:.0f} s")


def run_task(server, res, kind: str, name: str, params: dict, timeout: float) -> tuple[dict | None, int]:
    """POST /<kind>/<name> and wait for the task (GET /<kind>/ until it ends); the wall time is recorded as
    ``kind``. Returns (the task, the server log's size before the POST), or (None, ...) after a failed check when
    the POST is refused."""
    import requests

    mark = server.mark()
    t0 = time.monotonic()
    r = requests.post(f"{server.url}/{kind}/{name}", json=params, timeout=120)
    if r.status_code != 200:
        res.time(kind, time.monotonic() - t0)
        res.check(kind, False, f"POST /{kind}/{name} -> HTTP {r.status_code}: {r.text[:2000]}")
        return None, mark
    task = poll_task(server, kind, r.json().get("id"), timeout)
    res.time(kind, time.monotonic() - t0)
    return task, mark


def check_info(server, res, bundle) -> dict:
    import requests

    t0 = time.monotonic()
    info = requests.get(server.url + "/info/", timeout=60).json()
    res.time("info", time.monotonic() - t0)
    model = info.get("models", {}).get(bundle)
    if model is None:
        res.check("info", False, f"/info/ models {list(info.get('models', {}))} do not list {bundle}")
        return info
    labels = model.get("labels")
    print(json.dumps({"labels": info.get("labels"), "model": model, "trainers": list(info.get("trainers", {})),
                      "strategies": list(info.get("strategies", {})), "scoring": list(info.get("scoring", {})),
                      "datastore": info.get("datastore")}, indent=1), flush=True)
    problems = []
    if not (isinstance(labels, dict) and labels.get("lesion") == 1):
        problems.append(f"label map {labels} has no lesion: 1")
    if bundle not in info.get("trainers", {}):
        problems.append(f"trainers {list(info.get('trainers', {}))} do not list {bundle}")
    res.check("info", not problems, "; ".join(problems) or
              f"{bundle} served, labels {labels}, options {model.get('config')}, trainers "
              f"{list(info.get('trainers', {}))}, scoring {list(info.get('scoring', {}))}, strategies "
              f"{list(info.get('strategies', {}))}")
    return info


def check_infer(server, res, bundle, bundle_dir, studies, image_id, ext, labels, timeout, work,
                name="infer"):
    import numpy as np
    import requests

    params, how = infer_params(bundle_dir)
    res.note(f"{name} params {params}: {how}")
    mark = server.mark()
    t0 = time.monotonic()
    r = requests.post(f"{server.url}/infer/{bundle}", params={"image": image_id, "output": "image"},
                      data={"params": json.dumps(params)}, timeout=timeout)
    res.time(name, time.monotonic() - t0)
    if r.status_code != 200:
        res.check(name, False, f"POST /infer/{bundle}?image={image_id} -> HTTP {r.status_code}: {r.text[:2000]}\n"
                  f"server log:\n{server.last_error(mark)}{known_hint(bundle, server.last_error(mark))}")
        return
    disposition = r.headers.get("content-disposition", "")
    fname = disposition.split("filename=")[-1].strip('"; ') if "filename=" in disposition else f"mask{ext}"
    out = work / f"{name}_{image_id}_{fname}"
    out.write_bytes(r.content)
    mask, affine = read_mask(out)
    study = studies / f"{image_id}{ext}"
    study_arr, study_affine = read_mask(study)
    problems = []
    if ext == ".nii.gz":
        spatial = study_arr.shape[:3]
        m = np.squeeze(mask)
        if m.shape != spatial:
            problems.append(f"mask shape {mask.shape} != study spatial shape {spatial}")
        if affine is None or not np.allclose(affine, study_affine, atol=1e-3):
            problems.append(f"mask affine\n{affine}\n!= study affine\n{study_affine}")
    else:
        spatial = study_arr.shape[:2]  # PIL: (H, W[, C])
        m = np.squeeze(mask)
        if m.shape != spatial:
            problems.append(f"mask shape {mask.shape} (file {fname}) != study image (H, W) {spatial}")
    values = sorted(int(v) for v in np.unique(mask))
    allowed = {0} | {int(v) for v in (labels or {}).values()}
    if not set(values) <= allowed:
        problems.append(f"mask values {values} not within the label map's {sorted(allowed)}")
    extra = ""
    label_file = studies / "labels" / "final" / f"{image_id}{ext}"
    if label_file.exists() and not problems:
        lab = np.squeeze(read_mask(label_file)[0]) > 0
        pred = m > 0
        dice = 2 * (lab & pred).sum() / max(1, lab.sum() + pred.sum())
        extra = f"; {int(pred.sum())} lesion voxels vs {int(lab.sum())} in the label, Dice {dice:.3f}"
    res.check(name, not problems, "; ".join(problems) or
              f"{fname}: shape {mask.shape} = study's, {'affine = study affine, ' if affine is not None else ''}"
              f"values {values} within {sorted(allowed)}{extra}")


def known_hint(bundle: str, text: str) -> str:
    hints = []
    if bundle == "focal_tversky" and "size mismatch" in text:
        hints.append(KNOWN_FOCAL_TVERSKY_WIDTH)
    if "PNG supports unsigned char and unsigned short" in text:
        hints.append("MONAI Label's Writer saves the mask with the study's extension (.png) through itk.imwrite in "
                     "the prediction's dtype (float32: the bundle's postprocessing ends with AsDiscreted); ITK's PNG "
                     "writer takes only uint8/uint16")
    if "operands could not be broadcast together with shapes (3,) (2,)" in text:
        hints.append("MONAI Label's Restored (the post transform it appends to a bundle's postprocessing) compared "
                     "the prediction's size (3 axes after the channel) with the 2D study's (2 axes); for scoring the "
                     "monaibundle app drops the bundle's Invertd and SaveImaged (post_filter=[SaveImaged, Invertd])")
    return "".join("\n  -> " + h for h in hints)


def served_and_trained_width(model_file: Path) -> tuple:
    """The ``features`` the served model was trained with (its ``model.json``) and those ``configs/train.json``
    builds; ``None`` where either is not recorded as a list."""
    info_file = model_file.with_suffix(".json")
    train_file = model_file.parent.parent / "configs" / "train.json"
    served = json.loads(info_file.read_text()).get("features") if info_file.is_file() else None
    trained = json.loads(train_file.read_text()).get("features") if train_file.is_file() else None
    return (served if isinstance(served, list) else None), (trained if isinstance(trained, list) else None)


def set_train_width(bundle_copy: Path) -> str | None:
    """The card's workaround for a served model narrower than train.json's network (focal_tversky's demo model):
    MONAI Label loads models/model.pt into train.json's network before training, and ``"pretrained": false`` cannot
    be used instead (monailabel 0.8.5, tasks/train/bundle.py:197-198, ``_load_checkpoint`` calls
    ``os.path.exists(None)`` and the train subprocess dies with a TypeError). So, as the card says, the app's copy of
    ``configs/train.json`` gets the served model's ``features`` before the server starts (fine-tunes the demo model).
    Returns what was done, or None when the widths agree."""
    served, trained = served_and_trained_width(bundle_copy / "models" / "model.pt")
    if served is None or trained is None or served == trained:
        return None
    train_file = bundle_copy / "configs" / "train.json"
    config = json.loads(train_file.read_text())
    config["features"] = served
    train_file.write_text(json.dumps(config, indent=4) + "\n")
    return (f"{train_file}: features {trained} -> {served} (the served model's width, models/model.json), as the "
            f"card says for training the demo model from MONAI Label")


def check_train(server, res, bundle, model_file, timeout):
    before = (sha256(model_file), model_file.stat().st_mtime) if model_file.exists() else (None, None)
    params = {"max_epochs": 1, "val_split": 0.5, "multi_gpu": False}
    served, trained = served_and_trained_width(model_file)
    if served is not None and trained is not None and served != trained:
        log(f"train: the served model has features {served}, train.json builds {trained} (see set_train_width)")
    log(f"train: POST /train/{bundle} {params}; models/model.pt sha256 {str(before[0])[:12]}")
    task, mark = run_task(server, res, "train", bundle, params, timeout)
    if task is None:
        return
    details = "\n".join(task.get("details") or [])
    after = (sha256(model_file), model_file.stat().st_mtime) if model_file.exists() else (None, None)
    if task.get("status") != "DONE":
        server.last_error(mark)  # waits for the log to settle
        errors = server.grep(("The run stopped because of", "Engine run is terminating", "Error: ", "Exception: "),
                             6, mark)
        mismatch = server.grep(("size mismatch",), 10**6, mark).splitlines()
        if mismatch:
            errors += (f"\n({len(mismatch)} 'size mismatch' lines, the first 3:)\n" + "\n".join(mismatch[:3]))
        last = "\n".join((task.get("details") or [])[-5:])
        res.check("train", False, f"task {task.get('status')} (the train subprocess failed); error lines in the "
                  f"server log:\n{errors}\nthe task's last lines:\n{last}{known_hint(bundle, details + errors)}")
        return
    if after[0] == before[0]:
        res.check("train", False, f"task DONE but models/model.pt unchanged (sha256 {str(after[0])[:12]}); its last "
                  f"lines:\n{details}")
        return
    res.check("train", True, f"task DONE; models/model.pt replaced (sha256 {str(before[0])[:12]} -> "
              f"{after[0][:12]}, mtime +{after[1] - (before[1] or 0):.0f} s)")


def datastore_info(server, studies: Path, image_id: str) -> tuple[dict, str]:
    import requests

    r = requests.get(f"{server.url}/datastore/", params={"output": "all"}, timeout=60)
    if r.status_code == 200:
        obj = r.json().get("objects", {}).get(image_id, {})
        info = obj.get("image", {}).get("info", {})
        if "epistemic_entropy" in info:
            return info, "GET /datastore/?output=all"
    ds = studies / ".datastore.json"
    if ds.exists():
        obj = json.loads(ds.read_text()).get("objects", {}).get(image_id, {})
        return obj.get("image", {}).get("info", {}), f"{ds} (the server's /datastore/ had no score yet)"
    return {}, "nowhere"


def check_scoring(server, res, bundle, info, studies, unlabelled, timeout):
    methods = list(info.get("scoring", {}))
    if not methods:
        res.time("scoring", 0.0)
        res.check("scoring", False, "/info/ lists no scoring method (--conf epistemic_model did not register one)")
        return
    method = bundle if bundle in methods else methods[0]
    log(f"scoring: POST /scoring/{method} (methods: {methods})")
    task, mark = run_task(server, res, "scoring", method, {}, timeout)
    if task is None:
        return
    details = "\n".join(task.get("details") or [])
    if task.get("status") != "DONE":
        res.check("scoring", False, f"task {task.get('status')} (the scoring subprocess failed); the traceback in "
                  f"the server log:\n{server.last_error(mark)}{known_hint(bundle, server.last_error(mark))}")
        return
    score, where = {}, "nowhere"
    for _ in range(10):  # the server reloads the datastore file the scoring subprocess wrote
        score, where = datastore_info(server, studies, unlabelled)
        if "epistemic_entropy" in score and where.startswith("GET"):
            break
        time.sleep(3)
    if "epistemic_entropy" not in score:
        res.check("scoring", False, f"task DONE but no epistemic_entropy recorded for the unlabelled study "
                  f"{unlabelled} (image info {score}); its last lines:\n{details}")
        return
    res.check("scoring", True, f"/scoring/{method} DONE; {unlabelled}: epistemic_entropy "
              f"{score['epistemic_entropy']:.6g} (read from {where})")


def check_activelearning(server, res, info, ids):
    import requests

    strategies = list(info.get("strategies", {}))
    problems, got = [], []
    for strategy in strategies:
        t0 = time.monotonic()
        r = requests.post(f"{server.url}/activelearning/{strategy}", json={}, timeout=120)
        res.time(f"activelearning/{strategy}", time.monotonic() - t0)
        image = r.json().get("id") if r.status_code == 200 else None
        if image not in ids:
            problems.append(f"POST /activelearning/{strategy} -> HTTP {r.status_code} {r.text[:300]} (no study id)")
        else:
            got.append(f"{strategy} -> {image}")
    if not strategies:
        problems.append("/info/ lists no active-learning strategy")
    res.check("activelearning", not problems, "; ".join(problems) or
              ", ".join(got) + " (the monaibundle app has no epistemic strategy: scores are read from the datastore)")


def download_release(target: Path, url: str, version: str, res: Result) -> None:
    """``python -m monai.bundle download`` of the release zip into the app's model folder, as a user installs a
    bundle into MONAI Label, after checking that this environment cannot import monai_tversky by itself."""
    probe = subprocess.run([sys.executable, "-c", "import monai_tversky"], capture_output=True, text=True,
                           cwd=str(target.parent.parent), env=venv_env())
    if probe.returncode == 0:
        raise Failed(f"setup: {sys.executable} imports monai_tversky by itself: not a test of the release zip")
    cmd = [sys.executable, "-m", "monai.bundle", "download", "--name", target.name, "--version", version,
           "--bundle_dir", str(target.parent), "--url", url]
    log("app: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=venv_env())
    if proc.returncode != 0 or not (target / "monai_tversky" / "__init__.py").is_file():
        raise Failed(f"setup: download of {url} failed (rc {proc.returncode}): {proc.stderr[-2000:]}")
    res.note(f"app: the bundle is the release zip {url}, downloaded with monai.bundle download into {target}; "
             f"this environment has no monai_tversky of its own (the zip's copy, {target / 'monai_tversky'}, is used)")


def run(args) -> int:
    bundle = args.bundle
    bundle_dir = REPO / "bundles" / bundle
    work = Path(args.work).resolve()
    res = Result(bundle, Path(args.result) if args.result else None)
    res.save()
    if work.exists() and not args.reuse:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        meta = bundle_meta(bundle_dir)
        dims = bundle_dims(meta)
        shape = [int(s) for s in (args.shape_3d if dims == 3 else args.shape_2d).split(",")]
        ext = ".nii.gz" if dims == 3 else ".png"
        if not args.zip_url:
            studies, ids, unlabelled = make_studies(bundle_dir, work, dims, shape, args.cases)

        app_root = work / "apps"
        app = app_root / "monaibundle"
        if not app.exists():
            cmd = [str(Path(sys.executable).parent / "monailabel"), "apps", "--download", "--name", "monaibundle",
                   "--output", str(app_root)]
            log("app: " + " ".join(cmd))
            subprocess.run(cmd, check=True, env=venv_env())
        target = app / "model" / bundle
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if args.zip_url:
            download_release(target, args.zip_url, meta["version"], res)
        else:
            subprocess.run(["cp", "-rL", str(bundle_dir), str(target)], check=True)
            log(f"app: cp -rL {bundle_dir} {target}")
        if args.zip_url:  # from here on the bundle is the downloaded one, its package the release's copy
            bundle_dir = target
            sys.path.insert(0, str(target))
            studies, ids, unlabelled = make_studies(bundle_dir, work, dims, shape, args.cases)
        res.data.update(dims=dims, shape=shape, studies=ids, unlabelled=unlabelled)
        width = set_train_width(target)
        if width:
            res.note(f"app: {width}")

        server = Server(app, studies, bundle, args.port or free_port(), work / "server.log")
        server.start()
        up = server.wait_up(args.start_timeout)
        res.time("start", up)
        log(f"server: up at {server.url} after {up:.0f} s")

        info = check_info(server, res, bundle)
        labels = info.get("models", {}).get(bundle, {}).get("labels") or {}
        if bundle not in info.get("models", {}):
            return 1
        steps = [
            ("infer", lambda: check_infer(server, res, bundle, bundle_dir, studies, ids[0], ext, labels,
                                          args.infer_timeout, work)),
            ("train", lambda: check_train(server, res, bundle, target / "models" / "model.pt", args.train_timeout)),
            # the model the training wrote is the one served now (MONAI Label reloads a cached network whose file
            # changed; the bundle's inference reads the new model.json)
            ("infer_after_train", lambda: check_infer(server, res, bundle, bundle_dir, studies, ids[0], ext, labels,
                                                      args.infer_timeout, work, name="infer_after_train")),
            ("scoring", lambda: check_scoring(server, res, bundle, info, studies, unlabelled, args.scoring_timeout)),
            ("activelearning", lambda: check_activelearning(server, res, info, ids)),
        ]
        for name, step in steps:
            if args.skip and (name in args.skip or (name == "infer_after_train" and
                                                    ("train" in args.skip or "infer" in args.skip))):
                res.data.setdefault("skipped", []).append(name)
                res.note(f"{name} skipped (--skip)")
                continue
            log(f"== {bundle}: {name}")
            try:
                step()
            except Failed as e:
                res.check(name, False, str(e))
            except Exception as e:  # an HTTP timeout, a broken reply: the check failed, the others still run
                res.check(name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    except Failed as e:
        name = str(e).split(":", 1)[0]
        res.check(name, False, str(e))
    except Exception as e:
        res.check("setup", False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        if server is not None:
            server.stop()
            print(f"---- server log tail ({server.log_file}) ----\n{server.tail(40)}\n----", flush=True)
    failed = res.failed
    if failed:
        log(f"{bundle}: FAILED checks: {', '.join(failed)}")
        return 1
    log(f"{bundle}: all checks passed")
    return 0


def table(args) -> int:
    rows = [("bundle", "/infer s", "/train s", "/scoring s", "result")]
    bad = False
    for f in args.results:
        try:
            d = json.loads(Path(f).read_text())
        except (OSError, ValueError) as e:
            rows.append((Path(f).stem, "-", "-", "-", f"no result ({e})"))
            bad = True
            continue
        t = d.get("times", {})
        failed = [k for k, v in d.get("checks", {}).items() if not v["ok"]]
        expected = {"info", "infer", "train", "scoring", "activelearning"}
        skipped = d.get("skipped", [])
        missing = sorted(expected - set(d.get("checks", {})) - set(skipped))
        result = ("FAIL: " + ", ".join(failed)) if failed else ("INCOMPLETE: " + ", ".join(missing) if missing else "PASS")
        result += f" (skipped: {', '.join(skipped)})" if skipped else ""
        bad |= bool(failed or missing)
        fmt = lambda k: f"{t[k]:.1f}" if k in t else "-"  # noqa: E731
        rows.append((d.get("bundle", Path(f).stem), fmt("infer"), fmt("train"), fmt("scoring"), result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="one bundle end to end")
    p.add_argument("--bundle", required=True)
    p.add_argument("--work", required=True, help="work folder (phantom, studies, app, server.log, returned masks)")
    p.add_argument("--result", default=None, help="JSON file the result is written to")
    p.add_argument("--cases", type=int, default=3, help="phantom cases / studies (the last one unlabelled)")
    p.add_argument("--shape-3d", default="48,64,64", help="3D phantom shape (default 48,64,64)")
    p.add_argument("--shape-2d", default="96,128", help="2D phantom shape H,W (default 96,128)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--start-timeout", type=float, default=300)
    p.add_argument("--infer-timeout", type=float, default=900)
    p.add_argument("--train-timeout", type=float, default=3600,
                   help="seconds a /train task may run (one generalised_dice epoch, 100 steps at 51^3, took 35 min "
                        "on a loaded 2-core CPU)")
    p.add_argument("--scoring-timeout", type=float, default=1800)
    p.add_argument("--skip", action="append", choices=["infer", "train", "scoring", "activelearning"])
    p.add_argument("--reuse", action="store_true", help="keep the work folder (phantom cache, app)")
    p.add_argument("--zip-url", default=None,
                   help="serve the release zip at this URL (monai.bundle download) instead of a copy of bundles/<b>; "
                        "this Python must not import monai_tversky by itself")
    t = sub.add_parser("table", help="summary table of result files")
    t.add_argument("results", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "table":
        return table(args)
    # stop the server when killed, not only on errors
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
