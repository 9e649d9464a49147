"""Case (f): the fewest requests. Per ID, by sequence, auto and list_all, under a rate limit.

A bulk job is paced by Close's rate limit, so its cost is its number of requests. The data is
what a bulk job meets: many leads, most with no subscription, some with a few, a few with
several pages, in a few dozen sequences. The same leads are read four ways, each against a
fresh fake server with the same data and the same limit; the server counts the requests and
the 429s. Each way's ideal time is its own requests at the limit.
"""

from __future__ import annotations

from _common import Json
from _procs import ServerSpec
from _runs import Context, Job, at_least, at_most, count, goal, ratio, run_jobs, seconds, times

FEWER_GOAL = 20.0  # auto sends at least 20x fewer requests than per ID
IDEAL_GOAL = 1.1  # and finishes within 1.1x of its own ideal time
WAYS = {
    "per ID": ("--strategy", "per_id"),
    "by sequence": ("--strategy", "by_sequence"),
    "auto": ("--strategy", "auto"),
    "list_all": ("--all",),
}


def strategies(ctx: Context) -> Json:
    """(f) The same leads read per ID, by sequence, auto, and the whole org with list_all."""
    s = ctx.sizes
    spec = ServerSpec(
        seed=1,
        sequences=s.strategy_sequences,
        latency=s.latency,
        rate_limit=s.strategy_rate_limit,
        sparse=(s.strategy_leads, s.strategy_share, s.strategy_big),
    )
    options = ("-c", str(s.strategy_concurrency))
    jobs = [
        Job(label, spec, "ours", (*options, *way), ids=way[0] != "--all")
        for label, way in WAYS.items()
    ]
    rows = run_jobs(ctx, jobs, 1)
    limit = s.strategy_rate_limit
    for row in rows.values():
        row["ideal_s"] = ratio(row.get("requests"), limit)
        row["wall_over_ideal"] = ratio(row.get("wall_s"), row["ideal_s"])
    per_id, auto = rows["per ID"], rows["auto"]
    fewer = ratio(per_id.get("requests"), auto.get("requests"))
    over_ideal = auto["wall_over_ideal"]
    auto_429 = auto.get("status_429")
    same = len({row.get("subscriptions") for label, row in rows.items() if label != "list_all"})
    ratios = {
        "requests per ID/auto": fewer,
        "wall/ideal auto": over_ideal,
        "wall per ID/auto": ratio(per_id.get("wall_s"), auto.get("wall_s")),
        "wall/ideal per ID": per_id["wall_over_ideal"],
    }
    cells = [
        [
            label,
            count(row.get("requests")),
            seconds(row.get("wall_s")),
            seconds(row.get("ideal_s")),
            times(row["wall_over_ideal"]),
            count(row.get("status_429")),
            count(row.get("subscriptions")),
            row.get("strategy_reason") or "",
            row.get("error", ""),
        ]
        for label, row in rows.items()
    ]
    return {
        "title": f"(f) the fewest requests: {s.strategy_leads:,} leads read four ways",
        "setup": (
            f"{s.strategy_leads:,} leads, {s.strategy_share:.0%} of them with 1 to 5 "
            f"subscriptions in as many random sequences of {s.strategy_sequences}, "
            f"{s.strategy_big} with 101 to 300, the rest none (seed 1); rate limit "
            f"{limit} requests/s per endpoint group, latency {seconds(s.latency)}; "
            f"concurrency {s.strategy_concurrency}; list_many(lead_ids=[...], strategy=...) "
            "and list_all(); requests and 429s counted by the server; ideal = requests / "
            f"{limit} per second (the look-ups of sequences go to another endpoint group, "
            "with a window of its own, so a read by sequence can beat it)"
        ),
        "rows": rows,
        "ratios": ratios,
        "goals": [
            goal(
                "requests per ID / auto",
                f"{count(per_id.get('requests'))} / {count(auto.get('requests'))} = "
                f"{times(fewer, 1)}",
                f">= {FEWER_GOAL:.0f}x",
                at_least(fewer, FEWER_GOAL),
            ),
            goal(
                "auto: wall / its ideal",
                f"{seconds(auto.get('wall_s'))} / {seconds(auto.get('ideal_s'))} = "
                f"{times(over_ideal)}",
                f"<= {IDEAL_GOAL}x",
                at_most(over_ideal, IDEAL_GOAL),
            ),
            goal(
                "auto: 429s",
                count(auto_429),
                "0",
                None if not isinstance(auto_429, int) else auto_429 == 0,
            ),
            goal(
                "per ID: wall / its ideal, 429s",
                f"{times(per_id['wall_over_ideal'])}, {count(per_id.get('status_429'))}",
            ),
            goal("same subscriptions per ID, by sequence and auto", "yes" if same == 1 else "NO"),
        ],
        "table": {
            "headers": [
                "read",
                "requests",
                "wall",
                "ideal",
                "wall/ideal",
                "429s",
                "subscriptions",
                "strategy (why)",
                "error",
            ],
            "rows": cells,
        },
    }
