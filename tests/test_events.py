"""``close.events``: the event log through the fake Close (cursor pages, filters, models)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from close_async import (
    CloseClient,
    Event,
    EventAction,
    ResponseValidationError,
    Sequence,
    SequenceSubscription,
)
from close_async.testing import FakeClose, Fault

SUB = "sequence_subscription"


def event_requests(fake: FakeClose) -> int:
    return fake.stats.by_group["GET event"]


async def subscribe(fake: FakeClose, count: int, lead_id: str = "lead_many") -> list[str]:
    return fake.add_subscriptions(lead_id=lead_id, count=count, status="active")


async def test_pages_through_many_cursor_pages_newest_first(
    fake: FakeClose, close: CloseClient
) -> None:
    ids = await subscribe(fake, 130)
    events = [e async for e in close.events.list(object_type=SUB, action="created")]
    assert [e.object_id for e in events] == ids[::-1]  # newest first
    dates = [e.date_updated for e in events]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]
    assert event_requests(fake) == 3  # 50 + 50 + 30: cursor_next is null on the last page
    assert len({e.id for e in events}) == 130


async def test_page_size_and_limit(fake: FakeClose, close: CloseClient) -> None:
    await subscribe(fake, 30)
    events = close.events.list(object_type=SUB, action="created", page_size=7, limit=10)
    assert len([e async for e in events]) == 10
    assert event_requests(fake) == 2
    assert len([e async for e in close.events.list(lead_id="lead_many", limit=1)]) == 1
    assert fake.stats.by_path["/api/v1/event/"] == 3


async def test_event_models_are_typed_by_object_type(fake: FakeClose, close: CloseClient) -> None:
    sub_id = (await subscribe(fake, 1))[0]
    await close.sequence_subscriptions.pause(sub_id)
    await close.sequence_subscriptions.delete(sub_id)
    events = [e async for e in close.events.list(object_type=SUB, object_id=sub_id)]
    deleted, updated, created = events
    assert (created.action, updated.action, deleted.action) == (
        EventAction.CREATED,
        EventAction.UPDATED,
        EventAction.DELETED,
    )
    assert isinstance(created.data, SequenceSubscription)
    assert created.data.id == sub_id
    assert created.data.status == "active"
    assert created.previous_data == {}
    # An update: the subscription after, and only the changed fields before (a mapping: a
    # partial record must not look like a record with its other fields empty).
    assert isinstance(updated.data, SequenceSubscription)
    assert updated.data.status == "paused"
    assert set(updated.changed_fields) == {"status", "status_reason", "date_updated"}
    assert isinstance(updated.previous_data, Mapping)
    assert updated.previous_data["status"] == "active"
    assert "sequence_id" not in updated.previous_data
    with pytest.raises(TypeError):
        updated.previous_data["status"] = "x"  # type: ignore[index]  # read-only
    # A delete: no data; the whole record before.
    assert deleted.data is None
    assert deleted.previous_data is not None
    assert deleted.previous_data["id"] == sub_id
    assert updated.request_id
    assert updated.meta == {
        "request_method": "PUT",
        "request_path": f"/api/v1/sequence_subscription/{sub_id}/",
    }
    assert isinstance(created.date_updated, datetime)
    assert created.date_updated.tzinfo
    assert await close.events.get(updated.id) == updated


async def test_other_object_types_keep_their_data_as_a_mapping(
    fake: FakeClose, close: CloseClient
) -> None:
    lead = fake.add_lead(contacts=1)
    seq = fake.add_sequence(name="Onboarding")
    events = [e async for e in close.events.list(lead_id=lead.id)]
    assert {e.object_type for e in events} == {"lead", "contact"}
    contact = next(e for e in events if e.object_type == "contact")
    assert isinstance(contact.data, Mapping)
    assert contact.data["lead_id"] == lead.id
    (seq_event,) = [e async for e in close.events.list(object_type="sequence", object_id=seq["id"])]
    assert isinstance(seq_event.data, Sequence)
    assert seq_event.data.name == "Onboarding"


async def test_each_filter(fake: FakeClose, close: CloseClient) -> None:
    ids = await subscribe(fake, 3)
    other = await subscribe(fake, 2, lead_id="lead_other")
    paused = await close.sequence_subscriptions.pause(ids[0])
    user = fake.state.default_user.id

    async def objects(**filters: Any) -> list[str | None]:
        return [e.object_id async for e in close.events.list(**filters)]

    assert await objects(object_type=SUB, action="updated") == [paused.id]
    assert await objects(object_id=ids[1], action="created") == [ids[1]]
    assert set(await objects(lead_id="lead_other", object_type=SUB)) == set(other)
    # The lead, its contact (4 sequences: one contact), 3 subscriptions, the pause.
    assert len(await objects(lead_id="lead_many")) == 1 + 1 + 3 + 1
    assert len(await objects(user_id=user, object_type=SUB, action="created")) == 5
    (pause_event,) = [e async for e in close.events.list(object_id=ids[0], action="updated")]
    assert pause_event.request_id is not None
    assert await objects(request_id=pause_event.request_id) == [ids[0]]


async def test_date_range_filters(fake: FakeClose, close: CloseClient) -> None:
    ids = await subscribe(fake, 6)
    events = [e async for e in close.events.list(object_type=SUB, action="created")][::-1]
    dates = [e.date_updated for e in events]
    assert None not in dates
    low, high = dates[1], dates[4]
    assert low is not None
    assert high is not None

    async def between(**bounds: Any) -> list[str | None]:
        found = close.events.list(object_type=SUB, action="created", **bounds)
        return [e.object_id async for e in found][::-1]

    assert await between(date_updated__gte=low, date_updated__lt=high) == ids[1:4]
    assert await between(date_updated__gt=low, date_updated__lte=high) == ids[2:5]
    # Any timezone: the same instant written in UTC+2.
    plus_two = timezone(timedelta(hours=2))
    assert await between(date_updated__gte=low.astimezone(plus_two)) == ids[1:]


@pytest.mark.parametrize(
    ("filters", "error"),
    [
        ({"object_type": SUB}, ValueError),  # alone: not a supported combination
        ({}, ValueError),
        ({"object_type": SUB, "action": "created", "request_id": "req_1"}, ValueError),
        ({"lead_id": "lead/1"}, ValueError),
        ({"lead_id": 7}, TypeError),
        ({"lead_id": "lead_1", "date_updated__gte": datetime(2024, 1, 1)}, ValueError),  # naive
        ({"lead_id": "lead_1", "date_updated__lt": "2024-01-01"}, TypeError),
        ({"lead_id": "lead_1", "page_size": 51}, ValueError),
        ({"lead_id": "lead_1", "page_size": 0}, ValueError),
        ({"lead_id": "lead_1", "limit": -1}, ValueError),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake: FakeClose, close: CloseClient, filters: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        close.events.list(**filters)
    assert fake.stats.requests == 0


async def test_the_fake_refuses_an_unsupported_combination_too(fake: FakeClose) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession(headers={"Authorization": fake.authorization}) as http,
        http.get(fake.url + "event/", params={"object_type": SUB}) as answer,
    ):
        assert answer.status == 400
        assert "Unsupported combination" in (await answer.json())["error"]


async def test_paging_stops_at_the_lower_date_bound_even_if_close_ignored_it(
    fake: FakeClose, close: CloseClient
) -> None:
    # Whether the date filters still apply alongside _cursor is not documented: events
    # older than the bound are dropped, and paging stops at the first of them.
    bound = datetime(2024, 5, 1, tzinfo=timezone.utc)
    page = {
        "data": [
            {"id": "ev_new", "object_type": "lead", "date_updated": "2024-05-02T00:00:00"},
            {"id": "ev_old", "object_type": "lead", "date_updated": "2024-04-30T00:00:00"},
        ],
        "cursor_next": "more",
    }
    fake.inject("GET", "event", [Fault.response(200, page)])
    events = [e.id async for e in close.events.list(lead_id="lead_1", date_updated__gte=bound)]
    assert events == ["ev_new"]
    assert event_requests(fake) == 1


async def test_pages_newer_than_the_upper_bound_do_not_end_the_list(
    fake: FakeClose, close: CloseClient
) -> None:
    bound = datetime(2024, 5, 1, tzinfo=timezone.utc)
    newer = {
        "data": [{"id": "ev_2", "date_updated": "2024-05-02T00:00:00"}],
        "cursor_next": "c1",
    }
    older = {"data": [{"id": "ev_1", "date_updated": "2024-04-30T00:00:00"}], "cursor_next": None}
    fake.inject("GET", "event", [Fault.response(200, newer), Fault.response(200, older)])
    events = [e.id async for e in close.events.list(lead_id="lead_1", date_updated__lt=bound)]
    assert events == ["ev_1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": []}, "$.cursor_next"),  # a missing cursor: guessing could lose events
        ({"data": [], "cursor_next": 5}, "$.cursor_next"),
        ({"data": [{"id": "ev_1", "date_updated": "nope"}], "cursor_next": None}, "$.data[0]"),
        (
            {
                "data": [{"id": "ev_1", "object_type": SUB, "data": {"id": 3}}],
                "cursor_next": None,
            },
            "$.data[0].data.id",
        ),
        ([], "$"),
    ],
)
async def test_answers_that_do_not_fit_raise_a_validation_error(
    fake: FakeClose, close: CloseClient, body: Any, field: str
) -> None:
    fake.inject("GET", "event", [Fault.response(200, body)])
    with pytest.raises(ResponseValidationError) as caught:
        [e async for e in close.events.list(lead_id="lead_1")]
    assert caught.value.field is not None
    assert caught.value.field.startswith(field)


async def test_a_cursor_that_comes_back_unchanged_raises(
    fake: FakeClose, close: CloseClient
) -> None:
    page = {"data": [{"id": "ev_1"}], "cursor_next": "c1"}
    fake.inject("GET", "event", [Fault.response(200, page), Fault.response(200, page)])
    with pytest.raises(ResponseValidationError, match="cursor"):
        [e async for e in close.events.list(lead_id="lead_1")]


async def test_a_cursor_that_leads_back_to_an_earlier_page_raises_before_repeating_it(
    fake: FakeClose, close: CloseClient
) -> None:
    first = {"data": [{"id": "ev_1"}], "cursor_next": "c1"}
    second = {"data": [{"id": "ev_2"}], "cursor_next": "c2"}
    back = {"data": [{"id": "ev_3"}], "cursor_next": "c1"}  # c1 -> c2 -> c1 -> ...
    fake.inject("GET", "event", [Fault.response(200, p) for p in (first, second, back)])
    seen: list[str] = []

    async def read() -> None:
        async for event in close.events.list(lead_id="lead_1"):
            seen.append(event.id)

    with pytest.raises(ResponseValidationError, match="already followed"):
        await read()
    assert seen == ["ev_1", "ev_2"]  # the page that points back is refused whole


async def test_unknown_fields_and_actions_are_kept(fake: FakeClose, close: CloseClient) -> None:
    page = {
        "data": [{"id": "ev_1", "action": "merged", "object_type": "lead", "new_field": 1}],
        "cursor_next": None,
    }
    fake.inject("GET", "event", [Fault.response(200, page)])
    (event,) = [e async for e in close.events.list(lead_id="lead_1")]
    assert isinstance(event, Event)
    assert event.action == "merged"
    assert not event.action.is_known
    assert event.extra == {"new_field": 1}


async def test_the_fake_forgets_events_older_than_its_retention() -> None:
    from close_async.testing._events import EventLog
    from close_async.testing._model import IdFactory

    now = [datetime(2024, 6, 1)]
    log = EventLog(
        ids=IdFactory(__import__("random").Random(1)),
        organization_id="orga_1",
        timestamp=lambda: now[0].isoformat(timespec="microseconds"),
        retention=3600,
        clock=lambda: now[0],
    )
    log.record_change("lead", "created", None, {"id": "lead_1"}, "user_1")
    now[0] += timedelta(minutes=30)
    log.record_change("lead", "created", None, {"id": "lead_2"}, "user_1")
    assert [e["object_id"] for e in log.events()] == ["lead_1", "lead_2"]
    now[0] += timedelta(minutes=45)  # lead_1's event is now 75 minutes old
    assert [e["object_id"] for e in log.events()] == ["lead_2"]
