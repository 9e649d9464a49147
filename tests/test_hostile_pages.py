"""A server that repeats the same page with has_more=true: every list still ends.

A small aiohttp server of this test's own on 127.0.0.1: whatever ``_skip`` says, the lead
``lead_loop`` gets the same page and ``has_more: true``; other leads get one honest page.
It counts the requests, so that "never another request" is checked, not assumed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from close_async import CloseClient, ResponseValidationError
from close_async._pagination import PageOf, paginate


def sub(n: int, lead: str) -> dict[str, object]:
    return {"id": f"sub_{lead}_{n}", "lead_id": lead, "status": "active"}


class Repeating:
    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.requests: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        lead = request.query.get("lead_id", "")
        self.requests[lead] += 1
        if lead == "lead_loop":  # _skip ignored: the same page, for ever
            body = {"data": [sub(n, lead) for n in range(self.page_size)], "has_more": True}
        else:
            body = {"data": [sub(0, lead)], "has_more": False}
        return web.json_response(body)


@pytest.fixture(params=[5, 100], ids=["short page", "full page"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Repeating, str]]:
    repeating = Repeating(request.param)
    app = web.Application()
    app.router.add_get("/api/v1/sequence_subscription/", repeating.handle)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield repeating, str(test_server.make_url("/api/v1/"))


async def test_list_ends_with_an_error_instead_of_asking_for_ever(
    server: tuple[Repeating, str],
) -> None:
    repeating, url = server
    got: list[str] = []

    async def drain(close: CloseClient) -> None:
        async for item in close.sequence_subscriptions.list(lead_id="lead_loop"):
            got.append(item.id)

    async with CloseClient("key", base_url=url, prefetch=8) as close:
        with pytest.raises(ResponseValidationError, match="kept repeating itself") as caught:
            await drain(close)
    assert caught.value.path == "sequence_subscription/"
    assert len(got) == len(set(got)) == repeating.page_size  # the first page, once
    # The first page, then the window's pages already in flight (2 once a full page came
    # back, 1 after a short one): nothing after the repeat was seen.
    assert repeating.requests["lead_loop"] <= 3


async def test_in_list_many_it_is_one_ids_failure(server: tuple[Repeating, str]) -> None:
    repeating, url = server
    ids = ["lead_a", "lead_loop", "lead_b"]
    async with CloseClient("key", base_url=url) as close:
        run = close.sequence_subscriptions.list_many(lead_ids=ids, on_error="continue")
        got = [item.id async for item in run]
    (failure,) = run.failures
    assert failure.id == "lead_loop"
    assert isinstance(failure.error, ResponseValidationError)
    assert "kept repeating itself" in str(failure.error)
    assert failure.items_yielded == repeating.page_size
    assert {"sub_lead_a_0", "sub_lead_b_0"} <= set(got)
    assert repeating.requests["lead_loop"] <= 3


async def test_a_repeated_page_stops_paginate_before_the_next_request() -> None:
    calls: list[int] = []

    async def fetch(skip: int, size: int) -> PageOf[str]:
        calls.append(skip)
        return PageOf(["a", "b"], True)

    with pytest.raises(ResponseValidationError, match=r"_skip=2 .*kept repeating"):
        async for _ in paginate(fetch, page_size=2, prefetch=1, key=str, path="thing/"):
            pass
    assert calls == [0, 2]


async def test_a_page_with_some_new_items_goes_on() -> None:
    """Offsets shifted by one: a page that repeats an item but adds one is not a loop."""
    pages = {0: ["a", "b"], 2: ["b", "c"], 4: ["c", "d"], 6: ["e"]}

    async def fetch(skip: int, size: int) -> PageOf[str]:
        return PageOf(pages[skip], skip < 6)

    out = [
        item async for page in paginate(fetch, page_size=2, prefetch=1, key=str) for item in page
    ]
    assert out == ["a", "b", "c", "d", "e"]
