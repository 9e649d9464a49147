"""Processes of a run: a fresh fake server, then one client against it, then the server's count.

``measure`` is the unit every case is made of: start ``_server.py`` with the case's data,
latency and rate limit, wait for its ``READY``, run ``_clients.py`` with a time cap, stop
the server (SIGTERM) and merge what the server counted (requests, 429s, its own CPU) into
the client's result. A fresh server per run means a fresh rate-limit window and fresh
counters, so nothing leaks between runs or cases.

Child processes get the repository root first on ``PYTHONPATH``: the checkout is what is
measured, whatever is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from _common import Json, parse_result

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START_TIMEOUT = 60.0  # seconds for the server to build its data and listen


@dataclass(frozen=True)
class ServerSpec:
    """What the fake serves for one run."""

    leads: int = 0
    seed: int = 1
    latency: float = 0.0
    rate_limit: int | None = None
    rate_window: float = 1.0
    add: tuple[tuple[str, int], ...] = ()  # (lead_id, subscriptions) to add
    sequences: int = 10
    # (leads, share with 1-5 subscriptions, leads with over 100): case (f)'s data
    sparse: tuple[int, float, int] | None = None

    def argv(self) -> list[str]:
        """The server's command line options for this spec."""
        args = ["--leads", str(self.leads), "--seed", str(self.seed)]
        args += ["--sequences", str(self.sequences)]
        if self.sparse is not None:
            args += ["--sparse", ":".join(str(part) for part in self.sparse)]
        args += ["--latency", str(self.latency), "--rate-window", str(self.rate_window)]
        if self.rate_limit is not None:
            args += ["--rate-limit", str(self.rate_limit)]
        for lead_id, count in self.add:
            args += ["--add", f"{lead_id}:{count}"]
        return args


@dataclass(frozen=True)
class Served:
    """A running server: where it listens and the file with its lead IDs."""

    url: str
    api_key: str
    ids_file: Path


def cpus(pin: bool) -> tuple[int | None, int | None]:
    """The CPUs for the server and the client: one each if asked and there are two or more.

    Pinned, the two never share a core nor migrate, which makes CPU times steadier; the
    client being measured gets the last CPU, the server the first.
    """
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[-1]


def child_env() -> dict[str, str]:
    """The environment of child processes: the checkout first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))
    into.put(None)


@contextlib.contextmanager
def serve(spec: ServerSpec, workdir: Path, stats: Json, cpu: int | None = None) -> Iterator[Served]:
    """Run a fake server for the ``with`` block; fill ``stats`` with its report at the end."""
    ids_file, stats_file = workdir / "ids.txt", workdir / "server-stats.json"
    stats_file.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / "_server.py"), *spec.argv()]
    command += ["--ids-out", str(ids_file), "--stats-out", str(stats_file)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    with (workdir / "server-stderr.txt").open("w+", encoding="utf-8") as errors:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=child_env()
        )
        assert proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
        try:
            info = _wait_ready(lines)
            if info is None:
                errors.seek(0)
                raise RuntimeError(f"the fake server did not start:\n{errors.read()[-2000:]}")
            yield Served(info["URL"], info["API_KEY"], ids_file)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if stats_file.exists():
        stats.update(_load(stats_file))


def _wait_ready(lines: queue.Queue[str | None]) -> dict[str, str] | None:
    info: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        if line == "READY":
            return info
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value
    return None


def _load(path: Path) -> Json:
    value = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def run_client(
    client: str, served: Served, options: Sequence[str], timeout: float, cpu: int | None = None
) -> Json:
    """Run one client process; return its result, or what went wrong."""
    command = [sys.executable, str(HERE / "_clients.py"), client]
    command += ["--url", served.url, "--api-key", served.api_key, *options]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=child_env()
        )
    except subprocess.TimeoutExpired:
        return {"client": client, "error": f"stopped at the time cap of {timeout:.0f} s"}
    process_wall = time.perf_counter() - started
    result = parse_result(done.stdout)
    if done.returncode != 0 or result is None:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"client": client, "error": f"exit {done.returncode}: {' | '.join(tail)}"}
    result["process_wall_s"] = process_wall
    return result


def measure(
    spec: ServerSpec,
    client: str,
    options: Sequence[str],
    workdir: Path,
    *,
    timeout: float,
    ids: bool = True,
    pin: bool = True,
) -> Json:
    """One run: a fresh server, one client (``--ids-file`` added if ``ids``), the counts."""
    server: Json = {}
    server_cpu, client_cpu = cpus(pin)
    with serve(spec, workdir, server, server_cpu) as served:
        extra = ["--ids-file", str(served.ids_file)] if ids else []
        result = run_client(client, served, [*options, *extra], timeout, client_cpu)
    counts = server.get("stats", {})
    responses = counts.get("responses", {})
    result["requests"] = counts.get("requests")
    result["ok_responses"] = responses.get("200", 0)
    result["status_429"] = responses.get("429", 0)
    result["body_bytes"] = counts.get("body_bytes")
    result["server_cpu_s"] = server.get("cpu_s")
    result["server_wall_s"] = server.get("wall_s")
    result["server_peak_in_flight"] = counts.get("peak_in_flight")
    return result
