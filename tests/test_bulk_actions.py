"""Bulk sequence-subscription actions against the fake Close: checks, create, list, wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from close_async import (
    BulkActionError,
    BulkActionPausedError,
    BulkActionStatus,
    BulkActionTimeoutError,
    BulkActionType,
    BulkSequenceSubscriptionAction,
    CloseClient,
    ContactPreference,
    SubscriptionStatus,
)
from close_async.resources.bulk_actions import required_fields
from close_async.testing import FakeClose, Fault

QUERY: dict[str, Any] = {"type": "and", "queries": [{"type": "object_type", "object_type": "lead"}]}


def test_required_fields_per_action_type() -> None:
    assert required_fields("subscribe") == (
        "sequence_id",
        "sender_account_id",
        "sender_name",
        "sender_email",
        "contact_preference",
    )
    assert required_fields("pause") == ()
    assert required_fields("something_new") == ()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"action_type": "subscribe"}, ValueError, "needs sequence_id, sender_account_id"),
        (
            {"action_type": "subscribe", "sequence_id": "seq_1", "sender_account_id": "a"},
            ValueError,
            "needs sender_name, sender_email, contact_preference",
        ),
        ({"action_type": 5}, TypeError, "action_type must be a string"),
        ({"action_type": "pause", "s_query": "lead:x"}, TypeError, "s_query must be a dict"),
        ({"action_type": "pause", "results_limit": -1}, ValueError, "limit must be 0 or more"),
    ],
)
async def test_missing_fields_fail_before_sending(
    fake: FakeClose, close: CloseClient, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs.setdefault("s_query", QUERY)
    with pytest.raises(error, match=match):
        await close.bulk_actions.sequence_subscriptions.create(**kwargs)
    assert fake.stats.requests == 0


async def test_pause_all_then_wait(fake: FakeClose, close: CloseClient) -> None:
    bulk = close.bulk_actions.sequence_subscriptions
    action = await bulk.create(action_type=BulkActionType.PAUSE, s_query=QUERY)
    assert isinstance(action, BulkSequenceSubscriptionAction)
    assert action.action_type is BulkActionType.PAUSE
    done = await bulk.wait(action.id, timeout=5, poll_interval=0.05)
    assert done.status is BulkActionStatus.DONE
    assert done.is_finished
    statuses = {s["status"] for s in fake.state.subscriptions()}
    assert SubscriptionStatus.ACTIVE not in statuses
    assert action.id in [a.id async for a in bulk.list()]
    assert (await bulk.get(action.id)).status is BulkActionStatus.DONE


async def test_subscribe_sends_every_field(fake: FakeClose, close: CloseClient) -> None:
    seq = fake.add_sequence()
    user = fake.state.default_user
    action = await close.bulk_actions.sequence_subscriptions.create(
        action_type="subscribe",
        s_query=QUERY,
        sequence_id=seq["id"],
        sender_account_id=user.email_account_id,
        sender_name=user.name,
        sender_email=user.email,
        contact_preference=ContactPreference.LEAD,
        results_limit=5,
        send_done_email=False,
    )
    assert action.sequence_id == seq["id"]
    assert action.contact_preference is ContactPreference.LEAD
    assert action.send_done_email is False


async def test_wait_gives_up_at_its_timeout(fake: FakeClose) -> None:
    async with (
        FakeClose(bulk_action_seconds=30) as slow,
        CloseClient(slow.api_key, base_url=slow.url) as close,
    ):
        bulk = close.bulk_actions.sequence_subscriptions
        action = await bulk.create(action_type="resume", s_query=QUERY)
        with pytest.raises(BulkActionTimeoutError, match="still") as info:
            await bulk.wait(action.id, timeout=0.2, poll_interval=0.05)
    assert isinstance(info.value, TimeoutError)
    assert info.value.action.id == action.id


async def test_wait_raises_when_the_action_fails(fake: FakeClose, close: CloseClient) -> None:
    bulk = close.bulk_actions.sequence_subscriptions
    action = await bulk.create(action_type="pause", s_query=QUERY)
    record = fake.state.bulk_action(action.id)
    assert record is not None
    failed = {**record, "status": "error"}
    fake.inject("GET", "bulk_action/sequence_subscription", [Fault.response(200, failed)])
    with pytest.raises(BulkActionError, match="ended in status 'error'") as info:
        await bulk.wait(action.id, timeout=5, poll_interval=0.05)
    assert info.value.action.status is BulkActionStatus.ERROR


async def test_pause_stops_an_action_and_resume_finishes_it() -> None:
    async with (
        FakeClose(leads=30, seed=7, bulk_action_seconds=0.1) as fake,
        CloseClient(fake.api_key, base_url=fake.url) as close,
    ):
        bulk = close.bulk_actions.sequence_subscriptions
        action = await bulk.create(action_type="pause", s_query=QUERY)
        paused = await bulk.pause(action.id)
        assert paused.status is BulkActionStatus.PAUSED
        fake.reset_stats()
        # A paused action never finishes by itself: wait() says so at once.
        with pytest.raises(BulkActionPausedError, match=r"resume\(\)") as info:
            await bulk.wait(action.id, timeout=30, poll_interval=0.05)
        assert isinstance(info.value, BulkActionError)
        assert fake.stats.requests == 1
        await asyncio.sleep(0.25)  # past the time the action would have taken
        record = fake.state.bulk_action(action.id)
        assert record is not None
        assert record["status"] == "paused"
        assert any(s["status"] == "active" for s in fake.state.subscriptions())

        resumed = await bulk.resume(action.id)
        assert resumed.status is BulkActionStatus.RESUMING
        done = await bulk.wait(action.id, timeout=5, poll_interval=0.05)
        assert done.status is BulkActionStatus.DONE
        assert all(s["status"] != "active" for s in fake.state.subscriptions())


async def test_wait_checks_its_arguments(close: CloseClient) -> None:
    bulk = close.bulk_actions.sequence_subscriptions
    with pytest.raises(ValueError, match="timeout must be more than 0"):
        await bulk.wait("bulk_1", timeout=0)
    with pytest.raises(ValueError, match="poll_interval"):
        await bulk.wait("bulk_1", poll_interval=0)
