"""``fields=`` (Close's ``_fields``): partial models, the checks, and the fake's ``_fields``."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import aiohttp
import attrs
import pytest
from aioresponses import aioresponses

from close_async import (
    CloseClient,
    CloseError,
    FieldNotLoadedError,
    Sequence,
    SequenceSubscription,
    SubscriptionStatus,
    SyncCloseClient,
    loaded_fields,
    unstructure,
)
from close_async._convert import structure, structure_many
from close_async._fields import check_fields, fields_param
from close_async.testing import FakeClose

from .test_convert import SUB

ASKED = ("lead_id", "status")
LOADED = frozenset({"id", "lead_id", "status"})


async def _get_json(fake: FakeClose, path: str, **query: str) -> Any:
    headers = {"Authorization": fake.authorization}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(fake.url + path, params=query) as answer,
    ):
        assert answer.status == 200
        return await answer.json()


# -- the fake's _fields ----------------------------------------------------------------------


async def test_fake_answers_lists_and_fetches_with_the_fields_asked_for(fake: FakeClose) -> None:
    sub_id = fake.add_subscriptions(lead_id="lead_f", count=3)[0]
    seq_id = fake.state.sequences()[0]["id"]
    page = await _get_json(fake, "sequence_subscription/", lead_id="lead_f", _fields="id,status")
    assert [set(item) for item in page["data"]] == [{"id", "status"}] * 3
    assert page["has_more"] is False
    one = await _get_json(fake, f"sequence_subscription/{sub_id}/", _fields="lead_id")
    assert one == {"lead_id": "lead_f"}
    seqs = await _get_json(fake, "sequence/", _fields="id,name")
    assert all(set(item) == {"id", "name"} for item in seqs["data"])
    counts = await _get_json(fake, f"sequence/{seq_id}/", _fields="subscription_counts_by_status")
    assert set(counts) == {"subscription_counts_by_status"}


async def test_fake_fields_on_bulk_actions(fake: FakeClose, close: CloseClient) -> None:
    action = await close.bulk_actions.sequence_subscriptions.create(
        action_type="pause", s_query={"type": "and", "queries": []}
    )
    page = await _get_json(fake, "bulk_action/sequence_subscription/", _fields="id,status")
    assert [set(item) for item in page["data"]] == [{"id", "status"}]
    one = await _get_json(fake, f"bulk_action/sequence_subscription/{action.id}/", _fields="id")
    assert one == {"id": action.id}


async def test_fake_ignores_unknown_names_and_an_empty_fields(fake: FakeClose) -> None:
    # Close does not document what it does with a name the object lacks: lenient.
    fake.add_subscriptions(lead_id="lead_u", count=1)
    page = await _get_json(fake, "sequence_subscription/", lead_id="lead_u", _fields="id,nope")
    assert [set(item) for item in page["data"]] == [{"id"}]
    full = await _get_json(fake, "sequence_subscription/", lead_id="lead_u", _fields="")
    assert "date_created" in full["data"][0]


# -- the client: list and get ----------------------------------------------------------------


async def test_list_with_fields_gives_partial_models(fake: FakeClose, close: CloseClient) -> None:
    ids = fake.add_subscriptions(lead_id="lead_p", count=150)  # two pages
    subs = [s async for s in close.sequence_subscriptions.list(lead_id="lead_p", fields=ASKED)]
    assert [s.id for s in subs] == ids
    assert all(isinstance(s, SequenceSubscription) for s in subs)
    assert {loaded_fields(s) for s in subs} == {LOADED}  # id added; the fake sent no more
    assert subs[0].lead_id == "lead_p"
    assert isinstance(subs[0].status, SubscriptionStatus)
    stored = fake.state.subscriptions(lead_id="lead_p")
    assert [s.status for s in subs] == [record["status"] for record in stored]


async def test_reading_a_field_not_asked_for_raises(fake: FakeClose, close: CloseClient) -> None:
    sub_id = fake.add_subscriptions(lead_id="lead_r", count=1)[0]
    sub = await close.sequence_subscriptions.get(sub_id, fields=ASKED)
    with pytest.raises(FieldNotLoadedError) as info:
        _ = sub.date_created  # never None for "not loaded"
    error = info.value
    assert isinstance(error, AttributeError)
    assert isinstance(error, CloseError)
    assert error.name == "date_created"
    assert "SequenceSubscription.date_created was not loaded" in str(error)
    assert "fields=" in str(error)
    assert "id, lead_id, status" in str(error)
    assert not hasattr(sub, "start_date")
    assert getattr(sub, "contact_id", "absent") == "absent"
    with pytest.raises(AttributeError) as other:
        _ = sub.no_such_field  # type: ignore[attr-defined]
    assert not isinstance(other.value, FieldNotLoadedError)


async def test_get_sequence_with_fields(fake: FakeClose, close: CloseClient) -> None:
    seq_id = fake.state.sequences()[0]["id"]
    seq = await close.sequences.get(seq_id, fields=("subscription_counts_by_status",))
    assert loaded_fields(seq) == {"id", "subscription_counts_by_status"}
    assert seq.subscription_counts_by_status == fake.state.subscription_counts(seq_id)
    with pytest.raises(FieldNotLoadedError):
        _ = seq.steps
    listed = [s async for s in close.sequences.list(fields=["name"])]
    assert [s.name for s in listed] == [s["name"] for s in fake.state.sequences()]
    assert all(loaded_fields(s) == {"id", "name"} for s in listed)


async def test_full_models_hold_every_field(fake: FakeClose, close: CloseClient) -> None:
    fake.add_subscriptions(lead_id="lead_all", count=1)
    (sub,) = [s async for s in close.sequence_subscriptions.list(lead_id="lead_all")]
    assert type(sub) is SequenceSubscription
    every = {field.name for field in attrs.fields(SequenceSubscription)} - {"extra"}
    assert loaded_fields(sub) == every


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        (("id", "stauts"), ValueError, "SequenceSubscription has no field 'stauts'"),
        (("extra",), ValueError, "no field 'extra'"),
        ("status", TypeError, "not str"),
        (("status", 3), TypeError, "not 3"),
        (42, TypeError, "not int"),
    ],
)
async def test_bad_fields_fail_before_any_request(
    fake: FakeClose, close: CloseClient, fields: Any, error: type[Exception], message: str
) -> None:
    fake.reset_stats()
    with pytest.raises(error, match=message):
        close.sequence_subscriptions.list(lead_id="lead_1", fields=fields)
    with pytest.raises(error, match=message):
        await close.sequence_subscriptions.get("sub_1", fields=fields)
    assert fake.stats.requests == 0


def test_fields_param_is_in_the_models_order_with_id() -> None:
    checked = check_fields(["status", "lead_id", "status"], SequenceSubscription)
    assert checked is not None
    assert checked == LOADED
    assert fields_param(checked, SequenceSubscription) == "id,lead_id,status"
    assert check_fields(None, SequenceSubscription) is None
    assert check_fields((), Sequence) == frozenset({"id"})


async def test_the_request_carries_fields() -> None:
    async with CloseClient("key", base_url="http://127.0.0.1:9/api/v1/") as close:
        with aioresponses() as mocked:
            url = "http://127.0.0.1:9/api/v1/sequence_subscription/sub_1/?_fields=id,lead_id,status"
            mocked.get(url, payload={"id": "sub_1", "lead_id": "lead_1", "status": "paused"})
            sub = await close.sequence_subscriptions.get("sub_1", fields=ASKED)
    assert sub.status is SubscriptionStatus.PAUSED


def test_sync_client_takes_fields(fake_close: FakeClose) -> None:
    sub_id = fake_close.add_subscriptions(lead_id="lead_s", count=2)[0]
    with SyncCloseClient(fake_close.api_key, base_url=fake_close.url) as close:
        subs = list(close.sequence_subscriptions.list(lead_id="lead_s", fields=["status"]))
        one = close.sequence_subscriptions.get(sub_id, fields=["status"])
    assert [loaded_fields(s) for s in subs] == [{"id", "status"}] * 2
    assert loaded_fields(one) == {"id", "status"}


# -- what Close may send besides what was asked for -------------------------------------------


def test_a_field_asked_for_but_not_sent_is_its_default() -> None:
    sub = structure({"id": "sub_1"}, SequenceSubscription, fields=frozenset({"id", "pause_reason"}))
    assert sub.pause_reason is None  # asked for: Close's "absent" means "none", as in full records
    assert loaded_fields(sub) == {"id", "pause_reason"}


def test_more_than_asked_for_is_kept_and_converted() -> None:
    asked = frozenset({"id", "status"})
    items = [
        {"id": "sub_1", "status": "active", "date_created": "2022-03-10T14:40:27.442448"},
        {"id": "sub_2", "status": "paused", "brand_new": [1]},
        {**SUB, "pause_reason": None},  # Close ignored _fields: every field
    ]
    more, unknown, whole = structure_many(items, SequenceSubscription, owned=True, fields=asked)
    assert loaded_fields(more) == {"id", "status", "date_created"}
    assert more.date_created is not None
    assert more.date_created.tzinfo is not None
    assert loaded_fields(unknown) == asked
    assert unknown.extra == {"brand_new": (1,)}
    assert type(whole) is SequenceSubscription  # complete: a full model
    assert whole == structure(SUB, SequenceSubscription)
    (same,) = structure_many([dict(SUB)], SequenceSubscription, fields=asked)
    assert loaded_fields(same) == loaded_fields(whole) - {"pause_reason"}  # not sent: not loaded


def test_partial_models_fail_with_the_field_path() -> None:
    from close_async._convert import StructureError

    with pytest.raises(StructureError) as info:
        structure_many(
            [{"id": "a", "status": "active"}, {"id": "b", "status": 7}],
            SequenceSubscription,
            fields=frozenset({"id", "status"}),
        )
    assert info.value.field == "$.data[1].status"
    with pytest.raises(StructureError, match=r"\$\.id: required field missing"):
        structure({"status": "active"}, SequenceSubscription, fields=frozenset({"id", "status"}))


# -- partial models as values -----------------------------------------------------------------


def _partial(**overrides: Any) -> SequenceSubscription:
    data = {"id": "sub_1", "lead_id": "lead_1", "status": "active", **overrides}
    return structure(data, SequenceSubscription, fields=LOADED)


def test_partial_models_repr_eq_hash() -> None:
    sub = _partial()
    assert repr(sub) == (
        "SequenceSubscription(id='sub_1', lead_id='lead_1', "
        "status=<SubscriptionStatus.ACTIVE: 'active'>, ...)"
    )
    assert sub == _partial()
    assert hash(sub) == hash(_partial())
    assert sub != _partial(status="paused")
    narrower = structure(
        {"id": "sub_1", "lead_id": "lead_1"},
        SequenceSubscription,
        fields=frozenset({"id", "lead_id"}),
    )
    assert sub != narrower  # other fields loaded: another value
    full = structure({**SUB, "id": "sub_1", "status": "active"}, SequenceSubscription)
    assert sub != full
    assert full != sub
    assert len({sub, _partial(), narrower}) == 2


@pytest.mark.parametrize(
    "clone",
    [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy, copy.copy],
    ids=["pickle", "deepcopy", "copy"],
)
def test_partial_models_pickle_and_copy(clone: Any) -> None:
    sub = _partial(new_field={"x": 1})
    cloned = clone(sub)
    assert cloned == sub
    assert type(cloned) is type(sub)
    assert loaded_fields(cloned) == LOADED
    assert cloned.extra == {"new_field": {"x": 1}}
    with pytest.raises(FieldNotLoadedError):
        _ = cloned.contact_id


def test_partial_models_unstructure_to_what_they_hold() -> None:
    data = unstructure(_partial(new_field=1))
    assert data == {"id": "sub_1", "lead_id": "lead_1", "status": "active", "new_field": 1}


# -- fields= on the bulk reads ---------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["per_id", "by_sequence", "auto"])
async def test_list_many_with_fields_yields_the_same_subscriptions_partially(
    fake: FakeClose, close: CloseClient, strategy: Any
) -> None:
    lead_ids = [lead.id for lead in fake.state.leads()]
    full = {
        sub.id: sub
        async for sub in close.sequence_subscriptions.list_many(
            lead_ids=lead_ids, strategy=strategy
        )
    }
    fake.reset_stats()
    partial = [
        sub
        async for sub in close.sequence_subscriptions.list_many(
            lead_ids=lead_ids, strategy=strategy, fields=("status",)
        )
    ]
    assert {sub.id for sub in partial} == set(full) != set()
    # Only what was asked for, and what a read by sequence filters on.
    extra = set() if strategy == "per_id" else {"lead_id", "status_reason"}
    for sub in partial:
        assert set(loaded_fields(sub)) == {"id", "status"} | extra
        assert sub.status == full[sub.id].status
        with pytest.raises(FieldNotLoadedError):
            _ = sub.sender_email
    assert fake.stats.body_bytes > 0  # the fake served the partial pages


async def test_list_all_with_fields(fake: FakeClose, close: CloseClient) -> None:
    everything = {sub.id async for sub in close.sequence_subscriptions.list_all()}
    subs = [sub async for sub in close.sequence_subscriptions.list_all(fields=["lead_id"])]
    assert {sub.id for sub in subs} == everything != set()
    # Only what was asked for: a read of whole sequences filters on no field.
    assert {frozenset(loaded_fields(sub)) for sub in subs} == {frozenset({"id", "lead_id"})}


async def test_bulk_reads_check_fields_before_any_request(
    fake: FakeClose, close: CloseClient
) -> None:
    with pytest.raises(ValueError, match="no field 'nope'"):
        close.sequence_subscriptions.list_many(lead_ids=["lead_1"], fields=["nope"])
    with pytest.raises(TypeError, match="fields must be a list"):
        close.sequence_subscriptions.list_all(fields="status")
    assert fake.stats.requests == 0
