"""Models of Close's event log and webhooks, and of a subscription change built from them.

Shapes from https://developer.close.com/api/resources/events ("Event format") and
https://developer.close.com/api/resources/webhooks; like the other models, every field but
the id is optional and unknown fields are kept in ``extra``.

What an event's ``data`` and ``previous_data`` hold (Close's Event Log page):

- ``data`` is the object "as if you fetched it via API", ``null`` for deletes, and for
  non-admins only on events less than an hour old. For the object types this package
  models (``sequence_subscription``, ``sequence``) it is structured into that model; for
  any other type it stays a read-only mapping.
- ``previous_data`` is, for updates, the fields that changed with their old values: a
  *partial* record. (For deletes Close's own scripts read the whole deleted object from it;
  for creates the documentation's example shows ``{}``.) So it always stays a read-only
  mapping: structuring a partial record into a model would show the fields Close did not
  send as ``None``, which reads as "cleared" when it means "unchanged".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._enums import OpenEnum
from ._frozen import freeze, freeze_optional_mapping
from ._models import Sequence, SequenceSubscription, _extra

__all__ = [
    "Event",
    "EventAction",
    "SubscriptionChange",
    "WebhookEventFilter",
    "WebhookStatus",
    "WebhookSubscription",
]


class EventAction(OpenEnum):
    """What an event did to its object. Close documents these three as the most common;
    other object types have more (``merged``, ``completed``, ``sent``...), kept as they come."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class WebhookStatus(OpenEnum):
    """Whether a webhook subscription delivers (Close's ``WebhookStatus``)."""

    ACTIVE = "active"
    PAUSED = "paused"


@attrs.frozen(kw_only=True, slots=False)
class Event:
    """One entry of Close's event log, or the ``event`` of a webhook delivery.

    ``data`` is a ``SequenceSubscription`` or ``Sequence`` for those object types, a
    read-only mapping for others, ``None`` for deletes; ``previous_data`` is always a
    read-only mapping (for updates, only the fields that changed). See the module docstring.
    """

    id: str
    object_type: str | None = None
    object_id: str | None = None
    action: EventAction | None = None
    lead_id: str | None = None
    organization_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    api_key_id: str | None = None
    #: Naive in Close's answers, read as UTC (not documented by Close; see _models.py),
    #: aware here. An event that Close consolidates with later actions on the same object
    #: keeps its ``date_created`` and gets a new ``date_updated`` (the log is ordered by
    #: ``date_updated``).
    date_created: datetime | None = None
    date_updated: datetime | None = None
    changed_fields: tuple[str, ...] = ()
    data: SequenceSubscription | Sequence | Mapping[str, Any] | None = attrs.field(
        default=None, converter=freeze
    )
    previous_data: Mapping[str, Any] | None = attrs.field(
        default=None, converter=freeze_optional_mapping
    )
    #: ``request_method``/``request_path``, ``bulk_action_id``, merge IDs...
    meta: Mapping[str, Any] | None = attrs.field(default=None, converter=freeze_optional_mapping)
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class WebhookEventFilter:
    """One ``{object_type, action}`` pair a webhook subscription is triggered by, with
    Close's optional ``extra_filter`` (https://developer.close.com/api/resources/webhooks/webhook-filters)."""

    object_type: str
    action: str
    extra_filter: Mapping[str, Any] | None = attrs.field(
        default=None, converter=freeze_optional_mapping
    )
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class WebhookSubscription:
    """A webhook subscription: where Close POSTs which events.

    ``signature_key`` (hex) signs every delivery; pass it to ``close_async.webhooks.verify``.
    It is left out of ``repr()``, so that printing or logging the model does not leak it.
    """

    id: str
    url: str | None = None
    events: tuple[WebhookEventFilter, ...] = ()
    status: WebhookStatus | None = None
    verify_ssl: bool | None = None
    signature_key: str | None = attrs.field(default=None, repr=False)
    health_status: str | None = None
    pause_reason: str | None = None
    latest_error: Any = attrs.field(default=None, converter=freeze)  # shape not documented
    counters: Mapping[str, Any] | None = attrs.field(
        default=None, converter=freeze_optional_mapping
    )
    created_by: str | None = None
    updated_by: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class SubscriptionChange:
    """One change to a sequence subscription, from one event of Close's log.

    Attributes:
        action: ``created``, ``updated`` or ``deleted`` (or an action Close adds later).
        subscription_id: the subscription's ID (the event's ``object_id``).
        subscription: the subscription after the change; ``None`` for a delete, and when
            Close did not send the data (non-admins get it for an hour only).
        before: what Close sent as the state before, as a read-only mapping: for an
            update only the fields that changed (with their old values), for a delete the
            record as it was; ``None`` (or empty) when Close sent nothing. Never a model:
            a partial record must not read as a record whose other fields are empty.
        changed_fields: the fields Close lists as changed (updates).
        event_id: the event's ID.
        date: when the change happened (the event's ``date_updated``, timezone-aware).
        event: the whole event, for anything else (``user_id``, ``meta``...).
    """

    action: EventAction
    subscription_id: str
    subscription: SequenceSubscription | None
    before: Mapping[str, Any] | None
    changed_fields: tuple[str, ...]
    event_id: str
    date: datetime
    event: Event = attrs.field(repr=False, eq=False)
