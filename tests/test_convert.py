"""Structuring Close's JSON into models: types, open enums, unknown fields, bad payloads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from close_async import (
    BulkActionStatus,
    BulkSequenceSubscriptionAction,
    Schedule,
    Sequence,
    SequenceStep,
    SequenceSubscription,
    StatusReason,
    StepType,
    SubscriptionStatus,
)
from close_async._convert import (
    StructureError,
    parse_datetime,
    structure,
    structure_many,
    unstructure,
)

SUB: dict[str, Any] = {
    "id": "sub_1",
    "sequence_id": "seq_1",
    "contact_id": "cont_1",
    "contact_email": "contact@example.org",
    "lead_id": "lead_1",
    "organization_id": "orga_1",
    "sender_account_id": "emailacct_1",
    "sender_email": "john@salesteam.com",
    "sender_name": "John Doe",
    "calls_assigned_to": ["user_1"],
    "start_date": None,
    "status": "paused",
    "status_reason": "manual",
    "created_by_id": "user_1",
    "updated_by_id": "user_1",
    "date_created": "2022-03-10T14:40:27.442448",
    "date_updated": "2022-03-10T14:40:27.442451",
}

SEQUENCE: dict[str, Any] = {
    "id": "seq_1",
    "name": "My Sequence",
    "status": "active",
    "timezone": "America/Los_Angeles",
    "schedule": {"ranges": [{"weekday": 1, "start": "09:00", "end": "16:59"}]},
    "steps": [
        {"id": "seqstep_1", "step_type": "call", "delay": 0, "required": True},
        {
            "id": "seqstep_2",
            "step_type": "email",
            "delay": 86400,
            "email_template_id": "tmpl_1",
            "threading": "old_thread",
            "step_allowed_delay": None,
        },
    ],
    "organization_id": "orga_1",
    "date_created": "2022-03-10T14:31:45.512611",
    "subscription_counts_by_status": {"active": 3, "paused": 1},
}


def test_subscription_fields_are_typed() -> None:
    sub = structure(SUB, SequenceSubscription)
    assert sub.id == "sub_1"
    assert sub.status == "paused"
    assert sub.status is SubscriptionStatus.PAUSED
    assert sub.status_reason is StatusReason.MANUAL
    assert sub.calls_assigned_to == ("user_1",)
    assert sub.date_created == datetime(2022, 3, 10, 14, 40, 27, 442448, tzinfo=timezone.utc)
    assert sub.start_date is None
    assert sub.extra == {}


def test_models_are_frozen() -> None:
    sub = structure(SUB, SequenceSubscription)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        sub.status = SubscriptionStatus.ACTIVE  # type: ignore[misc]  # it is frozen


def test_unknown_enum_values_are_kept_readable() -> None:
    sub = structure(
        {**SUB, "status": "snoozed", "status_reason": "moon-phase"}, SequenceSubscription
    )
    assert sub.status is not None
    assert sub.status_reason is not None
    assert str(sub.status) == "snoozed"
    assert sub.status.value == "snoozed"
    assert sub.status == "snoozed"
    assert not sub.status.is_known
    assert SubscriptionStatus.ACTIVE.is_known
    assert str(sub.status_reason) == "moon-phase"
    # the same unknown value gives the same member every time
    again = structure({**SUB, "status": "snoozed"}, SequenceSubscription)
    assert again.status is sub.status


def test_unknown_fields_are_kept_in_extra_and_do_not_break_equality() -> None:
    sub = structure({**SUB, "new_field": {"x": 1}, "pause_reason": "manual"}, SequenceSubscription)
    assert sub.extra == {"new_field": {"x": 1}}
    assert sub.pause_reason == "manual"
    plain = structure({**SUB, "pause_reason": "manual"}, SequenceSubscription)
    assert sub == plain


def test_missing_optional_fields_default() -> None:
    sub = structure({"id": "sub_2"}, SequenceSubscription)
    assert sub.status is None
    assert sub.calls_assigned_to == ()
    assert sub.date_created is None


def test_null_list_is_empty() -> None:
    assert (
        structure({**SUB, "calls_assigned_to": None}, SequenceSubscription).calls_assigned_to == ()
    )


def test_sequence_with_steps_and_schedule() -> None:
    seq = structure(SEQUENCE, Sequence)
    assert seq.status == "active"
    assert isinstance(seq.schedule, Schedule)
    assert seq.schedule.ranges[0].weekday == 1
    assert [s.step_type for s in seq.steps] == [StepType.CALL, StepType.EMAIL]
    assert seq.steps[1].delay == 86400
    assert seq.subscription_counts_by_status == {"active": 3, "paused": 1}


def test_bulk_action() -> None:
    action = structure(
        {
            "id": "bulk_1",
            "action_type": "pause",
            "status": "processing",
            "s_query": {"type": "and", "queries": []},
            "sort": [],
            "n_leads": 10,
            "n_leads_processed": 4,
            "created_by": "user_1",
        },
        BulkSequenceSubscriptionAction,
    )
    assert action.status is BulkActionStatus.PROCESSING
    assert not action.is_finished
    assert action.sort == ()
    assert action.created_by == "user_1"


@pytest.mark.parametrize(
    ("payload", "model", "field"),
    [
        ({**SUB, "date_created": "yesterday"}, SequenceSubscription, "$.date_created"),
        ({**SUB, "status": 3}, SequenceSubscription, "$.status"),
        ({**SUB, "sender_name": 42}, SequenceSubscription, "$.sender_name"),
        ({**SUB, "calls_assigned_to": "user_1"}, SequenceSubscription, "$.calls_assigned_to"),
        ({**SUB, "calls_assigned_to": ["u", 1]}, SequenceSubscription, "$.calls_assigned_to"),
        ({**SUB, "status_reason": ["manual"]}, SequenceSubscription, "$.status_reason"),
        ({**SUB, "status": None, "status_reason": {}}, SequenceSubscription, "$.status_reason"),
        ({k: v for k, v in SUB.items() if k != "id"}, SequenceSubscription, "$.id"),
        ("not an object", SequenceSubscription, "$"),
        (
            {**SEQUENCE, "steps": [{"id": "s"}, {"id": "t", "delay": "soon"}]},
            Sequence,
            "$.steps[1].delay",
        ),
        (
            {**SEQUENCE, "schedule": {"ranges": [{"weekday": 1}]}},
            Sequence,
            "$.schedule.ranges[0].start",
        ),
    ],
)
def test_malformed_payload_names_the_field(payload: Any, model: type[Any], field: str) -> None:
    with pytest.raises(StructureError) as info:
        structure(payload, model)
    assert info.value.field == field
    assert field in str(info.value)


def test_structure_many_names_the_item() -> None:
    with pytest.raises(StructureError) as info:
        structure_many([SUB, {**SUB, "lead_id": 7}], SequenceSubscription)
    assert info.value.field == "$.data[1].lead_id"
    with pytest.raises(StructureError, match=r"\$\.data: expected a list"):
        structure_many({"not": "a list"}, SequenceSubscription)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-03-10T14:40:27.442448", datetime(2022, 3, 10, 14, 40, 27, 442448, timezone.utc)),
        ("2022-03-10T14:40:27Z", datetime(2022, 3, 10, 14, 40, 27, tzinfo=timezone.utc)),
        ("2022-03-10T14:40:27.44", datetime(2022, 3, 10, 14, 40, 27, 440000, timezone.utc)),
        (
            "2022-03-10T14:40:27+02:00",
            datetime(2022, 3, 10, 14, 40, 27, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2022-03-10", datetime(2022, 3, 10, tzinfo=timezone.utc)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_unstructure_round_trips_with_extra_fields() -> None:
    sub = structure({**SUB, "new_field": 1}, SequenceSubscription)
    data = unstructure(sub)
    assert data["new_field"] == 1
    assert data["status"] == "paused"
    assert structure(data, SequenceSubscription) == sub


def test_step_unstructures_to_json() -> None:
    step = SequenceStep(step_type=StepType.EMAIL, delay=0)
    assert unstructure(step)["step_type"] == "email"


SUB_VARIANTS: list[dict[str, Any]] = [
    SUB,
    {**SUB, "pause_reason": "manual"},
    {**SUB, "new_field": {"x": 1}},
    {"id": "sub_2", "status": "active", "whatever": None},  # most fields left out
    {**SUB, "extra": "a field Close might name so"},
]


def test_owned_items_become_the_same_models_as_copied_ones() -> None:
    copied = structure_many([dict(item) for item in SUB_VARIANTS], SequenceSubscription)
    owned = structure_many([dict(item) for item in SUB_VARIANTS], SequenceSubscription, owned=True)
    assert owned == copied
    assert [sub.extra for sub in owned] == [
        {},
        {},
        {"new_field": {"x": 1}},
        {"whatever": None},
        {"extra": "a field Close might name so"},
    ]
    assert owned[3].lead_id is None
    assert owned[3].calls_assigned_to == ()
    assert owned[3].pause_reason is None
    assert owned[1].pause_reason == "manual"


def test_copying_leaves_the_json_alone_and_owning_takes_it_over() -> None:
    item = dict(SUB)
    structure_many([item], SequenceSubscription)
    assert item == SUB
    (sub,) = structure_many([item], SequenceSubscription, owned=True)
    assert vars(sub) is item  # no copy


@pytest.mark.parametrize("owned", [False, True])
def test_structure_many_names_the_first_item_that_fails(owned: bool) -> None:
    items = [dict(SUB), dict(SUB), {**SUB, "date_created": "yesterday"}, dict(SUB)]
    with pytest.raises(StructureError) as info:
        structure_many(items, SequenceSubscription, owned=owned)
    assert info.value.field == "$.data[2].date_created"
    with pytest.raises(StructureError) as info:
        structure_many([dict(SUB), ["not", "an", "object"]], SequenceSubscription, owned=owned)
    assert info.value.field == "$.data[1]"


@attrs.frozen(kw_only=True, slots=False)
class _Timed:
    """A model with a required converted field, which no Close model has (yet)."""

    when: datetime
    label: str | None = None
    extra: Any = attrs.field(factory=dict)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"label": "x"}, "$.when", "required field missing"),
        ({"when": "soon"}, "$.when", "expected an ISO-8601 datetime"),
        ({"when": "2022-03-10T14:40:27.442448", "label": 1}, "$.label", "expected a string"),
    ],
)
def test_generated_hooks_name_missing_and_bad_required_fields(
    payload: dict[str, Any], field: str, reason: str
) -> None:
    from close_async._convert import _CONVERTER, _model_hook

    hook = _model_hook(_Timed, _CONVERTER)
    with pytest.raises(StructureError, match=reason) as info:
        hook(payload, _Timed)
    assert info.value.field == field
    good = hook({"when": "2022-03-10T14:40:27.442448"}, _Timed)
    assert good.when == datetime(2022, 3, 10, 14, 40, 27, 442448, timezone.utc)
