"""sudre2017's study with the generalised_dice bundle: HighResNet trained with each loss at each learning rate and
patch size, and the median training DSC over the last iterations (Table 3 in shape) with the isoline figure (Fig. 2).

Every grid cell is one run of the bundle's own ``configs/train.json`` (``--loss_name``, ``--learning_rate``,
``--patch_size``, ``--batch_size``, ``--max_iterations``), as a user would type it, on one shared phantom; the
bundle's ``TrainingCurveRecorder`` writes the training-batch DSC (foreground classes, pooled over the batch) at every
iteration to ``<cell>/train/training_curve.csv``. The statistic is sudre2017's: the median (and inter-quartile range)
of that DSC over the last 200 of 3000 iterations, scaled with ``--iterations`` (last ``round(200 * iterations / 3000)``,
at least 10). A run that stops (e.g. a NaN loss, which the bundle refuses to train on) is reported as failed, with
the DSC of the iterations it did. Each run also ends with the bundle's validation (spline fusion on the phantom's
held-out cases), reported beside the training statistic, as sudre2017's Fig. 3 reports test DSC.

The grid defaults to the paper's 3D one: losses GDSC (GDL_v), WCE, SensSpec, DL2; learning rates 1e-3, 1e-4, 1e-5;
HighResNet patches 51, 63, 85 with batches 5, 3, 1 (Table 1); 3000 iterations. That is a GPU's job:

    python benchmarks/generalised_dice_study.py --work /data/gdl_study              # paper size, GPU

On a 2-core CPU the model card's phantom study (36 runs, about an hour) shrinks the network, the patches, the phantom
and the iterations, and runs two cells at a time on one thread each:

    python benchmarks/generalised_dice_study.py --work /tmp/gdl_study --features 4 8 16 --patch-sizes 16 24 32 \\
        --iterations 150 --phantom-shape 48 64 64 --phantom-cases 6 --jobs 2

The study is resumable: a finished cell (``<cell>/cell.json``) is not run again. Outputs: ``<work>/results.json``,
``<work>/table.md`` (printed too) and ``<work>/isolines.png`` (copied to the model card with ``--figure``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bundle_runs import BUNDLE_RUN, REPO, bundle_configs, environment_line

from monai_tversky.engines import read_training_curve

BUNDLE = "generalised_dice"
PAPER_LOSSES = ["GDSC", "WCE", "SensSpec", "DL2"]
PAPER_LEARNING_RATES = [1e-3, 1e-4, 1e-5]
PAPER_PATCH_SIZES = [51, 63, 85]  # sudre2017 Table 1, HighResNet: initial patch sizes S, M, L
PAPER_BATCH_SIZES = [5, 3, 1]
PAPER_ITERATIONS, PAPER_LAST = 3000, 200
LOSS_LABELS = {"GDSC": "GDL_v", "WCE": "WCE", "SensSpec": "SS", "DL2": "DL_2"}
FIGURE = REPO / "bundles" / BUNDLE / "docs" / "isolines_phantom.png"


def last_window(iterations: int) -> int:
    """Iterations the median is taken over: sudre2017's 200 of 3000, scaled, at least 10 (at most all)."""
    return min(iterations, max(10, round(PAPER_LAST * iterations / PAPER_ITERATIONS)))


def curve_statistic(rows: list[dict], window: int) -> dict[str, float]:
    """sudre2017's statistic of a training curve (:func:`monai_tversky.engines.read_training_curve` rows): median and
    quartiles of ``dice_mean`` over the last ``window`` iterations; an undefined Dice (no foreground predicted or
    labelled in the batch) counts as 0; NaN without rows."""
    tail = np.array([r["dice_mean"] if r["dice_mean"] is not None else 0.0 for r in rows[-window:]], dtype=float)
    if tail.size == 0:
        return {"median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, median, q3 = np.percentile(tail, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def cell_name(loss: str, lr: float, patch: int) -> str:
    return f"{loss}_lr{lr:g}_patch{patch}"


def run_cell(args: argparse.Namespace, work: Path, loss: str, lr: float, patch: int, batch: int) -> dict:
    """Train one grid cell (skipped when its ``cell.json`` exists) and return its result."""
    cell = work / cell_name(loss, lr, patch)
    done = cell / "cell.json"
    if done.is_file():
        return json.loads(done.read_text())
    cell.mkdir(parents=True, exist_ok=True)
    curve_file = cell / "train" / "training_curve.csv"
    curve_file.unlink(missing_ok=True)
    cmd = [
        *BUNDLE_RUN, "--config_file", bundle_configs(BUNDLE, "train.json"),
        "--phantom_dir", str(work / "phantom"), "--output_dir", str(cell / "train"), "--ckpt_dir", str(cell / "models"),
        "--resume", "False", "--loss_name", loss, "--learning_rate", f"{lr:g}", "--patch_size", json.dumps([patch] * 3),
        "--batch_size", str(batch), "--max_iterations", str(args.iterations), "--epoch_length", str(args.iterations),
        "--val_interval", "1", "--num_workers", "0", *common_overrides(args),
    ]  # fmt: skip
    print("$ " + " ".join(cmd), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    with open(cell / "train.log", "w") as log:
        code = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    wall = time.perf_counter() - t0
    rows = read_training_curve(curve_file) if curve_file.is_file() else []
    window = last_window(args.iterations)
    result = {
        "loss": loss, "learning_rate": lr, "patch_size": patch, "batch_size": batch,
        "iterations_done": len(rows), "iterations": args.iterations, "window": window,
        **curve_statistic(rows, window),
        "validation_dice": _validation_dice(cell),
        "status": "ok" if code == 0 else "failed: " + _last_error(cell / "train.log"),
        "wall_s": round(wall, 1),
    }  # fmt: skip
    done.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  {cell.name}: median DSC {result['median']:.3f} over the last {window} iterations, {result['status']}, "
          f"{wall:.0f} s", flush=True)
    return result


def common_overrides(args: argparse.Namespace) -> list[str]:
    out = ["--num_classes", str(args.num_classes)]
    if args.features:
        out += ["--features", json.dumps(args.features)]
    if args.phantom_shape:
        out += ["--phantom_shape", json.dumps(args.phantom_shape)]
    if args.phantom_cases:
        out += ["--phantom_cases", str(args.phantom_cases)]
    return out + list(args.override)


def _validation_dice(cell: Path) -> float | None:
    info = cell / "models" / "model.json"
    if not info.is_file():
        return None
    return json.loads(info.read_text()).get("metrics", {}).get("val_mean_dice")


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def prepare_phantom(args: argparse.Namespace, work: Path) -> None:
    """Generate the shared phantom once, before the runs (so parallel runs do not queue on its lock)."""
    from monai_tversky.data import build_datalist

    config = json.loads((REPO / "bundles" / BUNDLE / "configs" / "train.json").read_text())
    build_datalist(
        phantom_dir=work / "phantom", modalities=config["default_modalities"],
        phantom_cases=args.phantom_cases or config["phantom_cases"],
        phantom_shape=args.phantom_shape or config["phantom_shape"], seed=config["seed"],
        val_fraction=config["val_fraction"], label_values=[0, 1, 2], phantom_white_matter=args.num_classes == 3,
    )  # fmt: skip


def table(results: list[dict], args: argparse.Namespace) -> list[str]:
    """sudre2017 Table 3 in shape: rows patch size x learning rate, one column per loss, median (IQR) in %."""
    by_key = {(r["loss"], r["learning_rate"], r["patch_size"]): r for r in results}
    header = ["Patch", "Batch", "LR", *(LOSS_LABELS.get(loss, loss) for loss in args.losses)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for patch, batch in zip(args.patch_sizes, args.batch_sizes):
        for lr in args.learning_rates:
            cells = []
            for loss in args.losses:
                r = by_key.get((loss, lr, patch))
                if r is None:
                    cells.append("not run")
                    continue
                text = f"{100 * r['median']:.1f} ({100 * (r['q3'] - r['q1']):.1f})"
                if not r["status"].startswith("ok"):
                    text += f" failed at it. {r['iterations_done']}"
                cells.append(text)
            lines.append(f"| {patch} | {batch} | {lr:g} | " + " | ".join(cells) + " |")
    return lines


def validation_table(results: list[dict], args: argparse.Namespace) -> list[str]:
    by_key = {(r["loss"], r["learning_rate"], r["patch_size"]): r for r in results}
    header = ["Patch", "LR", *(LOSS_LABELS.get(loss, loss) for loss in args.losses)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for patch in args.patch_sizes:
        for lr in args.learning_rates:
            values = []
            for loss in args.losses:
                r = by_key.get((loss, lr, patch))
                v = None if r is None else r.get("validation_dice")
                values.append("-" if v is None else f"{100 * v:.1f}")
            lines.append(f"| {patch} | {lr:g} | " + " | ".join(values) + " |")
    return lines


def isoline_figure(results: list[dict], args: argparse.Namespace, path: Path) -> Path:
    """sudre2017 Fig. 2: median DSC over learning rate (log) x patch size, one panel per loss, isolines linearly
    interpolated between the grid's cells, the cells' values printed on them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {(r["loss"], r["learning_rate"], r["patch_size"]): r for r in results}
    xs = np.array(args.patch_sizes, dtype=float)
    ys = np.log10(np.array(args.learning_rates, dtype=float))
    fig, axes = plt.subplots(1, len(args.losses), figsize=(3.6 * len(args.losses), 3.4), squeeze=False)
    levels = np.linspace(0.0, 1.0, 11)
    for ax, loss in zip(axes[0], args.losses):
        z = np.array([[by_key.get((loss, lr, p), {}).get("median", np.nan) for p in args.patch_sizes]
                      for lr in args.learning_rates])  # fmt: skip
        if len(xs) > 1 and len(ys) > 1 and np.isfinite(z).sum() >= 4:  # cells not run are left blank
            masked = np.ma.masked_invalid(z)
            ax.contourf(xs, ys, masked, levels=levels, cmap="viridis", vmin=0, vmax=1)
            lines = ax.contour(xs, ys, masked, levels=levels, colors="white", linewidths=0.6)
            ax.clabel(lines, fmt="%.1f", fontsize=7)
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                ax.plot(x, y, "k.", ms=3)
                if np.isfinite(z[i, j]):
                    ax.annotate(f"{z[i, j]:.2f}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set_title(LOSS_LABELS.get(loss, loss))
        ax.set_xlabel("patch size (voxels per side)")
        ax.set_yticks(ys, [f"1e{int(round(y))}" for y in ys])
        ax.set_ylabel("learning rate" if ax is axes[0][0] else "")
    if len(xs) > 1 and len(ys) > 1:
        fig.colorbar(plt.cm.ScalarMappable(norm=plt.Normalize(0, 1), cmap="viridis"), ax=axes[0].tolist(),
                     label=f"median training DSC, last {last_window(args.iterations)} iterations")
    fig.suptitle(f"{BUNDLE}: HighResNet {args.features or [16, 32, 64]}, {args.iterations} iterations", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path, help="folder of the runs, the phantom and the results")
    parser.add_argument("--losses", nargs="+", default=PAPER_LOSSES, help="registered loss names (default: the paper's)")
    parser.add_argument("--learning-rates", nargs="+", type=float, default=PAPER_LEARNING_RATES)
    parser.add_argument("--patch-sizes", nargs="+", type=int, default=PAPER_PATCH_SIZES,
                        help="cubic patch sizes, small to large (default: sudre2017's HighResNet 51, 63, 85)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=PAPER_BATCH_SIZES,
                        help="patches per iteration, one per patch size (default 5, 3, 1)")
    parser.add_argument("--iterations", type=int, default=PAPER_ITERATIONS, help="training iterations per cell")
    parser.add_argument("--features", nargs="+", type=int, default=None,
                        help="HighResNet stage widths (default: the bundle's 16 32 64)")
    parser.add_argument("--num-classes", type=int, default=2, help="2 (lesion) or 3 (lesion + white matter)")
    parser.add_argument("--phantom-shape", nargs=3, type=int, default=None, help="default: the bundle's")
    parser.add_argument("--phantom-cases", type=int, default=None, help="default: the bundle's")
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once")
    parser.add_argument("--threads", type=int, default=None, help="OMP threads per run (default: CPUs / jobs)")
    parser.add_argument("--override", nargs="*", default=[], help="further bundle overrides, e.g. --device cuda:1")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report the cells already finished (the others as 'not run')")
    parser.add_argument("--figure", default="", help="also copy the isoline figure here (e.g. the model card's "
                        f"{FIGURE.relative_to(REPO)})")
    args = parser.parse_args()
    if len(args.batch_sizes) != len(args.patch_sizes):
        parser.error(f"--batch-sizes needs one value per patch size ({len(args.patch_sizes)}).")
    if args.iterations < 1 or args.jobs < 1:
        parser.error("--iterations and --jobs must be >= 1.")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    cells = [(loss, lr, p, b) for p, b in zip(args.patch_sizes, args.batch_sizes) for lr in args.learning_rates
             for loss in args.losses]  # fmt: skip
    t0 = time.perf_counter()
    if args.report_only:
        done = [work / cell_name(loss, lr, p) / "cell.json" for loss, lr, p, _ in cells]
        results = [json.loads(f.read_text()) for f in done if f.is_file()]
    else:
        prepare_phantom(args, work)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda c: run_cell(args, work, *c), cells))
    wall = time.perf_counter() - t0
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    figure = isoline_figure(results, args, work / "isolines.png")
    failed = [f"{LOSS_LABELS.get(r['loss'], r['loss'])} lr {r['learning_rate']:g} patch {r['patch_size']}: "
              f"{r['status']}" for r in results if not r["status"].startswith("ok")]  # fmt: skip
    run_time = sum(r["wall_s"] for r in results)
    lines = [
        f"HighResNet {args.features or [16, 32, 64]} on the phantom ({args.num_classes} classes), {args.iterations} "
        f"iterations per cell; median (IQR) of the training DSC over the last {last_window(args.iterations)} "
        f"iterations, in %. {environment_line()}, {args.jobs} run(s) at a time with OMP_NUM_THREADS={args.threads}.",
        "",
        *table(results, args),
        "",
        "Validation DSC (%) of each cell's final model on the phantom's held-out cases (spline fusion):",
        "",
        *validation_table(results, args),
        "",
        *(["Failed runs:", *(f"- {f}" for f in failed), ""] if failed else []),
        f"Cells finished: {len(results)} of {len(cells)}; their training took {run_time / 60:.1f} min of wall time in all; "
        f"this invocation {wall / 60:.1f} min.",
    ]
    text = "\n".join(lines)
    (work / "table.md").write_text(text + "\n")
    print(text)
    print(f"figure: {figure}")
    if args.figure:
        import shutil

        shutil.copyfile(figure, args.figure)
        print(f"copied to {args.figure}")
    sys.exit(0)


if __name__ == "__main__":
    main()
