"""Sequence subscriptions: ``/sequence_subscription/``.

https://developer.close.com/api/resources/sequences (the subscription pages).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from .._enums import SubscriptionStatus
from .._fanout import ErrorMode, FanOut, Job, Limiter, OnIdDone, OnProgress, pick_source
from .._models import SequenceSubscription
from .._pagination import FetchPage
from .._params import (
    NOT_GIVEN,
    NotGiven,
    build_body,
    check_id,
    check_limit,
    check_page_size,
    check_str_list,
    check_text,
    list_filters,
)
from ._base import Resource

__all__ = ["SequenceSubscriptions"]

_Sub = SequenceSubscription
_IDs = Iterable[str] | AsyncIterable[str] | None


class SequenceSubscriptions(Resource):
    """List, read, subscribe, change, pause, resume and delete sequence subscriptions."""

    collection = "sequence_subscription/"

    def list(
        self,
        *,
        lead_id: str | None = None,
        contact_id: str | None = None,
        sequence_id: str | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> AsyncIterator[SequenceSubscription]:
        """Iterate over the subscriptions matching the filters, across all pages.

        Give at least one of ``lead_id``, ``contact_id``, ``sequence_id`` (several are
        ANDed). ``page_size`` (1-100) is the ``_limit`` of each request; ``limit`` caps the
        subscriptions yielded. Arguments are checked now, before any request.
        """
        filters = list_filters(lead_id=lead_id, contact_id=contact_id, sequence_id=sequence_id)
        size = check_page_size(page_size)
        cap = check_limit(limit)
        return self._iterate(_Sub, filters, page_size=size, limit=cap)

    def list_many(
        self,
        *,
        lead_ids: _IDs = None,
        contact_ids: _IDs = None,
        sequence_ids: _IDs = None,
        concurrency: int = 10,
        page_size: int = 100,
        prefetch: int | None = None,
        on_error: ErrorMode = "raise",
        on_progress: OnProgress | None = None,
        on_id_done: OnIdDone | None = None,
    ) -> FanOut[SequenceSubscription]:
        """List the subscriptions of many leads, contacts or sequences at once.

        Give exactly one of ``lead_ids``, ``contact_ids``, ``sequence_ids``: a list, any
        iterable or an async iterable of IDs, consumed lazily. At most ``concurrency``
        requests are in flight (never more than the client's ``max_concurrency``).
        Subscriptions are yielded as they arrive, every page of every ID, none twice.

        ``on_error="raise"`` (the default) raises the first failure (after retries) and
        stops the rest; ``"continue"`` goes on and records each failed ID in the returned
        object's ``failures``. ``on_progress`` is called with a ``Progress`` snapshot as
        the work advances; ``on_id_done(id, count)`` once the last of an ID's ``count``
        subscriptions has been yielded (what a resumable export journals). Both run in
        the consuming task; an exception from either ends the run and is raised from the
        ``async for``. See the README's "Fan-out" section.
        """
        name, ids = pick_source(
            lead_ids=lead_ids, contact_ids=contact_ids, sequence_ids=sequence_ids
        )
        field = name[:-1]  # lead_ids -> lead_id, the list's filter

        def fetcher_for(id_: str, limiter: Limiter) -> FetchPage[SequenceSubscription]:
            return self._page_fetcher(_Sub, {field: id_}, limiter=limiter)

        job = Job(ids=ids, name=name, fetcher_for=fetcher_for, path=self.collection)
        return FanOut(
            job,
            self._host(),
            concurrency=concurrency,
            page_size=page_size,
            prefetch=self._prefetch if prefetch is None else prefetch,
            on_error=on_error,
            on_progress=on_progress,
            on_id_done=on_id_done,
        )

    async def get(self, id: str) -> SequenceSubscription:
        """Fetch one subscription by ID."""
        return await self._get(_Sub, id)

    async def create(
        self,
        *,
        sequence_id: str,
        contact_id: str,
        sender_account_id: str,
        sender_name: str,
        sender_email: str,
        contact_email: str | None = None,
        calls_assigned_to: Iterable[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> SequenceSubscription:
        """Subscribe a contact to a sequence.

        ``contact_email`` picks which of the contact's addresses gets the emails;
        ``calls_assigned_to`` lists the users who get the call steps. ``extra`` sends
        fields this release does not name. Not retried on a timeout or a dropped
        connection: the subscribe may have happened, and a second one would be refused
        (or, worse, succeed); check with ``list(contact_id=...)`` before trying again.
        """
        fields: dict[str, object] = {
            "sequence_id": check_id(sequence_id, "sequence_id"),
            "contact_id": check_id(contact_id, "contact_id"),
            "sender_account_id": check_id(sender_account_id, "sender_account_id"),
            "sender_name": check_text(sender_name, "sender_name"),
            "sender_email": check_text(sender_email, "sender_email"),
        }
        if contact_email is not None:
            fields["contact_email"] = check_text(contact_email, "contact_email")
        if calls_assigned_to is not None:
            fields["calls_assigned_to"] = check_str_list(calls_assigned_to, "calls_assigned_to")
        return await self._create(_Sub, build_body(fields, extra))

    async def update(
        self,
        id: str,
        *,
        status: SubscriptionStatus | str | NotGiven = NOT_GIVEN,
        sender_account_id: str | NotGiven = NOT_GIVEN,
        sender_name: str | NotGiven = NOT_GIVEN,
        sender_email: str | NotGiven = NOT_GIVEN,
        calls_assigned_to: Iterable[str] | NotGiven = NOT_GIVEN,
        extra: Mapping[str, Any] | None = None,
    ) -> SequenceSubscription:
        """Change some fields of a subscription; only the arguments given are sent.

        ``status="paused"`` pauses it; ``status="active"`` restarts it (Close requires a
        plan with Workflow runs for that and answers 400 otherwise).
        """
        check_id(id)
        fields: dict[str, object] = {
            "status": status if status is NOT_GIVEN else check_text(status, "status"),
            "sender_account_id": sender_account_id,
            "sender_name": sender_name,
            "sender_email": sender_email,
            "calls_assigned_to": calls_assigned_to
            if calls_assigned_to is NOT_GIVEN
            else check_str_list(calls_assigned_to, "calls_assigned_to"),
        }
        return await self._update(_Sub, id, build_body(fields, extra))

    async def pause(self, id: str) -> SequenceSubscription:
        """Pause a subscription (``status="paused"``)."""
        return await self.update(id, status=SubscriptionStatus.PAUSED)

    async def resume(self, id: str) -> SequenceSubscription:
        """Resume a paused subscription (``status="active"``)."""
        return await self.update(id, status=SubscriptionStatus.ACTIVE)

    async def delete(self, id: str) -> None:
        """Delete a subscription, which unsubscribes the contact from the sequence."""
        await self._delete(id)
