"""What the cases share: the run context, repeated runs reduced to medians, ratios, formats.

Runs are repeated (fewer times with ``--quick``, once with ``--smoke``) and each number is the
median over the runs, which shrugs off one run disturbed by something else on the machine;
the single runs' wall and CPU times stay in the JSON.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import Json
from _procs import ServerSpec, measure
from _sizes import Sizes

# Per-run numbers that are reduced to their median (the rest come from the first run).
_NUMBERS = (
    "wall_s",
    "cpu_s",
    "process_cpu_s",
    "process_wall_s",
    "peak_rss_kb",
    "rss_before_kb",
    "server_cpu_s",
    "server_wall_s",
    "rate_limit_wait_s",
)


@dataclass(frozen=True)
class Context:
    """Where a case runs and how big it is."""

    sizes: Sizes
    workdir: Path
    pin: bool = True  # server and client on a CPU each (see _procs.cpus)

    def log(self, message: str) -> None:
        """Say what is running (stderr: stdout carries the results)."""
        print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Job:
    """One client configuration of a case: its label, server, client and options."""

    label: str
    spec: ServerSpec
    client: str
    options: tuple[str, ...] = ()
    ids: bool = True  # pass the server's lead IDs with --ids-file
    timeout: float | None = None  # default: the profile's cap


def run_jobs(ctx: Context, jobs: Sequence[Job], reps: int) -> dict[str, Json]:
    """Run every job ``reps`` times, round-robin, each run against a fresh server.

    Round-robin rather than job after job, so that a slow spell of the machine hits every
    client alike. Returns one row per job label with the medians of its runs.
    """
    runs: dict[str, list[Json]] = {job.label: [] for job in jobs}
    for n in range(reps):
        for job in jobs:
            done = runs[job.label]
            if done and "error" in done[-1]:
                continue  # it failed once: once is enough to report
            cap = ctx.sizes.timeout if job.timeout is None else job.timeout
            result = measure(
                job.spec,
                job.client,
                job.options,
                ctx.workdir,
                timeout=cap,
                ids=job.ids,
                pin=ctx.pin,
            )
            done.append(result)
            ctx.log(f"  {job.label} run {n + 1}/{reps}: {summary(result)}")
    return {label: _median_row(label, done) for label, done in runs.items()}


def _median_row(label: str, runs: list[Json]) -> Json:
    row = dict(runs[0])
    good = [run for run in runs if "error" not in run]
    for key in _NUMBERS:
        values = [run[key] for run in good if isinstance(run.get(key), int | float)]
        if values:
            row[key] = statistics.median(values)
    row["label"] = label
    row["runs"] = len(runs)
    row["wall_s_runs"] = [run.get("wall_s") for run in runs]
    row["cpu_s_runs"] = [run.get("cpu_s") for run in runs]
    return row


def summary(result: Json) -> str:
    """One line about one run, for the progress log."""
    if "error" in result:
        return f"ERROR {result['error']}"
    return (
        f"wall {seconds(result.get('wall_s'))}, cpu {seconds(result.get('cpu_s'))}, "
        f"{result.get('requests')} requests, {result.get('status_429')} x 429, "
        f"{result.get('subscriptions')} subscriptions"
    )


def ratio(numerator: object, denominator: object) -> float | None:
    """``numerator / denominator``, or None when either is missing or the divisor is 0."""
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float):
        return None
    if denominator == 0:
        return None
    return numerator / denominator


def seconds(value: object) -> str:
    """Format seconds: ``1.23 s``, ``45 ms``; ``-`` when missing."""
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def times(value: float | None, digits: int = 2) -> str:
    """Format a ratio: ``0.42x``; ``-`` when missing."""
    return "-" if value is None else f"{value:.{digits}f}x"


def count(value: object) -> str:
    """Format a count with thousands separators; ``-`` when missing."""
    return f"{value:,}" if isinstance(value, int) else "-"


def mib(kib: object) -> str:
    """Format KiB as MiB."""
    return f"{kib / 1024:.1f} MiB" if isinstance(kib, int | float) else "-"


def goal(measure: str, result: str, target: str = "", met: bool | None = None) -> Json:
    """A headline number: what it measures, its value, the goal (if any) and if it is met.

    Entries without a target are reported for information (the README's summary table is
    made of these entries from every case).
    """
    return {"measure": measure, "result": result, "target": target, "met": met}


def at_most(value: float | None, bound: float) -> bool | None:
    """``value <= bound``, or None when the value is missing."""
    return None if value is None else value <= bound


def at_least(value: float | None, bound: float) -> bool | None:
    """``value >= bound``, or None when the value is missing."""
    return None if value is None else value >= bound
