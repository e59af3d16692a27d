"""Run a bundle's own workflows as a user does, for the paper-table scripts (``msseg_paper_table.py``,
``tversky_paper_table.py``), and read what they write. Imported by those scripts as ``peak_memory`` is
(``benchmarks/`` is on ``sys.path`` when a script of it runs).

- :func:`train` runs ``python -m monai.bundle run --config_file bundles/<bundle>/configs/train.json`` with a run's
  overrides, its checkpoints in ``<run>/models`` and its outputs in ``<run>/train``; a finished run (its
  ``models/model.json`` written and ``train.done`` beside it) is skipped, and an interrupted one is run again with the
  same command, which resumes it from its last checkpoint (the bundle's ``resume``);
- :func:`evaluate` runs the bundle's ``inference.json`` + ``evaluate.json`` on a checkpoint; a report already written
  (``report/summary.csv``) is skipped;
- :func:`read_summary`, :func:`read_metrics` and :func:`read_pr_curve` read the report's ``summary.csv``,
  ``metrics.csv`` and ``pr_histogram.csv``; :func:`save_pr_figure` draws several runs' curves on one plot;
- :class:`Timings` keeps the wall and CPU time of the steps run now (CPU time: the machines are shared, the wall time
  of a step depends on what else runs).

Every command is printed before it runs and its output goes to a log file beside its outputs; a failing command stops
the script, naming the log.
"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai_tversky.metrics import PrecisionRecallHistogram, save_precision_recall_plot

REPO = Path(__file__).resolve().parents[1]
BUNDLE_RUN = [sys.executable, "-m", "monai.bundle", "run"]
TRAIN_DONE = "train.done"

__all__ = [
    "REPO",
    "Timings",
    "bundle_configs",
    "environment_line",
    "evaluate",
    "percent",
    "read_metrics",
    "read_pr_curve",
    "read_summary",
    "run_command",
    "save_pr_figure",
    "train",
    "training_finished",
]


class Timings:
    """Wall and CPU (user + system, the command's whole process tree) seconds of each step run now, by name."""

    def __init__(self) -> None:
        self.steps: dict[str, tuple[float, float]] = {}

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.steps[name] = (wall, cpu)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def line(self) -> str:
        """``wall (CPU) time of the steps run now: train ... 12.3 min (20.1 min CPU), ...``; empty when none ran."""
        if not self.steps:
            return ""
        steps = ", ".join(f"{k} {w / 60:.1f} min ({c / 60:.1f} min CPU)" for k, (w, c) in self.steps.items())
        wall, cpu = (sum(v[i] for v in self.steps.values()) for i in (0, 1))
        return f"wall (CPU) time of the steps run now: {steps}; in all {wall / 60:.1f} min ({cpu / 60:.1f} min CPU)"


def bundle_configs(bundle: str, *names: str) -> str:
    """The ``--config_file`` value of ``bundles/<bundle>/configs/<names>``: one path, or MONAI's list syntax."""
    paths = [str(REPO / "bundles" / bundle / "configs" / n) for n in names]
    return paths[0] if len(paths) == 1 else str(paths)


def run_command(cmd: Sequence[str], log: Path, timings: Timings | None = None, name: str | None = None) -> float:
    """Run ``cmd`` from the repository root with its output in ``log``; exit naming the log when it fails.

    Returns the wall time in seconds; with ``timings``, records it (and the CPU time) under ``name``.
    """
    cmd = [str(c) for c in cmd]
    print("$ " + " ".join(cmd), flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        result = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"command failed (exit {result.returncode}); see {log}")
    if timings is not None:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        timings.add(name or " ".join(cmd[:6]), wall, cpu)
    return wall


def training_finished(run: Path) -> bool:
    """Whether :func:`train` completed in ``run``: the best model's ``model.json`` is there and the run ended."""
    return (run / "models" / "model.json").is_file() and (run / "models" / "model.pt").is_file() and (
        run / TRAIN_DONE
    ).is_file()


def train(
    bundle: str,
    run: Path,
    overrides: Sequence[str],
    timings: Timings | None = None,
    name: str | None = None,
) -> Path:
    """Train the bundle's ``train.json`` into ``run`` (``models/``, ``train/``, ``train.log``); return the best model.

    Skipped when :func:`training_finished`; otherwise the same command runs again, and the bundle resumes an
    interrupted run from its last checkpoint in ``run/models``.
    """
    run.mkdir(parents=True, exist_ok=True)
    model = run / "models" / "model.pt"
    if training_finished(run):
        return model
    run_command(
        [*BUNDLE_RUN, "--config_file", bundle_configs(bundle, "train.json"), "--ckpt_dir", run / "models",
         "--output_dir", run / "train", *overrides],
        run / "train.log", timings, name or f"train {run.name}",
    )  # fmt: skip
    if not (run / "models" / "model.json").is_file():
        sys.exit(f"training wrote no {run / 'models' / 'model.json'}; see {run / 'train.log'}")
    (run / TRAIN_DONE).write_text("done\n")
    return model


def evaluate(
    bundle: str,
    checkpoint: Path,
    out: Path,
    overrides: Sequence[str],
    timings: Timings | None = None,
    name: str | None = None,
) -> Path:
    """Evaluate ``checkpoint`` with the bundle's ``inference.json`` + ``evaluate.json`` into ``out``; return the
    report folder (``out/report``). Skipped when the report's ``summary.csv`` exists. The log is ``<out>.log``."""
    report = out / "report"
    if not (report / "summary.csv").is_file():
        run_command(
            [*BUNDLE_RUN, "--config_file", bundle_configs(bundle, "inference.json", "evaluate.json"),
             "--ckpt_path", checkpoint, "--output_dir", out, *overrides],
            out.parent / f"{out.name}.log", timings, name or f"evaluate {out.name}",
        )  # fmt: skip
    return report


def read_summary(report: Path) -> dict[str, dict[str, str]]:
    """``summary.csv`` of a lesion report: ``{metric: {"mean": ..., "sd": ..., "n": ..., ...}}``."""
    with open(report / "summary.csv", newline="", encoding="utf-8") as f:
        return {row["metric"]: row for row in csv.DictReader(f)}


def read_metrics(report: Path) -> list[dict[str, str]]:
    """``metrics.csv`` of a lesion report: one row per case (``case`` and every metric)."""
    with open(report / "metrics.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_pr_curve(report: Path) -> PrecisionRecallHistogram:
    """The pooled precision-recall histogram of a lesion report (``pr_histogram.csv``)."""
    return PrecisionRecallHistogram.load_csv(report / "pr_histogram.csv")


def save_pr_figure(path: Path, curves: Mapping[str, PrecisionRecallHistogram], title: str) -> Path:
    """The runs' PR curves on one plot, legend = the keys of ``curves``."""
    return save_precision_recall_plot(path, dict(curves), title=title)


def write_table(work: Path, lines: Sequence[str], timings: Timings) -> str:
    """Finish a table script's text: the timings of the steps run now appended, written to ``<work>/table.md`` and
    printed. Returns the text."""
    text = "\n".join([*lines, *(["", timings.line()] if timings else [])])
    (work / "table.md").write_text(text + "\n")
    print(text)
    return text


def copy_figure(path: Path, destination: str | os.PathLike | None) -> None:
    """Print where a figure is and copy it to ``destination`` (the model card's folder), unless that is empty."""
    print(f"figure: {path}")
    if destination:
        shutil.copyfile(path, destination)
        print(f"copied to {destination}")


def percent(summary: Mapping[str, Mapping[str, str]], metric: str) -> str:
    """The mean of ``metric`` over the cases, in % with two decimals (``nan`` as such)."""
    value = float(summary[metric]["mean"])
    return "nan" if value != value else f"{100 * value:.2f}"


def environment_line() -> str:
    """Threads and CPUs the runs had, for the table's caption."""
    threads = os.environ.get("OMP_NUM_THREADS", "torch's default")
    return f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={threads}"
