"""What Close may answer, over the wire (aioresponses): unknown fields and values, odd but
valid answers, and malformed ones that must fail with the field named."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aioresponses import aioresponses

from close_async import CloseClient, ResponseValidationError, StatusReason, SubscriptionStatus

URL = "http://127.0.0.1:9/api/v1/"
SUBS = re.compile(r"^http://127\.0\.0\.1:9/api/v1/sequence_subscription/.*$")
SUB = {"id": "sub_1", "lead_id": "lead_1", "status": "active", "status_reason": None}


@pytest.fixture
async def close() -> AsyncIterator[CloseClient]:
    async with CloseClient("k", base_url=URL, max_retries=0) as client:
        yield client


async def test_unknown_fields_and_statuses_do_not_break_a_list(close: CloseClient) -> None:
    page = {
        "data": [
            {**SUB, "status": "snoozed", "status_reason": "new-reason", "brand_new": [1, 2]},
            {**SUB, "id": "sub_2"},
        ],
        "has_more": False,
        "total_results": 2,  # an envelope field we do not know either
    }
    with aioresponses() as mocked:
        mocked.get(SUBS, payload=page)
        got = [s async for s in close.sequence_subscriptions.list(lead_id="lead_1")]
    assert [s.id for s in got] == ["sub_1", "sub_2"]
    assert got[0].status is not None
    assert str(got[0].status) == "snoozed"
    assert not got[0].status.is_known
    assert got[0].status_reason is not None
    assert got[0].status_reason.value == "new-reason"
    assert got[0].extra == {"brand_new": (1, 2)}  # frozen: JSON arrays are tuples
    assert got[1].status is SubscriptionStatus.ACTIVE


async def test_a_known_reason_is_its_member(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={**SUB, "status": "paused", "status_reason": "reply-received"})
        sub = await close.sequence_subscriptions.get("sub_1")
    assert sub.status_reason is StatusReason.REPLY_RECEIVED


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"data": [SUB, {**SUB, "date_created": "soon"}], "has_more": False},
            "$.data[1].date_created",
        ),
        ({"data": [SUB]}, "$.has_more"),
        ({"data": [SUB], "has_more": "no"}, "$.has_more"),
        ({"data": {"id": "sub_1"}, "has_more": False}, "$.data"),
        ([SUB], "$"),
    ],
)
async def test_malformed_list_names_the_field(
    close: CloseClient, payload: object, field: str
) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload=payload)
        with pytest.raises(ResponseValidationError) as info:
            async for _ in close.sequence_subscriptions.list(lead_id="lead_1"):
                pass
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.method == "GET"
    assert info.value.path == "sequence_subscription/"


async def test_malformed_object_names_the_field(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"lead_id": "lead_1"})
        with pytest.raises(ResponseValidationError, match=r"\$\.id: required field missing"):
            await close.sequence_subscriptions.get("sub_1")


async def test_success_that_is_not_json(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, body="<html>login</html>", content_type="text/html")
        with pytest.raises(ResponseValidationError, match=r"not JSON.*text/html"):
            await close.sequence_subscriptions.get("sub_1")


@pytest.mark.parametrize(("status", "body"), [(200, "{}"), (200, ""), (204, "")])
async def test_delete_accepts_every_empty_answer(
    close: CloseClient, status: int, body: str
) -> None:
    with aioresponses() as mocked:
        mocked.delete(SUBS, status=status, body=body)
        await close.sequence_subscriptions.delete("sub_1")  # no error: deleted


@pytest.mark.parametrize("status", [200, 201])
async def test_create_accepts_200_and_201(close: CloseClient, status: int) -> None:
    with aioresponses() as mocked:
        mocked.post(SUBS, status=status, payload=SUB)
        sub = await close.sequence_subscriptions.create(
            sequence_id="seq_1",
            contact_id="cont_1",
            sender_account_id="emailacct_1",
            sender_name="Jo",
            sender_email="jo@example.com",
        )
        ((_, calls),) = mocked.requests.items() if mocked.requests else []
    assert sub.id == "sub_1"
    assert calls[0].kwargs["headers"]["Content-Type"] == "application/json"


async def test_list_always_sends_skip_and_limit(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"data": [SUB], "has_more": False})
        [s async for s in close.sequence_subscriptions.list(lead_id="lead_1", page_size=7)]
        assert mocked.requests is not None
        ((_, url),) = mocked.requests
    assert url.query["_skip"] == "0"
    assert url.query["_limit"] == "7"
    assert url.query["lead_id"] == "lead_1"
