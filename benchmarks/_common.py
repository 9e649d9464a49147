"""What the benchmark processes share: the meter of the work and the one-line result protocol.

Each client measures itself, inside its own process, so that nothing the runner or the fake
server does is billed to it: wall time with ``time.perf_counter`` and CPU time with
``time.process_time`` (user + system of this process, all its threads) around the work only,
after imports and set-up. The result goes to stdout as one ``RESULT {json}`` line.

Peak memory comes from ``VmHWM`` in ``/proc/self/status``, not from ``getrusage``:
on Linux ``ru_maxrss`` survives ``exec`` and so starts at the size of the parent that
spawned the process, which would bill the runner's memory to a small client.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

Json = dict[str, Any]

RESULT_PREFIX = "RESULT "
PAGE_SIZE = 100  # Close's largest page, used by every client


def memory_kb(field: str) -> int | None:
    """Return a ``Vm*`` line of ``/proc/self/status`` in KiB (Linux only), else None."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_kb() -> int:
    """Return the most memory this process has held (KiB), see the module docstring."""
    peak = memory_kb("VmHWM")
    if peak is None:  # not Linux: ru_maxrss is the best there is (KiB on Linux, bytes on macOS)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            peak //= 1024
    return peak


class Meter:
    """Time one piece of work: wall and CPU between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self._wall = 0.0
        self._cpu = 0.0
        self._rss_before: int | None = None

    def start(self) -> None:
        """Start the clocks (call it after imports and set-up)."""
        self._rss_before = memory_kb("VmRSS")
        self._cpu = time.process_time()
        self._wall = time.perf_counter()

    def stop(self) -> Json:
        """Stop the clocks and return the work's numbers."""
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "rss_before_kb": self._rss_before,
            "peak_rss_kb": peak_rss_kb(),
        }


def pin(cpu: int | None) -> None:
    """Run this process on one CPU only (Linux), if asked: see ``_procs.cpus``."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def process_cpu_s() -> float:
    """Return the CPU time of the whole process so far (imports and set-up included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(result: Json) -> None:
    """Print the result line the runner looks for."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


def parse_result(stdout: str) -> Json | None:
    """Return the last result line of a client's stdout, or None if there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            value = json.loads(line[len(RESULT_PREFIX) :])
            if isinstance(value, dict):
                return value
    return None
