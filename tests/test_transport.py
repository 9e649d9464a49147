"""Errors and retries against a real server: every status mapped, every fault survived or
surfaced as one of our exceptions, and no aiohttp exception ever reaching the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from close_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CloseClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from close_async.testing import FakeClose, Fault, FaultKind

GET_SUBS = ("GET", "sequence_subscription")


@pytest.fixture
async def sub_id(fake: FakeClose) -> str:
    return str(next(iter(fake.state.subscriptions()))["id"])


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
    # aiohttp itself repeats a GET once when a reused keep-alive connection drops
    # before an answer, so a drop can cost us one retry instead of two.
    assert close.stats.retries == (2 if fault != "drop" else close.stats.retries)
    assert close.stats.retries >= 1


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
    fake.inject(*GET_SUBS, ["drop"] * 4)  # 2 attempts, each perhaps repeated by aiohttp
    async with CloseClient(fake.api_key, base_url=fake.url, max_retries=1, backoff_base=0) as close:
        with pytest.raises(APIConnectionError, match="connection failed before an answer"):
            await close.sequence_subscriptions.get(sub_id)


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
    fake.inject("DELETE", "sequence_subscription", ["502_html"])
    await close.sequence_subscriptions.delete(sub_id)
    assert close.stats.retries == 2


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
