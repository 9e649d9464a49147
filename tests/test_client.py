"""CloseClient set-up: credentials, base URL, settings, lifecycle, and what never leaks."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import re
import tracemalloc
import warnings

import aiohttp
import pytest
from aioresponses import aioresponses

from close_async import ClientClosedError, CloseClient, EventLoopError, __version__
from close_async.testing import FakeClose

URL = "http://127.0.0.1:9/api/v1/"
SUBS = re.compile(r"^http://127\.0\.0\.1:9/api/v1/sequence_subscription/.*$")
SECRET = "api_key_SECRET_1234567890"


def sent_headers(mocked: aioresponses) -> dict[str, str]:
    assert mocked.requests is not None
    (calls,) = mocked.requests.values()
    return dict(calls[0].kwargs["headers"])


async def test_api_key_is_sent_as_basic_auth_with_empty_password() -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"id": "sub_1"})
        async with CloseClient(SECRET, base_url=URL) as close:
            await close.sequence_subscriptions.get("sub_1")
        headers = sent_headers(mocked)
    expected = base64.b64encode(f"{SECRET}:".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert headers["User-Agent"].startswith(f"close_async/{__version__} ")
    assert "Content-Type" not in headers  # only with a body


async def test_oauth_token_is_sent_as_bearer() -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"id": "sub_1"})
        async with CloseClient(oauth_token="tok_abc", base_url=URL) as close:
            await close.sequence_subscriptions.get("sub_1")
        assert sent_headers(mocked)["Authorization"] == "Bearer tok_abc"


async def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", "env_key")
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"id": "sub_1"})
        async with CloseClient(base_url=URL) as close:
            await close.sequence_subscriptions.get("sub_1")
        auth = sent_headers(mocked)["Authorization"]
    assert base64.b64decode(auth.split()[1]) == b"env_key:"


def test_no_credential_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOSE_API_KEY", raising=False)
    with pytest.raises(ValueError, match=r"no credential: pass api_key=.*CLOSE_API_KEY"):
        CloseClient()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"api_key": "a", "oauth_token": "b"}, "not both"),
        ({"api_key": ""}, "api_key must be a non-empty string"),
        ({"oauth_token": "  "}, "oauth_token must be a non-empty string"),
        ({"api_key": "k", "base_url": "http://api.close.com/api/v1/"}, "plain http"),
        ({"api_key": "k", "base_url": "ftp://x/"}, "must be an https:// URL"),
        ({"api_key": "k", "base_url": "https://u:p@x/"}, "credentials"),
        ({"api_key": "k", "max_retries": -1}, "max_retries"),
        ({"api_key": "k", "max_concurrency": 0}, "max_concurrency must be at least 1"),
        ({"api_key": "k", "timeout": 0}, "timeout must be more than 0"),
        ({"api_key": "k", "prefetch": 0}, "prefetch must be at least 1"),
        ({"api_key": "k", "backoff_base": -1}, "backoff_base"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CloseClient(**kwargs)  # type: ignore[arg-type]


def test_timeout_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="timeout must be seconds"):
        CloseClient("k", timeout="10")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8000/api/v1/", "http://localhost/api/v1", "http://[::1]:80/"]
)
def test_http_is_fine_on_loopback(base_url: str) -> None:
    close = CloseClient("k", base_url=base_url)
    assert close.base_url.endswith("/")


def test_default_base_url_is_close() -> None:
    assert CloseClient("k").base_url == "https://api.close.com/api/v1/"


def test_secrets_never_appear_in_repr_or_str() -> None:
    close = CloseClient(SECRET)
    for text in (repr(close), str(close), repr(close.sequence_subscriptions)):
        assert SECRET not in text
        assert base64.b64encode(f"{SECRET}:".encode()).decode() not in text
    assert "auth=api_key" in repr(close)
    bearer = CloseClient(oauth_token=SECRET)
    assert SECRET not in repr(bearer)


async def test_closed_client_refuses_requests() -> None:
    close = CloseClient("k", base_url=URL)
    await close.aclose()
    await close.aclose()  # twice is fine
    assert close.closed
    with pytest.raises(ClientClosedError, match="closed; create a new one"):
        await close.sequence_subscriptions.get("sub_1")
    with pytest.raises(ClientClosedError):
        async for _ in close.sequence_subscriptions.list(lead_id="lead_1"):
            pass
    with pytest.raises(RuntimeError, match="closed"):
        async with close:
            pass


async def test_callers_session_is_used_and_never_closed() -> None:
    async with aiohttp.ClientSession() as session:
        with aioresponses() as mocked:
            mocked.get(SUBS, payload={"id": "sub_1"})
            async with CloseClient("k", base_url=URL, session=session) as close:
                sub = await close.sequence_subscriptions.get("sub_1")
        assert sub.id == "sub_1"
        assert not session.closed


async def test_debug_logs_carry_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with aioresponses() as mocked:
        mocked.get(SUBS, status=503, payload={"error": "down"})
        mocked.get(SUBS, payload={"id": "sub_1"})
        async with CloseClient(SECRET, base_url=URL, backoff_base=0.001) as close:
            await close.sequence_subscriptions.get("sub_1")
    assert "Retrying GET sequence_subscription/sub_1/" in caplog.text
    assert SECRET not in caplog.text
    assert base64.b64encode(f"{SECRET}:".encode()).decode() not in caplog.text


def test_stats_start_at_zero() -> None:
    close = CloseClient("k")
    assert close.stats.requests == 0
    assert close.max_concurrency == 32


async def test_a_closed_callers_session_is_a_clear_error() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    close = CloseClient("k", base_url=URL, session=session)
    with pytest.raises(ClientClosedError, match="session= is closed"):
        await close.sequence_subscriptions.get("sub_1")


def test_a_client_settles_the_read_buffers_of_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from close_async import _malloc

    monkeypatch.setattr(_malloc, "_done", False)
    CloseClient("key")  # no loop needed: nothing is sent
    assert _malloc._done


@pytest.mark.parametrize(("setting", "allocates"), [("", True), ("0", False), ("off", False)])
def test_the_allocator_tweak_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch, setting: str, allocates: bool
) -> None:
    from close_async import _malloc

    monkeypatch.setattr(_malloc, "_done", False)
    monkeypatch.setenv(_malloc.ENV_SWITCH, setting)
    tracemalloc.start()
    try:
        _malloc.settle_read_buffers()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (peak >= _malloc._BLOCK) is allocates


# -- settings checked before any request ----------------------------------------------------


class NotAGate:
    async def acquire(self) -> None: ...


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timeout": float("inf")}, ValueError, "timeout must be more than 0 seconds and finite"),
        ({"timeout": float("nan")}, ValueError, "timeout must be more than 0 seconds and finite"),
        ({"timeout": True}, TypeError, "timeout must be seconds"),
        (
            {"timeout": aiohttp.ClientTimeout(total=float("inf"))},
            ValueError,
            "timeout.total must be a finite number",
        ),
        ({"max_rate_limit_wait": float("nan")}, ValueError, "max_rate_limit_wait must be a finite"),
        ({"max_rate_limit_wait": float("inf")}, ValueError, "max_rate_limit_wait must be a finite"),
        ({"max_rate_limit_wait": True}, TypeError, "max_rate_limit_wait must be a number"),
        ({"backoff_base": float("nan")}, ValueError, "backoff_base must be a finite"),
        ({"backoff_cap": True}, TypeError, "backoff_cap must be a number"),
        ({"rate_limit_gate": NotAGate()}, TypeError, "rate_limit_gate must be a RateLimitGate"),
        ({"rate_limit_gate": "local"}, TypeError, "rate_limit_gate must be a RateLimitGate"),
    ],
)
def test_bad_settings_are_refused_by_type(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        CloseClient("k", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["key\r\nX-Injected: 1", "key\n", "ke\ty", "key\x00", "k\x7fey"])
@pytest.mark.parametrize("name", ["api_key", "oauth_token"])
def test_a_credential_with_control_characters_is_refused(name: str, bad: str) -> None:
    if bad.strip() != bad:
        bad = "x" + bad + "y"  # a trailing line break alone is stripped, as a paste leaves it
    with pytest.raises(ValueError, match=f"{name} contains control") as info:
        CloseClient(**{name: bad})  # type: ignore[arg-type]
    assert bad not in str(info.value)


def test_a_credential_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", "key\rmore")
    with pytest.raises(ValueError, match="api_key contains control"):
        CloseClient()


def test_a_trailing_line_break_is_stripped() -> None:
    CloseClient("key\n")  # as a key pasted from a file comes
    CloseClient(oauth_token="tok\r\n")


# -- the base URL from the environment ----------------------------------------------------


def test_base_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSE_BASE_URL", "http://127.0.0.1:8000/api/v1")
    assert CloseClient("k").base_url == "http://127.0.0.1:8000/api/v1/"
    # The argument wins over the variable, as on the command line.
    assert CloseClient("k", base_url=URL).base_url == URL
    monkeypatch.setenv("CLOSE_BASE_URL", "http://api.close.com/api/v1/")
    with pytest.raises(ValueError, match="plain http"):
        CloseClient("k")  # checked like the argument
    monkeypatch.setenv("CLOSE_BASE_URL", "")
    assert CloseClient("k").base_url == "https://api.close.com/api/v1/"


# -- one client, several event loops ------------------------------------------------------


def test_a_client_works_in_two_asyncio_runs_one_after_the_other() -> None:
    with FakeClose(leads=3, seed=1).run_in_thread() as fake:
        close = CloseClient(fake.api_key, base_url=fake.url)

        async def list_sequences() -> int:
            return len([s async for s in close.sequences.list()])

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = asyncio.run(list_sequences())  # the client is not closed in between
            second = asyncio.run(list_sequences())
            asyncio.run(close.aclose())
            gc.collect()
    assert first == second > 0
    assert close.stats.requests == 2
    assert fake.stats.requests == 2
    assert [str(w.message) for w in caught] == []  # no unclosed session, connector or socket


def test_a_client_whose_first_loop_was_not_shut_down_raises_a_clear_error() -> None:
    with FakeClose(leads=3, seed=1).run_in_thread() as fake:
        close = CloseClient(fake.api_key, base_url=fake.url)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(close.sequences.get(fake.state.sequences()[0]["id"]))

            async def in_another_loop() -> None:
                await close.sequences.get("seq_1")

            with pytest.raises(EventLoopError, match="belong to another event loop"):
                asyncio.run(in_another_loop())
            with pytest.raises(EventLoopError):
                asyncio.run(close.aclose())
            loop.run_until_complete(close.aclose())  # where it belongs: fine
        finally:
            loop.close()
    assert close.closed


async def test_a_callers_session_used_in_another_loop_is_a_clear_error() -> None:
    async with aiohttp.ClientSession() as session:
        close = CloseClient("k", base_url=URL, session=session)
        with aioresponses() as mocked:
            mocked.get(SUBS, payload={"id": "sub_1"})
            await close.sequence_subscriptions.get("sub_1")  # binds it to this loop

        def elsewhere() -> None:
            asyncio.run(close.sequence_subscriptions.get("sub_1"))

        with pytest.raises(EventLoopError, match="session= belongs to another event loop"):
            await asyncio.to_thread(elsewhere)
