"""Peak resident memory of a benchmark worker process or process tree (Linux /proc), shared by the benchmark scripts.

``ru_maxrss`` is inherited from the parent process, so a fresh worker resets its own high-water mark once its
set-up is done and reads ``VmHWM`` after the measured work: the peak of that work alone.
"""

from __future__ import annotations

import os


def rss_mib(field: str) -> float | None:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process in MiB, None where /proc is unavailable."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (DataLoader workers, torchrun ranks), from /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return [pid]
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(entry)
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def tree_memory_mib(pid: int) -> tuple[float, float, int]:
    """Memory of the process tree rooted at ``pid``: (sum of RSS, sum of PSS, number of processes), in MiB.

    RSS counts a page shared by several processes (the torch libraries a forked DataLoader worker shares with its
    parent, copy-on-write tensors) once per process, so its sum over-counts; PSS divides each shared page among the
    processes sharing it, so its sum is the memory the tree really holds.
    """
    rss = pss = 0.0
    count = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as rollup:
                fields = dict(line.split(":", 1) for line in rollup if ":" in line and not line.startswith("0"))
            rss += int(fields["Rss"].split()[0]) / 1024
            pss += int(fields["Pss"].split()[0]) / 1024
            count += 1
        except (OSError, KeyError, ValueError):
            continue
    return rss, pss, count
