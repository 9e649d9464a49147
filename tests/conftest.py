"""Shared fixtures: a fake Close on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from close_async import CloseClient
from close_async.testing import FakeClose
from close_async.testing._redis_server import RedisServer, RedisServerError


@pytest.fixture
async def fake() -> AsyncIterator[FakeClose]:
    """A small seeded fake Close, no latency, no faults, no rate limit."""
    async with FakeClose(leads=30, sequences=4, seed=7) as server:
        yield server


@pytest.fixture
async def close(fake: FakeClose) -> AsyncIterator[CloseClient]:
    """A client for ``fake`` that retries fast and times out soon."""
    async with CloseClient(
        fake.api_key, base_url=fake.url, backoff_base=0.001, timeout=2.0
    ) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for the whole session.

    A missing redis-server fails the tests that need it (never skips them): .ci/run
    installs it.
    """
    server = RedisServer()
    try:
        server.start()
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
