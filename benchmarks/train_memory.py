"""Peak memory and time per iteration of a bundle's training job, run as a user runs it, for a few variants.

Runs ``python -m monai.bundle run --config_file bundles/<bundle>/train.json`` (the README's main job for msseg) in
a fresh process per variant, adding only ``--ckpt_dir`` and ``--output_dir`` in a temporary folder (so that the
shipped ``models/model.pt`` is not replaced; they change no memory) and ``--max_epochs``, plus the variant's
overrides. While it runs, the whole process tree (the bundle process and its DataLoader workers) is sampled from
/proc: the sum of RSS (a shared page counted once per process: an over-count) and the sum of PSS (shared pages
divided among their processes: the memory the tree really holds); the bundle process's own exact peak RSS comes
from the kernel (``ru_maxrss`` of ``wait4``). The job runs on a pseudo-terminal, as in a user's shell, so that its
progress bar draws; time per iteration is read from the bar (``train [e/E]: [i/N]``), leaving out each epoch's
first iteration (data loading and start-up).

Variants and rounds are interleaved (A B A B ...); each line reports the peak over the whole run and the median
iteration time, and ratios against the first variant.

    python benchmarks/train_memory.py                      # msseg: plain vs memory-efficient PatchDenseNet3D
    python benchmarks/train_memory.py --bundle tversky_unet3d --variant default=
    python benchmarks/train_memory.py --iterations 3       # stop each run after 3 iterations (no validation)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import shlex
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from peak_memory import tree_memory_mib  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = {
    "msseg": ["plain=--memory_efficient False", "memory_efficient="],
}
# the training bar: "train [epoch/E]: [iteration/N]", or "train: [iteration/N]" when E is 1
_BAR = re.compile(r"train(?: \[(\d+)/\d+\])?: \[(\d+)/(\d+)\]")


def run_variant(
    bundle: str, overrides: list[str], max_epochs: int | None, iterations: int | None, interval: float
) -> dict:
    """Run one training job; return its peak memory (MiB), iteration times (s) and exit status. ``max_epochs`` None:
    the command exactly as the README gives it (outputs into the bundle, the config's epochs)."""
    work = Path(tempfile.mkdtemp(prefix=f"{bundle}_memory_"))
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", f"bundles/{bundle}/train.json"]
    if max_epochs is not None:
        command += ["--ckpt_dir", str(work / "models"), "--output_dir", str(work / "output"), "--max_epochs",
                    str(max_epochs)]
    command += overrides
    # a pseudo-terminal, as a user's shell: the progress bar (tqdm) draws only on a terminal
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 160 columns: tqdm draws its bar
    proc = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    seen: dict[tuple[int, int], float] = {}
    peak = {"rss": 0.0, "pss": 0.0, "processes": 0}
    log: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss, pss, n = tree_memory_mib(proc.pid)
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            peak["processes"] = max(peak["processes"], n)
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    buffer = ""
    while True:
        try:
            chunk = os.read(master, 4096).decode(errors="replace")
        except OSError:  # EIO: the terminal's other end closed with the process
            break
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = re.split(r"[\r\n]", buffer)
        log.extend(lines)
        for line in lines:
            for match in _BAR.finditer(line):
                seen.setdefault((int(match[1] or 1), int(match[2])), time.perf_counter())
        if iterations is not None and len(seen) >= iterations:  # the bar shows [i/N] once iteration i is done
            os.killpg(proc.pid, signal.SIGTERM)
            break
    _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss: the bundle process's own exact peak (KiB)
    os.close(master)
    stop.set()
    sampler.join()
    peak["main_hwm"] = usage.ru_maxrss / 1024
    times = []
    for (epoch, it), t in sorted(seen.items()):
        previous = seen.get((epoch, it - 1))
        if previous is not None:  # each epoch's first iteration includes the data loading: not timed
            times.append(t - previous)
    return {"peak": peak, "times": times, "status": os.waitstatus_to_exitcode(status), "log": log, "work": work}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="msseg")
    parser.add_argument("--variant", action="append", default=None,
                        help="NAME=OVERRIDES (shell-quoted bundle overrides); repeat for several. Default: the "
                             "bundle's comparison (msseg: --memory_efficient False vs the default)")
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--verbatim", action="store_true",
                        help="run the README's command exactly (no --ckpt_dir/--output_dir/--max_epochs added; it "
                             "writes into the bundle): stop it with --iterations")
    parser.add_argument("--iterations", type=int, default=None, help="stop each run after this many iterations")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0, help="memory sampling interval (s)")
    args = parser.parse_args()
    variants = args.variant or DEFAULT_VARIANTS.get(args.bundle, ["default="])
    parsed = [(v.split("=", 1)[0], shlex.split(v.split("=", 1)[1] if "=" in v else "")) for v in variants]
    results: dict[str, list[dict]] = {name: [] for name, _ in parsed}
    if args.verbatim:
        print(f"python -m monai.bundle run --config_file bundles/{args.bundle}/train.json (verbatim); "
              f"{os.cpu_count()} CPUs")
    else:
        print(f"python -m monai.bundle run --config_file bundles/{args.bundle}/train.json --max_epochs "
              f"{args.max_epochs} (+ temporary --ckpt_dir/--output_dir); {os.cpu_count()} CPUs")
    for r in range(args.rounds):
        for name, overrides in parsed:
            result = run_variant(args.bundle, overrides, None if args.verbatim else args.max_epochs, args.iterations,
                                 args.interval)
            results[name].append(result)
            t = statistics.median(result["times"]) if result["times"] else float("nan")
            print(f"round {r + 1} {name:>18}: exit {result['status']}, main process peak RSS "
                  f"{result['peak']['main_hwm']:6.0f} MiB; tree (sampled) RSS {result['peak']['rss']:6.0f} MiB, "
                  f"PSS {result['peak']['pss']:6.0f} MiB ({result['peak']['processes']} processes), "
                  f"{len(result['times'])} timed iterations, median {t:.1f} s", flush=True)
            if result["status"] not in (0, -signal.SIGTERM) and args.iterations is None:
                print("".join(result["log"][-30:]))
    print(f"\n{'variant':>18}  {'main RSS':>9}  {'tree RSS':>9}  {'tree PSS':>9}  {'s/iteration':>12}  {'x time':>7}  "
          f"{'x PSS':>6}   (peaks, MiB)")
    reference = None
    for name, runs in results.items():
        rss = max(r["peak"]["rss"] for r in runs)
        pss = max(r["peak"]["pss"] for r in runs)
        hwm = max(r["peak"]["main_hwm"] for r in runs)
        times = [t for r in runs for t in r["times"]]
        t = statistics.median(times) if times else float("nan")
        reference = reference or (t, pss)
        print(f"{name:>18}  {hwm:9.0f}  {rss:9.0f}  {pss:9.0f}  {t:12.1f}  {t / reference[0]:7.2f}  "
              f"{pss / reference[1]:6.2f}")


if __name__ == "__main__":
    main()
