"""The fake Close for one benchmark run, in a process of its own.

    python benchmarks/_server.py --leads 500 --seed 1 --latency 0.03 \
        --ids-out ids.txt --stats-out stats.json

A process of its own so that serving never takes CPU from the client being measured (each
gets a core of its own on a 2-core machine), and a fresh process per run so that rate-limit
windows and counters never leak from one run into the next.

It builds a ``FakeClose`` (plus ``--add LEAD_ID:COUNT`` subscriptions, e.g. one lead with
6,000 for a 60-page list, and ``--sparse N:SHARE:BIG``: N more leads of which a SHARE have 1
to 5 subscriptions each, in as many sequences drawn at random, and BIG have 101 to 300),
writes the IDs of all its leads to ``--ids-out``, prints
``URL=...``, ``API_KEY=...`` and ``READY`` on stdout, and serves until SIGTERM or SIGINT. It
then writes what it served to ``--stats-out`` as JSON: the fake's counters (requests, answers
by status, 429s, peak in flight) and its own CPU and wall time while serving, which tell
whether the server, rather than the client, was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from _common import pin

from close_async.testing import FakeClose


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=0, help="seeded leads")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data")
    parser.add_argument("--sequences", type=int, default=10, help="seeded sequences")
    parser.add_argument(
        "--sparse",
        metavar="N:SHARE:BIG",
        help="N more leads, a SHARE with 1-5 subscriptions, BIG with 101-300 (case f)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window")
    parser.add_argument("--rate-window", type=float, default=1.0, help="window in seconds")
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="LEAD_ID:COUNT",
        help="give a lead (created if unknown) COUNT more subscriptions; repeatable",
    )
    parser.add_argument("--ids-out", type=Path, required=True, help="file for the lead IDs")
    parser.add_argument("--stats-out", type=Path, required=True, help="file for the counters")
    parser.add_argument("--cpu", type=int, default=None, help="run on this CPU only")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> FakeClose:
    """Make the fake with its seeded and added data, not yet listening."""
    fake = FakeClose(
        leads=args.leads,
        sequences=args.sequences,
        seed=args.seed,
        latency=args.latency,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    for spec in args.add:
        lead_id, _, count = str(spec).rpartition(":")
        fake.add_subscriptions(lead_id=lead_id, count=int(count))
    if args.sparse:
        leads, share, big = str(args.sparse).split(":")
        add_sparse(fake, int(leads), float(share), int(big), seed=args.seed)
    return fake


def add_sparse(fake: FakeClose, leads: int, share: float, big: int, *, seed: int) -> None:
    """Leads as a bulk job meets them: most with no subscription, some with a few, a few
    with several pages (spread evenly through the input)."""
    rng = random.Random(f"bench-sparse:{seed}")
    sequences = [s["id"] for s in fake.state.sequences()]
    big_at = set(range(0, leads, max(leads // max(big, 1), 1))[:big])
    for n in range(leads):
        lead_id = f"lead_bench_f{n:05d}"
        if n in big_at:
            fake.add_subscriptions(lead_id=lead_id, count=rng.randint(101, 300))
        elif rng.random() < share:
            for sequence in rng.sample(sequences, min(rng.randint(1, 5), len(sequences))):
                fake.add_subscriptions(lead_id=lead_id, count=1, sequence_id=sequence)
        else:
            fake.add_lead(lead_id=lead_id)


async def serve(fake: FakeClose) -> dict[str, object]:
    """Serve until told to stop; return the counters and the server's own cost."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(f"URL={fake.url}", flush=True)
        print(f"API_KEY={fake.api_key}", flush=True)
        print("READY", flush=True)
        cpu, wall = time.process_time(), time.perf_counter()
        await stop.wait()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"stats": fake.stats.as_dict(), "cpu_s": cpu, "wall_s": wall}


def main(argv: Sequence[str] | None = None) -> int:
    """Build, write the IDs, serve."""
    args = parse_args(argv)
    pin(args.cpu)
    fake = build(args)
    ids = [lead.id for lead in fake.state.leads()]
    args.ids_out.write_text("".join(f"{lead_id}\n" for lead_id in ids), encoding="utf-8")
    report = asyncio.run(serve(fake))
    args.stats_out.write_text(json.dumps(report, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
