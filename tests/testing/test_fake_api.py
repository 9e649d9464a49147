"""Close's endpoints without HTTP: routing, validation, error bodies, bulk actions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from close_async.testing._api import (
    ApiResponse,
    CloseApi,
    Route,
    list_body,
    parse_group,
    parse_paging,
    resolve,
)
from close_async.testing._bulk import complete_bulk_action
from close_async.testing._errors import RejectedError
from close_async.testing._seed import make_state
from close_async.testing._state import FakeState

SUBS = Route("sequence_subscription", None)
SEQS = Route("sequence", None)
BULK = Route("bulk_action/sequence_subscription", None)


class Api:
    """A CloseApi with a small store, recording the bulk actions it starts."""

    def __init__(self, leads: int = 5, sequences: int = 2) -> None:
        self.state, _ = make_state(11, leads=leads, sequences=sequences)
        self.started: list[str] = []
        self.api = CloseApi(self.state, self.started.append)

    def call(
        self,
        method: str,
        route: Route,
        body: Any = None,
        **query: str,
    ) -> tuple[int, Any]:
        raw = b"" if body is None else json.dumps(body).encode()
        answer = self.api.handle(method, route, query, raw)
        return answer.status, json.loads(answer.body)


@pytest.fixture
def api() -> Api:
    return Api()


def a_contact(state: FakeState) -> str:
    lead = state.add_lead("Fresh")
    return state.add_contact(lead.id, "Ada", ["ada@example.com"]).id


def subscribe_body(state: FakeState, contact_id: str, **extra: Any) -> dict[str, Any]:
    user = state.default_user
    return {
        "sequence_id": state.sequences()[0]["id"],
        "contact_id": contact_id,
        "contact_email": "ada@example.com",
        "sender_account_id": user.email_account_id,
        "sender_email": user.email,
        "sender_name": user.name,
        **extra,
    }


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v1/sequence/", Route("sequence", None)),
        ("/api/v1/sequence", Route("sequence", None)),
        ("/api/v1/sequence/seq_1/", Route("sequence", "seq_1")),
        ("/api/v1/sequence_subscription/sub_1", Route("sequence_subscription", "sub_1")),
        ("/api/v1/bulk_action/sequence_subscription/", BULK),
        ("/api/v1/bulk_action/sequence_subscription/bulk_1/", Route(BULK.resource, "bulk_1")),
        ("/api/v1/lead/", None),
        ("/api/v1/", None),
        ("/api/v1/bulk_action/", None),
        ("/api/v1/sequence/seq_1/extra/", None),
        ("/other/sequence/", None),
    ],
)
def test_resolve(path: str, route: Route | None) -> None:
    assert resolve(path) == route


def test_parse_group_normalizes_and_checks() -> None:
    assert parse_group("get sequence_subscription/") == "GET sequence_subscription"
    assert parse_group("POST bulk_action/sequence_subscription") == (
        "POST bulk_action/sequence_subscription"
    )
    for bad in ("GET lead", "FETCH sequence", "sequence"):
        with pytest.raises(ValueError, match="unknown endpoint group"):
            parse_group(bad)


def test_parse_paging() -> None:
    assert parse_paging({}) == (0, 100)
    assert parse_paging({"_skip": "200", "_limit": "0"}) == (200, 0)
    assert parse_paging({"_limit": "100"}) == (0, 100)
    for query in ({"_limit": "101"}, {"_limit": "-1"}, {"_limit": "1.5"}, {"_skip": "-3"}):
        with pytest.raises(RejectedError) as caught:
            parse_paging(query)
        assert set(caught.value.body) == {"error"}


def test_list_body() -> None:
    assert json.loads(list_body(['{"id":1}', '{"id":2}'], True)) == {
        "data": [{"id": 1}, {"id": 2}],
        "has_more": True,
    }
    assert json.loads(list_body([], False)) == {"data": [], "has_more": False}


def test_listing_subscriptions_needs_a_filter(api: Api) -> None:
    status, body = api.call("GET", SUBS)
    assert status == 400
    assert "lead_id" in body["error"]
    assert api.call("GET", SUBS, lead_id="")[0] == 400


def test_listing_unknown_ids_is_an_empty_page_and_extra_params_are_ignored(api: Api) -> None:
    assert api.call("GET", SUBS, lead_id="lead_unknown", _fields="id", foo="bar") == (
        200,
        {"data": [], "has_more": False},
    )


def test_bad_limit_is_a_400(api: Api) -> None:
    lead = api.state.leads()[0].id
    assert api.call("GET", SUBS, lead_id=lead, _limit="101") == (
        400,
        {
            "error": "The limit you set is larger than the maximum limit for this resource "
            "(max_limit = 100)."
        },
    )
    assert api.call("GET", SEQS, _skip="x")[0] == 400


@pytest.mark.parametrize("route", [SUBS, SEQS, BULK])
def test_a_skip_beyond_max_skip_is_a_400_in_closes_words(route: Route) -> None:
    api = Api()
    api.api = CloseApi(api.state, api.started.append, max_skip=200)
    lead = api.state.leads()[0].id
    filters = {"lead_id": lead} if route == SUBS else {}
    assert api.call("GET", route, _skip="200", **filters)[0] == 200
    assert api.call("GET", route, _skip="201", **filters) == (
        400,
        {
            "error": "The skip you set is larger than the maximum skip for this resource "
            "(max_skip = 200)."
        },
    )


def test_create_a_subscription(api: Api) -> None:
    contact = a_contact(api.state)
    answer = api.api.handle(
        "POST", SUBS, {}, json.dumps(subscribe_body(api.state, contact)).encode()
    )
    assert isinstance(answer, ApiResponse)
    created = json.loads(answer.body)
    assert answer.status == 201
    assert answer.location == f"sequence_subscription/{created['id']}/"
    assert created["status"] == "active"
    assert created["lead_id"] == api.state.contact(contact).lead_id  # type: ignore[union-attr]
    assert api.call("GET", Route(SUBS.resource, created["id"])) == (200, created)
    status, listed = api.call("GET", SUBS, contact_id=contact)
    assert (status, listed["data"]) == (200, [created])


def test_subscribing_without_sender_fields_uses_the_default_user(api: Api) -> None:
    # Close's docs mark none of them required; the fake fills in its default user's.
    contact = a_contact(api.state)
    body = {"sequence_id": api.state.sequences()[0]["id"], "contact_id": contact}
    status, created = api.call("POST", SUBS, body)
    assert status == 201, created
    user = api.state.default_user
    assert (created["sender_account_id"], created["sender_email"], created["sender_name"]) == (
        user.email_account_id,
        user.email,
        user.name,
    )


def test_create_a_subscription_validates_like_close(api: Api) -> None:
    assert api.call("POST", SUBS, {}) == (
        400,
        {
            "errors": [],
            "field-errors": dict.fromkeys(("sequence_id", "contact_id"), "This field is required."),
        },
    )
    contact = a_contact(api.state)
    body = subscribe_body(api.state, contact, calls_assigned_to="user_1")
    assert api.call("POST", SUBS, body)[1]["field-errors"] == {
        "calls_assigned_to": "Not a valid list."
    }
    body = subscribe_body(api.state, contact, sender_name=7)
    assert api.call("POST", SUBS, body)[1]["field-errors"] == {"sender_name": "Not a valid string."}
    body = subscribe_body(api.state, contact)
    assert api.call("POST", SUBS, body)[0] == 201
    assert api.call("POST", SUBS, body) == (
        400,
        {
            "errors": ["This contact has already been subscribed to this sequence."],
            "field-errors": {},
        },
    )


def test_bad_json_bodies(api: Api) -> None:
    answer = api.api.handle("POST", SUBS, {}, b"{not json")
    assert (answer.status, json.loads(answer.body)) == (
        400,
        {"error": "Request body is not valid JSON."},
    )
    assert api.call("POST", SUBS, [1, 2])[0] == 400


def test_update_a_subscription_is_partial(api: Api) -> None:
    contact = a_contact(api.state)
    sub = api.call("POST", SUBS, subscribe_body(api.state, contact))[1]
    one = Route(SUBS.resource, sub["id"])
    status, paused = api.call("PUT", one, {"status": "paused"})
    assert (status, paused["status"], paused["status_reason"]) == (200, "paused", "manual")
    assert paused["sender_name"] == sub["sender_name"]
    status, resumed = api.call("PUT", one, {"status": "active", "sender_name": "New Name"})
    assert (resumed["status"], resumed["status_reason"], resumed["sender_name"]) == (
        "active",
        None,
        "New Name",
    )
    status, body = api.call("PUT", one, {"status": "finished", "sender_email": 5})
    assert (status, body["field-errors"]) == (
        400,
        {"status": '"finished" is not a valid choice.', "sender_email": "Not a valid string."},
    )
    assert api.call("PUT", one, {"id": "sub_other", "unknown": 1})[1]["id"] == sub["id"]


def test_delete_a_subscription(api: Api) -> None:
    contact = a_contact(api.state)
    sub = api.call("POST", SUBS, subscribe_body(api.state, contact))[1]
    one = Route(SUBS.resource, sub["id"])
    assert api.call("DELETE", one) == (200, {})
    for method in ("GET", "PUT", "DELETE"):
        assert api.call(method, one, {}) == (404, {"error": "Not found."})


def test_unknown_method_is_a_405(api: Api) -> None:
    assert api.call("DELETE", SUBS)[0] == 405
    assert api.call("DELETE", Route(BULK.resource, "bulk_x"))[0] == 405


def test_sequences_crud(api: Api) -> None:
    status, body = api.call("POST", SEQS, {"name": "No timezone"})
    assert (status, body) == (
        400,
        {"errors": [], "field-errors": {"timezone": "This field is required."}},
    )
    status, seq = api.call(
        "POST",
        SEQS,
        {
            "name": "My Sequence",
            "timezone": "America/Los_Angeles",
            "schedule": {"ranges": [{"weekday": 1, "start": "09:00", "end": "16:59"}]},
            "steps": [{"step_type": "call", "delay": 0, "required": True}, {"delay": 86400}],
        },
    )
    assert status == 200
    assert (seq["status"], [s["step_type"] for s in seq["steps"]]) == ("active", ["call", "email"])
    assert seq["subscription_counts_by_status"] == dict.fromkeys(
        ("active", "error", "finished", "goal", "paused"), 0
    )
    one = Route("sequence", seq["id"])
    status, updated = api.call("PUT", one, {"name": "Renamed", "steps": [seq["steps"][1]]})
    assert (updated["name"], len(updated["steps"]), updated["timezone"]) == (
        "Renamed",
        1,
        "America/Los_Angeles",
    )
    assert "subscription_counts_by_status" in updated
    listed = api.call("GET", SEQS, _skip="2")[1]["data"]
    assert [s["id"] for s in listed] == [seq["id"]]
    assert "subscription_counts_by_status" not in listed[0]
    assert api.call("PUT", one, {"schedule": {"ranges": [{"weekday": 9}]}})[0] == 400
    assert api.call("PUT", one, {"steps": "all"}) == (
        400,
        {"error": "steps must be a list of step objects."},
    )
    assert api.call("PUT", one, {"steps": [{"delay": 10**9}]})[1] == {
        "error": "Step delay cannot be longer than 365 days."
    }
    assert api.call("DELETE", one) == (200, {})
    assert api.call("GET", one)[0] == 404


def test_bulk_action_validation(api: Api) -> None:
    assert api.call("POST", BULK, {})[1]["field-errors"] == {
        "action_type": "This field is required."
    }
    assert api.call("POST", BULK, {"action_type": "explode"})[1]["field-errors"] == {
        "action_type": '"explode" is not a valid choice.'
    }
    assert set(api.call("POST", BULK, {"action_type": "subscribe"})[1]["field-errors"]) == {
        "sequence_id",
        "sender_account_id",
        "sender_name",
        "sender_email",
        "contact_preference",
    }
    body = {"action_type": "pause", "sequence_id": "seq_nope", "results_limit": -1}
    assert api.call("POST", BULK, body)[1]["field-errors"] == {
        "sequence_id": "Object does not exist.",
        "results_limit": "A valid integer is required.",
    }
    assert api.started == []


def bulk(api: Api, **body: Any) -> dict[str, Any]:
    status, created = api.call("POST", BULK, body)
    assert status == 200, created
    assert created["status"] == "created"
    assert api.started[-1] == created["id"]
    complete_bulk_action(api.state, created["id"])
    return api.call("GET", Route(BULK.resource, created["id"]))[1]  # type: ignore[no-any-return]


def test_a_bulk_action_in_progress_can_be_paused_and_resumed(api: Api) -> None:
    stopped: list[str] = []
    api.api = CloseApi(api.state, api.started.append, stopped.append)
    status, created = api.call("POST", BULK, {"action_type": "pause"})
    assert status == 200
    one = Route(BULK.resource, created["id"])
    status, paused = api.call("PUT", one, {"status": "paused"})
    assert (status, paused["status"]) == (200, "paused")
    assert stopped == [created["id"]]  # the server stops moving it on
    assert api.call("PUT", one, {"status": "paused"})[0] == 400  # paused already
    status, resumed = api.call("PUT", one, {"status": "resuming"})
    assert (status, resumed["status"]) == (200, "resuming")
    assert api.started == [created["id"], created["id"]]  # and moves it on again
    complete_bulk_action(api.state, created["id"])
    assert api.call("PUT", one, {"status": "paused"}) == (
        400,
        {"error": "A bulk action in status done cannot be paused."},
    )
    assert api.call("PUT", one, {"status": "done"})[1]["field-errors"] == {
        "status": '"done" is not a valid choice.'
    }
    assert api.call("PUT", Route(BULK.resource, "bulk_nope"), {"status": "paused"})[0] == 404


def test_bulk_pause_and_resume_by_sequence() -> None:
    api = Api(leads=40, sequences=3)
    seq = api.state.sequences()[0]["id"]
    other = api.state.sequences()[1]["id"]
    active = [s["id"] for s in api.state.subscriptions(sequence_id=seq) if s["status"] == "active"]
    other_before = [dict(s) for s in api.state.subscriptions(sequence_id=other)]
    done = bulk(api, action_type="pause", sequence_id=seq)
    assert (done["status"], done["n_objects"], done["n_objects_processed"]) == (
        "done",
        len(active),
        len(active),
    )
    for sub_id in active:
        sub = api.state.subscription(sub_id)
        assert sub is not None
        assert (sub["status"], sub["status_reason"]) == ("paused", "bulk-action")
    assert [dict(s) for s in api.state.subscriptions(sequence_id=other)] == other_before
    assert api.state.subscription_counts(seq)["active"] == 0
    paused = [s["id"] for s in api.state.subscriptions(sequence_id=seq) if s["status"] == "paused"]
    done = bulk(api, action_type="resume", sequence_id=seq)
    assert done["n_objects"] == len(paused)
    assert all(
        api.state.subscription(i)["status"] == "active"  # type: ignore[index]
        for i in paused
    )


def test_bulk_resume_finished_for_all_sequences_with_a_lead_limit() -> None:
    api = Api(leads=40, sequences=3)
    finished = [s for s in api.state.subscriptions() if s["status"] == "finished"]
    first_lead = finished[0]["lead_id"]
    done = bulk(api, action_type="resume_finished", results_limit=1)
    changed = [s for s in finished if s["lead_id"] == first_lead]
    assert (done["n_leads"], done["n_objects"]) == (1, len(changed))
    assert all(s["status"] == "active" for s in changed)
    done = bulk(api, action_type="resume_finished")
    assert not [s for s in api.state.subscriptions() if s["status"] == "finished"]


def test_bulk_subscribe_uses_the_contact_preference() -> None:
    api = Api(leads=0, sequences=1)
    seq = api.state.sequences()[0]["id"]
    two = api.state.add_lead("Two contacts")
    for name in ("A", "B"):
        api.state.add_contact(two.id, name, [f"{name.lower()}@example.com"])
    one = api.state.add_lead("Already in")
    contact = api.state.add_contact(one.id, "C", ["c@example.com"])
    api.state.create_subscription(sequence_id=seq, contact_id=contact.id)
    user = api.state.users[1]
    sender = {
        "sequence_id": seq,
        "sender_account_id": user.email_account_id,
        "sender_email": user.email,
        "sender_name": user.name,
    }
    done = bulk(api, action_type="subscribe", contact_preference="lead", **sender)
    assert (done["n_leads"], done["n_objects"]) == (1, 1)
    (sub,) = api.state.subscriptions(lead_id=two.id)
    assert (sub["contact_email"], sub["sender_name"]) == ("a@example.com", user.name)
    # The lead is now subscribed, so "contact" preference finds nothing left to do.
    assert (
        bulk(api, action_type="subscribe", contact_preference="contact", **sender)["n_objects"] == 0
    )
    three = api.state.add_lead("Three")
    for name in ("D", "E", "F"):
        api.state.add_contact(three.id, name, [f"{name.lower()}@example.com"])
    done = bulk(api, action_type="subscribe", contact_preference="contact", **sender)
    assert (done["n_leads"], done["n_objects"]) == (1, 3)


def test_bulk_reassign_changes_senders_of_running_subscriptions() -> None:
    api = Api(leads=30, sequences=2)
    running = {s["id"] for s in api.state.subscriptions() if s["status"] in ("active", "paused")}
    done = bulk(api, action_type="reassign", sender_name="Ops", calls_assigned_to=["user_x"])
    assert done["n_objects"] == len(running)
    for sub in api.state.subscriptions():
        changed = (sub["sender_name"], sub["calls_assigned_to"]) == ("Ops", ["user_x"])
        assert changed == (sub["id"] in running)


def test_bulk_action_on_a_deleted_sequence_ends_in_error() -> None:
    api = Api(leads=0, sequences=1)
    seq = api.state.sequences()[0]["id"]
    api.state.add_contact(api.state.add_lead("L").id, "C", ["c@example.com"])
    user = api.state.default_user
    _, created = api.call(
        "POST",
        BULK,
        {
            "action_type": "subscribe",
            "sequence_id": seq,
            "contact_preference": "lead",
            "sender_account_id": user.email_account_id,
            "sender_email": user.email,
            "sender_name": user.name,
        },
    )
    api.state.delete_sequence(seq)
    complete_bulk_action(api.state, created["id"])
    assert api.state.bulk_action(created["id"])["status"] == "error"  # type: ignore[index]
    complete_bulk_action(api.state, "bulk_gone")  # Nothing to do, no error.


def test_bulk_actions_list_and_fetch(api: Api) -> None:
    created = [api.call("POST", BULK, {"action_type": "pause"})[1] for _ in range(3)]
    status, listed = api.call("GET", BULK, _limit="2")
    assert (status, [b["id"] for b in listed["data"]], listed["has_more"]) == (
        200,
        [b["id"] for b in created[:2]],
        True,
    )
    fetched = api.call("GET", Route(BULK.resource, created[0]["id"]))[1]
    assert fetched == created[0]
    assert set(fetched) >= {
        "action_type",
        "contact_preference",
        "created_by",
        "n_leads_processed",
        "s_query",
        "send_done_email",
        "sort",
        "status",
        "updated_by",
    }
    assert (fetched["s_query"], fetched["sort"], fetched["send_done_email"]) == ({}, [], True)


def test_unknown_sequences_and_odd_bodies(api: Api) -> None:
    one = Route("sequence", "seq_nope")
    assert api.call("PUT", one, {"name": "x"})[0] == 404
    assert api.call("DELETE", one)[0] == 404
    seq = Route("sequence", api.state.sequences()[0]["id"])
    assert api.call("PUT", seq, {"schedule": "weekdays"})[1]["field-errors"] == {
        "schedule": 'Invalid schedule: expected {"ranges": [{weekday, start, end}]}.'
    }
    assert api.call("PUT", seq, {"schedule": None})[1]["schedule"] is None
    answer = api.api.handle("PUT", seq, {}, b"  ")  # An empty body changes nothing.
    assert answer.status == 200
    body = {"action_type": "subscribe", "contact_preference": "everyone"}
    errors = api.call("POST", BULK, body)[1]["field-errors"]
    assert errors["contact_preference"] == '"everyone" is not a valid choice.'


def test_bulk_subscribe_skips_leads_without_emails_and_honours_results_limit() -> None:
    api = Api(leads=0, sequences=1)
    seq = api.state.sequences()[0]["id"]
    silent = api.state.add_lead("No emails")
    api.state.add_contact(silent.id, "Mute", [])
    for n in range(3):
        api.state.add_contact(api.state.add_lead(f"L{n}").id, "C", [f"c{n}@example.com"])
    user = api.state.default_user
    done = bulk(
        api,
        action_type="subscribe",
        contact_preference="lead",
        results_limit=2,
        sequence_id=seq,
        sender_account_id=user.email_account_id,
        sender_email=user.email,
        sender_name=user.name,
    )
    assert (done["n_leads"], done["n_objects"]) == (2, 2)
    assert api.state.subscriptions(lead_id=silent.id) == []
    assert [b["id"] for b in api.state.bulk_actions()] == [done["id"]]
