"""Cases (a) fan-out, (b) fan-out under a rate limit and (c) one long list.

Each case returns a JSON-ready dict: ``title``, ``setup``, one row per client (``rows``),
``ratios``, ``goals`` and a rendered ``table`` (headers and cells).
"""

from __future__ import annotations

from _common import PAGE_SIZE, Json
from _procs import ServerSpec
from _runs import Context, Job, at_least, at_most, count, goal, ratio, run_jobs, seconds, times

FAN_CLIENTS = ("ours", "official", "bare")
LONG_LEAD = "lead_bench_long"


def fan_out(ctx: Context) -> Json:
    """(a) All leads of a seeded fake, the three clients at equal concurrency."""
    s = ctx.sizes
    spec = ServerSpec(leads=s.fan_leads, seed=1, latency=s.latency)
    # Every client decodes with the standard library's json, as installed by default: CPU
    # compares the clients, not the decoders (orjson is case (d)'s business).
    options = ("-c", str(s.fan_concurrency), "--json", "json")
    rows = run_jobs(ctx, [Job(c, spec, c, options) for c in FAN_CLIENTS], s.reps)
    ours, official, bare = (rows[c] for c in FAN_CLIENTS)
    ratios = {
        "wall ours/official": ratio(ours.get("wall_s"), official.get("wall_s")),
        "cpu ours/official": ratio(ours.get("cpu_s"), official.get("cpu_s")),
        "wall ours/bare": ratio(ours.get("wall_s"), bare.get("wall_s")),
        "cpu ours/bare": ratio(ours.get("cpu_s"), bare.get("cpu_s")),
    }
    wall, cpu = ratios["wall ours/official"], ratios["cpu ours/official"]
    cells = [
        [
            row["label"],
            seconds(row.get("wall_s")),
            seconds(row.get("cpu_s")),
            count(row.get("requests")),
            count(row.get("subscriptions")),
            times(ratio(ours.get("wall_s"), row.get("wall_s"))),
            times(ratio(ours.get("cpu_s"), row.get("cpu_s"))),
            seconds(row.get("server_cpu_s")),
            row.get("error", ""),
        ]
        for row in rows.values()
    ]
    return {
        "title": f"(a) fan-out over {s.fan_leads} leads",
        "setup": (
            f"FakeClose(leads={s.fan_leads}, seed=1), latency {seconds(s.latency)} (+/-25%), "
            f"no rate limit; concurrency {s.fan_concurrency} for every client "
            f"(ours: max_concurrency and list_many; official: {s.fan_concurrency} threads "
            "sharing one API object, pool of as many connections; bare: a semaphore); every "
            f"client decoding with the standard library's json (ours: {ours.get('json', '?')}); "
            f"median of {s.reps} run(s)"
        ),
        "rows": rows,
        "ratios": ratios,
        "goals": [
            goal("wall ours/official", times(wall), "<= 1.0x", at_most(wall, 1.0)),
            goal("client CPU ours/official", times(cpu), "<= 0.5x", at_most(cpu, 0.5)),
            goal("client CPU ours/bare", times(ratios["cpu ours/bare"])),
        ],
        "table": {
            "headers": [
                "client",
                "wall",
                "client CPU",
                "requests",
                "subscriptions",
                "wall ours/this",
                "CPU ours/this",
                "server CPU",
                "error",
            ],
            "rows": cells,
        },
    }


def rate_limited(ctx: Context) -> Json:
    """(b) The same fan-out against a rate limit: time against the ideal, and 429s."""
    s = ctx.sizes
    spec = ServerSpec(
        leads=s.limited_leads,
        seed=1,
        latency=s.latency,
        rate_limit=s.rate_limit,
        rate_window=s.rate_window,
    )
    options = ("-c", str(s.limited_concurrency))
    expected = s.limited_leads * 1.05 / s.rate_limit * s.rate_window  # ~5% multi-page
    cap = min(s.timeout, max(4 * expected, 30.0))
    jobs = [Job(c, spec, c, options, timeout=cap) for c in ("ours", "official")]
    rows = run_jobs(ctx, jobs, 1)
    ratios: Json = {}
    cells = []
    for label, row in rows.items():
        ideal = ratio(row.get("ok_responses"), s.rate_limit / s.rate_window)
        row["ideal_s"] = ideal
        row["wall_over_ideal"] = ratio(row.get("wall_s"), ideal)
        row["percent_429"] = _percent(row.get("status_429"), row.get("requests"))
        ratios[f"wall/ideal {label}"] = row["wall_over_ideal"]
        ratios[f"429 share {label}"] = ratio(row.get("status_429"), row.get("requests"))
        cells.append(
            [
                label,
                seconds(row.get("wall_s")),
                seconds(ideal),
                times(row["wall_over_ideal"]),
                count(row.get("requests")),
                count(row.get("ok_responses")),
                f"{count(row.get('status_429'))} ({_pct(row['percent_429'])})",
                count(row.get("subscriptions")),
                f"{count(row.get('failed_ids'))} of {count(row.get('ids'))}",
                row.get("error") or row.get("first_error") or "",
            ]
        )
    return {
        "title": f"(b) fan-out over {s.limited_leads} leads under a rate limit",
        "setup": (
            f"FakeClose(leads={s.limited_leads}, seed=1, rate_limit={s.rate_limit}, "
            f"rate_window={s.rate_window}), latency {seconds(s.latency)}; concurrency "
            f"{s.limited_concurrency} (ours) and {s.limited_concurrency} threads (official); "
            f"ideal = successful requests / {s.rate_limit} per {s.rate_window:g} s; "
            f"time cap {cap:.0f} s per client"
        ),
        "rows": rows,
        "ratios": ratios,
        "goals": [
            goal(
                f"{label}: wall/ideal, 429s, leads failed",
                f"{times(row['wall_over_ideal'])}, {count(row.get('status_429'))} "
                f"({_pct(row['percent_429'])}), {count(row.get('failed_ids'))} of "
                f"{count(row.get('ids'))}",
            )
            for label, row in rows.items()
        ],
        "table": {
            "headers": [
                "client",
                "wall",
                "ideal",
                "wall/ideal",
                "requests",
                "200s",
                "429s",
                "subscriptions",
                "leads failed",
                "what happened",
            ],
            "rows": cells,
        },
    }


def long_list(ctx: Context) -> Json:
    """(c) One lead with a 60-page list: pages fetched ahead against one page at a time."""
    s = ctx.sizes
    spec = ServerSpec(latency=s.latency, add=((LONG_LEAD, s.list_pages * PAGE_SIZE),))
    jobs = [
        Job("ours (prefetch 8)", spec, "ours", ("--list", LONG_LEAD), ids=False),
        Job("ours (prefetch=1)", spec, "ours", ("--list", LONG_LEAD, "--prefetch", "1"), ids=False),
    ]
    rows = run_jobs(ctx, jobs, s.reps)
    ahead, sequential = rows["ours (prefetch 8)"], rows["ours (prefetch=1)"]
    speedup = ratio(sequential.get("wall_s"), ahead.get("wall_s"))
    extra = _minus(ahead.get("requests"), sequential.get("requests"))
    cells = [
        [
            row["label"],
            seconds(row.get("wall_s")),
            count(row.get("requests")),
            count(row.get("subscriptions")),
            times(ratio(row.get("wall_s"), ahead.get("wall_s"))),
            row.get("error", ""),
        ]
        for row in rows.values()
    ]
    return {
        "title": f"(c) one {s.list_pages}-page list",
        "setup": (
            f"one lead with {s.list_pages * PAGE_SIZE:,} subscriptions ({s.list_pages} pages "
            f"of {PAGE_SIZE}), latency {seconds(s.latency)}; "
            "close.sequence_subscriptions.list(lead_id=...) with the default prefetch (8) and "
            f"with CloseClient(prefetch=1); median of {s.reps} run(s)"
        ),
        "rows": rows,
        "ratios": {"speed-up": speedup, "extra requests": extra},
        "goals": [
            goal(
                "speed-up of prefetch 8 over prefetch=1",
                times(speedup, 1),
                ">= 5x",
                at_least(speedup, 5),
            ),
            goal("extra requests", count(extra), "<= 8", at_most(extra, 8)),
        ],
        "table": {
            "headers": [
                "client",
                "wall",
                "requests",
                "subscriptions",
                "wall / prefetch 8",
                "error",
            ],
            "rows": cells,
        },
    }


def _minus(a: object, b: object) -> int | None:
    return a - b if isinstance(a, int) and isinstance(b, int) else None


def _percent(part: object, whole: object) -> float | None:
    share = ratio(part, whole)
    return None if share is None else 100 * share


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
