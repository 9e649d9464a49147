"""What a bulk sequence-subscription action does to the store when it completes.

Simplified on purpose (Close's Advanced Filtering is out of scope): `s_query`, `query` and
`sort` are stored but ignored, so an action selects every lead (in creation order), capped by
`results_limit` leads when given.

- `subscribe`: for each lead with no subscription to `sequence_id`, subscribes its first contact
  that has an email (`contact_preference="lead"`) or each contact with an email (`"contact"`),
  using the action's sender fields.
- `pause` / `resume` / `resume_finished`: moves subscriptions of `sequence_id` (all sequences when
  it is null) from active to paused (`status_reason` `bulk-action`), paused to active, or
  finished to active.
- `reassign`: sets the action's non-null `sender_*` fields and `calls_assigned_to` on the active
  and paused subscriptions of `sequence_id` (or all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import RejectedError
from ._state import FakeState, Record

# action_type -> (statuses it applies to, changes it makes)
_STATUS_CHANGES: dict[str, tuple[frozenset[str], dict[str, Any]]] = {
    "pause": (frozenset({"active"}), {"status": "paused", "status_reason": "bulk-action"}),
    "resume": (frozenset({"paused"}), {"status": "active", "status_reason": None}),
    "resume_finished": (frozenset({"finished"}), {"status": "active", "status_reason": None}),
    "reassign": (frozenset({"active", "paused"}), {}),
}
_REASSIGNED_FIELDS = ("sender_account_id", "sender_email", "sender_name", "calls_assigned_to")


def complete_bulk_action(state: FakeState, bulk_id: str) -> None:
    """Apply a bulk action's effect to the store and mark it `done` (or `error`)."""
    action = state.bulk_action(bulk_id)
    if action is None:  # Nothing to do for an action that no longer exists.
        return
    try:
        if action["action_type"] == "subscribe":
            n_leads, n_objects = _subscribe(state, action)
        else:
            n_leads, n_objects = _change_status(state, action)
    except RejectedError:  # E.g. the sequence was deleted before the action ran.
        state.update_bulk_action(bulk_id, {"status": "error"})
        return
    state.update_bulk_action(
        bulk_id,
        {
            "status": "done",
            "n_leads": n_leads,
            "n_leads_processed": n_leads,
            "n_objects": n_objects,
            "n_objects_processed": n_objects,
        },
    )


def _subscribe(state: FakeState, action: Record) -> tuple[int, int]:
    sequence_id = action["sequence_id"]
    limit = action["results_limit"]
    n_leads = n_objects = 0
    for lead in state.leads():
        if limit is not None and n_leads >= limit:
            break
        if state.subscriptions(lead_id=lead.id, sequence_id=sequence_id):
            continue
        contacts = [c for c in lead.contacts if c.emails]
        if action["contact_preference"] == "lead":
            contacts = contacts[:1]
        if not contacts:
            continue
        n_leads += 1
        for contact in contacts:
            state.create_subscription(
                sequence_id=sequence_id,
                contact_id=contact.id,
                contact_email=contact.emails[0],
                sender_account_id=action["sender_account_id"],
                sender_email=action["sender_email"],
                sender_name=action["sender_name"],
                calls_assigned_to=action["calls_assigned_to"] or (),
                created_by=action["created_by"],
            )
            n_objects += 1
    return n_leads, n_objects


def _change_status(state: FakeState, action: Record) -> tuple[int, int]:
    statuses, changes = _STATUS_CHANGES[action["action_type"]]
    if action["action_type"] == "reassign":
        changes = {f: action[f] for f in _REASSIGNED_FIELDS if action[f] is not None}
    sequence_id = action["sequence_id"]
    subs = state.subscriptions(sequence_id=sequence_id) if sequence_id else state.subscriptions()
    targets = _first_leads((s for s in subs if s["status"] in statuses), action["results_limit"])
    for sub in targets:
        state.update_subscription(sub["id"], changes, updated_by=action["created_by"])
    return len({sub["lead_id"] for sub in targets}), len(targets)


def _first_leads(subs: Iterable[Record], limit: int | None) -> list[Mapping[str, Any]]:
    # Keep the subscriptions of the first `limit` distinct leads (all of them without a limit).
    leads: set[str] = set()
    kept = []
    for sub in subs:
        if sub["lead_id"] not in leads:
            if limit is not None and len(leads) >= limit:
                continue
            leads.add(sub["lead_id"])
        kept.append(sub)
    return kept
