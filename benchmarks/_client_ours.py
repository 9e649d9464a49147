"""This client (close_async), as a user would write the job.

``list_many`` over the lead IDs with ``concurrency`` requests in flight and models parsed at
the edge, one ``list`` of a long list, or one ``list`` per lead with ``fields=``. Requests,
retries and 429s are the client's own counters (``run.progress``, ``close.stats``); the
runner also has the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TypedDict

from _common import Json, Meter

from close_async import CloseClient, FanOut, SequenceSubscription, Strategy


class _Options(TypedDict, total=False):
    max_concurrency: int
    prefetch: int


def _client(
    url: str, api_key: str, *, concurrency: int | None, prefetch: int | None
) -> CloseClient:
    """A client with the library's defaults except what the run sets."""
    options: _Options = {}
    if concurrency is not None:
        options["max_concurrency"] = concurrency
    if prefetch is not None:
        options["prefetch"] = prefetch
    return CloseClient(api_key, base_url=url, **options)


async def fan_out(
    url: str,
    api_key: str,
    ids: Iterable[str],
    *,
    concurrency: int,
    prefetch: int | None,
    strategy: Strategy | None = None,
) -> Json:
    """List the subscriptions of every lead in ``ids`` (consumed lazily) and count them."""
    meter = Meter()
    async with _client(url, api_key, concurrency=concurrency, prefetch=prefetch) as close:
        meter.start()
        if strategy is None:
            run = close.sequence_subscriptions.list_many(lead_ids=ids, concurrency=concurrency)
        else:
            # A read by sequence needs the IDs whole (and with a length): a list.
            run = close.sequence_subscriptions.list_many(
                lead_ids=list(ids), concurrency=concurrency, strategy=strategy
            )
        async for _ in run:
            pass  # the run counts them: no per-item work the other clients do not do
        work = meter.stop()
    return {**work, **_counts(run)}


async def list_all(url: str, api_key: str, *, concurrency: int) -> Json:
    """Every subscription of the organisation, sequence by sequence (``list_all``)."""
    meter = Meter()
    async with _client(url, api_key, concurrency=concurrency, prefetch=None) as close:
        meter.start()
        run = close.sequence_subscriptions.list_all(concurrency=concurrency)
        async for _ in run:
            pass
        work = meter.stop()
    return {**work, **_counts(run)}


def _counts(run: FanOut[SequenceSubscription]) -> Json:
    progress = run.progress
    plan = run.plan
    return {
        "subscriptions": progress.items,
        "ids": progress.ids_done,
        "failed_ids": progress.ids_failed,
        "client_requests": progress.requests,
        "client_429": progress.rate_limited,
        "retries": progress.retries,
        "rate_limit_wait_s": progress.rate_limit_wait,
        "strategy": progress.strategy,
        "strategy_reason": progress.strategy_reason,
        "estimates": {} if plan is None else dict(plan.estimates),
    }


async def list_one(url: str, api_key: str, lead_id: str, *, prefetch: int | None) -> Json:
    """List one lead's subscriptions with ``list`` (pages fetched ahead unless prefetch=1)."""
    meter = Meter()
    async with _client(url, api_key, concurrency=None, prefetch=prefetch) as close:
        meter.start()
        count = 0
        async for _ in close.sequence_subscriptions.list(lead_id=lead_id):
            count += 1
        work = meter.stop()
        stats = close.stats.snapshot()
    return {
        **work,
        "subscriptions": count,
        "ids": 1,
        "failed_ids": 0,
        "client_requests": stats.requests,
        "client_429": stats.rate_limited,
        "retries": stats.retries,
        "rate_limit_wait_s": stats.rate_limit_wait,
    }


async def list_each(
    url: str,
    api_key: str,
    ids: Iterable[str],
    *,
    concurrency: int,
    fields: Sequence[str] | None,
) -> Json:
    """List each lead with ``list(lead_id=..., fields=fields)``, ``concurrency`` leads at once.

    (``fields=`` is on ``list`` and ``get``; once ``list_many`` takes it too, this can be
    ``fan_out`` with ``fields=``.)
    """
    meter = Meter()
    async with _client(url, api_key, concurrency=concurrency, prefetch=None) as close:
        subs = close.sequence_subscriptions
        room = asyncio.Semaphore(concurrency)

        async def one(lead_id: str) -> int:
            async with room:
                count = 0
                async for _ in subs.list(lead_id=lead_id, fields=fields):
                    count += 1
                return count

        meter.start()
        counts = await asyncio.gather(*(one(lead_id) for lead_id in ids))
        work = meter.stop()
        stats = close.stats.snapshot()
    return {
        **work,
        "subscriptions": sum(counts),
        "ids": len(counts),
        "failed_ids": 0,
        "client_requests": stats.requests,
        "client_429": stats.rate_limited,
        "retries": stats.retries,
        "rate_limit_wait_s": stats.rate_limit_wait,
    }
