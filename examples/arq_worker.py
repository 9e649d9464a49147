"""Many workers, one Close API key: an arq worker that lists subscriptions at a shared limit.

Run as many worker processes as you like, on as many machines, all with the same API key
and the same Redis; then enqueue jobs of 100 leads each::

    pip install "close-async[redis]" arq
    export CLOSE_API_KEY=api_... REDIS_URL=redis://localhost:6379/0
    arq examples.arq_worker.WorkerSettings          # once per worker process
    python examples/arq_worker.py lead_ids.txt      # one ID a line

Each worker process makes one ``CloseClient`` when it starts and keeps it for its whole life
(one connection pool, one gate). The gate is a ``RedisRateLimitGate`` on arq's own Redis
connection: every process sees the requests of all the others, so together they run at
Close's limit instead of each believing it has the whole window (see the README's "Many
workers, one key"). ``CLOSE_BASE_URL`` points the workers at another API root, such as the
fake Close (``python -m close_async.testing --rate-limit 20``), which is what the test does.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import RedisSettings

from close_async import DEFAULT_BASE_URL, CloseClient
from close_async.redis import RedisRateLimitGate

REDIS = RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
JOB_SIZE = 100


async def startup(ctx: dict[str, Any]) -> None:
    """One client per worker process, behind the gate all processes share."""
    ctx["close"] = CloseClient(  # the API key comes from CLOSE_API_KEY
        base_url=os.environ.get("CLOSE_BASE_URL", DEFAULT_BASE_URL),
        rate_limit_gate=RedisRateLimitGate(ctx["redis"]),  # arq's connection, arq closes it
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the client's connections when the worker stops."""
    await ctx["close"].aclose()


async def list_subscriptions(ctx: dict[str, Any], lead_ids: list[str]) -> dict[str, Any]:
    """One job: the sequence subscriptions of some leads, counted by status.

    A lead that fails for good (after retries) does not fail the job: it is reported, so
    that it can be enqueued again.
    """
    close: CloseClient = ctx["close"]
    run = close.sequence_subscriptions.list_many(
        lead_ids=lead_ids, concurrency=16, on_error="continue"
    )
    by_status: Counter[str] = Counter()
    async for sub in run:
        by_status[str(sub.status)] += 1
    return {
        "leads": len(lead_ids),
        "subscriptions": sum(by_status.values()),
        "by_status": dict(by_status),
        "failed": {failure.id: str(failure.error) for failure in run.failures},
        "rate_limited": run.progress.rate_limited,
    }


class WorkerSettings:
    """``arq examples.arq_worker.WorkerSettings``."""

    functions: ClassVar = [list_subscriptions]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = REDIS
    max_jobs = 4  # jobs at once per process; each fans out 16 requests at most


async def enqueue(lead_ids: list[str]) -> list[str]:
    """Enqueue one job per ``JOB_SIZE`` leads; return the job IDs."""
    redis = await create_pool(REDIS)
    try:
        jobs = [
            await redis.enqueue_job("list_subscriptions", lead_ids[n : n + JOB_SIZE])
            for n in range(0, len(lead_ids), JOB_SIZE)
        ]
    finally:
        await redis.aclose()
    return [job.job_id for job in jobs if job is not None]


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as ids:
        job_ids = asyncio.run(enqueue(ids.read().split()))
    print(f"enqueued {len(job_ids)} jobs")
