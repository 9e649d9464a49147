"""Sequence subscriptions end to end against the fake Close: every verb, pagination, checks."""

from __future__ import annotations

from typing import Any

import pytest

from close_async import (
    NOT_GIVEN,
    BadRequestError,
    CloseClient,
    NotFoundError,
    SequenceSubscription,
    StatusReason,
    SubscriptionStatus,
)
from close_async.testing import FakeClose, Fault


def sender(fake: FakeClose) -> dict[str, Any]:
    user = fake.state.default_user
    return {
        "sender_account_id": user.email_account_id,
        "sender_name": user.name,
        "sender_email": user.email,
    }


async def new_contact(fake: FakeClose) -> tuple[str, str, str]:
    lead = fake.add_lead(contacts=1)
    contact = lead.contacts[0]
    return lead.id, contact.id, contact.emails[0]


async def test_list_pages_through_a_long_list(fake: FakeClose, close: CloseClient) -> None:
    ids = fake.add_subscriptions(lead_id="lead_long", count=345)
    fake.reset_stats()
    got = [sub async for sub in close.sequence_subscriptions.list(lead_id="lead_long")]
    assert [s.id for s in got] == ids  # every record, in order, once
    assert all(isinstance(s, SequenceSubscription) and s.lead_id == "lead_long" for s in got)
    # 4 pages, at most a few fetched ahead past the end, never a page twice
    assert 4 <= fake.stats.requests <= 4 + 7


async def test_list_small_pages_and_limit(fake: FakeClose, close: CloseClient) -> None:
    fake.add_subscriptions(lead_id="lead_l", count=25)
    fake.reset_stats()
    subs = close.sequence_subscriptions.list(lead_id="lead_l", page_size=10, limit=13)
    got = [s async for s in subs]
    assert len(got) == 13
    assert len({s.id for s in got}) == 13


async def test_one_page_list_is_one_request(fake: FakeClose, close: CloseClient) -> None:
    fake.add_subscriptions(lead_id="lead_one", count=3)
    fake.reset_stats()
    got = [s async for s in close.sequence_subscriptions.list(lead_id="lead_one")]
    assert len(got) == 3
    assert fake.stats.requests == 1


async def test_filters_are_anded(fake: FakeClose, close: CloseClient) -> None:
    sub = next(iter(fake.state.subscriptions()))
    both = close.sequence_subscriptions.list(lead_id=sub["lead_id"], sequence_id=sub["sequence_id"])
    got = [s async for s in both]
    assert got
    assert all(s.lead_id == sub["lead_id"] and s.sequence_id == sub["sequence_id"] for s in got)
    by_contact = close.sequence_subscriptions.list(contact_id=sub["contact_id"])
    assert sub["id"] in [s.id async for s in by_contact]


async def test_unknown_lead_lists_nothing(close: CloseClient) -> None:
    assert [s async for s in close.sequence_subscriptions.list(lead_id="lead_nobody")] == []


async def test_create_get_update_pause_resume_delete(fake: FakeClose, close: CloseClient) -> None:
    seq = fake.add_sequence(name="Onboarding")
    lead_id, contact_id, email = await new_contact(fake)
    subs = close.sequence_subscriptions
    created = await subs.create(
        sequence_id=seq["id"], contact_id=contact_id, contact_email=email, **sender(fake)
    )
    assert created.status is SubscriptionStatus.ACTIVE
    assert created.lead_id == lead_id
    assert created.contact_email == email
    assert (await subs.get(created.id)) == created

    paused = await subs.pause(created.id)
    assert paused.status is SubscriptionStatus.PAUSED
    assert paused.status_reason is StatusReason.MANUAL
    resumed = await subs.resume(created.id)
    assert resumed.status is SubscriptionStatus.ACTIVE

    renamed = await subs.update(created.id, sender_name="Someone Else")
    assert renamed.sender_name == "Someone Else"
    assert renamed.status is SubscriptionStatus.ACTIVE  # untouched: only sender_name was sent

    assert created.id in [s.id async for s in subs.list(contact_id=contact_id)]
    await subs.delete(created.id)
    with pytest.raises(NotFoundError) as info:
        await subs.get(created.id)
    assert info.value.status == 404
    assert [s async for s in subs.list(contact_id=contact_id)] == []


async def test_subscribing_twice_is_a_bad_request(fake: FakeClose, close: CloseClient) -> None:
    seq = fake.add_sequence()
    _, contact_id, email = await new_contact(fake)
    args: dict[str, Any] = {"sequence_id": seq["id"], "contact_id": contact_id, **sender(fake)}
    await close.sequence_subscriptions.create(contact_email=email, **args)
    fake.reset_stats()
    with pytest.raises(BadRequestError) as info:
        await close.sequence_subscriptions.create(contact_email=email, **args)
    assert info.value.errors  # Close's own words
    assert fake.stats.requests == 1  # a 400 is final, never retried


async def test_the_sender_fields_are_optional(fake: FakeClose, close: CloseClient) -> None:
    # Close's docs mark none of them required: they are not sent unless given, and Close
    # (here, a scripted answer) says so itself if it needs them.
    seq = fake.add_sequence()
    _, contact_id, _ = await new_contact(fake)
    subs = close.sequence_subscriptions
    created = await subs.create(sequence_id=seq["id"], contact_id=contact_id)
    assert created.sender_account_id == fake.state.default_user.email_account_id  # the fake's
    refusal = {"errors": [], "field-errors": {"sender_account_id": "This field is required."}}
    fake.inject("POST", "sequence_subscription", [Fault.response(400, refusal)])
    with pytest.raises(BadRequestError) as info:
        await subs.create(sequence_id=seq["id"], contact_id=contact_id)
    assert info.value.field_errors == refusal["field-errors"]


async def test_server_side_field_errors_are_attached(fake: FakeClose, close: CloseClient) -> None:
    seq = fake.add_sequence()
    _, contact_id, _ = await new_contact(fake)
    with pytest.raises(BadRequestError) as info:
        await close.sequence_subscriptions.create(
            sequence_id=seq["id"],
            contact_id=contact_id,
            extra={"calls_assigned_to": "not-a-list"},
            **sender(fake),
        )
    assert "calls_assigned_to" in info.value.field_errors
    assert "calls_assigned_to" in str(info.value)


async def test_missing_objects_are_not_found(close: CloseClient) -> None:
    for call in (
        close.sequence_subscriptions.get("sub_missing"),
        close.sequence_subscriptions.pause("sub_missing"),
        close.sequence_subscriptions.delete("sub_missing"),
    ):
        with pytest.raises(NotFoundError, match="sequence_subscription/sub_missing/ -> 404"):
            await call


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "at least one of lead_id, contact_id, sequence_id"),
        ({"lead_id": ""}, ValueError, "lead_id must not be empty"),
        ({"lead_id": 42}, TypeError, "lead_id must be a string ID"),
        ({"lead_id": "lead_1", "page_size": 0}, ValueError, "page_size must be from 1 to 100"),
        ({"lead_id": "lead_1", "page_size": 101}, ValueError, "page_size must be from 1 to 100"),
        ({"lead_id": "lead_1", "limit": -1}, ValueError, "limit must be 0 or more"),
        ({"lead_id": "lead/../x"}, ValueError, "is not a Close ID"),
    ],
)
async def test_bad_list_arguments_send_nothing(
    fake: FakeClose, close: CloseClient, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        close.sequence_subscriptions.list(**kwargs)
    assert fake.stats.requests == 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: s.get(""), ValueError, "id must not be empty"),
        (lambda s: s.get(None), TypeError, "id must be a string ID"),
        (lambda s: s.get(".."), ValueError, "dot segment"),  # would GET /api/v1/
        (lambda s: s.delete("."), ValueError, "dot segment"),  # would DELETE the collection
        (lambda s: s.update("sub_1"), ValueError, "nothing to update"),
        (lambda s: s.update("sub_1", status=3), TypeError, "status must be a string"),
        (lambda s: s.update("sub_1", calls_assigned_to="user_1"), TypeError, "list of IDs"),
        (
            lambda s: s.create(
                sequence_id="seq_1",
                contact_id="",
                sender_account_id="a",
                sender_name="n",
                sender_email="e",
            ),
            ValueError,
            "contact_id must not be empty",
        ),
    ],
)
async def test_bad_arguments_send_nothing(
    fake: FakeClose, close: CloseClient, call: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await call(close.sequence_subscriptions)
    assert fake.stats.requests == 0


async def test_update_sends_only_what_was_given(fake: FakeClose, close: CloseClient) -> None:
    sub = next(iter(fake.state.subscriptions()))
    updated = await close.sequence_subscriptions.update(
        sub["id"], sender_email="new@example.com", sender_name=NOT_GIVEN
    )
    assert updated.sender_email == "new@example.com"
    assert updated.sender_name == sub["sender_name"]
