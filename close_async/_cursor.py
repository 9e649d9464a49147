"""Cursor pagination (``_cursor`` / ``cursor_next``), the kind Close's event log uses.

Close's ``GET /event/`` pages with a cursor rather than an offset: each answer carries
``cursor_next`` (``null`` on the last page), which the next request sends back as
``_cursor`` together with the same filters
(https://developer.close.com/api/resources/events/list). A page can only be fetched once
the one before it has answered, so there is nothing to fetch ahead: this is the plain loop,
with the checks that keep it from going wrong (a cursor that does not move would page
forever; an empty page ends the list whatever the cursor says).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

import attrs

__all__ = ["CursorPage", "FetchCursorPage", "StuckCursorError", "paginate_cursor"]

T = TypeVar("T")


@attrs.frozen
class CursorPage(Generic[T]):
    """One page as fetched: its items (already structured) and Close's ``cursor_next``."""

    items: list[T]
    cursor_next: str | None


#: Fetch the page at a cursor (``None``: the first page).
FetchCursorPage = Callable[[str | None], Awaitable[CursorPage[T]]]


class StuckCursorError(ValueError):
    """Close answered a page with the cursor it was asked for: paging would never end."""


async def paginate_cursor(
    fetch: FetchCursorPage[T], *, limit: int | None = None
) -> AsyncGenerator[list[T], None]:
    """Yield the items of a cursor-paginated list, page by page, at most ``limit`` in all.

    Stops on a ``cursor_next`` of ``None`` (or empty) and on an empty page; raises
    ``StuckCursorError`` when a page hands back the cursor that fetched it (a last line of
    defence: a fetcher should check that first and raise the client's own typed error).
    """
    if limit == 0:
        return
    left = limit
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        items = page.items
        if left is not None:
            items = items[:left]
            left -= len(items)
        if items:
            yield items
        if not page.items or not page.cursor_next or left == 0:
            return
        if page.cursor_next == cursor:
            raise StuckCursorError(f"cursor_next is the cursor just sent ({cursor!r})")
        cursor = page.cursor_next
