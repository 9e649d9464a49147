"""Shared fixtures: a fake Close on loopback and a client pointed at it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web

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


@pytest.hookimpl(trylast=True)  # after -k, -m and --deselect have had their say
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the benchmark smoke run now if it is selected, and move its tests last: it
    runs while the other tests do."""
    from .test_benchmarks_smoke import Background

    Background.start(items)
    items.sort(key=Background.owns)  # stable: the rest keep their order


def pytest_sessionfinish() -> None:
    """Stop the benchmark smoke run if the session ended before waiting for it."""
    from .test_benchmarks_smoke import Background

    Background.stop()


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start small servers of a test's own on loopback; ``await serve(handler)`` gives the
    API root URL (``https://`` with ``ssl_context=``)."""
    runners: list[web.ServerRunner] = []

    async def start(handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> str:
        runner = web.ServerRunner(web.Server(handler), shutdown_timeout=0.1)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        return f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/api/v1/"

    yield start
    for runner in runners:
        await runner.cleanup()


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
