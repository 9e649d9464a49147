"""Offset pagination (``_skip``/``_limit``) with pages fetched ahead, yielded in order.

Close pages with ``_skip`` and ``_limit`` and says ``has_more``
(https://developer.close.com/api/overview/pagination). Fetching page after page costs one
round trip each, so a long list fetches ahead: the window of pages in flight starts at 1
and doubles (up to a cap) only while pages come back full. A list of one page therefore
costs exactly one request, and a long one a handful of round trips plus at most ``cap - 1``
requests past its end, whose answers (empty) are dropped.

Correctness over speed: pages are yielded in order, an item whose ``id`` was already
yielded is dropped (offsets shift when records are added during the listing), and if a
page comes back short while ``has_more`` is still true, the pages fetched ahead were
computed from the wrong offsets: they are dropped and paging goes on one page at a time
from where that page ended.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

import attrs

__all__ = ["DEFAULT_PREFETCH", "PageOf", "next_window", "paginate"]

T = TypeVar("T")

DEFAULT_PREFETCH = 8


@attrs.frozen
class PageOf(Generic[T]):
    """One page as fetched: its items (already structured) and Close's ``has_more``."""

    items: list[T]
    has_more: bool


def next_window(window: int, page_full: bool, cap: int) -> int:
    """How many pages to keep in flight after a page came back: double while full."""
    return min(window * 2, cap) if page_full else 1


FetchPage = Callable[[int, int], Awaitable[PageOf[T]]]


async def paginate(
    fetch: FetchPage[T],
    *,
    page_size: int,
    limit: int | None = None,
    prefetch: int = DEFAULT_PREFETCH,
    key: Callable[[T], str],
) -> AsyncGenerator[list[T], None]:
    """Yield the items of a list, page by page, in order and without repeated keys.

    ``fetch(skip, size)`` gets one page. ``limit`` caps the items yielded; ``prefetch`` caps
    the pages in flight (1 turns fetching ahead off).
    """
    if limit is not None:
        if limit == 0:
            return
        page_size = min(page_size, limit)
    pending: deque[tuple[int, asyncio.Future[PageOf[T]]]] = deque()
    next_skip = 0

    def launch() -> None:
        nonlocal next_skip
        pending.append((next_skip, asyncio.ensure_future(fetch(next_skip, page_size))))
        next_skip += page_size

    seen: set[str] = set()
    left = limit
    window = 1
    launch()
    try:
        while pending:
            skip, task = pending[0]
            page = await task
            pending.popleft()
            items = page.items
            fresh = []
            for item in items:
                item_key = key(item)
                if item_key not in seen:
                    seen.add(item_key)
                    fresh.append(item)
            if left is not None:
                fresh = fresh[:left]
                left -= len(fresh)
            done = not page.has_more or not items or left == 0
            if not done:
                full = len(items) >= page_size
                if not full:
                    # Offsets of the pages fetched ahead are wrong: drop them, go on from here.
                    await _cancel(pending)
                    next_skip = skip + len(items)
                window = next_window(window, full, prefetch)
                while len(pending) < window and (limit is None or next_skip < limit):
                    launch()
            if fresh:
                yield fresh
            if done:
                return
    finally:
        await _cancel(pending)


async def _cancel(pending: deque[tuple[int, asyncio.Future[PageOf[T]]]]) -> None:
    """Cancel pages still in flight and wait for them, so that no task is left behind."""
    futures = [future for _, future in pending]
    pending.clear()
    for future in futures:
        future.cancel()
    if futures:
        await asyncio.gather(*futures, return_exceptions=True)
