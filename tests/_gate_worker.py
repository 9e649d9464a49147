"""A worker process of the Redis gate's multi-process tests: ``python -m tests._gate_worker``.

``serve`` reads one JSON command a line on stdin, runs it on a fresh event loop and prints
its result as one JSON line, until stdin closes: started once, a worker serves many tests
(starting Python and importing the library costs far more than any command).
``hold URL N LEASE`` acquires N leases of LEASE seconds, prints ``"HELD"`` and waits to be
killed. Every command binds a ``RedisRateLimitGate`` to the same made-up credential, so that
all workers (and the test) share one budget.

Commands (``{"mode": ..., "args": [...]}``):

- ``grab URL N TIMEOUT``: N tasks try to acquire at once, each giving up after TIMEOUT s;
  the result is how many got in.
- ``probe URL TIMEOUT``: the group's pause, and whether one acquire got in.
- ``fan-out URL BASE_URL API_KEY IDS``: lists the subscriptions of the lead IDs (a list)
  with a CloseClient behind the gate; the count and the client's 429s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from typing import Any

from close_async import CloseClient, GateSettings, RateLimitGate
from close_async.redis import RedisRateLimitGate

ENDPOINT = "GET sequence_subscription/"
SETTINGS = GateSettings(credential_digest=hashlib.sha256(b"Basic test-key").digest())


def say(value: object) -> None:
    print(json.dumps(value), flush=True)


async def grab(gate: RateLimitGate, n: int, timeout: float) -> Any:
    async def one() -> bool:
        try:
            await asyncio.wait_for(gate.acquire(ENDPOINT), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    got = await asyncio.gather(*(one() for _ in range(n)))
    return {"got": sum(got)}


async def probe(gate: RateLimitGate, timeout: float) -> Any:
    snapshot = await gate.snapshot(ENDPOINT)  # type: ignore[attr-defined]
    admitted = False
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(gate.acquire(ENDPOINT), timeout)
        admitted = True
    return {"paused_for": snapshot.paused_for, "admitted": admitted}


async def fan_out(redis_url: str, base_url: str, api_key: str, ids: list[str]) -> Any:
    async with RedisRateLimitGate(redis_url) as gate:
        close = CloseClient(api_key, base_url=base_url, rate_limit_gate=gate)
        async with close:
            run = close.sequence_subscriptions.list_many(lead_ids=ids, concurrency=8)
            count = len([sub async for sub in run])
        return {"subscriptions": count, "rate_limited": close.stats.rate_limited}


async def run(mode: str, redis_url: str, *args: Any) -> Any:
    if mode == "fan-out":
        return await fan_out(redis_url, *args)
    async with RedisRateLimitGate(redis_url, initial_burst=100) as gate:
        bound = gate.bind_client(SETTINGS)
        if mode == "grab":
            return await grab(bound, int(args[0]), float(args[1]))
        return await probe(bound, float(args[0]))


async def hold(redis_url: str, n: int, lease: float) -> None:
    async with RedisRateLimitGate(redis_url, lease_seconds=lease, initial_burst=100) as gate:
        bound = gate.bind_client(SETTINGS)
        for _ in range(n):
            await bound.acquire(ENDPOINT)
        say("HELD")
        await asyncio.Event().wait()  # until SIGKILL


def main(argv: list[str]) -> None:
    if argv[0] == "hold":
        asyncio.run(hold(argv[1], int(argv[2]), float(argv[3])))
        return
    say("READY")
    for line in sys.stdin:
        command = json.loads(line)
        say(asyncio.run(run(command["mode"], *command["args"])))


if __name__ == "__main__":
    main(sys.argv[1:])
