"""Models behave like frozen values: pickle, deepcopy, hash, read-only mappings, unstructure."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

import close_async
from close_async import (
    BulkSequenceSubscriptionAction,
    Event,
    OpenEnum,
    Schedule,
    ScheduleRange,
    Sequence,
    SequenceStep,
    SequenceSubscription,
    StepType,
    SubscriptionStatus,
    WebhookSubscription,
    unstructure,
)
from close_async._convert import structure
from close_async._enums import MAX_UNKNOWN_CACHED
from close_async.resources.events import typed_event

from .test_convert import SEQUENCE, SUB

BULK: dict[str, Any] = {
    "id": "bulk_1",
    "action_type": "pause",
    "status": "processing",
    "s_query": {"type": "and", "queries": [{"type": "lead", "ids": ["lead_1"]}]},
    "sort": [{"field": "date_created", "direction": "asc"}],
    "n_leads": 10,
}
EVENT: dict[str, Any] = {
    "id": "ev_1",
    "object_type": "sequence_subscription",
    "object_id": "sub_1",
    "action": "updated",
    "date_updated": "2024-01-01T00:00:00.000000",
    "data": SUB,
    "previous_data": {"status": "active", "calls_assigned_to": ["user_1"]},
    "changed_fields": ["status"],
    "meta": {"request_method": "PUT"},
}
WEBHOOK: dict[str, Any] = {
    "id": "whsub_1",
    "url": "https://example.com/hook",
    "signature_key": "00ff",
    "events": [{"object_type": "sequence_subscription", "action": "updated"}],
}


def _models() -> list[Any]:
    """One of each model, from Close's JSON: with and without unknown fields."""
    return [
        structure(SUB, SequenceSubscription),  # extra is the shared empty mapping
        structure({**SUB, "new_field": {"nested": [1, {"x": 2}]}}, SequenceSubscription),
        structure(SEQUENCE, Sequence),  # counts, steps, schedule
        structure({**SEQUENCE, "owner_id": "user_1"}, Sequence),
        structure(BULK, BulkSequenceSubscriptionAction),  # s_query and sort
        SequenceStep(step_type=StepType.EMAIL, delay=0),
        Schedule(ranges=(ScheduleRange(weekday=1, start="09:00", end="16:59"),)),
        typed_event(structure(EVENT, Event)),  # data a model, previous_data a mapping
        typed_event(structure({**EVENT, "object_type": "lead", "data": {"a": [1]}}, Event)),
        structure(WEBHOOK, WebhookSubscription),
        # Fields of undocumented type (any JSON value): objects and arrays frozen too.
        structure({**WEBHOOK, "latest_error": {"status": 500, "at": ["x"]}}, WebhookSubscription),
        SequenceStep(step_allowed_delay={"days": [1, 2]}),
    ]


CLONES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
}


@pytest.mark.parametrize("model", _models(), ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("clone", CLONES)
def test_every_model_pickles_and_copies(model: Any, clone: str) -> None:
    cloned = CLONES[clone](model)
    assert cloned == model
    assert type(cloned) is type(model)
    assert cloned.extra == model.extra  # not part of ==: checked on its own
    assert hash(cloned) == hash(model)


@pytest.mark.parametrize("model", _models(), ids=lambda m: type(m).__name__)
def test_every_model_hashes_and_equal_models_hash_alike(model: Any) -> None:
    twin = pickle.loads(pickle.dumps(model))
    assert twin is not model
    assert len({model, twin}) == 1


def test_mapping_fields_cannot_change_in_place() -> None:
    seq = structure(SEQUENCE, Sequence)
    sub = structure({**SUB, "new_field": {"x": [1]}}, SequenceSubscription)
    bulk = structure(BULK, BulkSequenceSubscriptionAction)
    counts: Any = seq.subscription_counts_by_status
    extra: Any = sub.extra
    with pytest.raises(TypeError):
        counts["active"] = 0
    with pytest.raises(TypeError):
        extra["new_field"] = 1
    with pytest.raises(TypeError):
        extra["new_field"]["x"] = 2  # nested objects are frozen too
    with pytest.raises(AttributeError):
        extra.pop("new_field")
    with pytest.raises(TypeError):
        bulk.s_query["type"] = "or"  # type: ignore[index]
    assert sub.extra["new_field"] == {"x": (1,)}  # arrays inside are tuples, as everywhere
    assert seq.subscription_counts_by_status == {"active": 3, "paused": 1}


def test_the_constructor_freezes_what_it_is_given() -> None:
    counts = {"active": 1}
    seq = Sequence(id="seq_1", subscription_counts_by_status=counts, extra={"a": [1]})
    counts["active"] = 99
    assert seq.subscription_counts_by_status == {"active": 1}
    assert seq.extra == {"a": (1,)}
    hash(seq)
    with pytest.raises(TypeError, match="mapping"):
        Sequence(id="seq_1", extra=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_event_and_webhook_constructors_freeze_what_they_are_given() -> None:
    previous = {"status": "active"}
    event = Event(id="ev_1", previous_data=previous, meta={"k": [1]}, data={"a": {"b": 1}})
    previous["status"] = "paused"
    assert event.previous_data == {"status": "active"}
    assert event.meta == {"k": (1,)}
    hook = WebhookSubscription(id="whsub_1", counters={"n": 1}, latest_error=["x"])
    assert hook.latest_error == ("x",)
    for model in (event, hook):
        assert pickle.loads(pickle.dumps(model)) == model
        hash(model)


def test_models_stay_frozen() -> None:
    seq = structure(SEQUENCE, Sequence)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        seq.name = "other"  # type: ignore[misc]  # it is frozen


def test_unstructure_is_public_and_gives_close_json() -> None:
    assert close_async.unstructure is unstructure
    bulk = structure(BULK, BulkSequenceSubscriptionAction)
    data = unstructure(bulk)
    assert data["s_query"] == BULK["s_query"]
    assert type(data["s_query"]) is dict
    assert type(data["s_query"]["queries"]) is list  # frozen tuples come back as lists
    assert data["sort"] == BULK["sort"]
    assert data["status"] == "processing"
    seq = structure({**SEQUENCE, "owner_id": "user_1", "meta": {"k": [1]}}, Sequence)
    data = unstructure(seq)
    assert type(data["subscription_counts_by_status"]) is dict
    assert data["steps"][0]["step_type"] == "call"
    assert data["owner_id"] == "user_1"
    assert type(data["meta"]["k"]) is list
    json.dumps(data)  # plain JSON values only
    assert structure(data, Sequence) == seq


class _Colour(OpenEnum):
    """An enum of the test's own, so that its cache of unknown values is its alone."""

    RED = "red"


def test_open_enum_cache_of_unknown_values_is_bounded() -> None:
    first = _Colour("mauve")
    assert first is _Colour("mauve")  # the first unknown values are singletons
    for n in range(1_000):  # a server sending a new value in every record
        _Colour(f"colour-{n}")
    assert len(_Colour._value2member_map_) == 1 + MAX_UNKNOWN_CACHED
    late: OpenEnum = _Colour("colour-999")
    again: OpenEnum = _Colour("colour-999")
    assert late == again  # past the cap: equal, same hash, but new objects
    assert hash(late) == hash(again) == hash("colour-999")
    assert late is not again
    assert not late.is_known
    assert late.value == "colour-999"
    assert _Colour("red") is _Colour.RED  # documented values keep their identity
    assert _Colour.RED.is_known
    assert _Colour("mauve") is first  # cached ones stay cached


@pytest.fixture
def status_cache() -> Iterator[None]:
    """Put SubscriptionStatus's cache of unknown values back as it was (other tests rely on
    the first unknown values being singletons)."""
    saved = dict(SubscriptionStatus._value2member_map_)
    yield
    SubscriptionStatus._value2member_map_.clear()
    SubscriptionStatus._value2member_map_.update(saved)


@pytest.mark.usefixtures("status_cache")
def test_unknown_statuses_past_the_cap_still_structure() -> None:
    # The converter's fast path reads the same map: past the cap it takes the slow path.
    values = [f"state-{n}" for n in range(MAX_UNKNOWN_CACHED + 10)]

    def make(value: str) -> Any:
        return structure({"id": "s", "status": value}, SequenceSubscription)

    subs = [make(v) for v in values]
    assert [str(s.status) for s in subs] == values
    assert all(not s.status.is_known for s in subs)
    assert make("active").status is SubscriptionStatus.ACTIVE
