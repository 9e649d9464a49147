"""Bulk sequence-subscription actions: ``/bulk_action/sequence_subscription/``.

https://developer.close.com/api/resources/bulk-actions/sequence-subscriptions
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._enums import BulkActionStatus, BulkActionType, ContactPreference
from .._exceptions import BulkActionError, BulkActionPausedError, BulkActionTimeoutError
from .._models import BulkSequenceSubscriptionAction
from .._pagination import Items
from .._params import (
    build_body,
    check_id,
    check_limit,
    check_page_size,
    check_str_list,
    check_text,
)
from .._transport import Transport
from ._base import Resource

__all__ = ["BulkActions", "BulkSequenceSubscriptions", "required_fields"]

logger = logging.getLogger("close_async")

_Action = BulkSequenceSubscriptionAction

# What each action type needs besides the lead selection (``s_query``), per Close's docs.
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    BulkActionType.SUBSCRIBE: (
        "sequence_id",
        "sender_account_id",
        "sender_name",
        "sender_email",
        "contact_preference",
    ),
    BulkActionType.RESUME: (),
    BulkActionType.RESUME_FINISHED: (),
    BulkActionType.PAUSE: (),
    BulkActionType.REASSIGN: (),
}


def required_fields(action_type: str) -> tuple[str, ...]:
    """The fields an action type requires besides ``s_query`` (none for unknown types)."""
    return _REQUIRED.get(action_type, ())


class BulkSequenceSubscriptions(Resource):
    """Start, list, read, pause, resume and wait for bulk sequence-subscription actions."""

    collection = "bulk_action/sequence_subscription/"

    def list(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> Items[BulkSequenceSubscriptionAction]:
        """Iterate over the organization's bulk sequence-subscription actions."""
        size = check_page_size(page_size)
        cap = check_limit(limit)
        return self._iterate(_Action, {}, page_size=size, limit=cap)

    async def get(self, id: str) -> BulkSequenceSubscriptionAction:
        """Fetch one bulk action (its status and progress counters)."""
        return await self._get(_Action, id)

    async def create(
        self,
        *,
        action_type: BulkActionType | str,
        s_query: Mapping[str, Any],
        sequence_id: str | None = None,
        sender_account_id: str | None = None,
        sender_name: str | None = None,
        sender_email: str | None = None,
        contact_preference: ContactPreference | str | None = None,
        calls_assigned_to: Iterable[str] | None = None,
        from_phone_number_id: str | None = None,
        results_limit: int | None = None,
        sort: Sequence[Mapping[str, Any]] | None = None,
        send_done_email: bool | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> BulkSequenceSubscriptionAction:
        """Start a bulk action on the leads that ``s_query`` selects.

        ``s_query`` is an Advanced Filtering query (Close's ``query`` renamed). Action types:
        ``subscribe`` (needs ``sequence_id``, ``sender_account_id``, ``sender_name``,
        ``sender_email`` and ``contact_preference``), ``pause``, ``resume`` and
        ``resume_finished`` (of ``sequence_id``, or of all sequences without it), and
        ``reassign``. Missing fields raise ValueError before anything is sent. Follow the
        action with ``wait()``.
        """
        kind = check_text(action_type, "action_type")
        if not isinstance(s_query, Mapping):
            raise TypeError(f"s_query must be a dict (a filter query), not {s_query!r}")
        given: dict[str, object] = {
            "sequence_id": None if sequence_id is None else check_id(sequence_id, "sequence_id"),
            "sender_account_id": None
            if sender_account_id is None
            else check_id(sender_account_id, "sender_account_id"),
            "sender_name": None if sender_name is None else check_text(sender_name, "sender_name"),
            "sender_email": None
            if sender_email is None
            else check_text(sender_email, "sender_email"),
            "contact_preference": None
            if contact_preference is None
            else check_text(contact_preference, "contact_preference"),
            "calls_assigned_to": None
            if calls_assigned_to is None
            else check_str_list(calls_assigned_to, "calls_assigned_to"),
            "from_phone_number_id": from_phone_number_id,
            "results_limit": None if results_limit is None else check_limit(results_limit),
            "sort": None if sort is None else list(sort),
            "send_done_email": send_done_email,
        }
        missing = [name for name in required_fields(kind) if given[name] is None]
        if missing:
            raise ValueError(f"a {kind!r} bulk action needs {', '.join(missing)}")
        fields: dict[str, object] = {"action_type": kind, "s_query": s_query}
        fields.update((k, v) for k, v in given.items() if v is not None)
        return await self._create(_Action, build_body(fields, extra))

    async def pause(self, id: str) -> BulkSequenceSubscriptionAction:
        """Pause a bulk action in progress; it stops until ``resume(id)``.

        Close's bulk-actions page says to send ``{"status": "paused"}``; that it goes as a PUT
        to the action's own URL, like every other change in Close's API, is not documented
        by Close.
        """
        return await self._update(_Action, id, {"status": BulkActionStatus.PAUSED.value})

    async def resume(self, id: str) -> BulkSequenceSubscriptionAction:
        """Resume a paused bulk action (status ``resuming``, then it goes on).

        Close accepts this within 7 days of the pause. Sent as ``{"status": "resuming"}``
        (a PUT to the action's URL, as ``pause``).
        """
        return await self._update(_Action, id, {"status": BulkActionStatus.RESUMING.value})

    async def wait(
        self,
        id: str,
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 15.0,
    ) -> BulkSequenceSubscriptionAction:
        """Poll a bulk action until it is done; return its final state.

        Polls start every ``poll_interval`` seconds and slow down (x1.5) to
        ``max_poll_interval``. Raises BulkActionError if the action ends in ``error``,
        BulkActionPausedError as soon as it is seen ``paused`` (a paused action does not
        finish by itself: waiting would only run out the clock), and BulkActionTimeoutError
        (the action goes on at Close) when ``timeout`` seconds pass first; ``timeout=None``
        waits for as long as it takes.
        """
        check_id(id)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be more than 0 seconds (or None), not {timeout!r}")
        if not poll_interval > 0 or max_poll_interval < poll_interval:
            raise ValueError("poll_interval must be > 0 and at most max_poll_interval")
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        while True:
            action = await self.get(id)
            if action.status == BulkActionStatus.DONE:
                return action
            if action.status == BulkActionStatus.ERROR:
                raise BulkActionError(
                    f"bulk action {id} ({action.action_type}) ended in status 'error' after "
                    f"{action.n_leads_processed or 0} of {action.n_leads or '?'} leads; see "
                    "its details in Close",
                    action=action,
                )
            if action.status == BulkActionStatus.PAUSED:
                raise BulkActionPausedError(
                    f"bulk action {id} ({action.action_type}) is paused after "
                    f"{action.n_leads_processed or 0} of {action.n_leads or '?'} leads: it will "
                    "not finish until resumed; call resume() (within 7 days of the pause), "
                    "then wait() again",
                    action=action,
                )
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise BulkActionTimeoutError(
                    f"bulk action {id} still {action.status} after {timeout} s; it goes on at "
                    "Close: call wait() again, or raise timeout=",
                    action=action,
                )
            logger.debug(
                "Bulk action %s is %s; polling again in %.1f s", id, action.status, interval
            )
            await asyncio.sleep(interval if left is None else min(interval, left))
            interval = min(interval * 1.5, max_poll_interval)


class BulkActions:
    """Bulk actions, by the kind of object they act on."""

    def __init__(self, transport: Transport, *, prefetch: int) -> None:
        self.sequence_subscriptions = BulkSequenceSubscriptions(transport, prefetch=prefetch)

    def __repr__(self) -> str:
        return "<BulkActions sequence_subscriptions>"
