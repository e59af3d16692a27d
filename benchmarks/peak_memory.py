"""Peak resident memory of a benchmark worker process (Linux /proc), shared by the benchmark scripts.

``ru_maxrss`` is inherited from the parent process, so a fresh worker resets its own high-water mark once its
set-up is done and reads ``VmHWM`` after the measured work: the peak of that work alone.
"""

from __future__ import annotations


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
