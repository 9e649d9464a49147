"""Case (h): many workers, one key. Worker processes share one API key under a rate limit.

Four worker processes (``_client_worker.py``), each a ``CloseClient`` with ``list_many`` at
concurrency 16, list the subscriptions of 2,000 leads split among them, against one fake
Close that allows 20 requests per second for the key. Once with an in-process gate in each
worker (each believes it has the whole window), once with a ``RedisRateLimitGate`` they all
share; then both again with one worker killed with SIGKILL half-way through the ideal time.
With the Redis gate the kill waits for a moment when many leases are held (just after a
window opened): at 20 requests a second, requests are in flight for a few tens of
milliseconds a second, and a worker killed at a random moment most likely holds none.

Reported: wall time against the ideal (successful requests / the limit), 429s (the server's
count), each worker's share of the successful requests, and, after the kill, how long the
survivors took to be back at the limit: the time from the kill to the first window-long
span, after it, in which they sent at least 90% of the limit in requests that succeeded
(send times: a full window's worth goes out when a window opens). The goals (for the Redis
gate): under 1% 429s, within 1.1x of the ideal, back at the limit within the lease
(``lease_seconds``) plus one window.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

from _cases import _pct, _percent
from _common import Json, parse_result
from _procs import HERE, ServerSpec, child_env, cpus, serve
from _runs import Context, at_most, count, goal, ratio, seconds, times

GATES = ("local", "redis")
START_TIMEOUT = 60.0
# "Back at the limit": this share of the limit got through in one window-long span.
BACK_AT_LIMIT = 0.9


def back_at_limit(
    times_ok: Sequence[float], after: float, limit: int, window: float
) -> float | None:
    """Seconds from ``after`` to the end of the first span of ``window`` seconds, wholly after
    ``after``, holding at least 90% of ``limit`` of the times ``times_ok`` (when successful
    requests were sent); None if there is none."""
    ok = sorted(t for t in times_ok if t > after)
    need = math.ceil(BACK_AT_LIMIT * limit)
    for end, at in enumerate(ok):
        first = bisect.bisect_right(ok, at - window)
        if end - first + 1 >= need:
            return at - after
    return None


def shares(oks: Sequence[int]) -> str:
    """Each worker's part of the successes, as ``25/24/26/25%``."""
    total = sum(oks)
    if not total:
        return "-"
    return "/".join(f"{100 * n / total:.0f}" for n in oks) + "%"


@contextlib.contextmanager
def _redis(gate: str) -> Iterator[str | None]:
    """A fresh redis-server for a run of the Redis gate (nothing for the local gates)."""
    if gate != "redis":
        yield None
        return
    # Imported here: the runner imports the library only for this case.
    from close_async.testing._redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def _split(ids_file: Path, parts: int, workdir: Path) -> list[Path]:
    ids = ids_file.read_text(encoding="utf-8").split()
    files = []
    for n in range(parts):
        path = workdir / f"worker-{n}.txt"
        path.write_text("".join(f"{i}\n" for i in ids[n::parts]), encoding="utf-8")
        files.append(path)
    return files


def _run(ctx: Context, gate: str, kill: bool) -> Json:
    """One run: a fresh fake (and Redis), the workers started together, maybe one killed."""
    s = ctx.sizes
    spec = ServerSpec(
        leads=s.fleet_leads,
        seed=1,
        latency=s.latency,
        rate_limit=s.fleet_rate_limit,
        rate_window=s.fleet_window,
    )
    ideal_guess = s.fleet_leads * 1.05 / s.fleet_rate_limit * s.fleet_window
    cap = min(s.timeout, 4 * ideal_guess + 60)
    server_cpu, client_cpu = cpus(ctx.pin)
    server: Json = {}
    results: list[Json | None] = []
    killed_at = None
    victim = 0
    leases_at_kill: int | None = None
    with serve(spec, ctx.workdir, server, server_cpu) as served, _redis(gate) as redis_url:
        command = [sys.executable, str(HERE / "_client_worker.py"), "--url", served.url]
        command += ["--api-key", served.api_key, "--gate", gate]
        command += ["-c", str(s.fleet_concurrency), "--lease", str(s.fleet_lease)]
        if redis_url is not None:
            command += ["--redis-url", redis_url]
        if client_cpu is not None:
            command += ["--cpu", str(client_cpu)]
        parts = _split(served.ids_file, s.fleet_workers, ctx.workdir)
        workers = [
            subprocess.Popen(
                [*command, "--ids-file", str(part)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=child_env(),
            )
            for part in parts
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                if worker.stdout.readline().strip() != "READY":
                    raise RuntimeError(f"a worker did not start: {worker.communicate()[1]}")
            started = time.time()
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("GO\n")
                worker.stdin.flush()
            if kill:
                time.sleep(ideal_guess / 2)
                if redis_url is not None:
                    leases_at_kill = _wait_for_leases(redis_url, s.fleet_rate_limit // 2)
                running = [n for n, worker in enumerate(workers) if worker.poll() is None]
                if running:  # the first worker not done yet (a done one is not killed midway)
                    victim = running[0]
                    workers[victim].send_signal(signal.SIGKILL)
                    killed_at = time.time()
            for worker in workers:
                try:
                    out, err = worker.communicate(timeout=max(1.0, started + cap - time.time()))
                except subprocess.TimeoutExpired:
                    worker.kill()
                    out, err = worker.communicate()
                results.append(parse_result(out))
                if results[-1] is None and not (killed_at and worker is workers[victim]):
                    tail = " | ".join(err.strip().splitlines()[-3:])
                    raise RuntimeError(f"a worker failed (exit {worker.returncode}): {tail}")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
    row = _row(ctx, gate, kill, started, killed_at, results, server)
    row["victim"] = victim + 1 if killed_at is not None else None
    if killed_at is not None:
        row["leases_at_kill"] = leases_at_kill
    return row


def _wait_for_leases(redis_url: str, least: int, patience: float = 5.0) -> int:
    """Wait (a few windows at most) until the workers hold ``least`` leases; return how many."""
    import redis  # only for this case, with the Redis gate

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + patience
    try:
        while True:
            keys = cast("list[bytes]", client.keys("*:leases"))  # redis-py: sync or async
            held = sum(cast(int, client.zcard(key)) for key in keys)
            if held >= least or time.monotonic() > deadline:
                return held
            time.sleep(0.002)
    finally:
        client.close()


def _row(
    ctx: Context,
    gate: str,
    kill: bool,
    started: float,
    killed_at: float | None,
    results: list[Json | None],
    server: Json,
) -> Json:
    s = ctx.sizes
    done = [r for r in results if r is not None]
    counts = server.get("stats", {})
    responses = counts.get("responses", {})
    ok_total = responses.get("200", 0)
    # The killed worker's: what the server served that the others did not get.
    survived = sum(sum(1 for *_, status in r["answers"] if status == 200) for r in done)
    oks = [
        ok_total - survived if r is None else sum(1 for *_, status in r["answers"] if status == 200)
        for r in results
    ]
    wall = max(r["end"] for r in done) - started if done else None
    ideal = ratio(ok_total, s.fleet_rate_limit / s.fleet_window)
    requests = counts.get("requests")
    row: Json = {
        "label": f"{gate} gates{', one killed' if kill else ''}",
        "gate": gate,
        "killed": kill,
        "wall_s": wall,
        "ideal_s": ideal,
        "wall_over_ideal": ratio(wall, ideal),
        "requests": requests,
        "ok_responses": ok_total,
        "status_429": responses.get("429", 0),
        "percent_429": _percent(responses.get("429", 0), requests),
        "worker_oks": oks,
        "subscriptions": sum(r["subscriptions"] for r in done),
        "failed_ids": sum(r["failed_ids"] for r in done),
        "ids_done": sum(r["ids_done"] for r in done) - sum(r["failed_ids"] for r in done),
        "server_cpu_s": server.get("cpu_s"),
    }
    if kill and killed_at is None:
        row["label"] += " (all had finished first)"
    if killed_at is not None:
        survivors = [sent for r in done for sent, _, status in r["answers"] if status == 200]
        row["killed_after_s"] = killed_at - started
        row["back_at_limit_s"] = back_at_limit(
            survivors, killed_at, s.fleet_rate_limit, s.fleet_window
        )
    return row


def many_workers(ctx: Context) -> Json:
    """(h) Worker processes on one key: in-process gates against the Redis gate."""
    s = ctx.sizes
    rows: dict[str, Json] = {}
    for kill in (False, True):
        for gate in GATES:
            row = _run(ctx, gate, kill)
            rows[row["label"]] = row
            ctx.log(
                f"  {row['label']}: wall {seconds(row['wall_s'])}, "
                f"{times(row['wall_over_ideal'])} ideal, {row['status_429']} x 429"
            )
    redis, redis_kill = rows["redis gates"], rows[list(rows)[-1]]
    recovery_goal = s.fleet_lease + s.fleet_window
    back = redis_kill.get("back_at_limit_s")
    cells = [
        [
            label,
            seconds(row["wall_s"]),
            seconds(row["ideal_s"]),
            times(row["wall_over_ideal"]),
            count(row["requests"]),
            f"{count(row['status_429'])} ({_pct(row['percent_429'])})",
            shares(row["worker_oks"]),
            f"{count(row['ids_done'])} of {s.fleet_leads}",
            _recovery(row),
        ]
        for label, row in rows.items()
    ]
    return {
        "title": f"(h) {s.fleet_workers} workers, one key, {s.fleet_leads} leads",
        "setup": (
            f"FakeClose(leads={s.fleet_leads}, seed=1, rate_limit={s.fleet_rate_limit}, "
            f"rate_window={s.fleet_window:g}), latency {seconds(s.latency)}; "
            f"{s.fleet_workers} worker processes, each a CloseClient with list_many at "
            f"concurrency {s.fleet_concurrency} over its part of the leads, behind an "
            f"in-process gate each (local) or one RedisRateLimitGate (redis, "
            f"lease_seconds={s.fleet_lease:g}); ideal = successful requests / "
            f"{s.fleet_rate_limit} per {s.fleet_window:g} s; 'one killed': the first worker "
            "still running gets SIGKILL half-way through the ideal time (with the Redis "
            "gate, once the workers "
            f"hold {s.fleet_rate_limit // 2} leases), and 'back at the limit' is the time from "
            f"the kill to the end of the first {s.fleet_window:g}-s span in which the others "
            f"sent {BACK_AT_LIMIT:.0%} of the limit in requests that succeeded"
        ),
        "rows": rows,
        "ratios": {
            "wall/ideal redis": redis["wall_over_ideal"],
            "wall/ideal local": rows["local gates"]["wall_over_ideal"],
            "429 share redis": ratio(redis["status_429"], redis["requests"]),
            "429 share local": ratio(
                rows["local gates"]["status_429"], rows["local gates"]["requests"]
            ),
            "back at the limit after a kill, redis (s)": back,
        },
        "goals": [
            goal(
                "Redis gate: 429s",
                _pct(redis["percent_429"]),
                "< 1%",
                None if redis["percent_429"] is None else redis["percent_429"] < 1,
            ),
            goal(
                "Redis gate: wall/ideal",
                times(redis["wall_over_ideal"]),
                "<= 1.1x",
                at_most(redis["wall_over_ideal"], 1.1),
            ),
            goal(
                "Redis gate, one worker killed: back at the limit",
                seconds(back),
                f"<= {recovery_goal:g} s (lease + window)",
                at_most(back, recovery_goal),
            ),
            goal(
                "in-process gates: wall/ideal, 429s",
                f"{times(rows['local gates']['wall_over_ideal'])}, "
                f"{_pct(rows['local gates']['percent_429'])}",
            ),
        ],
        "table": {
            "headers": [
                "gates",
                "wall",
                "ideal",
                "wall/ideal",
                "requests",
                "429s",
                "share per worker",
                "leads listed",
                "back at the limit",
            ],
            "rows": cells,
        },
    }


def _recovery(row: Json) -> str:
    if "back_at_limit_s" not in row:
        return ""
    text = seconds(row["back_at_limit_s"])
    held = row.get("leases_at_kill")
    return text if held is None else f"{text} ({held} leases in flight at the kill)"
