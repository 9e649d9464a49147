"""The baseline: bare aiohttp and ``json``, no models, no retries, no rate-limit handling.

What anyone would write in ten minutes: one ``ClientSession``, an ``asyncio.Semaphore``
bounding the requests in flight, and the ``_skip``/``_limit`` loop until ``has_more`` is
false, parsing each body with ``json.loads`` (or ``orjson.loads``, to match our client
when it uses orjson). The CPU this costs is the floor that our client's extra work (models,
retries, rate-limit gate, fan-out bookkeeping) is measured against.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from _common import PAGE_SIZE, Json, Meter

Loads = Callable[[bytes], Any]


async def _list_lead(
    session: aiohttp.ClientSession,
    limiter: asyncio.Semaphore,
    url: str,
    lead_id: str,
    loads: Loads,
) -> tuple[int, int]:
    """Page through one lead; return (subscriptions, requests)."""
    skip = count = requests = 0
    while True:
        params = {"lead_id": lead_id, "_skip": str(skip), "_limit": str(PAGE_SIZE)}
        async with limiter, session.get(url, params=params) as response:
            if response.status != 200:
                raise RuntimeError(f"lead {lead_id}: HTTP {response.status}")
            page: dict[str, Any] = loads(await response.read())
        requests += 1
        data = page["data"]
        count += len(data)
        if not page["has_more"] or not data:
            return count, requests
        skip += len(data)


async def fan_out(
    url: str, api_key: str, ids: Iterable[str], *, concurrency: int, loads: Loads = json.loads
) -> Json:
    """List every lead in ``ids`` with at most ``concurrency`` requests in flight.

    ``loads`` decodes each page: ``json.loads``, or ``orjson.loads`` to compare like for
    like with our client when it uses orjson.
    """
    meter = Meter()
    token = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        limiter = asyncio.Semaphore(concurrency)
        endpoint = url + "sequence_subscription/"
        meter.start()
        results = await asyncio.gather(
            *(_list_lead(session, limiter, endpoint, i, loads) for i in ids)
        )
        work = meter.stop()
    return {
        **work,
        "subscriptions": sum(count for count, _ in results),
        "ids": len(results),
        "failed_ids": 0,
        "client_requests": sum(requests for _, requests in results),
    }
