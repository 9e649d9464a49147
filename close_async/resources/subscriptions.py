"""Sequence subscriptions: ``/sequence_subscription/``.

https://developer.close.com/api/resources/sequences (the subscription pages).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._bulk_read import SubscriptionReads, finite_ids
from .._changes import DEFAULT_MAX_BUFFERED, OVERLAP, RETENTION
from .._enums import SubscriptionStatus
from .._fanout import ErrorMode, FanOut, Job, JobFactory, Limiter, OnIdDone, OnProgress, pick_source
from .._fields import check_fields
from .._models import SequenceSubscription
from .._pagination import FetchPage, Items
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
from .._strategy import AUTO, BY_SEQUENCE, PER_ID, STRATEGIES, Plan, Strategy
from .._transport import Transport
from ._base import Resource
from .sequences import Sequences

if TYPE_CHECKING:
    from .._change_feed import SubscriptionChanges

__all__ = ["SequenceSubscriptions"]

_Sub = SequenceSubscription
_IDs = Iterable[str] | AsyncIterable[str] | None
_SEQUENCES_PER_ID = "per ID: the IDs are sequences, each read as one list"


class SequenceSubscriptions(Resource):
    """List, read, subscribe, change, pause, resume and delete sequence subscriptions."""

    collection = "sequence_subscription/"
    _too_long_hint = (
        "Read the subscriptions of a sequence this long per lead or contact instead: "
        "list_many(lead_ids=..., strategy='per_id'), or strategy='auto', which plans around "
        "the maximum once Close has named it."
    )

    def __init__(self, transport: Transport, *, prefetch: int) -> None:
        super().__init__(transport, prefetch=prefetch)
        # Reading by sequence looks sequences up (which, and how long each list is).
        self._sequences = Sequences(transport, prefetch=prefetch)

    def list(
        self,
        *,
        lead_id: str | None = None,
        contact_id: str | None = None,
        sequence_id: str | None = None,
        page_size: int = 100,
        limit: int | None = None,
        fields: Iterable[str] | None = None,
    ) -> Items[SequenceSubscription]:
        """Iterate over the subscriptions matching the filters, across all pages.

        Give at least one of ``lead_id``, ``contact_id``, ``sequence_id`` (several are
        ANDed). ``page_size`` (1-100) is the ``_limit`` of each request; ``limit`` caps the
        subscriptions yielded. ``fields`` asks Close for those fields only (``id`` is
        always added): the models then hold only those, and reading another raises
        ``FieldNotLoadedError``. Arguments are checked now, before any request.
        """
        filters = list_filters(lead_id=lead_id, contact_id=contact_id, sequence_id=sequence_id)
        size = check_page_size(page_size)
        cap = check_limit(limit)
        wanted = check_fields(fields, _Sub)
        return self._iterate(_Sub, filters, page_size=size, limit=cap, fields=wanted)

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
        strategy: Strategy = "per_id",
        skip_sequences: Iterable[str] = (),
        fields: Iterable[str] | None = None,
    ) -> FanOut[SequenceSubscription]:
        """List the subscriptions of many leads, contacts or sequences at once.

        Give exactly one of ``lead_ids``, ``contact_ids``, ``sequence_ids``: a list, any
        iterable or an async iterable of IDs, consumed lazily. At most ``concurrency``
        requests are in flight (never more than the client's ``max_concurrency``).
        Subscriptions are yielded as they arrive, every page of every ID, none twice.

        ``strategy`` chooses the read (see "Choosing a strategy" in docs/bulk-reads.md):
        ``"per_id"`` (the default) lists each ID; ``"by_sequence"`` reads every sequence
        and keeps the subscriptions of the input IDs (which must then be a finite
        collection: a list, tuple or set), which costs far fewer requests when most IDs
        have few subscriptions, but cannot see those of deleted sequences; ``"auto"``
        estimates both in requests before any list request and takes the cheaper (its
        result leaves out subscriptions of deleted sequences whichever it takes).
        ``run.strategy`` and ``run.progress`` say which ran and why. With sequence IDs,
        every strategy lists each sequence. ``skip_sequences`` (with ``"by_sequence"``
        only) names sequences not to read: those a resumed job has finished.

        ``on_error="raise"`` (the default) raises the first failure (after retries) and
        stops the rest; ``"continue"`` goes on and records each failed ID in the returned
        object's ``failures``. ``on_progress`` is called with a ``Progress`` snapshot as
        the work advances; ``on_id_done(id, count)`` once the last of an ID's ``count``
        subscriptions has been yielded (what a resumable export journals; reading by
        sequence, the IDs are the sequences read). Both run in the consuming task; an
        exception from either ends the run and is raised from the ``async for``. See the
        docs/bulk-reads.md.
        """
        name, ids = pick_source(
            lead_ids=lead_ids, contact_ids=contact_ids, sequence_ids=sequence_ids
        )
        if strategy not in STRATEGIES:
            choices = ", ".join(repr(choice) for choice in STRATEGIES)
            raise ValueError(f"strategy must be one of {choices}, not {strategy!r}")
        skip = frozenset(check_str_list(skip_sequences, "skip_sequences"))
        if skip and (strategy != BY_SEQUENCE or name == "sequence_ids"):
            raise ValueError(
                "skip_sequences goes with strategy='by_sequence' and lead_ids or contact_ids: "
                "only a read by sequence has sequences to skip"
            )
        wanted = check_fields(fields, _Sub)
        if wanted is not None and strategy != PER_ID and name != "sequence_ids":
            wanted |= {name[:-1], "status_reason"}  # what a read by sequence filters on
        reads = self._reads(check_page_size(page_size), wanted)
        job: Job[_Sub] | JobFactory[_Sub]
        if name == "sequence_ids":
            job = reads.per_id(name, ids, Plan(strategy=PER_ID, reason=_SEQUENCES_PER_ID))
        elif strategy == PER_ID:
            job = reads.per_id(name, ids, Plan(strategy=PER_ID, reason="per ID, as asked"))
        elif strategy == BY_SEQUENCE:
            job = reads.by_sequence(name, finite_ids(name, ids, strategy), skip=skip)
        else:
            assert strategy == AUTO
            job = reads.auto(name, ids)
        return self._fan_out(
            job,
            concurrency=concurrency,
            page_size=page_size,
            prefetch=prefetch,
            on_error=on_error,
            on_progress=on_progress,
            on_id_done=on_id_done,
        )

    def list_all(
        self,
        sequence_ids: _IDs = None,
        *,
        concurrency: int = 10,
        page_size: int = 100,
        prefetch: int | None = None,
        on_error: ErrorMode = "raise",
        on_progress: OnProgress | None = None,
        on_id_done: OnIdDone | None = None,
        fields: Iterable[str] | None = None,
    ) -> FanOut[SequenceSubscription]:
        """Every subscription of the organisation, or of the given sequences, by sequence.

        Without ``sequence_ids``, the sequences are those ``close.sequences.list()`` gives
        (subscriptions of deleted sequences are not found: Close no longer lists those
        sequences). Each sequence is fetched first for its ``subscription_counts_by_status``
        (the list of sequences does not carry them): its pages are then requested at known
        offsets, in parallel, and none past the end (a sequence whose counts say 0 costs
        one: counts may lag behind); a sequence whose counts are unknown is read with the adaptive
        window, as ``list`` reads. At most ``concurrency`` requests are in flight across
        sequences and pages. The run (a ``FanOut``) has the same ``progress``, ``failures``,
        callbacks and clean stops as ``list_many``, its IDs being the sequences. ``fields``
        asks for those fields only, as in ``list`` (the read keeps every subscription of
        each sequence: it filters on no field).
        """
        reads = self._reads(check_page_size(page_size), check_fields(fields, _Sub))
        job: Job[_Sub] | JobFactory[_Sub]
        if sequence_ids is None:
            job = reads.all_sequences()
        else:
            _, ids = pick_source(sequence_ids=sequence_ids)
            plan = Plan(strategy=BY_SEQUENCE, reason="by sequence: the sequences given")
            job = reads.by_sequences(ids, plan)
        return self._fan_out(
            job,
            concurrency=concurrency,
            page_size=page_size,
            prefetch=prefetch,
            on_error=on_error,
            on_progress=on_progress,
            on_id_done=on_id_done,
        )

    def _reads(self, page_size: int, fields: frozenset[str] | None) -> SubscriptionReads:
        def fetcher(filters: Mapping[str, str], limiter: Limiter) -> FetchPage[_Sub]:
            return self._page_fetcher(_Sub, filters, limiter=limiter, fields=fields)

        return SubscriptionReads(
            fetcher=fetcher,
            list_sequences=self._sequences.list,
            get_sequence=self._sequences.get,
            max_skip=lambda: self._max_skip,
            page_size=page_size,
            path=self.collection,
            hint=self._too_long_hint,
        )

    def _fan_out(
        self,
        job: Job[_Sub] | JobFactory[_Sub],
        *,
        concurrency: int,
        page_size: int,
        prefetch: int | None,
        on_error: ErrorMode,
        on_progress: OnProgress | None,
        on_id_done: OnIdDone | None,
    ) -> FanOut[SequenceSubscription]:
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

    async def get(self, id: str, *, fields: Iterable[str] | None = None) -> SequenceSubscription:
        """Fetch one subscription by ID; ``fields`` as in ``list``."""
        return await self._get(_Sub, id, fields=check_fields(fields, _Sub))

    async def create(
        self,
        *,
        sequence_id: str,
        contact_id: str,
        sender_account_id: str | None = None,
        sender_name: str | None = None,
        sender_email: str | None = None,
        contact_email: str | None = None,
        calls_assigned_to: Iterable[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> SequenceSubscription:
        """Subscribe a contact to a sequence.

        The ``sender_*`` fields say who the emails come from (an email account, a name and
        an address); ``contact_email`` picks which of the contact's addresses gets them;
        ``calls_assigned_to`` lists the users who get the call steps. Close's docs mark
        none of these required, so they are sent only when given: if Close needs one for
        this sequence, it answers 400 (``BadRequestError`` with ``.field_errors``).
        ``extra`` sends fields this release does not name. Not retried on a timeout or a
        dropped connection: the subscribe may have happened, and a second one would be
        refused (or, worse, succeed); check with ``list(contact_id=...)`` before trying
        again.
        """
        fields: dict[str, object] = {
            "sequence_id": check_id(sequence_id, "sequence_id"),
            "contact_id": check_id(contact_id, "contact_id"),
        }
        if sender_account_id is not None:
            fields["sender_account_id"] = check_id(sender_account_id, "sender_account_id")
        for name, value in (("sender_name", sender_name), ("sender_email", sender_email)):
            if value is not None:
                fields[name] = check_text(value, name)
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
        """Restart a subscription (``status="active"``), as Close describes it.

        Close requires a plan that includes Workflow runs for this and answers 400
        (``BadRequestError``) otherwise; pausing works on every plan.
        """
        return await self.update(id, status=SubscriptionStatus.ACTIVE)

    async def delete(self, id: str) -> None:
        """Delete a subscription, which unsubscribes the contact from the sequence."""
        await self._delete(id)

    def changes(
        self,
        since: str | datetime,
        *,
        until: datetime | None = None,
        overlap: timedelta = OVERLAP,
        retention: timedelta = RETENTION,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> SubscriptionChanges:
        """Iterate over the changes to subscriptions since a checkpoint, oldest first.

        ``since`` is the ``checkpoint`` string of an earlier run (resume right after its
        last change) or a timezone-aware datetime; ``until`` (exclusive) stops earlier than
        the newest change. Each change (a ``SubscriptionChange``: created, updated or
        deleted) comes once, in the order it happened; read ``.checkpoint`` on the returned
        object after dealing with changes and store it. Close's log is eventually
        consistent, so each run re-reads the ``overlap`` (5 minutes, as Close advises)
        before the last change it saw and skips what it handed out already; a change that
        shows up late comes after the ones already handed out. ``max_buffered`` bounds the
        events held in memory to put them in order. Raises ``CheckpointExpiredError`` now
        (before any request) if ``since`` is older than the ``retention`` of Close's log
        (30 days). See docs/keeping-current.md.
        """
        from .._change_feed import SubscriptionChanges
        from .events import Events

        return SubscriptionChanges(
            Events(self._transport, prefetch=self._prefetch),
            since=since,
            until=until,
            overlap=overlap,
            retention=retention,
            max_buffered=max_buffered,
        )

    async def changes_checkpoint(self) -> str:
        """Return a checkpoint for the changes from now on (for ``changes(since=...)``).

        Take it *before* a full read of the subscriptions: ``changes()`` from it then
        misses nothing that changed during or after the read (a few changes from just
        before may come too: apply changes as upserts). It is anchored on the newest event
        in Close's log, not on this machine's clock. Costs one request per action (3).
        """
        from .._change_feed import current_checkpoint
        from .events import Events

        return await current_checkpoint(Events(self._transport, prefetch=self._prefetch))
