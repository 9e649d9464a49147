"""Errors and retries against a real server: every status mapped, every fault survived or
surfaced as one of our exceptions, and no aiohttp exception ever reaching the caller."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from close_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    APITLSError,
    AuthenticationError,
    BadRequestError,
    CloseClient,
    LocalRateLimitGate,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from close_async._retry import MIN_RATE_LIMIT_WAIT
from close_async.testing import FakeClose, Fault, FaultKind

GET_SUBS = ("GET", "sequence_subscription")


@pytest.fixture
async def sub_id(fake: FakeClose) -> str:
    # An active one, so that pausing it changes it.
    return str(next(s for s in fake.state.subscriptions() if s["status"] == "active")["id"])


def status_of(fake: FakeClose, sub_id: str) -> object:
    record = fake.state.subscription(sub_id)
    assert record is not None
    return record["status"]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"errors": ["Bad"], "field-errors": {"x": "Wrong."}}, BadRequestError),
        (401, {"error": "Unauthorized"}, AuthenticationError),
        (403, {"error": "Forbidden"}, PermissionDeniedError),
        (404, {"error": "Not found"}, NotFoundError),
        (402, {"error": "Plan limit"}, APIError),
        (500, {"error": "Boom"}, ServerError),
    ],
)
async def test_status_maps_to_typed_error(
    fake: FakeClose,
    close: CloseClient,
    sub_id: str,
    status: int,
    body: dict[str, object],
    error: type[APIError],
) -> None:
    fake.inject(*GET_SUBS, [Fault.response(status, body)])
    with pytest.raises(error) as info:
        await close.sequence_subscriptions.get(sub_id)
    exc = info.value
    assert type(exc) is error
    assert exc.status == status
    assert exc.method == "GET"
    assert exc.path == f"sequence_subscription/{sub_id}/"
    assert exc.body == body
    assert f"GET sequence_subscription/{sub_id}/ -> {status}" in str(exc)
    assert fake.stats.requests == 1  # none of these is retried


async def test_bad_request_carries_closes_errors(
    fake: FakeClose, close: CloseClient, sub_id: str
) -> None:
    body = {"errors": ["Template cannot be used"], "field-errors": {"sender_email": "Invalid."}}
    fake.inject(*GET_SUBS, [Fault.response(400, body)])
    with pytest.raises(BadRequestError) as info:
        await close.sequence_subscriptions.get(sub_id)
    assert info.value.errors == ["Template cannot be used"]
    assert info.value.field_errors == {"sender_email": "Invalid."}
    assert "sender_email: Invalid." in str(info.value)


async def test_wrong_api_key_is_an_authentication_error(fake: FakeClose) -> None:
    async with CloseClient("wrong-key", base_url=fake.url) as close:
        with pytest.raises(AuthenticationError, match="Check the API key") as info:
            await close.sequence_subscriptions.get("sub_1")
    assert "wrong-key" not in str(info.value)


async def test_oauth_token_is_accepted(fake: FakeClose) -> None:
    assert fake.oauth_token is not None
    async with CloseClient(oauth_token=fake.oauth_token, base_url=fake.url) as close:
        got = [s async for s in close.sequence_subscriptions.list(lead_id="lead_nobody")]
    assert got == []


@pytest.mark.parametrize("fault", ["503", "502_html", "drop"])
async def test_get_is_retried_after_a_transient_fault(
    fake: FakeClose, close: CloseClient, sub_id: str, fault: FaultKind
) -> None:
    fake.inject(*GET_SUBS, [fault, fault])
    sub = await close.sequence_subscriptions.get(sub_id)
    assert sub.id == sub_id
    assert fake.stats.requests == 3
    # Every request that reached the wire is one of ours: aiohttp's own resend of a GET
    # after a dropped connection is off, so a drop is one failed attempt like the others.
    assert close.stats.requests == 3
    assert close.stats.retries == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_every_request_on_the_wire_is_counted_and_gated(
    fake: FakeClose, close: CloseClient, sub_id: str, method: str
) -> None:
    fake.inject(method, "sequence_subscription", ["drop"] * 3)
    if method == "GET":
        await close.sequence_subscriptions.get(sub_id)
    elif method == "PUT":
        await close.sequence_subscriptions.pause(sub_id)
    else:
        await close.sequence_subscriptions.delete(sub_id)
    assert fake.stats.faults["drop"] == 3
    assert close.stats.requests == fake.stats.requests == 4
    assert close.stats.retries == 3
    # Each attempt passed the gate: it saw every answer (and nothing is left in flight).
    gate = close._transport._gate
    assert isinstance(gate, LocalRateLimitGate)
    assert gate.snapshot(f"{method} sequence_subscription/").inflight == 0


async def test_stalled_answer_times_out_then_is_retried(fake: FakeClose, sub_id: str) -> None:
    fake.inject(*GET_SUBS, ["stall"])
    async with CloseClient(fake.api_key, base_url=fake.url, timeout=0.2, backoff_base=0) as close:
        sub = await close.sequence_subscriptions.get(sub_id)
    assert sub.id == sub_id
    assert close.stats.retries == 1


async def test_stall_on_every_attempt_ends_in_a_timeout_error(fake: FakeClose, sub_id: str) -> None:
    fake.inject(*GET_SUBS, ["stall"] * 3)
    async with CloseClient(
        fake.api_key, base_url=fake.url, timeout=0.1, max_retries=2, backoff_base=0
    ) as close:
        with pytest.raises(APITimeoutError, match="no answer within the timeout") as info:
            await close.sequence_subscriptions.get(sub_id)
    assert isinstance(info.value, APIConnectionError)
    assert close.stats.requests == 3
    assert close.stats.errors == 1


async def test_html_502_is_a_server_error_with_its_text(fake: FakeClose, sub_id: str) -> None:
    fake.inject(*GET_SUBS, ["502_html"] * 2)
    async with CloseClient(fake.api_key, base_url=fake.url, max_retries=1, backoff_base=0) as close:
        with pytest.raises(ServerError) as info:
            await close.sequence_subscriptions.get(sub_id)
    assert info.value.status == 502
    assert isinstance(info.value.body, str)
    assert "non-JSON body (an HTML page" in str(info.value)


async def test_dropped_connection_every_time_is_a_connection_error(
    fake: FakeClose, sub_id: str
) -> None:
    fake.inject(*GET_SUBS, ["drop"] * 2)
    async with CloseClient(fake.api_key, base_url=fake.url, max_retries=1, backoff_base=0) as close:
        with pytest.raises(APIConnectionError, match="connection failed before an answer") as info:
            await close.sequence_subscriptions.get(sub_id)
    assert info.value.sent is True  # it reached the server: only idempotent requests retry
    assert "ServerDisconnectedError" in str(info.value)
    assert fake.stats.requests == close.stats.requests == 2
    assert close.stats.errors == 1


async def test_unreachable_server_is_a_connection_error() -> None:
    async with CloseClient("k", base_url="http://127.0.0.1:9/api/v1/", max_retries=1) as close:
        with pytest.raises(APIConnectionError, match="could not connect") as info:
            await close.sequence_subscriptions.get("sub_1")
    assert info.value.sent is False


async def test_429_with_ratelimit_header_is_waited_out(
    fake: FakeClose, close: CloseClient, sub_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="close_async")
    fake.inject(*GET_SUBS, [Fault.rate_limited(0.05)])
    assert (await close.sequence_subscriptions.get(sub_id)).id == sub_id
    assert close.stats.rate_limited == 1
    assert close.stats.retries == 1
    assert close.stats.rate_limit_wait >= 0.05
    assert "rate limited" in caplog.text


async def test_429_with_only_retry_after_is_waited_out(
    fake: FakeClose, close: CloseClient, sub_id: str
) -> None:
    fake.inject(*GET_SUBS, [Fault.rate_limited(0.05, ratelimit_header=False)])
    assert (await close.sequence_subscriptions.get(sub_id)).id == sub_id
    assert close.stats.rate_limited == 1
    assert close.stats.rate_limit_wait >= 1.0  # Retry-After is whole seconds: 0.05 -> 1


async def test_429_asking_too_long_a_wait_raises_at_once(fake: FakeClose, sub_id: str) -> None:
    fake.inject(*GET_SUBS, [Fault.rate_limited(300)])
    async with CloseClient(fake.api_key, base_url=fake.url, max_rate_limit_wait=120) as close:
        with pytest.raises(RateLimitError, match="wait 300 s, longer than max_rate_limit_wait"):
            await close.sequence_subscriptions.get(sub_id)
    assert fake.stats.requests == 1


async def test_429_forever_ends_in_rate_limit_error(fake: FakeClose, sub_id: str) -> None:
    fake.inject(*GET_SUBS, [Fault.rate_limited(0.01)] * 3)
    async with CloseClient(fake.api_key, base_url=fake.url, max_retries=2) as close:
        with pytest.raises(RateLimitError) as info:
            await close.sequence_subscriptions.get(sub_id)
    assert info.value.retry_after == pytest.approx(0.01)
    assert close.stats.rate_limited == 3


async def create_args(fake: FakeClose) -> dict[str, Any]:
    seq = fake.add_sequence()
    lead = fake.add_lead(contacts=1)
    user = fake.state.default_user
    return {
        "sequence_id": seq["id"],
        "contact_id": lead.contacts[0].id,
        "sender_account_id": user.email_account_id,
        "sender_name": user.name,
        "sender_email": user.email,
    }


@pytest.mark.parametrize("fault", ["503", "drop"])
async def test_post_is_not_retried_when_it_may_have_arrived(
    fake: FakeClose, close: CloseClient, fault: FaultKind
) -> None:
    args = await create_args(fake)
    fake.inject("POST", "sequence_subscription", [fault])
    with pytest.raises((ServerError, APIConnectionError)):
        await close.sequence_subscriptions.create(**args)
    assert fake.stats.requests == 1
    assert close.stats.retries == 0


async def test_post_is_retried_after_a_429(fake: FakeClose, close: CloseClient) -> None:
    args = await create_args(fake)
    fake.inject("POST", "sequence_subscription", [Fault.rate_limited(0.01)])
    sub = await close.sequence_subscriptions.create(**args)
    assert sub.contact_id == args["contact_id"]
    assert close.stats.retries == 1


async def test_put_and_delete_are_retried(fake: FakeClose, close: CloseClient, sub_id: str) -> None:
    fake.inject("PUT", "sequence_subscription", ["503"])
    assert (await close.sequence_subscriptions.pause(sub_id)).status == "paused"
    assert status_of(fake, sub_id) == "paused"
    fake.inject("DELETE", "sequence_subscription", ["502_html"])
    await close.sequence_subscriptions.delete(sub_id)
    assert sub_id not in {s["id"] for s in fake.state.subscriptions()}
    assert close.stats.retries == 2
    assert fake.stats.requests == close.stats.requests == 4


# -- an answer lost after Close acted -------------------------------------------------------


@pytest.mark.parametrize(
    "lost",
    ["drop_after", "drop", "stall", Fault.response(504), Fault.response(502)],
    ids=["drop_after", "drop", "timeout", "504", "502"],
)
async def test_delete_that_finds_nothing_after_a_lost_answer_is_done(
    fake: FakeClose, sub_id: str, lost: FaultKind | Fault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="close_async")
    # The lost attempt deleted it (drop_after), or a 404 says it is gone anyway.
    then = [] if lost == "drop_after" else [Fault.response(404, {"error": "Not found"})]
    fake.inject("DELETE", "sequence_subscription", [lost, *then])
    async with CloseClient(fake.api_key, base_url=fake.url, timeout=0.3, backoff_base=0) as close:
        await close.sequence_subscriptions.delete(sub_id)  # no NotFoundError: done
    if lost == "drop_after":
        assert sub_id not in {s["id"] for s in fake.state.subscriptions()}
        assert fake.stats.responses[404] == 1  # the retry's answer
    assert close.stats.requests == 2
    assert close.stats.errors == 0
    assert "-> 404 after an attempt whose answer was lost" in caplog.text


@pytest.mark.parametrize("first", [None, "503"])
async def test_delete_of_what_is_not_there_is_still_not_found(
    fake: FakeClose, close: CloseClient, first: FaultKind | None
) -> None:
    # No answer was lost (none came before, or a 503 said Close did not act): a 404 is final.
    fake.inject("DELETE", "sequence_subscription", [first] if first else [])
    with pytest.raises(NotFoundError):
        await close.sequence_subscriptions.delete("sub_nothing_here")
    assert close.stats.requests == (2 if first else 1)


async def test_put_that_finds_nothing_after_a_lost_answer_is_raised(
    fake: FakeClose, close: CloseClient, sub_id: str
) -> None:
    # A PUT cannot delete: a 404 after its lost answer proves nothing, so it is raised.
    fake.inject("PUT", "sequence_subscription", ["drop_after", Fault.response(404)])
    with pytest.raises(NotFoundError):
        await close.sequence_subscriptions.pause(sub_id)
    assert status_of(fake, sub_id) == "paused"  # the lost attempt did it
    assert close.stats.requests == 2


async def test_post_whose_answer_was_lost_is_not_repeated(
    fake: FakeClose, close: CloseClient
) -> None:
    args = await create_args(fake)
    before = len(list(fake.state.subscriptions(contact_id=args["contact_id"])))
    fake.inject("POST", "sequence_subscription", ["drop_after"])
    with pytest.raises(APIConnectionError) as info:
        await close.sequence_subscriptions.create(**args)
    assert info.value.sent is True
    # Close subscribed the contact; repeating the POST would have subscribed it twice.
    assert len(list(fake.state.subscriptions(contact_id=args["contact_id"]))) == before + 1
    assert fake.stats.requests == close.stats.requests == 1


async def test_retries_are_logged_with_reason_and_delay(
    fake: FakeClose, close: CloseClient, sub_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="close_async")
    fake.inject(*GET_SUBS, ["503"])
    await close.sequence_subscriptions.get(sub_id)
    (record,) = [r for r in caplog.records if r.name == "close_async"]
    assert "Retrying GET" in record.getMessage()
    assert "503" in record.getMessage()
    assert " s (attempt 1 of 6 failed" in record.getMessage()


async def drain(it: AsyncIterator[object]) -> int:
    return len([x async for x in it])


async def test_errors_in_a_list_surface_typed(fake: FakeClose, close: CloseClient) -> None:
    fake.add_subscriptions(lead_id="lead_err", count=250)
    fake.inject(*GET_SUBS, [Fault.response(403)])
    with pytest.raises(PermissionDeniedError):
        await drain(close.sequence_subscriptions.list(lead_id="lead_err"))


# -- TLS ------------------------------------------------------------------------------------

DATA = Path(__file__).parent / "data"


async def test_https_to_a_plain_http_port_is_a_tls_error_not_retried(fake: FakeClose) -> None:
    url = fake.url.replace("http://", "https://")
    async with CloseClient(fake.api_key, base_url=url, backoff_base=0) as close:
        with pytest.raises(APITLSError, match=r"TLS handshake failed .*WRONG_VERSION_NUMBER"):
            await close.sequence_subscriptions.create(**await create_args(fake))
        with pytest.raises(APITLSError) as info:
            await close.sequence_subscriptions.get("sub_1")
    assert info.value.sent is False  # the connection never opened: the fan-out can tell
    assert close.stats.requests == 2  # one attempt each, no retry
    assert close.stats.retries == 0
    assert fake.stats.requests == 0  # nothing reached the API


async def test_an_untrusted_certificate_is_a_tls_error_not_retried(
    serve: Callable[..., Awaitable[str]],
) -> None:
    served: list[str] = []

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        served.append(request.path)
        return web.json_response({"id": "sub_1"})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(DATA / "self_signed_cert.pem", DATA / "self_signed_key.pem")
    url = await serve(handler, ssl_context=context)
    async with CloseClient("k", base_url=url, backoff_base=0) as close:
        with pytest.raises(APITLSError, match="certificate verify failed") as info:
            await close.sequence_subscriptions.get("sub_1")
    assert isinstance(info.value, APIConnectionError)
    assert info.value.sent is False
    assert "trusts its certificate" in str(info.value)
    assert close.stats.requests == 1
    assert close.stats.retries == 0
    assert served == []


# -- what the server asks us to wait ---------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["100000", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_503_asking_for_more_than_the_cap_is_raised_not_retried(
    serve: Callable[..., Awaitable[str]], retry_after: str
) -> None:
    served: list[str] = []

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        served.append(request.path)
        return web.json_response(
            {"error": "down"}, status=503, headers={"Retry-After": retry_after}
        )

    url = await serve(handler)
    async with CloseClient("k", base_url=url, max_rate_limit_wait=120) as close:
        with pytest.raises(ServerError, match=r"retry in .* longer than max_rate_limit_wait"):
            await close.sequence_subscriptions.get("sub_1")
    assert len(served) == 1
    assert close.stats.retries == 0


async def test_429_with_reset_0_waits_a_small_minimum(
    serve: Callable[..., Awaitable[str]],
) -> None:
    answers = iter([429, 200])

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        status = next(answers)
        body = {"id": "sub_1"} if status == 200 else {"error": "Too many requests"}
        headers = {"RateLimit": "limit=10, remaining=0, reset=0"}
        return web.json_response(body, status=status, headers=headers)

    url = await serve(handler)
    async with CloseClient("k", base_url=url) as close:
        assert (await close.sequence_subscriptions.get("sub_1")).id == "sub_1"
    assert close.stats.retries == 1
    # The wait planned before the retry (not a measured time): never 0, whatever reset says.
    assert close.stats.rate_limit_wait >= MIN_RATE_LIMIT_WAIT
