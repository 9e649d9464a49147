"""The in-memory store: writes, indexes, ordering, counts, cached JSON, Close's rules."""

from __future__ import annotations

import json
import random
from datetime import datetime

import pytest

from close_async.testing._errors import RejectedError
from close_async.testing._model import MAX_STEP_DELAY, IdFactory
from close_async.testing._seed import Seeder, make_state
from close_async.testing._state import FakeState, page


@pytest.fixture
def seeded() -> tuple[FakeState, Seeder]:
    return make_state(5, leads=0, sequences=2)


@pytest.fixture
def state(seeded: tuple[FakeState, Seeder]) -> FakeState:
    return seeded[0]


def lead_with_contacts(state: FakeState, n: int) -> list[str]:
    lead = state.add_lead("Acme")
    return [state.add_contact(lead.id, f"C{i}", [f"c{i}@example.com"]).id for i in range(n)]


def test_page_slices_and_reports_has_more() -> None:
    ids = [str(n) for n in range(250)]
    assert page(ids, 0, 100) == (ids[:100], True)
    assert page(ids, 200, 100) == (ids[200:], False)
    assert page(ids, 150, 100) == (ids[150:], False)
    assert page(ids, 300, 100) == ([], False)
    assert page(ids[:100], 0, 100) == (ids[:100], False)


def test_timestamps_are_strictly_increasing_and_close_formatted(state: FakeState) -> None:
    stamps = [state.timestamp() for _ in range(100)]
    assert stamps == sorted(set(stamps))
    assert datetime.strptime(stamps[0], "%Y-%m-%dT%H:%M:%S.%f")
    assert state.timestamp(datetime(2020, 1, 1)) == "2020-01-01T00:00:00.000000"


def test_create_and_read_a_subscription(state: FakeState) -> None:
    seq = state.sequences()[0]["id"]
    (contact,) = lead_with_contacts(state, 1)
    sub_id = state.create_subscription(sequence_id=seq, contact_id=contact)
    sub = state.subscription(sub_id)
    assert sub is not None
    user = state.default_user
    assert dict(sub) == {
        "id": sub_id,
        "sequence_id": seq,
        "contact_id": contact,
        "contact_email": "c0@example.com",
        "lead_id": state.contact(contact).lead_id,  # type: ignore[union-attr]
        "organization_id": state.organization_id,
        "sender_account_id": user.email_account_id,
        "sender_email": user.email,
        "sender_name": user.name,
        "calls_assigned_to": [],
        "start_date": None,
        "status": "active",
        "status_reason": None,
        "created_by_id": user.id,
        "updated_by_id": user.id,
        "date_created": sub["date_created"],
        "date_updated": sub["date_created"],
    }
    assert json.loads(state.subscription_json(sub_id) or "") == dict(sub)
    with pytest.raises(TypeError):
        sub["status"] = "paused"  # type: ignore[index]


def test_close_refuses_a_second_subscription_to_the_same_sequence(state: FakeState) -> None:
    seq = state.sequences()[0]["id"]
    (contact,) = lead_with_contacts(state, 1)
    sub_id = state.create_subscription(sequence_id=seq, contact_id=contact, status="finished")
    with pytest.raises(RejectedError) as caught:
        state.create_subscription(sequence_id=seq, contact_id=contact)
    assert caught.value.body["field-errors"] == {}
    assert caught.value.body["errors"] == [
        "This contact has already been subscribed to this sequence."
    ]
    # Deleting the record makes room again.
    state.delete_subscription(sub_id)
    state.create_subscription(sequence_id=seq, contact_id=contact)


def test_unknown_sequence_and_contact_are_field_errors(state: FakeState) -> None:
    with pytest.raises(RejectedError) as caught:
        state.create_subscription(sequence_id="seq_nope", contact_id="cont_nope")
    assert caught.value.body == {
        "errors": [],
        "field-errors": {
            "sequence_id": "Object does not exist.",
            "contact_id": "Object does not exist.",
        },
    }
    assert isinstance(caught.value, ValueError)


def test_a_contact_without_email_needs_contact_email(state: FakeState) -> None:
    lead = state.add_lead("No email")
    contact = state.add_contact(lead.id, "Nobody", [])
    seq = state.sequences()[0]["id"]
    with pytest.raises(RejectedError, match="contact_email"):
        state.create_subscription(sequence_id=seq, contact_id=contact.id)
    sub_id = state.create_subscription(
        sequence_id=seq, contact_id=contact.id, contact_email="x@example.com"
    )
    assert state.subscription(sub_id)["contact_email"] == "x@example.com"  # type: ignore[index]


def test_filters_are_anded_and_lists_ordered_by_creation(state: FakeState) -> None:
    seq_a, seq_b = (s["id"] for s in state.sequences())
    c1, c2 = lead_with_contacts(state, 2)
    (c3,) = lead_with_contacts(state, 1)
    made = [
        state.create_subscription(sequence_id=seq, contact_id=c)
        for c, seq in ((c1, seq_a), (c1, seq_b), (c2, seq_a), (c3, seq_a))
    ]
    lead = state.contact(c1).lead_id  # type: ignore[union-attr]

    def ids(**filters: str) -> list[str]:
        return [s["id"] for s in state.subscriptions(**filters)]

    assert ids(lead_id=lead) == made[:3]
    assert ids(sequence_id=seq_a) == [made[0], made[2], made[3]]
    assert ids(lead_id=lead, sequence_id=seq_a) == [made[0], made[2]]
    assert ids(contact_id=c1, sequence_id=seq_b) == [made[1]]
    assert ids(contact_id=c3, sequence_id=seq_b) == []
    assert ids(lead_id="lead_unknown") == []
    assert ids() == made
    texts, has_more = state.page_subscriptions(1, 1, lead_id=lead)
    assert ([json.loads(t)["id"] for t in texts], has_more) == ([made[1]], True)


def test_records_added_with_older_dates_are_listed_in_date_order(state: FakeState) -> None:
    seq = state.sequences()[0]["id"]
    c1, c2, c3 = lead_with_contacts(state, 3)
    late = state.create_subscription(sequence_id=seq, contact_id=c1, at=datetime(2024, 1, 3))
    early = state.create_subscription(sequence_id=seq, contact_id=c2, at=datetime(2024, 1, 1))
    middle = state.create_subscription(sequence_id=seq, contact_id=c3, at=datetime(2024, 1, 2))
    assert [s["id"] for s in state.subscriptions(sequence_id=seq)] == [early, middle, late]
    state.delete_subscription(middle)
    assert [s["id"] for s in state.subscriptions(sequence_id=seq)] == [early, late]


def test_updates_change_the_record_its_json_and_the_counts(state: FakeState) -> None:
    seq = state.sequences()[0]["id"]
    c1, c2 = lead_with_contacts(state, 2)
    sub_id = state.create_subscription(sequence_id=seq, contact_id=c1)
    state.create_subscription(sequence_id=seq, contact_id=c2, status="goal")
    before = json.loads(state.subscription_json(sub_id) or "")
    assert state.subscription_counts(seq) == {
        "active": 1,
        "error": 0,
        "finished": 0,
        "goal": 1,
        "paused": 0,
    }
    state.update_subscription(sub_id, {"status": "paused", "status_reason": "manual"})
    after = json.loads(state.subscription_json(sub_id) or "")
    assert (after["status"], after["status_reason"]) == ("paused", "manual")
    assert after["date_updated"] > before["date_updated"]
    assert after["date_created"] == before["date_created"]
    assert state.subscription_counts(seq)["active"] == 0
    assert state.subscription_counts(seq)["paused"] == 1
    with pytest.raises(RejectedError, match="status"):
        state.update_subscription(sub_id, {"status": "sleeping"})
    state.delete_subscription(sub_id)
    assert state.subscription(sub_id) is None
    assert state.subscription_json(sub_id) is None
    assert state.subscription_counts(seq)["paused"] == 0
    assert [s["contact_id"] for s in state.subscriptions(sequence_id=seq)] == [c2]


def test_a_deleted_sequences_subscriptions_stay_marked_sequence_deleted(
    state: FakeState,
) -> None:
    seq_a, seq_b = (s["id"] for s in state.sequences())
    (contact,) = lead_with_contacts(state, 1)
    orphan = state.create_subscription(sequence_id=seq_a, contact_id=contact, status="paused")
    kept = state.create_subscription(sequence_id=seq_b, contact_id=contact)
    before = state.subscription(orphan)
    assert before is not None
    updated_before = before["date_updated"]
    state.delete_sequence(seq_a)
    assert state.sequence(seq_a) is None
    assert state.sequence_json(seq_a) is None
    assert [s["id"] for s in state.sequences()] == [seq_b]
    # Still listed by contact, lead and the deleted sequence's id, marked, status unchanged.
    assert [s["id"] for s in state.subscriptions(contact_id=contact)] == [orphan, kept]
    assert [s["id"] for s in state.subscriptions(sequence_id=seq_a)] == [orphan]
    after = state.subscription(orphan)
    assert after is not None
    assert (after["status"], after["status_reason"]) == ("paused", "sequence-deleted")
    assert after["date_updated"] > updated_before
    assert json.loads(state.subscription_json(orphan) or "")["status_reason"] == "sequence-deleted"
    # It can still be changed and deleted, though its sequence has no counts any more.
    state.update_subscription(orphan, {"status": "active"})
    state.delete_subscription(orphan)
    assert [s["id"] for s in state.subscriptions(contact_id=contact)] == [kept]


def test_sequence_json_carries_counts_and_lists_do_not(state: FakeState) -> None:
    seq = state.sequences()[0]["id"]
    one = json.loads(state.sequence_json(seq) or "")
    assert one["subscription_counts_by_status"]["active"] == 0
    texts, has_more = state.page_sequences(0, 100)
    listed = [json.loads(t) for t in texts]
    assert not has_more
    assert [s["id"] for s in listed] == [s["id"] for s in state.sequences()]
    assert all("subscription_counts_by_status" not in s for s in listed)


def test_sequence_step_updates_keep_edit_add_and_drop(state: FakeState) -> None:
    seq_id = state.create_sequence(
        name="Steps",
        timezone="Europe/Berlin",
        steps=[{"delay": 0}, {"step_type": "call", "delay": 86400}, {"delay": 172800}],
    )
    first, second, third = (s["id"] for s in state.sequence(seq_id)["steps"])  # type: ignore[index]
    state.update_sequence(
        seq_id, {"steps": [{"id": third, "delay": 3600}, {"id": first}, {"step_type": "sms"}]}
    )
    steps = state.sequence(seq_id)["steps"]  # type: ignore[index]
    assert [s["id"] for s in steps[:2]] == [third, first]
    assert steps[0]["delay"] == 3600
    assert steps[2]["step_type"] == "sms"
    assert steps[2]["id"].startswith("seqstep_")
    assert second not in {s["id"] for s in steps}
    with pytest.raises(RejectedError) as caught:
        state.update_sequence(seq_id, {"steps": [{"id": "seqstep_other"}]})
    assert set(caught.value.body) == {"error"}


@pytest.mark.parametrize(
    "step",
    [{"delay": MAX_STEP_DELAY + 1}, {"delay": -1}, {"delay": "1"}, {"step_type": "fax"}],
)
def test_bad_steps_get_a_flat_error(state: FakeState, step: dict[str, object]) -> None:
    with pytest.raises(RejectedError) as caught:
        state.create_sequence(name="Bad", timezone="UTC", steps=[step])
    assert set(caught.value.body) == {"error"}


def test_sequence_status_must_be_a_close_status(state: FakeState) -> None:
    with pytest.raises(RejectedError, match="status"):
        state.create_sequence(name="x", timezone="UTC", status="running")
    seq = state.sequences()[0]["id"]
    state.update_sequence(seq, {"status": "draft", "name": "Renamed"})
    assert state.sequence(seq)["status"] == "draft"  # type: ignore[index]
    assert state.sequence(seq)["name"] == "Renamed"  # type: ignore[index]


def test_leads_and_contacts(state: FakeState) -> None:
    lead = state.add_lead("Acme", lead_id="lead_fixed")
    contact = state.add_contact("lead_fixed", "Ada", ["ada@example.com"], contact_id="cont_fixed")
    assert state.lead("lead_fixed") == lead.__class__(
        id="lead_fixed", name="Acme", contacts=(contact,)
    )
    assert state.contact("cont_fixed") == contact
    assert state.leads()[-1].id == "lead_fixed"
    with pytest.raises(ValueError, match="exists"):
        state.add_lead("Again", lead_id="lead_fixed")
    with pytest.raises(ValueError, match="unknown lead"):
        state.add_contact("lead_nope", "Ada", [])
    with pytest.raises(ValueError, match="exists"):
        state.add_contact("lead_fixed", "Ada", [], contact_id="cont_fixed")


def test_a_state_needs_a_user() -> None:
    with pytest.raises(ValueError, match="user"):
        FakeState(ids=IdFactory(random.Random(0)), organization_id="o", users=[])
