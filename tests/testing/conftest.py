"""Fixtures for the fake server's own tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import aiohttp
import pytest

from close_async.testing import FakeClose

StartFake = Callable[..., Awaitable[FakeClose]]


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    """Start `FakeClose(**kwargs)` on this test's loop; every fake is closed at teardown."""
    fakes: list[FakeClose] = []

    async def start(**kwargs: Any) -> FakeClose:
        fake = FakeClose(**kwargs)
        await fake.start()
        fakes.append(fake)
        return fake

    yield start
    for fake in fakes:
        await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain aiohttp session."""
    async with aiohttp.ClientSession() as session:
        yield session


class PlainReply(NamedTuple):
    """An answer read with the standard library's urllib."""

    status: int
    headers: dict[str, str]
    body: Any


def call_with_urllib(
    url: str,
    *,
    method: str = "GET",
    json_body: Any = None,
    authorization: str | None = None,
    timeout: float = 10.0,
) -> PlainReply:
    """Make one request with urllib (blocking; run it in a thread from async code)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return PlainReply(response.status, dict(response.headers), _decode(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return PlainReply(error.code, dict(error.headers), _decode(error.read()))


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


@pytest.fixture
def urllib_call() -> Callable[..., PlainReply]:
    """Return `call_with_urllib`, a standard-library HTTP client."""
    return call_with_urllib
