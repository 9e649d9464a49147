"""The sizes of each case for a full run, ``--quick`` (about half) and ``--smoke`` (tiny).

The full sizes are the ones the goals are stated for; ``--quick`` is for trying a change,
``--smoke`` only proves the machinery works (the test runs it) and its numbers mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Every knob of every case."""

    name: str
    reps: int  # runs per client in (a) and (c); the median is reported
    timeout: float  # cap on any one client process, seconds
    latency: float  # injected per answer in (a), (b) and (c), seconds
    # (a) fan-out and (b) the same under a rate limit
    fan_leads: int
    fan_concurrency: int
    limited_leads: int
    rate_limit: int
    rate_window: float
    limited_concurrency: int
    # (c) one long list
    list_pages: int
    # (d) CPU per subscription
    cpu_leads: int
    cpu_subs_per_lead: int
    cpu_concurrency: int
    cpu_reps: int  # runs per client in (d)
    # (e) memory
    mem_small: int
    mem_large: int
    mem_known: int
    mem_concurrency: int
    # (f) per ID, by sequence, auto and list_all, under a rate limit
    strategy_leads: int
    strategy_share: float  # of the leads, those with 1 to 5 subscriptions
    strategy_big: int  # leads with more than 100 subscriptions
    strategy_sequences: int
    strategy_rate_limit: int
    strategy_concurrency: int
    # (h) many workers, one key: processes, each with its concurrency, over leads at a limit
    fleet_workers: int
    fleet_concurrency: int
    fleet_leads: int
    fleet_rate_limit: int
    fleet_window: float
    fleet_lease: float  # the Redis gate's lease_seconds (its default: 5)


FULL = Sizes(
    name="full",
    reps=5,
    timeout=600.0,
    latency=0.03,
    fan_leads=500,
    fan_concurrency=16,
    limited_leads=500,
    rate_limit=20,
    rate_window=1.0,
    limited_concurrency=32,
    list_pages=60,
    cpu_leads=100,  # 30,000 subscriptions: at 40 x 300 a run is ~0.1 s of CPU, too noisy
    cpu_subs_per_lead=300,
    cpu_concurrency=8,
    cpu_reps=7,
    mem_small=10_000,
    mem_large=100_000,
    mem_known=100,
    mem_concurrency=32,
    strategy_leads=5_000,
    strategy_share=0.4,
    strategy_big=5,
    strategy_sequences=20,
    strategy_rate_limit=20,
    strategy_concurrency=16,
    fleet_workers=4,
    fleet_concurrency=16,
    fleet_leads=2000,
    fleet_rate_limit=20,
    fleet_window=1.0,
    fleet_lease=5.0,
)

QUICK = Sizes(
    name="quick",
    reps=1,
    timeout=300.0,
    latency=0.03,
    fan_leads=250,
    fan_concurrency=16,
    limited_leads=200,
    rate_limit=20,
    rate_window=1.0,
    limited_concurrency=32,
    list_pages=60,  # the case is about 60 pages; it is short anyway
    cpu_leads=50,
    cpu_subs_per_lead=300,
    cpu_concurrency=8,
    cpu_reps=3,
    mem_small=5_000,
    mem_large=50_000,
    mem_known=100,
    mem_concurrency=32,
    strategy_leads=2_500,
    strategy_share=0.4,
    strategy_big=3,
    strategy_sequences=20,
    strategy_rate_limit=20,
    strategy_concurrency=16,
    fleet_workers=4,
    fleet_concurrency=16,
    fleet_leads=600,
    fleet_rate_limit=20,
    fleet_window=1.0,
    fleet_lease=5.0,
)

SMOKE = Sizes(
    name="smoke",
    reps=1,
    timeout=30.0,
    latency=0.005,
    fan_leads=30,
    fan_concurrency=4,
    limited_leads=20,
    rate_limit=10,
    rate_window=0.5,
    limited_concurrency=8,
    list_pages=6,
    cpu_leads=3,
    cpu_subs_per_lead=150,
    cpu_concurrency=4,
    cpu_reps=1,
    mem_small=200,
    mem_large=2_000,
    mem_known=10,
    mem_concurrency=8,
    strategy_leads=60,
    strategy_share=0.4,
    strategy_big=1,
    strategy_sequences=3,
    strategy_rate_limit=1000,
    strategy_concurrency=4,
    fleet_workers=4,
    fleet_concurrency=4,
    fleet_leads=60,
    fleet_rate_limit=20,
    fleet_window=0.25,
    fleet_lease=0.5,
)

PROFILES = {sizes.name: sizes for sizes in (FULL, QUICK, SMOKE)}
