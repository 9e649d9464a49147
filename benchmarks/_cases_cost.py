"""Cases (d) client CPU per listed subscription and (e) peak memory of a huge fan-out.

No latency in either: with nothing to wait for, what the client costs is all there is to
see. The fake server runs in a process of its own, so on a 2-core machine it has a core to
itself; its CPU time is reported next to the client's.
"""

from __future__ import annotations

import importlib.util

from _common import Json
from _procs import ServerSpec
from _runs import Context, Job, at_most, count, goal, mib, ratio, run_jobs, seconds, times

CPU_GOAL = 1.3  # ours at most 1.3x the CPU of bare aiohttp per subscription
FLAT_GOAL = 1.10  # peak RSS over the large input at most 10% above the small one


def cpu_per_subscription(ctx: Context) -> Json:
    """(d) Leads with many subscriptions, no latency: CPU per 1,000 subscriptions.

    Like for like on the JSON decoder: our client uses orjson when it is installed (the
    ``fast`` extra), so it is compared with bare aiohttp + ``json`` with orjson hidden (the
    default install), and, when orjson is installed, with bare aiohttp + ``orjson``.
    """
    s = ctx.sizes
    leads = tuple((f"lead_bench_cpu{n:03d}", s.cpu_subs_per_lead) for n in range(s.cpu_leads))
    spec = ServerSpec(add=leads)
    options = ("-c", str(s.cpu_concurrency))
    decoders = ["json", "orjson"] if importlib.util.find_spec("orjson") else ["json"]
    jobs = [
        Job(f"{client} ({decoder})", spec, client, (*options, "--json", decoder))
        for decoder in decoders
        for client in ("ours", "bare")
    ]
    rows = run_jobs(ctx, jobs, s.cpu_reps)
    for row in rows.values():
        # seconds per item x 1e6 = ms per 1,000 items = µs per item
        row["cpu_ms_per_1000_subs"] = _millionths(row.get("cpu_s"), row.get("subscriptions"))
        row["cpu_us_per_request"] = _millionths(row.get("cpu_s"), row.get("requests"))
    per_sub = {label: row["cpu_ms_per_1000_subs"] for label, row in rows.items()}
    ratios: Json = {}
    goals = []
    for decoder in decoders:
        value = ratio(per_sub[f"ours ({decoder})"], per_sub[f"bare ({decoder})"])
        ratios[f"cpu per sub ours/bare ({decoder})"] = value
        goals.append(
            goal(
                f"CPU per 1,000 subscriptions ours/bare, both with {decoder}",
                f"{_ms(per_sub[f'ours ({decoder})'])} / {_ms(per_sub[f'bare ({decoder})'])} "
                f"= {times(value)}",
                f"<= {CPU_GOAL}x",
                at_most(value, CPU_GOAL),
            )
        )
    if "orjson" in decoders:
        ratios["cpu per sub ours (orjson)/bare (json)"] = ratio(
            per_sub["ours (orjson)"], per_sub["bare (json)"]
        )
    cells = []
    for job in jobs:
        row = rows[job.label]
        bare = per_sub[f"bare ({job.options[-1]})"]  # the bare run with the same decoder
        cells.append(
            [
                job.label,
                _ms(row["cpu_ms_per_1000_subs"]),
                times(ratio(row["cpu_ms_per_1000_subs"], bare)),
                _us(row["cpu_us_per_request"]),
                count(row.get("requests")),
                count(row.get("subscriptions")),
                seconds(row.get("cpu_s")),
                seconds(row.get("wall_s")),
                seconds(row.get("server_cpu_s")),
                row.get("error", ""),
            ]
        )
    total = s.cpu_leads * s.cpu_subs_per_lead
    return {
        "title": f"(d) client CPU per 1,000 listed subscriptions ({total:,} in all)",
        "setup": (
            f"{s.cpu_leads} leads x {s.cpu_subs_per_lead} subscriptions, no latency, "
            f"concurrency {s.cpu_concurrency}; ours: list_many yielding models; bare: aiohttp "
            "+ loads, dicts only; each with the standard library's json (orjson hidden, as in "
            "the default install)"
            + (" and with orjson (the `fast` extra)" if "orjson" in decoders else "")
            + "; CPU = process_time() of the client process around the work; 'vs bare' "
            f"compares with bare using the same decoder; median of {s.cpu_reps} run(s)"
        ),
        "rows": rows,
        "ratios": ratios,
        "goals": goals,
        "table": {
            "headers": [
                "client (decoder)",
                "CPU / 1,000 subs",
                "vs bare",
                "CPU / request",
                "requests",
                "subscriptions",
                "client CPU",
                "wall",
                "server CPU",
                "error",
            ],
            "rows": cells,
        },
    }


def memory(ctx: Context) -> Json:
    """(e) list_many over a small and a 10x larger generator of IDs: peak RSS of each."""
    s = ctx.sizes
    spec = ServerSpec(leads=s.mem_known, seed=1)
    jobs = [
        Job(f"ours, {n:,} IDs", spec, "ours", ("-c", str(s.mem_concurrency), "--generate", str(n)))
        for n in (s.mem_small, s.mem_large)
    ]
    rows = run_jobs(ctx, jobs, 1)
    small, large = (rows[job.label] for job in jobs)
    growth = ratio(large.get("peak_rss_kb"), small.get("peak_rss_kb"))
    cells = []
    for row in rows.values():
        before, peak = row.get("rss_before_kb"), row.get("peak_rss_kb")
        during = peak - before if isinstance(peak, int) and isinstance(before, int) else None
        row["rss_growth_kb"] = during
        cells.append(
            [
                row["label"],
                mib(peak),
                mib(before),
                mib(during),
                count(row.get("requests")),
                count(row.get("subscriptions")),
                seconds(row.get("wall_s")),
                seconds(row.get("cpu_s")),
                row.get("error", ""),
            ]
        )
    return {
        "title": f"(e) peak memory of a fan-out over {s.mem_large:,} IDs vs {s.mem_small:,}",
        "setup": (
            f"FakeClose(leads={s.mem_known}, seed=1), no latency; list_many(concurrency="
            f"{s.mem_concurrency}) over a generator of IDs (not a list, so the input takes no "
            f"memory): the {s.mem_known} known leads spread among unknown IDs, which the fake "
            "answers with an empty page; peak RSS = VmHWM of the client process (interpreter "
            "and imports included), 'before' = VmRSS when the work starts; decoding with "
            + str(small.get("json", "?"))
        ),
        "rows": rows,
        "ratios": {"peak RSS large/small": growth},
        "goals": [
            goal(
                f"peak RSS, {s.mem_large:,} IDs / {s.mem_small:,} IDs",
                f"{mib(large.get('peak_rss_kb'))} / {mib(small.get('peak_rss_kb'))} "
                f"= {times(growth, 3)}",
                f"<= {FLAT_GOAL}x (flat)",
                at_most(growth, FLAT_GOAL),
            )
        ],
        "table": {
            "headers": [
                "run",
                "peak RSS",
                "RSS before work",
                "growth during work",
                "requests",
                "subscriptions",
                "wall",
                "client CPU",
                "error",
            ],
            "rows": cells,
        },
    }


def _millionths(value: object, per: object) -> float | None:
    share = ratio(value, per)
    return None if share is None else share * 1e6


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} µs"
