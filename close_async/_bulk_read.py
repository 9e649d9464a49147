"""Bulk reads of subscriptions: per ID, by sequence, or whichever costs fewer requests.

Builds the ``Job`` (or the ``JobFactory``, when look-ups come first) that a ``FanOut`` runs:

- per ID: one list per input lead, contact or sequence (``list_many``'s original way);
- by sequence: one list per sequence (``list_all``, and ``list_many(strategy="by_sequence")``,
  which keeps the subscriptions of its input IDs), each read at known offsets when the
  sequence's ``subscription_counts_by_status`` tells its length (a fetch of the sequence:
  Close's sequence list does not carry the counts), else with the adaptive window;
- auto: the cost model of ``_strategy`` picks one of the two before any list request.

Subscriptions of a deleted sequence: Close's status reason "sequence-deleted" says they
outlive it, but the sequence is no longer in Close's sequence list, so no read by sequence
can find them. Whether Close still lists them by lead or contact is not documented by Close
(we assume it does, and the fake does): ``per_id`` then yields them; ``by_sequence`` cannot;
``auto`` leaves them out whichever read it picks, so that what it yields never depends on
its choice.

No request is made here but through the callables given (the client's own resources).
"""

from __future__ import annotations

import operator
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
)

import attrs

from ._enums import StatusReason
from ._exceptions import NotFoundError
from ._fanout import Job, JobFactory, Limiter
from ._maxskip import last_skip, max_skip_error, past_max_skip
from ._models import Sequence, SequenceSubscription
from ._pagination import FetchPage
from ._params import check_id
from ._strategy import (
    BY_SEQUENCE,
    PER_ID,
    Plan,
    choose,
    pages,
    plan_after_listing,
    plan_before_lookups,
)
from ._tasks import gather_or_cancel

__all__ = ["SubscriptionReads", "finite_ids"]

_Sub = SequenceSubscription
_IDs = Iterable[str] | AsyncIterable[str]
_Keep = Callable[[list[_Sub]], list[_Sub]]
_DELETED = StatusReason.SEQUENCE_DELETED
#: The page size of the sequence list (Close's largest): how many requests listing takes.
_SEQUENCE_PAGE = 100


def finite_ids(name: str, ids: _IDs, strategy: str) -> frozenset[str]:
    """The input IDs as a set, for a read that needs them all up front (by sequence).

    Raise TypeError for an input without a length (an iterator, an async iterable): it
    may be endless, and would have to be read whole before the first request.
    """
    if not isinstance(ids, Collection):
        raise TypeError(
            f"strategy={strategy!r} needs {name} as a list, tuple or set (a finite "
            f"collection), not {type(ids).__name__}: it reads every sequence and keeps the "
            f"subscriptions of these IDs, so it needs them all up front; pass a list, or "
            f"use strategy='per_id'"
        )
    return frozenset(check_id(value, f"each of {name}") for value in ids)


def _live_only(page: list[_Sub]) -> list[_Sub]:
    return [sub for sub in page if sub.status_reason != _DELETED]


def _total(sequence: Sequence) -> int | None:
    """The sequence's subscriptions by its counts; None when Close does not say, or says
    something that is not a count (a string, null, a fraction, a negative number): that
    cannot be summed, nor costed, nor paged by, so the list is read as one of unknown
    length."""
    counts = sequence.subscription_counts_by_status
    if counts is None:
        return None
    values = list(counts.values())
    if not all(type(value) is int and value >= 0 for value in values):
        return None
    return sum(values)


@attrs.frozen(kw_only=True)
class SubscriptionReads:
    """Make the jobs of bulk reads of subscriptions, from what the client provides.

    Attributes:
        fetcher: builds the page fetch of the subscription list with these filters.
        list_sequences: ``close.sequences.list()``.
        get_sequence: ``close.sequences.get`` (its answer carries the counts).
        max_skip: the largest ``_skip`` Close accepts on subscription lists, once known.
        page_size: the ``_limit`` of each page.
        path: the subscription list's path, for messages.
        hint: what to do about a sequence too long to page through (``MaxSkipError``).
    """

    fetcher: Callable[[Mapping[str, str], Limiter], FetchPage[_Sub]]
    list_sequences: Callable[[], AsyncIterator[Sequence]]
    get_sequence: Callable[[str], Awaitable[Sequence]]
    max_skip: Callable[[], int | None]
    page_size: int
    path: str
    hint: str

    # -- the jobs ----------------------------------------------------------------------------

    def per_id(self, name: str, ids: _IDs, plan: Plan, keep: _Keep | None = None) -> Job[_Sub]:
        """One list per input ID (``name`` is ``lead_ids``, ``contact_ids``...)."""
        field = name[:-1]  # lead_ids -> lead_id, the list's filter
        fetcher = self.fetcher

        def fetcher_for(id_: str, limiter: Limiter) -> FetchPage[_Sub]:
            return fetcher({field: id_}, limiter)

        return Job(
            ids=ids, name=name, fetcher_for=fetcher_for, path=self.path, keep=keep, plan=plan
        )

    def by_sequences(
        self,
        sequence_ids: _IDs,
        plan: Plan,
        *,
        sizes: Mapping[str, int] | None = None,
        keep: _Keep | None = None,
    ) -> Job[_Sub]:
        """One list per sequence, at known offsets where its length is known: from ``sizes``
        (counted while planning) or else from a fetch of the sequence made by the worker
        that reads it. Either way, a sequence known to be too long for Close's maximum
        ``_skip`` (which another sequence of the run may have just met) is refused before
        any of its pages is sent."""
        fetcher = self.fetcher

        def fetcher_for(id_: str, limiter: Limiter) -> FetchPage[_Sub]:
            return fetcher({"sequence_id": id_}, limiter)

        if sizes is None:
            size_of = self.size
        else:
            known = sizes

            async def size_of(sequence_id: str, limiter: Limiter) -> int | None:
                return self.check_size(sequence_id, known.get(sequence_id))

        return Job(
            ids=sequence_ids,
            name="sequence_ids",
            fetcher_for=fetcher_for,
            path=self.path,
            size_of=size_of,
            keep=keep,
            plan=plan,
        )

    def all_sequences(self) -> JobFactory[_Sub]:
        """Every subscription of the organisation: each sequence Close lists, by sequence."""

        async def make(limiter: Limiter) -> Job[_Sub]:
            sequence_ids = await self.sequence_ids()
            plan = Plan(
                strategy=BY_SEQUENCE,
                reason=f"by sequence: every sequence of the organisation ({len(sequence_ids):,})",
            )
            return self.by_sequences(sequence_ids, plan)

        return make

    def by_sequence(
        self, name: str, wanted: frozenset[str], skip: frozenset[str] = frozenset()
    ) -> JobFactory[_Sub]:
        """Every sequence read whole (but those in ``skip``), keeping the subscriptions of
        the ``wanted`` IDs."""

        async def make(limiter: Limiter) -> Job[_Sub]:
            sequence_ids = [s for s in await self.sequence_ids() if s not in skip]
            skipped = f", {len(skip):,} skipped as done" if skip else ""
            plan = Plan(
                strategy=BY_SEQUENCE,
                reason=f"by sequence, as asked: {len(sequence_ids):,} sequences{skipped}, "
                f"keeping the subscriptions of {len(wanted):,} {name[:-4]}s (subscriptions of "
                "deleted sequences cannot be found this way)",
            )
            return self.by_sequences(sequence_ids, plan, keep=self.keeper(name, wanted))

        return make

    def auto(self, name: str, ids: _IDs) -> JobFactory[_Sub]:
        """Per ID or by sequence, whichever the cost model finds cheaper (``_strategy``).

        Either way, subscriptions of deleted sequences are left out (see the module
        docstring), so that the result does not depend on the choice.
        """

        async def make(limiter: Limiter) -> Job[_Sub]:
            plan = plan_before_lookups(len(ids) if isinstance(ids, Collection) else None)
            if plan is not None:
                return self.per_id(name, ids, plan, keep=_live_only)
            wanted = finite_ids(name, ids, "auto")
            sequence_ids = await self.sequence_ids()
            list_requests = max(pages(len(sequence_ids), _SEQUENCE_PAGE), 1)
            plan = plan_after_listing(len(wanted), len(sequence_ids), list_requests)
            if plan is not None:
                return self.per_id(name, ids, plan, keep=_live_only)
            looked_up = await gather_or_cancel([self.look_up(s, limiter) for s in sequence_ids])
            # A sequence deleted since it was listed is left out: its subscriptions are now
            # those of a deleted sequence. Keyed by the ID asked for, not the one answered
            # with: a sequence answered for under another ID must still be read.
            sizes = {
                seq: _total(found)
                for seq, found in zip(sequence_ids, looked_up, strict=True)
                if found is not None
            }
            plan = choose(
                len(wanted),
                sizes,
                page_size=self.page_size,
                list_requests=list_requests,
                max_skip=self.max_skip(),
            )
            if plan.strategy == PER_ID:
                return self.per_id(name, ids, plan, keep=_live_only)
            known = {seq: size for seq, size in sizes.items() if size is not None}
            return self.by_sequences(list(known), plan, sizes=known, keep=self.keeper(name, wanted))

        return make

    # -- the look-ups ------------------------------------------------------------------------

    async def sequence_ids(self) -> list[str]:
        """The IDs of the sequences Close lists (deleted ones are not)."""
        return [sequence.id async for sequence in self.list_sequences()]

    async def look_up(self, sequence_id: str, limiter: Limiter) -> Sequence | None:
        """Fetch a sequence (for its counts); None if it does not exist (any more)."""
        async with limiter:
            try:
                return await self.get_sequence(sequence_id)
            except NotFoundError:
                return None

    async def size(self, sequence_id: str, limiter: Limiter) -> int | None:
        """How many subscriptions a sequence has, from its counts; None when Close does not
        say (or the sequence is gone: its list, if Close still serves it, is then read with
        the adaptive window).

        Raise ``MaxSkipError`` before any list request if the list is known to be too long
        for Close's maximum ``_skip``.
        """
        sequence = await self.look_up(sequence_id, limiter)
        return self.check_size(sequence_id, None if sequence is None else _total(sequence))

    def check_size(self, sequence_id: str, size: int | None) -> int | None:
        """Return ``size``; raise ``MaxSkipError`` if the list is known (now) to be too long
        for Close's maximum ``_skip``."""
        max_skip = self.max_skip()
        if size is not None and past_max_skip(size, self.page_size, max_skip):
            raise max_skip_error(
                path=self.path,
                filters={"sequence_id": sequence_id},
                skip=last_skip(size, self.page_size),
                max_skip=max_skip,
                hint=self.hint,
            )
        return size

    @staticmethod
    def keeper(name: str, wanted: frozenset[str]) -> _Keep:
        """The page filter of a read by sequence: the input IDs' live subscriptions."""
        of = operator.attrgetter(name[:-1])  # lead_ids -> sub.lead_id

        def keep(page: list[_Sub]) -> list[_Sub]:
            return [sub for sub in page if of(sub) in wanted and sub.status_reason != _DELETED]

        return keep
