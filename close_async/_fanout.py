"""``list_many``: list the items of many IDs at once, with bounded concurrency.

Generic over the model and decoupled from the resources: a ``FanOut`` is given a ``Job`` (the
IDs, and a factory that builds the page-fetch function of one ID) and a ``Host`` (the client's
limits, and a way to adopt the worker tasks so that closing the client stops them). Any
endpoint family that lists by ID gets ``list_many`` by building those two.

A fixed pool of ``concurrency`` worker tasks pulls IDs from the input one at a time (so a
generator of a million IDs is never materialised), lists each ID's items (every page;
fetched ahead like any list once the input has run out, as until then the other workers
keep every request busy; all at once, at known offsets, when the job knows the list's
length) and hands pages to the consumer through a queue. A semaphore caps the requests in
flight at ``concurrency``, pages fetched ahead and the job's look-ups included; another
caps the pages waiting for the consumer, so memory stays bounded by the concurrency
whatever the input size. A job that needs look-ups before it knows its IDs (which
sequences to read) is made by a ``JobFactory`` in a task of the run, once it starts.

No item is yielded twice: within one ID's list, items are told apart by ``id``; across IDs,
the caller's filter must be such that an item matches one ID only (a subscription belongs
to one lead, one contact and one sequence), so only a repeated input ID could repeat it. A
repeat of an ID still being listed, of one that yielded items, or of one that failed, is
skipped (a failed ID is in ``failures`` once, and none of its items comes after it). IDs
that succeeded without items are not remembered, which keeps memory flat when most IDs
have none; listing such an ID twice costs a request and yields nothing.

A dead or wrong host fails fast: until some request of the run has got an answer (any
status), ``UNREACHABLE_AFTER`` IDs that failed to connect (each after its retries) end the
run with ``APIConnectionError``, even with ``on_error="continue"``, instead of letting every
other ID go through its retries too.

Stopping: leaving the ``async for`` early (``break``, an exception, ``aclosing``), cancelling
the consuming task, or closing the client cancels the workers and waits for them, so no
task, connection or warning is left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from contextlib import AbstractAsyncContextManager, aclosing
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._exceptions import APIConnectionError, ClientClosedError, CloseError
from ._pagination import FetchPage, Items, paginate, whole_list
from ._params import check_id, check_page_size, check_positive
from ._stats import ClientStats, count_in_this_task
from ._strategy import Plan
from ._tasks import cancel_and_wait

__all__ = [
    "ErrorMode",
    "FailedID",
    "FanOut",
    "FetcherFor",
    "Host",
    "Job",
    "JobFactory",
    "Limiter",
    "OnIdDone",
    "OnProgress",
    "Progress",
    "UNREACHABLE_AFTER",
    "Reachability",
    "SizeOf",
    "pick_source",
]

M = TypeVar("M")

#: Bounds the requests of a run (a semaphore): the fetch functions enter it around each request.
Limiter = AbstractAsyncContextManager[Any]
#: Builds the function that fetches one page of one ID's list, its requests bounded by the
#: limiter: ``fetcher_for(id, limiter)(skip, size)``.
FetcherFor = Callable[[str, Limiter], FetchPage[M]]
#: Tells how many items one ID's list holds, when that can be known (None: it cannot),
#: its requests (a look-up, say) bounded by the limiter.
SizeOf = Callable[[str, Limiter], Awaitable["int | None"]]


@attrs.frozen(kw_only=True)
class Progress:
    """Where a ``list_many`` run stands.

    Attributes:
        ids_done: IDs finished, successfully or not, all their items yielded (a repeated
            input ID counts each time).
        ids_failed: IDs that failed for good (with ``on_error="continue"``).
        ids_total: the number of input IDs when the input has a length, else None.
        items: items (subscriptions) handed to the consumer so far.
        requests, retries, rate_limited, rate_limit_wait: as in ``ClientStats``, for this
            run only (look-ups made to plan the run included).
        elapsed: seconds since the run started.
        strategy: how the run reads (``"per_id"``, ``"by_sequence"``); None until decided
            (``strategy="auto"`` decides once the run starts). With ``"by_sequence"`` the
            run's IDs (``ids_done``, ``ids_total``) are the sequences it reads.
        strategy_reason: why, in one sentence with the numbers it rests on.
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
    strategy: str | None = None
    strategy_reason: str = ""


@attrs.frozen
class FailedID:
    """An ID whose items could not be listed, and why.

    ``items_yielded`` is how many of its items were yielded before it failed (its first
    pages may have arrived): listing it again repeats those.
    """

    id: str
    error: CloseError
    items_yielded: int


OnProgress = Callable[[Progress], object]
ErrorMode = Literal["raise", "continue"]


@attrs.frozen(kw_only=True)
class Host:
    """What a fan-out needs from the client it runs in.

    Attributes:
        max_concurrency: the most requests the client has in flight; a run never asks for
            more (the excess would only queue in the client).
        adopt: takes each worker task, to cancel it when the client closes.
        is_closed: whether the client was closed (a worker cancelled then says so).
    """

    max_concurrency: int
    adopt: Callable[[asyncio.Future[Any]], object]
    is_closed: Callable[[], bool]


@attrs.frozen(kw_only=True)
class Job(Generic[M]):
    """What a fan-out lists: IDs, and how to list the items of one of them.

    Attributes:
        ids: the input IDs (any iterable or async iterable, consumed lazily).
        name: what the IDs are, as the argument was called (``"lead_ids"``), for messages.
        fetcher_for: builds the page-fetch function of one ID (see ``FetcherFor``).
        path: the list's path (``"sequence_subscription/"``), for error messages.
        size_of: how many items an ID's list holds, when that can be known: its pages are
            then requested at known offsets, in parallel, and none past the end (a size
            of 0 costs its first page: a size is never trusted to end a list).
        keep: filters each page (by_sequence keeps the subscriptions of the input IDs).
        plan: how the job reads and why, for ``Progress.strategy``.
    """

    ids: Iterable[str] | AsyncIterable[str]
    name: str
    fetcher_for: FetcherFor[M]
    path: str = ""
    size_of: SizeOf | None = None
    keep: Callable[[list[M]], list[M]] | None = None
    plan: Plan | None = None


#: Makes the job once the run starts: for a job that needs look-ups first (which sequences
#: to read, how long each list is), made in a task of the run, its requests bounded by the
#: limiter and counted in the run's progress.
JobFactory = Callable[[Limiter], Awaitable[Job[M]]]


@attrs.frozen
class _Exit:
    """A worker ended; ``error`` says why when it was not because the input ran out."""

    error: BaseException | None


@attrs.frozen
class _IdDone:
    """An ID is finished: its pages (``count`` subscriptions) are ahead of this in the queue.

    ``repeat``: the ID was a repeat of one already listed (or being listed), so nothing was
    fetched for it. ``failure``: it failed for good (with ``on_error="continue"``).
    """

    id: str
    count: int
    failure: CloseError | None = None
    repeat: bool = False


OnIdDone = Callable[[str, int], object]

#: How many IDs must fail to connect, before any request of a run got an answer, to stop the
#: run. Each such failure already went through its retries (six attempts by default over a
#: few seconds), so three of them (which concurrent workers reach at about the same time)
#: mean the host is down, refuses us, or is not Close, rather than a passing fault.
UNREACHABLE_AFTER = 3


class Reachability:
    """Decide when a run should stop because Close cannot be reached at all.

    Fed the outcome of each finished ID. A failure to connect (``APIConnectionError`` with
    ``sent=False``: refused, no route, a TLS failure, a connect timeout) counts while
    nothing has been answered yet; any answer (a success, or an error status from the
    server) means the host is reachable, and the rule is off for the rest of the run.
    """

    def __init__(self, limit: int = UNREACHABLE_AFTER) -> None:
        self.limit = limit
        self.answered = False
        self.unreached = 0

    def check(self, failure: CloseError | None) -> APIConnectionError | None:
        """Record one ID's outcome; return the error to stop the run with, if it is time."""
        if self.answered:
            return None
        if not isinstance(failure, APIConnectionError) or failure.sent:
            self.answered = True
            return None
        self.unreached += 1
        if self.unreached < self.limit:
            return None
        error = APIConnectionError(
            f"stopped after {self.unreached} IDs failed to connect and no request got an "
            f"answer (the last: {failure}); check the network and the base URL",
            method=failure.method,
            path=failure.path,
            sent=False,
        )
        error.__cause__ = failure
        return error


#: The end of the input IDs (not None, which the input may hold by mistake).
_END = object()


class _IDs:
    """The input IDs, handed out one at a time to whichever worker asks."""

    def __init__(self, source: Iterable[str] | AsyncIterable[str], name: str) -> None:
        self._name = name
        self._done = False
        self._sync: Iterator[str] | None = None
        self._async: AsyncIterator[str] | None = None
        if isinstance(source, AsyncIterable):
            self._async = aiter(source)
            self._lock = asyncio.Lock()
        else:
            self._sync = iter(source)

    def exhausted(self) -> bool:
        """Whether every input ID has been handed out."""
        return self._done

    async def next(self) -> str | None:
        """The next ID, checked; None once the input has run out (a None *in* the input is
        a bad ID, not its end)."""
        value: object
        if self._sync is not None:
            value = next(self._sync, _END)  # no await: no other worker can interleave
        else:
            assert self._async is not None
            async with self._lock:  # async iterators may not be re-entered
                try:
                    value = await anext(self._async)
                except StopAsyncIteration:
                    value = _END
        if value is _END:
            self._done = True
            return None
        return check_id(value, f"each of {self._name}")


def pick_source(
    **sources: Iterable[str] | AsyncIterable[str] | None,
) -> tuple[str, Iterable[str] | AsyncIterable[str]]:
    """Check that exactly one of the ``sources`` of IDs was given; return its name and IDs.

    A list, tuple or set is checked whole now, so that a bad ID costs no request at all.
    """
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


@attrs.frozen(kw_only=True)
class _Settings:
    concurrency: int
    page_size: int
    prefetch: int
    on_error: ErrorMode
    on_progress: OnProgress | None
    on_id_done: OnIdDone | None


class _Run(Generic[M]):
    """The state of one run, shared by its generator and its workers.

    Kept apart from ``FanOut`` on purpose: the generator and the worker tasks refer to this
    object only, so that when the caller drops the ``FanOut`` (a ``break``), nothing of ours
    keeps it alive, the generator is finalised at once, and its ``finally`` stops the
    workers.
    """

    def __init__(self, source: Job[M] | JobFactory[M], host: Host, settings: _Settings) -> None:
        self.factory: JobFactory[M] | None = None
        self.job: Job[M] | None = None
        self.total: int | None = None
        if isinstance(source, Job):
            self.set_job(source)
        else:
            self.factory = source
        self.host = host
        self.settings = settings
        self.stats = ClientStats()
        self.failures: list[FailedID] = []
        self.ids_done = 0
        self.items = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.workers: list[asyncio.Future[Any]] = []
        self.in_flight: set[str] = set()
        self.had_results: set[str] = set()
        self.reachability = Reachability()

    def set_job(self, job: Job[M]) -> None:
        self.job = job
        self.total = len(job.ids) if isinstance(job.ids, Sized) else None

    def progress(self) -> Progress:
        stats = self.stats
        plan = None if self.job is None else self.job.plan
        if self.started is None:
            elapsed = 0.0
        else:
            elapsed = (self.finished or time.monotonic()) - self.started
        return Progress(
            ids_done=self.ids_done,
            ids_failed=len(self.failures),
            ids_total=self.total,
            items=self.items,
            requests=stats.requests,
            retries=stats.retries,
            rate_limited=stats.rate_limited,
            rate_limit_wait=stats.rate_limit_wait,
            elapsed=elapsed,
            strategy=None if plan is None else plan.strategy,
            strategy_reason="" if plan is None else plan.reason,
        )

    def report(self) -> None:
        if self.settings.on_progress is not None:
            self.settings.on_progress(self.progress())

    async def stop(self) -> None:
        await cancel_and_wait(self.workers)

    async def results(self) -> AsyncGenerator[list[M], None]:
        """Start the workers and yield the pages they queue, until all are done."""
        self.started = time.monotonic()
        concurrency = self.settings.concurrency
        requests = asyncio.Semaphore(concurrency)
        try:
            job = self.job if self.job is not None else await self.make_job(requests)
        finally:
            await cancel_and_wait(self.workers)  # the planning task, if it is still running
        self.report()  # the strategy is known from now on
        ids = _IDs(job.ids, job.name)
        pages: asyncio.Queue[list[M] | _IdDone | _Exit] = asyncio.Queue()
        room = asyncio.Semaphore(2 * concurrency)  # pages waiting for the consumer
        workers = self.workers = [
            asyncio.ensure_future(self.work(job, ids, pages, room, requests))
            for _ in range(concurrency)
        ]
        for worker in workers:
            self.host.adopt(worker)
        on_id_done = self.settings.on_id_done
        try:
            live = len(workers)
            while live:
                message = await pages.get()
                if isinstance(message, list):
                    room.release()
                    self.items += len(message)
                    self.report()
                    yield message
                    del message  # consumed: hold no page while waiting for the next
                    continue
                if isinstance(message, _IdDone):
                    # Every item of this ID has been yielded by now (each worker
                    # queues an ID's pages before its _IdDone, and the queue is FIFO).
                    self.ids_done += 1
                    if message.failure is not None:
                        self.failures.append(FailedID(message.id, message.failure, message.count))
                    elif on_id_done is not None and not message.repeat:
                        on_id_done(message.id, message.count)
                    self.report()
                    if not message.repeat:
                        unreachable = self.reachability.check(message.failure)
                        if unreachable is not None:
                            raise unreachable
                    continue
                live -= 1
                if message.error is not None:
                    raise message.error
        finally:
            self.finished = time.monotonic()
            await cancel_and_wait(workers)

    async def make_job(self, requests: asyncio.Semaphore) -> Job[M]:
        """Run the job factory (its look-ups) in a task of the run, and keep what it makes."""
        factory = self.factory
        assert factory is not None

        async def planning() -> Job[M]:
            count_in_this_task(self.stats)
            return await factory(requests)

        task = asyncio.ensure_future(planning())
        self.workers = [task]
        self.host.adopt(task)
        try:
            job = await task
        except asyncio.CancelledError:
            if self.host.is_closed():
                raise ClientClosedError(
                    "the CloseClient was closed while list_many was running"
                ) from None
            raise
        self.set_job(job)
        return job

    async def work(
        self,
        job: Job[M],
        ids: _IDs,
        pages: asyncio.Queue[list[M] | _IdDone | _Exit],
        room: asyncio.Semaphore,
        requests: asyncio.Semaphore,
    ) -> None:
        """One worker: take IDs one by one and list each into the queue."""
        count_in_this_task(self.stats)
        error: BaseException | None = None
        try:
            while (id_ := await ids.next()) is not None:
                if id_ in self.in_flight or id_ in self.had_results:
                    pages.put_nowait(_IdDone(id_, 0, repeat=True))  # listed once already
                    continue
                self.in_flight.add(id_)
                try:
                    queued, failure = await self.list_one(job, ids, id_, pages, room, requests)
                finally:
                    self.in_flight.discard(id_)
                if failure is not None and self.settings.on_error == "raise":
                    raise failure
                if queued or failure is not None:
                    # A repeat would yield these again, or make a failed ID (recorded in
                    # failures) succeed after all, or fail and be recorded twice.
                    self.had_results.add(id_)
                pages.put_nowait(_IdDone(id_, queued, failure))
                if failure is not None:
                    # Let the consumer see the failure before the next ID's request goes
                    # out: it may stop the run (the CLI does, on a bad API key).
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if self.host.is_closed():
                error = ClientClosedError("the CloseClient was closed while list_many was running")
            raise
        except BaseException as exc:  # a failure to raise from the consumer's loop
            error = exc
        finally:
            pages.put_nowait(_Exit(error))

    async def list_one(
        self,
        job: Job[M],
        ids: _IDs,
        id_: str,
        pages: asyncio.Queue[list[M] | _IdDone | _Exit],
        room: asyncio.Semaphore,
        requests: asyncio.Semaphore,
    ) -> tuple[int, CloseError | None]:
        """List one ID into the queue; return how many were queued, and the failure if any."""
        settings = self.settings
        page_size = settings.page_size
        fetch = job.fetcher_for(id_, requests)
        keep = job.keep
        queued = 0
        try:
            # A size of 0 still costs the first page: it may be wrong (counts lag behind,
            # or leave a status out), and only ``has_more`` can say a list has ended.
            size = None if job.size_of is None else await job.size_of(id_, requests)
            first = None
            if size is None or size <= page_size:
                first = await fetch(0, page_size)
                whole = whole_list(first)
                if whole is not None:  # the usual case: one page
                    if keep is not None:
                        whole = keep(whole)
                    if whole:
                        await room.acquire()
                        pages.put_nowait(whole)
                    return len(whole), None
            # A known length (over a page) has its pages at known offsets, all at once (as
            # many as the requests allow), and none past the end.
            listing = paginate(
                fetch,
                page_size=page_size,
                prefetch=settings.prefetch,
                # Fetch ahead on speculation only once the input has run out: until then
                # every worker has an ID to list, so a page past the end, perhaps, could
                # only take a request from one that is sure to be useful.
                may_fetch_ahead=ids.exhausted,
                first=first,
                path=job.path,
                total=size,
                known_window=settings.concurrency,
            )
            del first  # paginate holds it only as long as it needs to
            async with aclosing(listing):
                async for page in listing:
                    kept = page if keep is None else keep(page)
                    del page
                    if not kept:
                        continue
                    await room.acquire()
                    pages.put_nowait(kept)
                    queued += len(kept)
                    del kept  # the consumer has it: hold no page while waiting
        except CloseError as exc:
            return queued, exc
        return queued, None


class FanOut(Items[M]):
    """The items of many IDs (``FanOut[SequenceSubscription]`` for ``list_many``).

    Iterate it with ``async for`` (like a generator, it runs once). Afterwards (or during)
    ``failures`` lists the IDs that failed (with ``on_error="continue"``) and ``progress``
    says where the run stands.
    ``aclose()`` (or ``async with``, or ``contextlib.aclosing``) stops it at once; so does
    dropping it (``break``), as the event loop then finalises it.

    Built by a resource (``list_many``) from a ``Job`` (or a ``JobFactory``, for a job that
    needs look-ups first) and the client's ``Host``; arguments are checked here, before any
    request.
    """

    def __init__(
        self,
        job: Job[M] | JobFactory[M],
        host: Host,
        *,
        concurrency: int,
        page_size: int,
        prefetch: int,
        on_error: ErrorMode,
        on_progress: OnProgress | None,
        on_id_done: OnIdDone | None = None,
    ) -> None:
        if on_error not in ("raise", "continue"):
            raise ValueError(f"on_error must be 'raise' or 'continue', not {on_error!r}")
        for hook_name, hook in (("on_progress", on_progress), ("on_id_done", on_id_done)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{hook_name} must be callable")
        settings = _Settings(
            # Never more than the client allows: the excess would only queue in the client.
            concurrency=min(check_positive(concurrency, "concurrency"), host.max_concurrency),
            page_size=check_page_size(page_size),
            prefetch=check_positive(prefetch, "prefetch"),
            on_error=on_error,
            on_progress=on_progress,
            on_id_done=on_id_done,
        )
        self._run = _Run(job, host, settings)
        # The generator does not start (no worker, no request) until the first item is
        # asked for, and never starts if it is closed first.
        super().__init__(self._run.results())

    def __repr__(self) -> str:
        run = self._run
        name = "(not planned yet)" if run.job is None else run.job.name
        return f"<FanOut {name} concurrency={run.settings.concurrency} {self.progress}>"

    @property
    def concurrency(self) -> int:
        """The most requests this run has in flight."""
        return self._run.settings.concurrency

    @property
    def progress(self) -> Progress:
        """A snapshot of the run's counters."""
        return self._run.progress()

    @property
    def plan(self) -> Plan | None:
        """How the run reads, why, and the requests each way was estimated to need; None
        until the run has started (a run with ``strategy="auto"`` decides then)."""
        job = self._run.job
        return None if job is None else job.plan

    @property
    def strategy(self) -> str | None:
        """The read that runs (``"per_id"`` or ``"by_sequence"``); None until decided."""
        plan = self.plan
        return None if plan is None else plan.strategy

    @property
    def failures(self) -> list[FailedID]:
        """The IDs that failed for good (with ``on_error="continue"``), in order."""
        return self._run.failures

    @property
    def stats(self) -> ClientStats:
        """This run's share of the client's counters."""
        return self._run.stats

    def __aiter__(self) -> FanOut[M]:
        return self

    async def aclose(self) -> None:
        """Stop the run: cancel requests in flight and wait for the workers to end."""
        await super().aclose()
        # The generator may already be gone (dropped by a ``break``, its finalisation
        # scheduled by the event loop): stop its workers here and now all the same.
        await self._run.stop()

    async def __aenter__(self) -> FanOut[M]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
