"""The official sync client, ``closeio`` (``closeio_api``), on a thread pool of the same size.

One ``closeio_api.API`` shared by ``concurrency`` threads, as its users do, with a
``requests`` connection pool as large as the thread pool so that the pool (10 connections
by default) is not what holds it back. Its paging is the ``_skip``/``_limit`` loop (it has
no pagination helper) and its 429 handling is its own, untouched: it sleeps for the
``reset=`` its header regex reads (``reset=0.734`` reads as 0) and gives up after
``max_retries`` (5) attempts with an ``APIError``.

A lead whose listing raises is counted as failed and the run goes on, so the report can
say how many leads a job would have lost; the first error is kept. Its 429s are counted on
the server side.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import closeio_api  # type: ignore[import-untyped,unused-ignore]
import requests  # type: ignore[import-untyped,unused-ignore]
from _common import PAGE_SIZE, Json, Meter


def _list_lead(api: Any, lead_id: str) -> tuple[int, int, str | None]:
    """Page through one lead; return (subscriptions, pages read, error or None)."""
    skip = count = pages = 0
    try:
        while True:
            params = {"lead_id": lead_id, "_skip": skip, "_limit": PAGE_SIZE}
            page: dict[str, Any] = api.get("sequence_subscription", params=params)
            pages += 1
            data = page["data"]
            count += len(data)
            if not page["has_more"] or not data:
                return count, pages, None
            skip += len(data)
    except (closeio_api.APIError, requests.RequestException) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return count, pages, f"{type(exc).__name__} (HTTP {status})"


def fan_out(url: str, api_key: str, ids: Iterable[str], *, concurrency: int) -> Json:
    """List every lead in ``ids`` on ``concurrency`` threads sharing one API object."""
    meter = Meter()
    api = closeio_api.API(url, api_key=api_key)
    adapter = requests.adapters.HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
    api.session.mount("http://", adapter)
    api.session.mount("https://", adapter)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        meter.start()
        outcomes = list(pool.map(functools.partial(_list_lead, api), ids))
        work = meter.stop()
    errors = [error for _, _, error in outcomes if error is not None]
    return {
        **work,
        "subscriptions": sum(count for count, _, _ in outcomes),
        "ids": len(outcomes),
        "failed_ids": len(errors),
        "first_error": errors[0] if errors else None,
    }
