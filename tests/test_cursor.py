"""Cursor pagination (``_cursor.py``): pages until ``cursor_next`` runs out, a cap, no loops."""

from __future__ import annotations

import pytest

from close_async._cursor import CursorPage, FetchCursorPage, StuckCursorError, paginate_cursor


def pages_of(
    *pages: tuple[list[int], str | None],
) -> tuple[list[str | None], FetchCursorPage[int]]:
    """A fetcher serving ``pages`` in order; the list records the cursors it was asked."""
    asked: list[str | None] = []

    async def fetch(cursor: str | None) -> CursorPage[int]:
        asked.append(cursor)
        items, cursor_next = pages[len(asked) - 1]
        return CursorPage(items, cursor_next)

    return asked, fetch


async def collect(fetch: FetchCursorPage[int], limit: int | None = None) -> list[int]:
    return [item async for page in paginate_cursor(fetch, limit=limit) for item in page]


async def test_follows_cursor_next_until_null() -> None:
    asked, fetch = pages_of(([1, 2], "c1"), ([3, 4], "c2"), ([5], None))
    assert await collect(fetch) == [1, 2, 3, 4, 5]
    assert asked == [None, "c1", "c2"]


async def test_an_empty_page_ends_the_list_whatever_the_cursor() -> None:
    asked, fetch = pages_of(([1], "c1"), ([], "c2"))
    assert await collect(fetch) == [1]
    assert asked == [None, "c1"]


async def test_limit_stops_without_fetching_further() -> None:
    asked, fetch = pages_of(([1, 2], "c1"), ([3, 4], "c2"), ([5], None))
    assert await collect(fetch, limit=3) == [1, 2, 3]
    assert asked == [None, "c1"]
    asked, fetch = pages_of(([1], None))
    assert await collect(fetch, limit=0) == []
    assert asked == []


async def test_a_cursor_that_does_not_move_raises_rather_than_loops() -> None:
    _, fetch = pages_of(([1], "c1"), ([2], "c1"))
    with pytest.raises(StuckCursorError):
        await collect(fetch)
