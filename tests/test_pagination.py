"""Pagination with pages fetched ahead: order, no duplicates, request counts, clean stops."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from close_async._pagination import PageOf, next_window, paginate, whole_list


class FakeList:
    """A list served page by page, recording every (skip, limit) asked for."""

    def __init__(self, n: int, *, delay: float = 0.0) -> None:
        self.items = [f"id_{i:05d}" for i in range(n)]
        self.calls: list[tuple[int, int]] = []
        self.in_flight = 0
        self.peak = 0
        self.delay = delay

    async def fetch(self, skip: int, size: int) -> PageOf[str]:
        self.calls.append((skip, size))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            page = self.items[skip : skip + size]
            return PageOf(page, skip + size < len(self.items))
        finally:
            self.in_flight -= 1


async def collect(source: FakeList, **kwargs: object) -> list[str]:
    out: list[str] = []
    async for page in paginate(source.fetch, key=str, **kwargs):  # type: ignore[arg-type]
        out.extend(page)
    return out


def test_window_doubles_while_full_up_to_cap() -> None:
    assert [next_window(w, True, 8) for w in (1, 2, 4, 8)] == [2, 4, 8, 8]
    assert next_window(8, False, 8) == 1
    assert next_window(1, True, 1) == 1


async def test_one_page_list_costs_one_request() -> None:
    source = FakeList(40)
    assert await collect(source, page_size=100) == source.items
    assert source.calls == [(0, 100)]


async def test_empty_list_costs_one_request() -> None:
    source = FakeList(0)
    assert await collect(source, page_size=100) == []
    assert source.calls == [(0, 100)]


@pytest.mark.parametrize("n", [100, 101, 250, 5999, 6000, 6001])
async def test_long_list_in_order_without_duplicates(n: int) -> None:
    source = FakeList(n)
    items = await collect(source, page_size=100, prefetch=8)
    assert items == source.items
    pages = -(-n // 100)
    # every offset was asked once, in order, and at most cap - 1 past the end
    skips = [skip for skip, _ in source.calls]
    assert skips == sorted(set(skips))
    assert pages <= len(source.calls) <= pages + 7


async def test_sixty_pages_take_few_round_trips() -> None:
    source = FakeList(6000, delay=0.001)
    await collect(source, page_size=100, prefetch=8)
    assert source.peak == 8
    assert len(source.calls) <= 60 + 8


async def test_prefetch_one_is_sequential() -> None:
    source = FakeList(1000)
    assert await collect(source, page_size=100, prefetch=1) == source.items
    assert source.peak == 1
    assert len(source.calls) == 10


async def test_limit_caps_items_and_requests() -> None:
    source = FakeList(1000)
    assert await collect(source, page_size=100, limit=150) == source.items[:150]
    assert {skip for skip, _ in source.calls} <= {0, 100}
    source = FakeList(1000)
    assert await collect(source, page_size=100, limit=5) == source.items[:5]
    assert source.calls == [(0, 5)]
    source = FakeList(1000)
    assert await collect(source, page_size=100, limit=0) == []
    assert source.calls == []


async def test_short_page_with_has_more_restarts_from_where_it_ended() -> None:
    """If a page comes back short while has_more is true, offsets fetched ahead are wrong."""
    items = [f"id_{i}" for i in range(500)]
    calls: list[int] = []

    async def fetch(skip: int, size: int) -> PageOf[str]:
        calls.append(skip)
        if skip == 100:  # Close returned fewer than asked, yet says there is more
            return PageOf(items[100:150], True)
        return PageOf(items[skip : skip + size], skip + size < len(items))

    out: list[str] = []
    async for page in paginate(fetch, page_size=100, key=str):
        out.extend(page)
    assert out == items
    assert 150 in calls


async def test_items_seen_before_are_dropped() -> None:
    """A record inserted during the listing shifts offsets: the next page repeats one."""

    async def fetch(skip: int, size: int) -> PageOf[str]:
        pages = {0: ["a", "b"], 2: ["b", "c"], 4: ["d"]}
        return PageOf(pages[skip], skip < 4)

    out: list[str] = []
    async for page in paginate(fetch, page_size=2, prefetch=1, key=str):
        out.extend(page)
    assert out == ["a", "b", "c", "d"]


async def test_error_in_a_page_propagates_and_cancels_the_rest() -> None:
    finished: list[int] = []

    async def fetch(skip: int, size: int) -> PageOf[str]:
        if skip == 200:
            raise RuntimeError("page 3 failed")
        await asyncio.sleep(0 if skip < 200 else 10)
        finished.append(skip)
        return PageOf([str(i) for i in range(skip, skip + size)], True)

    with pytest.raises(RuntimeError, match="page 3 failed"):
        async for _ in paginate(fetch, page_size=100, key=str):
            pass
    assert finished == [0, 100]  # the pages fetched ahead were stopped, not awaited out
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_closing_early_cancels_pages_in_flight() -> None:
    source = FakeList(100_000, delay=0.01)
    async with aclosing(paginate(source.fetch, page_size=100, key=str)) as pages:
        async for _ in pages:
            if len(source.calls) > 4:
                break
    assert source.in_flight == 0
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others


async def test_no_fetching_ahead_when_told_not_to() -> None:
    source = FakeList(1000)
    pages = paginate(source.fetch, page_size=100, key=str, may_fetch_ahead=lambda: False)
    out = [item async for page in pages for item in page]
    assert out == source.items
    assert len(source.calls) == 10  # exactly the pages needed, none on speculation
    assert source.peak == 1


@pytest.mark.parametrize("n", [0, 40, 100, 250])
async def test_a_first_page_given_is_not_fetched_again(n: int) -> None:
    source = FakeList(n)
    first = await source.fetch(0, 100)
    out: list[str] = []
    async for page in paginate(source.fetch, key=str, page_size=100, first=first):
        out.extend(page)
    assert out == source.items
    assert source.calls.count((0, 100)) == 1


def test_whole_list_is_the_first_page_when_nothing_follows() -> None:
    assert whole_list(PageOf(["a", "b"], False), key=str) == ["a", "b"]
    assert whole_list(PageOf([], False), key=str) == []
    assert whole_list(PageOf([], True), key=str) == []  # nothing here, whatever it says
    assert whole_list(PageOf(["a", "b", "a"], False), key=str) == ["a", "b"]  # no repeats
    assert whole_list(PageOf(["a", "b"], True), key=str) is None  # more pages: paginate


@pytest.mark.parametrize("n", [101, 250, 300, 1000])
async def test_a_known_length_is_read_at_known_offsets_and_no_further(n: int) -> None:
    source = FakeList(n, delay=0.001)
    out = await collect(source, page_size=100, total=n, known_window=4, prefetch=2)
    assert out == source.items
    # Exactly the pages the length implies, at most known_window of them in flight at once
    # (the first ones together).
    assert sorted(source.calls) == [(skip, 100) for skip in range(0, n, 100)]
    assert source.peak == min(-(-n // 100), 4)


async def test_a_known_length_needs_no_fetching_ahead_permission() -> None:
    """Pages known to exist are not speculation: may_fetch_ahead() is not asked for them."""
    source = FakeList(500, delay=0.001)
    out = await collect(source, page_size=100, total=500, may_fetch_ahead=lambda: False)
    assert out == source.items
    assert len(source.calls) == 5
    assert source.peak > 1


async def test_a_list_that_grew_past_its_known_length_is_read_to_its_end() -> None:
    source = FakeList(330)
    out = await collect(source, page_size=100, total=250)  # counted before 80 were added
    assert out == source.items
    skips = [skip for skip, _ in source.calls]
    assert skips[:3] == [0, 100, 200]
    assert sorted(skips) == [0, 100, 200, 300]


async def test_a_list_shorter_than_its_known_length_ends_where_it_ends() -> None:
    source = FakeList(150)
    out = await collect(source, page_size=100, total=300)  # counted before 150 were deleted
    assert out == source.items
    assert len(source.calls) <= 3  # the known offsets, nothing past them
