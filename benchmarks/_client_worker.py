"""One worker of case (h), "many workers, one key", in a process of its own.

    python benchmarks/_client_worker.py --url URL --api-key KEY --ids-file part.txt \
        --gate redis --redis-url redis://127.0.0.1:6379/0 -c 16

It builds one ``CloseClient`` (behind an in-process gate, or a ``RedisRateLimitGate`` shared
with the other workers), prints ``READY``, waits for a ``GO`` line on stdin so that all
workers start together, lists the subscriptions of its leads with ``list_many``, and prints
one ``RESULT`` line: its start and end (POSIX time, comparable between processes), counts,
and when each request was sent, when it was answered and with what status (an aiohttp
trace), from which the runner tells how fast the workers went after one of them was killed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import aiohttp
from _common import Json, emit, pin

from close_async import CloseClient, RateLimitGate
from close_async.redis import RedisRateLimitGate


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the fake's API root")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--ids-file", type=Path, required=True, help="this worker's lead IDs")
    parser.add_argument("--gate", choices=("local", "redis"), required=True)
    parser.add_argument("--redis-url", help="for --gate redis")
    parser.add_argument("--lease", type=float, default=None, help="lease_seconds of the gate")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--cpu", type=int, default=None, help="run on this CPU only")
    return parser.parse_args(argv)


async def work(args: argparse.Namespace) -> Json:
    """Set up, wait for GO, list every lead's subscriptions, and say what happened."""
    ids = args.ids_file.read_text(encoding="utf-8").split()
    answers: list[tuple[float, float, int]] = []  # sent, answered, status

    async def on_start(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        context.sent = time.time()

    async def on_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        answers.append((context.sent, time.time(), params.response.status))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    gate: RateLimitGate | None = None
    redis_gate: RedisRateLimitGate | None = None
    if args.gate == "redis":
        lease = {} if args.lease is None else {"lease_seconds": args.lease}
        gate = redis_gate = RedisRateLimitGate(args.redis_url, **lease)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        close = CloseClient(
            args.api_key,
            base_url=args.url,
            max_concurrency=args.concurrency,
            session=session,
            rate_limit_gate=gate,
        )
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # GO
        start = time.time()
        async with close:
            run = close.sequence_subscriptions.list_many(
                lead_ids=ids, concurrency=args.concurrency, on_error="continue"
            )
            async for _ in run:
                pass
        end = time.time()
    if redis_gate is not None:
        await redis_gate.aclose()
    progress = run.progress
    return {
        "start": start,
        "end": end,
        "ids": len(ids),
        "ids_done": progress.ids_done,
        "failed_ids": progress.ids_failed,
        "subscriptions": progress.items,
        "client_requests": progress.requests,
        "client_429": progress.rate_limited,
        "retries": progress.retries,
        "answers": answers,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker and print its result."""
    args = parse_args(argv)
    pin(args.cpu)
    emit(asyncio.run(work(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
