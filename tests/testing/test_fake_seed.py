"""Deterministic generated data and the bulk helpers."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from close_async.testing._model import SUBSCRIPTION_STATUSES
from close_async.testing._seed import make_state
from close_async.testing._state import FakeState

ID = re.compile(r"^(lead|cont|seq|seqstep|sub|user|orga|emailacct|tmpl)_[0-9A-Za-z]{43}$")


def snapshot(state: FakeState) -> tuple[object, ...]:
    return (
        state.organization_id,
        state.users,
        state.leads(),
        [dict(s) for s in state.sequences()],
        [dict(s) for s in state.subscriptions()],
    )


def test_the_same_seed_gives_the_same_data() -> None:
    assert snapshot(make_state(3, leads=120, sequences=6)[0]) == snapshot(
        make_state(3, leads=120, sequences=6)[0]
    )
    assert snapshot(make_state(3, leads=120, sequences=6)[0]) != snapshot(
        make_state(4, leads=120, sequences=6)[0]
    )


def test_distribution_of_leads_contacts_and_subscriptions() -> None:
    state, _ = make_state(3, leads=300, sequences=10)
    leads = state.leads()
    assert len(leads) == 300
    assert len(state.sequences()) == 10
    per_lead = {lead.id: len(state.subscriptions(lead_id=lead.id)) for lead in leads}
    heavy = [lead for lead in leads if per_lead[lead.id] > 100]
    assert len(heavy) == 3  # About 1% of the leads.
    assert all(101 <= per_lead[lead.id] <= 350 for lead in heavy)
    normal = [lead for lead in leads if per_lead[lead.id] <= 100]
    assert all(per_lead[lead.id] <= 5 for lead in normal)
    assert all(1 <= len(lead.contacts) <= 4 for lead in normal)
    assert {len(lead.contacts) for lead in normal} == {1, 2, 3, 4}
    assert set(Counter(per_lead[lead.id] for lead in normal)) == {0, 1, 2, 3, 4, 5}
    assert all(c.emails for lead in leads for c in lead.contacts)


def test_subscriptions_are_valid_close_records() -> None:
    state, _ = make_state(8, leads=80, sequences=4)
    subs = state.subscriptions()
    assert len({(s["contact_id"], s["sequence_id"]) for s in subs}) == len(subs)
    assert {s["status"] for s in subs} == set(SUBSCRIPTION_STATUSES)
    for sub in subs:
        contact = state.contact(sub["contact_id"])
        assert contact is not None
        assert sub["lead_id"] == contact.lead_id
        assert sub["contact_email"] in contact.emails
        assert (sub["status_reason"] is None) == (sub["status"] in ("active", "finished"))
        assert ID.match(sub["id"])
    assert all(ID.match(step["id"]) for seq in state.sequences() for step in seq["steps"])
    assert all(s["date_created"] < "2024" for s in subs)


@pytest.mark.parametrize(("leads", "heavy"), [(0, 0), (49, 0), (50, 1), (250, 2)])
def test_heavy_leads_appear_from_fifty_leads(leads: int, heavy: int) -> None:
    state, _ = make_state(1, leads=leads, sequences=5)
    counts = [len(state.subscriptions(lead_id=lead.id)) for lead in state.leads()]
    assert sum(1 for n in counts if n > 100) == heavy


def test_no_sequences_means_no_subscriptions() -> None:
    state, _ = make_state(1, leads=60, sequences=0)
    assert len(state.leads()) == 60
    assert state.subscriptions() == []


def test_add_subscriptions_makes_a_long_list_for_a_new_lead() -> None:
    state, seeder = make_state(2, leads=0, sequences=10)
    ids = seeder.add_subscriptions("lead_benchmark", 6000)
    assert len(ids) == len(set(ids)) == 6000
    lead = state.lead("lead_benchmark")
    assert lead is not None
    assert len(lead.contacts) == 600
    texts, has_more = state.page_subscriptions(5900, 100, lead_id="lead_benchmark")
    assert (len(texts), has_more) == (100, False)
    assert state.page_subscriptions(5800, 100, lead_id="lead_benchmark")[1] is True
    per_sequence = Counter(s["sequence_id"] for s in state.subscriptions(lead_id="lead_benchmark"))
    assert set(per_sequence.values()) == {600}


def test_add_subscriptions_to_one_sequence_with_one_status() -> None:
    state, seeder = make_state(2, leads=3, sequences=2)
    seq = state.sequences()[1]["id"]
    lead = state.leads()[0].id
    before = len(state.subscriptions(lead_id=lead))
    seeder.add_subscriptions(lead, 7, sequence_id=seq, status="paused")
    subs = state.subscriptions(lead_id=lead)
    assert len(subs) == before + 7
    assert sum(1 for s in subs if s["sequence_id"] == seq and s["status"] == "paused") >= 7


def test_add_subscriptions_needs_a_sequence_and_a_count() -> None:
    _, seeder = make_state(2, leads=0, sequences=0)
    with pytest.raises(ValueError, match="sequence"):
        seeder.add_subscriptions("lead_x", 1)
    with pytest.raises(ValueError, match="count"):
        seeder.add_subscriptions("lead_x", -1)


def test_populate_refuses_negative_sizes() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        make_state(0, leads=-1)
