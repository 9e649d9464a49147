"""The objects Close returns, as frozen attrs classes named by Close's own field names.

Close documents these shapes only by example and says undocumented fields may come and go
(https://developer.close.com/api/overview/fields), so every field but ``id`` is optional,
and fields this release does not know are kept in ``extra`` rather than dropped or refused.
Datetimes are timezone-aware. Close sends them naive (no offset); that they are UTC is not
documented by Close, but it is how we read them (other Close objects carry ``+00:00``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ._enums import (
    BulkActionStatus,
    BulkActionType,
    ContactPreference,
    SequenceStatus,
    StatusReason,
    StepType,
    SubscriptionStatus,
)

__all__ = [
    "BulkSequenceSubscriptionAction",
    "Schedule",
    "ScheduleRange",
    "Sequence",
    "SequenceStep",
    "SequenceSubscription",
]

# Models are ``@attrs.frozen(kw_only=True, slots=False)``: dict-based, not slotted, because
# the converter fills a new instance's ``__dict__`` in one step, five times faster than a
# frozen slotted ``__init__`` (see _convert.py). (Spelled out on each class: mypy's attrs
# plugin does not follow an alias of the decorator.)

_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _extra() -> Any:
    # Unknown fields: readable, not part of equality (a new server-side field must not make
    # two otherwise equal records differ), hidden from repr to keep it short.
    return attrs.field(default=_NO_EXTRA, eq=False, repr=False)


@attrs.frozen(kw_only=True, slots=False)
class ScheduleRange:
    """One weekly time range in which a sequence may send.

    ``weekday`` is an integer; Close's example uses 1 to 5 for Monday to Friday, but the
    numbering is not documented by Close.
    """

    weekday: int
    start: str
    end: str
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class Schedule:
    """When a sequence's steps may run: a list of weekly ranges in the sequence's timezone."""

    ranges: tuple[ScheduleRange, ...] = ()
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class SequenceStep:
    """One step of a sequence: an email, a call or an SMS, after ``delay`` seconds."""

    id: str | None = None
    step_type: StepType | None = None
    delay: int | None = None
    email_template_id: str | None = None
    sms_template_id: str | None = None
    threading: str | None = None
    required: bool | None = None
    step_allowed_delay: Any = None
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class Sequence:
    """A sequence (a "Workflow" in Close's UI)."""

    id: str
    name: str | None = None
    status: SequenceStatus | None = None
    timezone: str | None = None
    schedule: Schedule | None = None
    steps: tuple[SequenceStep, ...] = ()
    organization_id: str | None = None
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    #: Only in answers about one sequence (get, update), not in lists.
    subscription_counts_by_status: Mapping[str, int] | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class SequenceSubscription:
    """A contact's subscription to a sequence."""

    id: str
    sequence_id: str | None = None
    contact_id: str | None = None
    contact_email: str | None = None
    lead_id: str | None = None
    organization_id: str | None = None
    sender_account_id: str | None = None
    sender_email: str | None = None
    sender_name: str | None = None
    calls_assigned_to: tuple[str, ...] = ()
    start_date: datetime | None = None
    status: SubscriptionStatus | None = None
    status_reason: StatusReason | None = None
    #: A legacy field older answers carried instead of ``status_reason``.
    pause_reason: str | None = None
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class BulkSequenceSubscriptionAction:
    """A bulk action that subscribes, pauses, resumes or reassigns many subscriptions."""

    id: str
    action_type: BulkActionType | None = None
    status: BulkActionStatus | None = None
    sequence_id: str | None = None
    contact_preference: ContactPreference | None = None
    sender_account_id: str | None = None
    sender_email: str | None = None
    sender_name: str | None = None
    calls_assigned_to: tuple[str, ...] | None = None
    from_phone_number_id: str | None = None
    query: str | None = None
    s_query: Mapping[str, Any] | None = None
    sort: tuple[Mapping[str, Any], ...] | None = None
    results_limit: int | None = None
    send_done_email: bool | None = None
    n_leads: int | None = None
    n_leads_processed: int | None = None
    n_objects: int | None = None
    n_objects_processed: int | None = None
    organization_id: str | None = None
    created_by: str | None = None
    updated_by: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_finished(self) -> bool:
        """Whether Close is done with the action, successfully or not."""
        return self.status in (BulkActionStatus.DONE, BulkActionStatus.ERROR)
