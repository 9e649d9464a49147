"""``list_many``: list the subscriptions of many IDs at once, with bounded concurrency.

A fixed pool of ``concurrency`` worker tasks pulls IDs from the input one at a time (so a
generator of a million IDs is never materialised), lists each ID's subscriptions (every
page, fetched ahead like any list) and hands pages to the consumer through a queue. A
semaphore caps the requests in flight at ``concurrency``, pages fetched ahead included;
another caps the pages waiting for the consumer, so memory stays bounded by the
concurrency whatever the input size.

No subscription is yielded twice: a subscription belongs to one lead, one contact and one
sequence, so only a repeated input ID could repeat it. A repeat of an ID still being listed,
or of one that had subscriptions, is skipped. (IDs without subscriptions are not
remembered, which keeps memory flat when most IDs have none; listing such an ID twice
costs a request and yields nothing.)

Stopping: leaving the ``async for`` early (``break``, an exception, ``aclosing``), cancelling
the consuming task, or closing the client cancels the workers and waits for them, so no
task, connection or warning is left behind.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sized
from contextlib import aclosing
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import attrs

from ._exceptions import ClientClosedError, CloseError
from ._models import SequenceSubscription
from ._pagination import paginate
from ._params import check_id, check_page_size, check_positive
from ._stats import ClientStats, count_in_this_task

if TYPE_CHECKING:
    from .resources.subscriptions import SequenceSubscriptions

__all__ = ["FailedID", "FanOut", "OnProgress", "Progress"]


@attrs.frozen(kw_only=True)
class Progress:
    """Where a ``list_many`` run stands.

    Attributes:
        ids_done: IDs finished, successfully or not (repeated IDs count once each time).
        ids_failed: IDs that failed for good (with ``on_error="continue"``).
        ids_total: the number of input IDs when the input has a length, else None.
        items: subscriptions handed to the consumer so far.
        requests, retries, rate_limited, rate_limit_wait: as in ``ClientStats``, for this
            run only.
        elapsed: seconds since the run started.
    """

    ids_done: int
    ids_failed: int
    ids_total: int | None
    items: int
    requests: int
    retries: int
    rate_limited: int
    rate_limit_wait: float
    elapsed: float


@attrs.frozen
class FailedID:
    """An ID whose subscriptions could not be listed, and why.

    ``items_yielded`` is how many of its subscriptions were yielded before it failed (its
    first pages may have arrived): listing it again repeats those.
    """

    id: str
    error: CloseError
    items_yielded: int


OnProgress = Callable[[Progress], object]
ErrorMode = Literal["raise", "continue"]


@attrs.frozen
class _Exit:
    """A worker ended; ``error`` says why when it was not because the input ran out."""

    error: BaseException | None


class _IDs:
    """The input IDs, handed out one at a time to whichever worker asks."""

    def __init__(self, source: Iterable[str] | AsyncIterable[str], name: str) -> None:
        self._name = name
        self._sync: Iterator[str] | None = None
        self._async: AsyncIterator[str] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
            self._lock = asyncio.Lock()
        else:
            self._sync = iter(source)

    async def next(self) -> str | None:
        if self._sync is not None:
            value = next(self._sync, None)  # no await: no other worker can interleave
        else:
            assert self._async is not None
            async with self._lock:  # async iterators may not be re-entered
                try:
                    value = await anext(self._async)
                except StopAsyncIteration:
                    value = None
        return None if value is None else check_id(value, f"each of {self._name}")


def _pick_source(
    **sources: Iterable[str] | AsyncIterable[str] | None,
) -> tuple[str, Iterable[str] | AsyncIterable[str]]:
    given = [(name, ids) for name, ids in sources.items() if ids is not None]
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of {', '.join(sources)} (got {len(given) or 'none'}): a "
            "subscription matching several would be listed for each"
        )
    name, ids = given[0]
    if isinstance(ids, str | bytes):
        raise TypeError(f"{name} must be an iterable of IDs, not a single string: {ids!r}")
    if not isinstance(ids, Iterable | AsyncIterable):
        raise TypeError(f"{name} must be an iterable of IDs, not {type(ids).__name__}")
    if isinstance(ids, list | tuple | set | frozenset):
        for value in ids:  # cheap, and a bad ID then costs no request at all
            check_id(value, f"each of {name}")
    return name, ids


class FanOut(AsyncIterable[SequenceSubscription]):
    """The subscriptions of many IDs, as ``list_many`` returns them.

    Iterate it once with ``async for``. Afterwards (or during) ``failures`` lists the IDs
    that failed (with ``on_error="continue"``) and ``progress`` says where the run stands.
    ``aclose()`` (or ``async with``, or ``contextlib.aclosing``) stops it at once.
    """

    def __init__(
        self,
        resource: SequenceSubscriptions,
        *,
        lead_ids: Iterable[str] | AsyncIterable[str] | None,
        contact_ids: Iterable[str] | AsyncIterable[str] | None,
        sequence_ids: Iterable[str] | AsyncIterable[str] | None,
        concurrency: int,
        page_size: int,
        prefetch: int,
        on_error: str,
        on_progress: OnProgress | None,
    ) -> None:
        name, ids = _pick_source(
            lead_ids=lead_ids, contact_ids=contact_ids, sequence_ids=sequence_ids
        )
        self._filter = name[:-1]  # lead_ids -> lead_id
        self._ids = ids
        transport = resource._transport
        self._concurrency = min(
            check_positive(concurrency, "concurrency"), transport.max_concurrency
        )
        self._page_size = check_page_size(page_size)
        self._prefetch = check_positive(prefetch, "prefetch")
        if on_error not in ("raise", "continue"):
            raise ValueError(f"on_error must be 'raise' or 'continue', not {on_error!r}")
        if on_progress is not None and not callable(on_progress):
            raise TypeError("on_progress must be callable")
        self._on_error = on_error
        self._on_progress = on_progress
        self._resource = resource
        self._transport = transport
        self._total = len(ids) if isinstance(ids, Sized) else None
        self.stats = ClientStats()
        self.failures: list[FailedID] = []
        self._ids_done = 0
        self._items = 0
        self._started: float | None = None
        self._finished: float | None = None
        self._agen: weakref.ref[AsyncIterator[SequenceSubscription]] | None = None
        self._in_flight: set[str] = set()
        self._had_results: set[str] = set()

    def __repr__(self) -> str:
        return f"<FanOut {self._filter}s concurrency={self._concurrency} {self.progress}>"

    @property
    def concurrency(self) -> int:
        """The most requests this run has in flight."""
        return self._concurrency

    @property
    def progress(self) -> Progress:
        """A snapshot of the run's counters."""
        stats = self.stats
        if self._started is None:
            elapsed = 0.0
        else:
            elapsed = (self._finished or time.monotonic()) - self._started
        return Progress(
            ids_done=self._ids_done,
            ids_failed=len(self.failures),
            ids_total=self._total,
            items=self._items,
            requests=stats.requests,
            retries=stats.retries,
            rate_limited=stats.rate_limited,
            rate_limit_wait=stats.rate_limit_wait,
            elapsed=elapsed,
        )

    def __aiter__(self) -> AsyncIterator[SequenceSubscription]:
        if self._agen is not None:
            raise RuntimeError("a list_many() result can be iterated only once")
        agen = self._run()
        # Only a weak reference: when the caller's loop drops the generator (``break``),
        # it must be finalised (and its workers stopped) at once, not kept alive by us.
        self._agen = weakref.ref(agen)
        return agen

    async def aclose(self) -> None:
        """Stop the run: cancel requests in flight and wait for the workers to end."""
        agen = self._agen() if self._agen is not None else None
        if agen is not None:
            await agen.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> FanOut:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _report(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)

    async def _run(self) -> AsyncIterator[SequenceSubscription]:
        self._started = time.monotonic()
        ids = _IDs(self._ids, f"{self._filter}s")
        pages: asyncio.Queue[list[SequenceSubscription] | _Exit] = asyncio.Queue()
        room = asyncio.Semaphore(2 * self._concurrency)  # pages waiting for the consumer
        requests = asyncio.Semaphore(self._concurrency)
        workers = [
            asyncio.ensure_future(self._work(ids, pages, room, requests))
            for _ in range(self._concurrency)
        ]
        for worker in workers:
            self._transport.adopt(worker)
        try:
            live = len(workers)
            while live:
                message = await pages.get()
                if isinstance(message, _Exit):
                    live -= 1
                    if message.error is not None:
                        raise message.error
                    continue
                room.release()
                self._items += len(message)
                for sub in message:
                    yield sub
        finally:
            self._finished = time.monotonic()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(
        self,
        ids: _IDs,
        pages: asyncio.Queue[list[SequenceSubscription] | _Exit],
        room: asyncio.Semaphore,
        requests: asyncio.Semaphore,
    ) -> None:
        count_in_this_task(self.stats)
        error: BaseException | None = None
        try:
            while (id_ := await ids.next()) is not None:
                if id_ in self._in_flight or id_ in self._had_results:
                    self._ids_done += 1  # a repeat: its subscriptions come (came) once
                    continue
                self._in_flight.add(id_)
                try:
                    yielded, failure = await self._list_one(id_, pages, room, requests)
                finally:
                    self._in_flight.discard(id_)
                if failure is not None:
                    if self._on_error == "raise":
                        raise failure
                    self.failures.append(FailedID(id_, failure, yielded))
                elif yielded:
                    self._had_results.add(id_)
                self._ids_done += 1
                self._report()
        except asyncio.CancelledError:
            if self._transport.closed:
                error = ClientClosedError("the CloseClient was closed while list_many was running")
            raise
        except BaseException as exc:  # a failure to raise from the consumer's loop
            error = exc
        finally:
            pages.put_nowait(_Exit(error))

    async def _list_one(
        self,
        id_: str,
        pages: asyncio.Queue[list[SequenceSubscription] | _Exit],
        room: asyncio.Semaphore,
        requests: asyncio.Semaphore,
    ) -> tuple[int, CloseError | None]:
        """List one ID into the queue; return how many were queued, and the failure if any."""
        fetch = self._resource._page_fetcher(
            SequenceSubscription, {self._filter: id_}, limiter=requests
        )
        listing = paginate(fetch, page_size=self._page_size, prefetch=self._prefetch, key=_key)
        queued = 0
        try:
            async with aclosing(listing):
                async for page in listing:
                    await room.acquire()
                    pages.put_nowait(page)
                    queued += len(page)
                    self._report()
        except CloseError as exc:
            return queued, exc
        return queued, None


def _key(sub: SequenceSubscription) -> str:
    return sub.id
