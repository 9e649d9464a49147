"""Webhook subscriptions: ``/webhook/``.

https://developer.close.com/api/resources/webhooks. A subscription POSTs each event of the
log that matches one of its ``events`` (``object_type`` + ``action``) to its ``url``,
signed with its ``signature_key``; check deliveries with ``close_async.webhooks.verify``.
The signature key comes back in Close's answers (creation included): it is never logged and
never part of a model's ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._event_models import WebhookEventFilter, WebhookStatus, WebhookSubscription
from .._pagination import Items
from .._params import NOT_GIVEN, NotGiven, build_body, check_limit, check_page_size, check_text
from ._base import Resource

__all__ = ["Webhooks", "event_filters_body"]

_Sub = WebhookSubscription
EventSpec = WebhookEventFilter | tuple[str, str] | Mapping[str, Any]


def event_filters_body(events: object) -> list[dict[str, Any]]:
    """Check the ``events`` argument and build Close's list of ``{object_type, action}``.

    Each item is a ``WebhookEventFilter``, an ``(object_type, action)`` pair, or Close's own
    mapping (``{"object_type": ..., "action": ..., "extra_filter": ...}``).
    """
    if isinstance(events, str | bytes) or not isinstance(events, Iterable):
        raise TypeError(
            "events must be a list of (object_type, action) pairs, e.g. "
            '[("sequence_subscription", "updated")]'
        )
    out: list[dict[str, Any]] = []
    for item in events:
        if isinstance(item, WebhookEventFilter):
            spec: dict[str, Any] = {"object_type": item.object_type, "action": item.action}
            if item.extra_filter is not None:
                spec["extra_filter"] = dict(item.extra_filter)
        elif isinstance(item, tuple) and len(item) == 2:
            spec = {"object_type": item[0], "action": item[1]}
        elif isinstance(item, Mapping):
            spec = dict(item)
        else:
            raise TypeError(f"each of events must be an (object_type, action) pair, not {item!r}")
        check_text(spec.get("object_type"), "events object_type")
        check_text(spec.get("action"), "events action")
        out.append(spec)
    if not out:
        raise ValueError("events must name at least one (object_type, action)")
    return out


class Webhooks(Resource):
    """List, read, create, change and delete webhook subscriptions."""

    collection = "webhook/"

    def list(self, *, page_size: int = 100, limit: int | None = None) -> Items[WebhookSubscription]:
        """Iterate over the organization's webhook subscriptions."""
        size = check_page_size(page_size)
        cap = check_limit(limit)
        return self._iterate(_Sub, {}, page_size=size, limit=cap)

    async def get(self, id: str) -> WebhookSubscription:
        """Fetch one webhook subscription."""
        return await self._get(_Sub, id)

    async def create(
        self,
        *,
        url: str,
        events: Iterable[EventSpec],
        verify_ssl: bool | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> WebhookSubscription:
        """Subscribe ``url`` to the ``events`` given as ``(object_type, action)`` pairs.

        The answer carries the ``signature_key`` that signs each delivery: keep it secret
        (it is not shown in the model's ``repr``). Not retried on a timeout or a dropped
        connection, like every create: check ``list()`` before trying again.
        """
        fields: dict[str, object] = {
            "url": check_text(url, "url"),
            "events": event_filters_body(events),
        }
        if verify_ssl is not None:
            fields["verify_ssl"] = _check_bool(verify_ssl, "verify_ssl")
        return await self._create(_Sub, build_body(fields, extra))

    async def update(
        self,
        id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        events: Iterable[EventSpec] | NotGiven = NOT_GIVEN,
        status: WebhookStatus | str | NotGiven = NOT_GIVEN,
        verify_ssl: bool | NotGiven = NOT_GIVEN,
        extra: Mapping[str, Any] | None = None,
    ) -> WebhookSubscription:
        """Change some fields of a subscription; only the arguments given are sent.

        ``status="paused"`` stops deliveries, ``"active"`` resumes them (Close pauses a
        subscription by itself when every delivery has failed for 3 days).
        """
        self._detail(id)  # checks the ID now
        fields: dict[str, object] = {
            "url": url if url is NOT_GIVEN else check_text(url, "url"),
            "events": events if events is NOT_GIVEN else event_filters_body(events),
            "status": status if status is NOT_GIVEN else check_text(status, "status"),
            "verify_ssl": verify_ssl
            if verify_ssl is NOT_GIVEN
            else _check_bool(verify_ssl, "verify_ssl"),
        }
        return await self._update(_Sub, id, build_body(fields, extra))

    async def delete(self, id: str) -> None:
        """Delete a webhook subscription: Close stops delivering to it."""
        await self._delete(id)


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value
