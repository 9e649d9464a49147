"""Case (g): what ``fields=`` (Close's ``_fields``) saves per subscription.

The data of case (d), no latency: each lead listed with ``list(lead_id=...)``, once with
every field and once with ``fields=("id", "lead_id", "status")``. Bytes are the answers'
body bytes as the fake server counted them (what the client downloads, less the headers);
CPU is the client process's, as in (d), decoding with the standard library's json (the
default install; what orjson changes is case (d)'s business). The fake answers ``_fields``
as Close documents it.
"""

from __future__ import annotations

from _common import Json
from _procs import ServerSpec
from _runs import Context, Job, count, goal, ratio, run_jobs, seconds, times

FIELDS = ("id", "lead_id", "status")
FULL, PARTIAL = "every field", f"fields={','.join(FIELDS)}"


def fields_saving(ctx: Context) -> Json:
    """(g) Bytes received and client CPU per subscription, every field vs three."""
    s = ctx.sizes
    leads = tuple((f"lead_bench_fields{n:03d}", s.cpu_subs_per_lead) for n in range(s.cpu_leads))
    spec = ServerSpec(add=leads)
    options = ("-c", str(s.cpu_concurrency), "--each", "--json", "json")
    jobs = [
        Job(FULL, spec, "ours", options),
        Job(PARTIAL, spec, "ours", (*options, "--fields", ",".join(FIELDS))),
    ]
    rows = run_jobs(ctx, jobs, s.cpu_reps)
    for row in rows.values():
        row["bytes_per_sub"] = ratio(row.get("body_bytes"), row.get("subscriptions"))
        per_sub = ratio(row.get("cpu_s"), row.get("subscriptions"))
        row["cpu_us_per_sub"] = None if per_sub is None else per_sub * 1e6
    full, partial = rows[FULL], rows[PARTIAL]
    ratios = {
        "bytes per sub fields/full": ratio(partial["bytes_per_sub"], full["bytes_per_sub"]),
        "cpu per sub fields/full": ratio(partial["cpu_us_per_sub"], full["cpu_us_per_sub"]),
    }
    cells = [
        [
            label,
            _bytes(row["bytes_per_sub"]),
            times(ratio(row["bytes_per_sub"], full["bytes_per_sub"])),
            _us(row["cpu_us_per_sub"]),
            times(ratio(row["cpu_us_per_sub"], full["cpu_us_per_sub"])),
            count(row.get("requests")),
            count(row.get("subscriptions")),
            count(row.get("body_bytes")),
            seconds(row.get("cpu_s")),
            seconds(row.get("wall_s")),
            seconds(row.get("server_cpu_s")),
            row.get("error", ""),
        ]
        for label, row in rows.items()
    ]
    total = s.cpu_leads * s.cpu_subs_per_lead
    decoder = full.get("json", "?")
    return {
        "title": f"(g) what fields= saves per subscription ({total:,} in all)",
        "setup": (
            f"{s.cpu_leads} leads x {s.cpu_subs_per_lead} subscriptions, no latency; ours: "
            f"list(lead_id=...) per lead, {s.cpu_concurrency} leads at once, with every field "
            f"and with fields={FIELDS}; bytes = response body bytes the fake sent; CPU = "
            f"process_time() of the client process around the work; decoding with {decoder}; "
            f"median of {s.cpu_reps} run(s)"
        ),
        "rows": rows,
        "ratios": ratios,
        "goals": [
            goal(
                f"bytes per subscription, fields={FIELDS} / every field",
                f"{_bytes(partial['bytes_per_sub'])} / {_bytes(full['bytes_per_sub'])} = "
                f"{times(ratios['bytes per sub fields/full'])}",
            ),
            goal(
                f"client CPU per subscription, fields={FIELDS} / every field ({decoder})",
                f"{_us(partial['cpu_us_per_sub'])} / {_us(full['cpu_us_per_sub'])} = "
                f"{times(ratios['cpu per sub fields/full'])}",
            ),
        ],
        "table": {
            "headers": [
                "run",
                "bytes / sub",
                "vs every field",
                "CPU / sub",
                "vs every field",
                "requests",
                "subscriptions",
                "body bytes",
                "client CPU",
                "wall",
                "server CPU",
                "error",
            ],
            "rows": cells,
        },
    }


def _bytes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} B"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} µs"
