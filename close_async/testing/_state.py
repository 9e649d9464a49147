"""The fake's in-memory store: records, indexes, stable ordering and cached JSON.

Every list is kept sorted by `(date_created, id)` so that `_skip`/`_limit` pages are stable, and
subscriptions are indexed by lead, contact and sequence so that a filtered page costs the size of
the smallest matching index, never a scan of the whole store (benchmarks send tens of thousands
of list requests). Each record's JSON text is cached until the record changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from ._errors import (
    DOES_NOT_EXIST,
    REQUIRED,
    field_errors,
    flat_error,
    general_error,
    invalid_choice,
)
from ._model import (
    MAX_STEP_DELAY,
    SEQUENCE_STATUSES,
    STEP_TYPES,
    SUBSCRIPTION_STATUSES,
    Contact,
    IdFactory,
    Lead,
    User,
    dumps,
    format_datetime,
    utc_now,
)

Json = dict[str, Any]
Record = Mapping[str, Any]
#: `(object_type, action, before, after, user_id)`: what the event log records (see _events.py).
ChangeHook = Callable[[str, str, "Json | None", "Json | None", str], None]

_MICROSECOND = timedelta(microseconds=1)
_INDEXED_FIELDS = ("lead_id", "contact_id", "sequence_id")
_STEP_EDITABLE = frozenset(
    ("step_type", "delay", "email_template_id", "threading", "required", "step_allowed_delay")
)
ALREADY_SUBSCRIBED = "This contact has already been subscribed to this sequence."


def page(ids: Sequence[str], skip: int, limit: int) -> tuple[Sequence[str], bool]:
    """Return the `_skip`/`_limit` slice of `ids` and Close's `has_more` flag."""
    end = skip + limit
    return ids[skip:end], len(ids) > end


class _SortedIds:
    """Keep ids in `(date_created, id)` order, the order every list endpoint answers in."""

    __slots__ = ("_key", "ids")

    def __init__(self, records: Mapping[str, Record]) -> None:
        self.ids: list[str] = []
        self._key: Callable[[str], tuple[str, str]] = lambda rid: (
            records[rid]["date_created"],
            rid,
        )

    def add(self, rid: str) -> None:
        ids = self.ids
        # New records are almost always the newest: append without a search.
        if not ids or self._key(ids[-1]) < self._key(rid):
            ids.append(rid)
        else:
            bisect.insort(ids, rid, key=self._key)

    def remove(self, rid: str) -> None:
        # Must run while the record is still stored: the key reads its date_created.
        ids = self.ids
        del ids[bisect.bisect_left(ids, self._key(rid), key=self._key)]


class FakeState:
    """Hold the fake's leads, sequences, subscriptions and bulk actions in memory.

    Read with `lead`, `leads`, `contact`, `sequence`, `sequences`, `subscription`,
    `subscriptions`, `subscription_counts`, `bulk_action` and `bulk_actions`; records come back
    as read-only mappings shaped exactly like Close's JSON. Writes go through the `create_*`,
    `update_*` and `delete_*` methods (or `FakeClose.add_*`), which keep the indexes right and
    raise a `ValueError` subclass for anything Close would answer with a 400.
    """

    def __init__(
        self,
        *,
        ids: IdFactory,
        organization_id: str,
        users: Sequence[User],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not users:
            raise ValueError("FakeState needs at least one user")
        self.ids = ids
        self.organization_id = organization_id
        self.users = tuple(users)
        self._clock = clock
        self._last_time = datetime.min
        self._leads: dict[str, Lead] = {}
        self._contacts: dict[str, Contact] = {}
        self._sequences: dict[str, Json] = {}
        self._sequence_order = _SortedIds(self._sequences)
        self._subs: dict[str, Json] = {}
        self._subs_by: dict[str, dict[str, _SortedIds]] = {f: {} for f in _INDEXED_FIELDS}
        self._counts: dict[str, dict[str, int]] = {}
        self._bulk: dict[str, Json] = {}
        self._bulk_order = _SortedIds(self._bulk)
        self._json: dict[str, str] = {}
        #: Called with each change once the fake is built (seeded data predates the event log).
        self.on_change: ChangeHook | None = None

    def _changed(
        self, kind: str, action: str, before: Json | None, after: Json | None, user: str | None
    ) -> None:
        # `before` is a copy already, or a record leaving the store; `after` stays in it, so
        # it is copied. Shallow copies suffice: the store replaces a record's values (lists
        # and objects included), it never changes them in place.
        if self.on_change is not None:
            user = user or self.default_user.id
            self.on_change(kind, action, before, None if after is None else dict(after), user)

    def _before(self, record: Json) -> Json | None:
        # A copy of a record about to change, only when someone records the change.
        return None if self.on_change is None else dict(record)

    @property
    def default_user(self) -> User:
        """Return the user that API requests act as (the API key's owner)."""
        return self.users[0]

    def timestamp(self, at: datetime | None = None) -> str:
        """Return `at`, or now made strictly later than any earlier timestamp, as Close text."""
        if at is None:
            at = max(self._clock(), self._last_time + _MICROSECOND)
        self._last_time = max(self._last_time, at)
        return format_datetime(at)

    # Leads and contacts -------------------------------------------------------------------

    def add_lead(self, name: str, *, lead_id: str | None = None) -> Lead:
        """Store a lead without contacts and return it."""
        lead_id = lead_id or self.ids.new("lead")
        if lead_id in self._leads:
            raise ValueError(f"lead {lead_id} already exists")
        lead = self._leads[lead_id] = Lead(id=lead_id, name=name, contacts=())
        self._changed("lead", "created", None, {"id": lead_id, "name": name}, None)
        return lead

    def add_contact(
        self, lead_id: str, name: str, emails: Iterable[str], *, contact_id: str | None = None
    ) -> Contact:
        """Add a contact to a stored lead and return it."""
        lead = self._leads.get(lead_id)
        if lead is None:
            raise ValueError(f"unknown lead {lead_id}")
        contact_id = contact_id or self.ids.new("cont")
        if contact_id in self._contacts:
            raise ValueError(f"contact {contact_id} already exists")
        contact = Contact(id=contact_id, lead_id=lead_id, name=name, emails=tuple(emails))
        self._contacts[contact_id] = contact
        self._leads[lead_id] = replace(lead, contacts=(*lead.contacts, contact))
        listed = [{"email": email} for email in contact.emails]
        after: Json = {"id": contact_id, "lead_id": lead_id, "name": name, "emails": listed}
        self._changed("contact", "created", None, after, None)
        return contact

    def lead(self, lead_id: str) -> Lead | None:
        """Return a lead by id, or None."""
        return self._leads.get(lead_id)

    def leads(self) -> list[Lead]:
        """Return all leads in creation order."""
        return list(self._leads.values())

    def contact(self, contact_id: str) -> Contact | None:
        """Return a contact by id, or None."""
        return self._contacts.get(contact_id)

    # Sequences ----------------------------------------------------------------------------

    def create_sequence(
        self,
        *,
        name: str,
        timezone: str,
        status: str = "active",
        schedule: Mapping[str, Any] | None = None,
        steps: Iterable[Mapping[str, Any]] = (),
        created_by: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Store a sequence with its steps and return its id."""
        _check_choice("status", status, SEQUENCE_STATUSES)
        user = created_by or self.default_user.id
        now = self.timestamp(at)
        seq_id = self.ids.new("seq")
        self._sequences[seq_id] = {
            "id": seq_id,
            "name": name,
            "status": status,
            "timezone": timezone,
            "schedule": None if schedule is None else dict(schedule),
            "steps": [self._new_step(step, user, now) for step in steps],
            "organization_id": self.organization_id,
            "created_by_id": user,
            "updated_by_id": user,
            "date_created": now,
            "date_updated": now,
        }
        self._sequence_order.add(seq_id)
        self._counts[seq_id] = dict.fromkeys(SUBSCRIPTION_STATUSES, 0)
        self._changed("sequence", "created", None, self._sequences[seq_id], user)
        return seq_id

    def update_sequence(
        self, seq_id: str, changes: Mapping[str, Any], *, updated_by: str | None = None
    ) -> None:
        """Apply a partial update; a `steps` list replaces the steps, keeping those by `id`."""
        seq = self._sequences[seq_id]
        before = self._before(seq)
        user = updated_by or self.default_user.id
        now = self.timestamp()
        if "status" in changes:
            _check_choice("status", changes["status"], SEQUENCE_STATUSES)
        updated = dict(changes)
        if "steps" in updated:
            updated["steps"] = self._replace_steps(seq["steps"], updated["steps"], user, now)
        seq.update(updated, updated_by_id=user, date_updated=now)
        self._json.pop(seq_id, None)
        self._changed("sequence", "updated", before, seq, user)

    def delete_sequence(self, seq_id: str) -> None:
        """Delete a sequence; its subscriptions stay, with `status_reason` "sequence-deleted".

        Close's status reasons include `sequence-deleted`, so subscriptions outlive their
        sequence. Close does not document whether their `status` changes, nor whether a list
        by the deleted `sequence_id` still finds them: this fake keeps the status and lists
        them by lead, contact and (deleted) sequence alike.
        """
        for sub_id in self._index("sequence_id", seq_id):  # logged as updates, like any change
            self.update_subscription(sub_id, {"status_reason": "sequence-deleted"})
        self._sequence_order.remove(seq_id)
        self._changed("sequence", "deleted", self._sequences[seq_id], None, None)
        del self._sequences[seq_id], self._counts[seq_id]
        self._json.pop(seq_id, None)

    def sequence(self, seq_id: str) -> Record | None:
        """Return a sequence (without `subscription_counts_by_status`), or None."""
        seq = self._sequences.get(seq_id)
        return None if seq is None else MappingProxyType(seq)

    def sequences(self) -> list[Record]:
        """Return all sequences in list order."""
        return [MappingProxyType(self._sequences[i]) for i in self._sequence_order.ids]

    def subscription_counts(self, seq_id: str) -> dict[str, int]:
        """Return the sequence's subscription counts by status."""
        return dict(self._counts[seq_id])

    def sequence_json(self, seq_id: str) -> str | None:
        """Return a sequence as served by GET/PUT one (with counts by status), or None."""
        seq = self._sequences.get(seq_id)
        if seq is None:
            return None
        return dumps({**seq, "subscription_counts_by_status": self._counts[seq_id]})

    def page_sequences(self, skip: int, limit: int) -> tuple[list[str], bool]:
        """Return one page of sequences as JSON texts, and `has_more`."""
        ids, has_more = page(self._sequence_order.ids, skip, limit)
        return self._texts(ids, self._sequences), has_more

    def _new_step(self, fields: Mapping[str, Any], user: str, now: str) -> Json:
        _check_step(fields)
        return {
            "id": self.ids.new("seqstep"),
            "step_type": fields.get("step_type", "email"),
            "delay": fields.get("delay", 0),
            "email_template_id": fields.get("email_template_id"),
            "threading": fields.get("threading"),
            "required": fields.get("required", True),
            "step_allowed_delay": fields.get("step_allowed_delay"),
            "created_by_id": user,
            "updated_by_id": user,
            "date_created": now,
            "date_updated": now,
        }

    def _replace_steps(
        self, old: list[Json], new: Iterable[Mapping[str, Any]], user: str, now: str
    ) -> list[Json]:
        # Close: steps omitted from an update are deleted; `{"id": ...}` keeps (and may edit) one.
        existing = {step["id"]: step for step in old}
        steps = []
        for fields in new:
            step_id = fields.get("id")
            if step_id is None:
                steps.append(self._new_step(fields, user, now))
                continue
            step = existing.get(step_id)
            if step is None:
                raise flat_error(f"Step {step_id} does not belong to this sequence.")
            edits = {k: v for k, v in fields.items() if k in _STEP_EDITABLE}
            if edits:
                _check_step({**step, **edits})
                step = {**step, **edits, "updated_by_id": user, "date_updated": now}
            steps.append(step)
        return steps

    # Subscriptions ------------------------------------------------------------------------

    def create_subscription(
        self,
        *,
        sequence_id: str,
        contact_id: str,
        contact_email: str | None = None,
        sender_account_id: str | None = None,
        sender_email: str | None = None,
        sender_name: str | None = None,
        calls_assigned_to: Iterable[str] = (),
        status: str = "active",
        status_reason: str | None = None,
        created_by: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Subscribe a contact to a sequence and return the subscription id.

        Missing sender fields default to the default user's; a missing `contact_email` to the
        contact's first email. Raises like Close: unknown sequence or contact, or a contact that
        already has a subscription to that sequence (whatever its status).
        """
        contact = self._contacts.get(contact_id)
        missing = {
            field: DOES_NOT_EXIST
            for field, known in (
                ("sequence_id", sequence_id in self._sequences),
                ("contact_id", contact is not None),
            )
            if not known
        }
        if missing:
            raise field_errors(missing)
        assert contact is not None
        _check_choice("status", status, SUBSCRIPTION_STATUSES)
        email = contact_email or (contact.emails[0] if contact.emails else None)
        if email is None:
            raise field_errors({"contact_email": REQUIRED})
        if any(
            self._subs[i]["sequence_id"] == sequence_id
            for i in self._index("contact_id", contact_id)
        ):
            raise general_error(ALREADY_SUBSCRIBED)
        user = self.default_user
        author = created_by or user.id
        now = self.timestamp(at)
        sub_id = self.ids.new("sub")
        self._subs[sub_id] = {
            "id": sub_id,
            "sequence_id": sequence_id,
            "contact_id": contact_id,
            "contact_email": email,
            "lead_id": contact.lead_id,
            "organization_id": self.organization_id,
            "sender_account_id": sender_account_id or user.email_account_id,
            "sender_email": sender_email or user.email,
            "sender_name": sender_name or user.name,
            "calls_assigned_to": list(calls_assigned_to),
            "start_date": None,
            "status": status,
            "status_reason": status_reason,
            "created_by_id": author,
            "updated_by_id": author,
            "date_created": now,
            "date_updated": now,
        }
        for field in _INDEXED_FIELDS:
            value = self._subs[sub_id][field]
            index = self._subs_by[field].get(value)
            if index is None:
                index = self._subs_by[field][value] = _SortedIds(self._subs)
            index.add(sub_id)
        self._counts[sequence_id][status] += 1
        self._changed("sequence_subscription", "created", None, self._subs[sub_id], author)
        return sub_id

    def update_subscription(
        self, sub_id: str, changes: Mapping[str, Any], *, updated_by: str | None = None
    ) -> None:
        """Apply a partial update to a subscription (fields are not re-validated here)."""
        sub = self._subs[sub_id]
        before = self._before(sub)
        if "status" in changes:
            _check_choice("status", changes["status"], SUBSCRIPTION_STATUSES)
            counts = self._counts.get(sub["sequence_id"])  # None: the sequence was deleted
            if counts is not None:
                counts[sub["status"]] -= 1
                counts[changes["status"]] += 1
        sub.update(
            changes,
            updated_by_id=updated_by or self.default_user.id,
            date_updated=self.timestamp(),
        )
        self._json.pop(sub_id, None)
        self._changed("sequence_subscription", "updated", before, sub, sub["updated_by_id"])

    def delete_subscription(self, sub_id: str) -> None:
        """Delete a subscription."""
        sub = self._subs[sub_id]
        for field in _INDEXED_FIELDS:
            index = self._subs_by[field][sub[field]]
            index.remove(sub_id)
            if not index.ids:
                del self._subs_by[field][sub[field]]
        counts = self._counts.get(sub["sequence_id"])  # None: the sequence was deleted
        if counts is not None:
            counts[sub["status"]] -= 1
        self._changed("sequence_subscription", "deleted", sub, None, None)
        del self._subs[sub_id]
        self._json.pop(sub_id, None)

    def subscription(self, sub_id: str) -> Record | None:
        """Return a subscription by id, or None."""
        sub = self._subs.get(sub_id)
        return None if sub is None else MappingProxyType(sub)

    def subscriptions(
        self,
        *,
        lead_id: str | None = None,
        contact_id: str | None = None,
        sequence_id: str | None = None,
    ) -> list[Record]:
        """Return the subscriptions matching all given filters (all if none), in list order."""
        if lead_id is None and contact_id is None and sequence_id is None:
            ids: Sequence[str] = sorted(
                self._subs, key=lambda i: (self._subs[i]["date_created"], i)
            )
        else:
            ids = self._select(lead_id, contact_id, sequence_id)
        return [MappingProxyType(self._subs[i]) for i in ids]

    def subscription_json(self, sub_id: str) -> str | None:
        """Return a subscription's JSON text, or None."""
        return self._dumped(sub_id, self._subs) if sub_id in self._subs else None

    def page_subscriptions(
        self,
        skip: int,
        limit: int,
        *,
        lead_id: str | None = None,
        contact_id: str | None = None,
        sequence_id: str | None = None,
    ) -> tuple[list[str], bool]:
        """Return one page of matching subscriptions as JSON texts, and `has_more`."""
        ids, has_more = page(self._select(lead_id, contact_id, sequence_id), skip, limit)
        return self._texts(ids, self._subs), has_more

    def _index(self, field: str, value: str) -> Sequence[str]:
        index = self._subs_by[field].get(value)
        return () if index is None else index.ids

    def _select(
        self, lead_id: str | None, contact_id: str | None, sequence_id: str | None
    ) -> Sequence[str]:
        # Start from the smallest index among the filters given, then check the other fields.
        values = (lead_id, contact_id, sequence_id)
        filters = [(f, v) for f, v in zip(_INDEXED_FIELDS, values, strict=True) if v is not None]
        candidates = [self._index(field, value) for field, value in filters]
        smallest = min(candidates, key=len)
        if len(filters) == 1 or not smallest:
            return smallest
        subs = self._subs
        return [i for i in smallest if all(subs[i][f] == v for f, v in filters)]

    # Bulk actions -------------------------------------------------------------------------

    def create_bulk_action(
        self, fields: Mapping[str, Any], *, created_by: str | None = None
    ) -> str:
        """Store a bulk sequence-subscription action in status `created` and return its id."""
        user = created_by or self.default_user.id
        now = self.timestamp()
        bulk_id = self.ids.new("bulk")
        self._bulk[bulk_id] = {
            "action_type": fields["action_type"],
            "calls_assigned_to": fields.get("calls_assigned_to"),
            "contact_preference": fields.get("contact_preference"),
            "created_by": user,
            "date_created": now,
            "date_updated": now,
            "from_phone_number_id": fields.get("from_phone_number_id"),
            "id": bulk_id,
            "n_leads": None,
            "n_leads_processed": 0,
            "n_objects": None,
            "n_objects_processed": 0,
            "organization_id": self.organization_id,
            "query": fields.get("query"),
            "results_limit": fields.get("results_limit"),
            "s_query": fields.get("s_query") or {},
            "send_done_email": fields.get("send_done_email", True),
            "sender_account_id": fields.get("sender_account_id"),
            "sender_email": fields.get("sender_email"),
            "sender_name": fields.get("sender_name"),
            "sequence_id": fields.get("sequence_id"),
            "sort": fields.get("sort") or [],
            "status": "created",
            "updated_by": user,
        }
        self._bulk_order.add(bulk_id)
        return bulk_id

    def update_bulk_action(self, bulk_id: str, changes: Mapping[str, Any]) -> None:
        """Apply changes (status, counters) to a bulk action."""
        self._bulk[bulk_id].update(changes, date_updated=self.timestamp())
        self._json.pop(bulk_id, None)

    def bulk_action(self, bulk_id: str) -> Record | None:
        """Return a bulk action by id, or None."""
        action = self._bulk.get(bulk_id)
        return None if action is None else MappingProxyType(action)

    def bulk_actions(self) -> list[Record]:
        """Return all bulk actions in list order."""
        return [MappingProxyType(self._bulk[i]) for i in self._bulk_order.ids]

    def bulk_action_json(self, bulk_id: str) -> str | None:
        """Return a bulk action's JSON text, or None."""
        return self._dumped(bulk_id, self._bulk) if bulk_id in self._bulk else None

    def page_bulk_actions(self, skip: int, limit: int) -> tuple[list[str], bool]:
        """Return one page of bulk actions as JSON texts, and `has_more`."""
        ids, has_more = page(self._bulk_order.ids, skip, limit)
        return self._texts(ids, self._bulk), has_more

    def _texts(self, ids: Iterable[str], records: Mapping[str, Json]) -> list[str]:
        # The hot path of every list request: a dict lookup per record, JSON only on a miss.
        cache = self._json
        return [cache.get(rid) or self._dumped(rid, records) for rid in ids]

    def _dumped(self, rid: str, records: Mapping[str, Json]) -> str:
        text = self._json.get(rid)
        if text is None:
            text = self._json[rid] = dumps(records[rid])
        return text


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise field_errors({field: invalid_choice(value)})


def _check_step(fields: Mapping[str, Any]) -> None:
    # Close answers step errors with a flat {"error": ...} body (changelog 2021-01-05).
    step_type = fields.get("step_type", "email")
    if step_type not in STEP_TYPES:
        raise flat_error(f"Invalid step type: {step_type}.")
    delay = fields.get("delay", 0)
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        raise flat_error("Step delay must be a non-negative number of seconds.")
    if delay > MAX_STEP_DELAY:
        raise flat_error("Step delay cannot be longer than 365 days.")
