"""``SyncCloseClient``: the async client for synchronous code (cron scripts, Django commands,
Airflow tasks).

It runs one private event loop in a background thread and hands it the async client's
coroutines, so that the connection pool and the rate-limit gate carry across calls, and
several threads can share one instance. Lists come back as ordinary iterators fed by a task
in that loop through a bounded buffer; breaking out of the loop (or closing the iterator)
cancels the task, which stops the requests behind it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypedDict, TypeVar, overload

import attrs

from ._change_feed import SubscriptionChanges
from ._client import CloseClient
from ._event_models import SubscriptionChange
from ._exceptions import ClientClosedError
from ._fanout import FailedID, FanOut, Progress
from ._gate import RateLimitGate
from ._stats import ClientStats
from ._strategy import Plan
from ._tasks import cancel_and_wait
from .resources.bulk_actions import BulkSequenceSubscriptions
from .resources.events import Events
from .resources.sequences import Sequences
from .resources.subscriptions import SequenceSubscriptions
from .resources.webhooks import Webhooks

if TYPE_CHECKING:
    import aiohttp
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = ["ClientOptions", "SyncCloseClient", "SyncFanOut", "SyncSubscriptionChanges"]

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

# Items an iterator may hold ahead of the consumer, and how many it consumes between two
# signals to the loop (a signal wakes the loop thread: batching them keeps it cheap).
_BUFFER = 1000
_RELEASE_EVERY = 100


class _Runner:
    """The event loop thread, and the way in from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="close-async-sync", daemon=True
        )
        self.thread.start()
        self.closed = False

    def check_caller(self) -> None:
        if self.closed:
            raise ClientClosedError(_CLOSED)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise RuntimeError(
            "SyncCloseClient was called from a thread that runs an event loop, which it "
            "would block; use CloseClient (async) there instead"
        )

    def _may_block(self) -> bool:
        """Whether this thread may wait for the loop (not the loop's own, nor another's)."""
        if threading.current_thread() is self.thread or self.closed:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the loop and wait for its result in this thread."""
        try:
            self.check_caller()
        except RuntimeError:
            coro.close()  # never started: close it so that it is not "never awaited"
            raise
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException as exc:
            future.cancel()  # Ctrl-C (or any exit) in this thread stops the work there too
            if isinstance(exc, concurrent.futures.CancelledError) and self.closed:
                # close() in another thread cancelled it: say so, as the async client does.
                raise ClientClosedError(_CLOSED_WHILE_CALLING) from None
            raise

    def stream(
        self, source: AsyncIterator[T], relay: _InOrder | None = None
    ) -> Generator[T, None, None]:
        """Iterate an async iterator from this thread, through a bounded buffer (which
        ``relay`` puts its calls in, to be made here in order)."""
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        if relay is not None:
            relay.items = items
        room = asyncio.Semaphore(_BUFFER)
        pump = self.call(_start(_pump(source, items, room)))
        taken = 0
        try:
            while True:
                item = items.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, _Call):
                    item.callback(*item.args)
                    continue
                yield item
                taken += 1
                if taken == _RELEASE_EVERY:
                    self._soon(_release, room, taken)
                    taken = 0
        finally:
            # A break, an exception, or garbage collection of this generator: stop the
            # work now, and wait until it has stopped (its requests cancelled, their
            # connections closed) unless this thread cannot block.
            if not pump.done() and self._soon(pump.cancel) and self._may_block():
                try:
                    asyncio.run_coroutine_threadsafe(_finished(pump), self.loop).result()
                except (concurrent.futures.CancelledError, RuntimeError):
                    if not self.closed:
                        raise
                    # close() in another thread stopped the pump (and this wait) itself.

    def _soon(self, callback: Callable[..., object], *args: object) -> bool:
        """Schedule ``callback`` in the loop; False if the client was closed (and its loop
        with it: nothing of it runs any more)."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # "Event loop is closed": close() ran in another thread
            return False
        return True

    def shutdown(self, client: CloseClient) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            asyncio.run_coroutine_threadsafe(_wind_down(client), self.loop).result()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


_END = object()
# A ClientClosedError, as the async client raises: a RuntimeError, and a CloseError.
_CLOSED = "this SyncCloseClient is closed; create a new one"
_CLOSED_WHILE_CALLING = (
    "the SyncCloseClient was closed (in another thread) while this call was running"
)
_CLOSED_WHILE_READING = (
    "the SyncCloseClient was closed while this iterator was being read; read it before "
    "closing the client"
)


@attrs.frozen
class _Failure:
    error: BaseException


async def _pump(
    source: AsyncIterator[T], items: queue.SimpleQueue[Any], room: asyncio.Semaphore
) -> None:
    try:
        async for item in source:
            await room.acquire()
            items.put(item)
    except asyncio.CancelledError:
        # The consumer went away (then nobody reads this), or close() stopped the loop's
        # work: then the consumer must not wait for ever for an item that will not come.
        items.put(_Failure(ClientClosedError(_CLOSED_WHILE_READING)))
        raise
    except BaseException as exc:
        items.put(_Failure(exc))
    else:
        items.put(_END)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Start a task in the loop and hand it back, so that it can be stopped from outside."""
    return asyncio.ensure_future(coro)


async def _finished(task: asyncio.Task[None]) -> None:
    """Wait until a task has really ended (after its cancellation, say)."""
    await asyncio.gather(task, return_exceptions=True)


def _release(room: asyncio.Semaphore, n: int) -> None:
    for _ in range(n):
        room.release()


async def _wind_down(client: CloseClient) -> None:
    """Stop whatever still runs in the loop, then close the client's connections."""
    current = asyncio.current_task()
    await cancel_and_wait([t for t in asyncio.all_tasks() if t is not current])
    await client.aclose()
    await asyncio.get_running_loop().shutdown_asyncgens()


# -- wrapping the async resources -------------------------------------------------------------

Resource = TypeVar("Resource")


class _SyncResource(Generic[Resource]):
    def __init__(self, resource: Resource, runner: _Runner) -> None:
        self._resource = resource
        self._runner = runner

    def __repr__(self) -> str:
        return f"<Sync{type(self._resource).__name__}>"


class _Adapted(Generic[P, R, S]):
    """A resource method of the async client, adapted for sync callers: the same signature,
    with what it returns passed through ``adapt`` (block on a coroutine, iterate an async
    iterator...)."""

    def __init__(
        self,
        method: Callable[Concatenate[Any, P], R],
        adapt: Callable[[_Runner, R], S],
    ) -> None:
        self._method = method
        self._adapt = adapt
        self.__doc__ = method.__doc__
        # What help() and editors show: the method's arguments (without self); what it
        # returns differs (a value for a coroutine, an iterator for an async one).
        signature = inspect.signature(method)
        self._signature = signature.replace(
            parameters=list(signature.parameters.values())[1:],
            return_annotation=inspect.Signature.empty,
        )

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Adapted[P, R, S]: ...
    @overload
    def __get__(self, obj: _SyncResource[Any], owner: type[Any]) -> Callable[P, S]: ...
    def __get__(
        self, obj: _SyncResource[Any] | None, owner: type[Any]
    ) -> _Adapted[P, R, S] | Callable[P, S]:
        if obj is None:
            return self
        invoke, resource, runner = self._invoke, obj._resource, obj._runner

        def call(*args: P.args, **kwargs: P.kwargs) -> S:
            runner.check_caller()
            return invoke(runner, resource, args, kwargs)

        call.__doc__ = self._method.__doc__
        call.__name__ = call.__qualname__ = self._method.__name__
        call.__signature__ = self._signature  # type: ignore[attr-defined]
        return call

    def _invoke(self, runner: _Runner, resource: Any, args: Any, kwargs: dict[str, Any]) -> S:
        # The method runs here, in the caller's thread: arguments are checked before
        # anything is sent; what it returns (a coroutine, an iterator) runs in the loop.
        return self._adapt(runner, self._method(resource, *args, **kwargs))


class _AdaptedFanOut(_Adapted[P, FanOut[T], "SyncFanOut[T]"]):
    """``list_many``/``list_all``: as ``_Adapted``, with ``on_id_done`` called in the
    caller's thread once it has had the ID's items, not when they reach the buffer."""

    def __init__(self, method: Callable[Concatenate[Any, P], FanOut[T]]) -> None:
        super().__init__(method, _fan_out)

    def _invoke(
        self, runner: _Runner, resource: Any, args: Any, kwargs: dict[str, Any]
    ) -> SyncFanOut[T]:
        callback = kwargs.get("on_id_done")
        if not callable(callback):  # None, or what the method refuses with TypeError
            return super()._invoke(runner, resource, args, kwargs)
        relay = _InOrder(callback)
        fan_out = self._method(resource, *args, **{**kwargs, "on_id_done": relay})
        return SyncFanOut(fan_out, runner, relay)


class _InOrder:
    """An ``on_id_done`` relayed through the iterator's buffer, behind the ID's items: the
    consumer's thread calls it when it reaches it, so that a journal it writes never names
    an ID whose items the caller has not had yet."""

    def __init__(self, callback: Callable[[str, int], object]) -> None:
        self.callback = callback
        self.items: queue.SimpleQueue[Any] | None = None  # the buffer, set by stream()

    def __call__(self, id_: str, count: int) -> None:
        assert self.items is not None
        self.items.put(_Call(self.callback, (id_, count)))


@attrs.frozen
class _Call:
    callback: Callable[..., object]
    args: tuple[Any, ...]


def _block(runner: _Runner, awaitable: Awaitable[T]) -> T:
    return runner.call(_awaited(awaitable))


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _iterate(runner: _Runner, items: AsyncIterator[T]) -> Iterator[T]:
    return runner.stream(items)


def _fan_out(runner: _Runner, fan_out: FanOut[T]) -> SyncFanOut[T]:
    return SyncFanOut(fan_out, runner)


_Stream = TypeVar("_Stream", bound="_SyncStream[Any]")


class _SyncStream(Iterator[T]):
    """An async iterator of the client, iterated from sync code; ``close()`` (or leaving a
    ``with`` block, or a ``for`` loop early) stops its work."""

    def __init__(
        self, source: AsyncIterator[T], runner: _Runner, relay: _InOrder | None = None
    ) -> None:
        self._items = runner.stream(source, relay)

    def __iter__(self: _Stream) -> _Stream:
        return self

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        """Stop: cancel the requests in flight and wait until they have stopped."""
        self._items.close()

    def __enter__(self: _Stream) -> _Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncFanOut(_SyncStream[T]):
    """What the sync ``list_many`` returns: an iterator of subscriptions, plus the run's
    ``failures`` and ``progress`` (see ``FanOut``). ``close()`` stops it; so does leaving a
    ``for`` loop over it early."""

    def __init__(self, fan_out: FanOut[T], runner: _Runner, relay: _InOrder | None = None) -> None:
        super().__init__(fan_out, runner, relay)
        self._fan_out = fan_out

    @property
    def failures(self) -> list[FailedID]:
        """The IDs that failed for good (with ``on_error="continue"``)."""
        return self._fan_out.failures

    @property
    def progress(self) -> Progress:
        """A snapshot of the run's counters."""
        return self._fan_out.progress

    @property
    def plan(self) -> Plan | None:
        """How the run reads and why (see ``FanOut.plan``); None until it has started."""
        return self._fan_out.plan

    @property
    def strategy(self) -> str | None:
        """The read that runs (``"per_id"`` or ``"by_sequence"``); None until decided."""
        return self._fan_out.strategy


def _changes(runner: _Runner, changes: SubscriptionChanges) -> SyncSubscriptionChanges:
    return SyncSubscriptionChanges(changes, runner)


class SyncSubscriptionChanges(_SyncStream[SubscriptionChange]):
    """What the sync ``changes()`` returns: an iterator of ``SubscriptionChange``, plus the
    ``checkpoint`` to store (see ``SubscriptionChanges``). ``close()`` stops it.

    Each change is fetched from the loop when asked for, never ahead: ``checkpoint`` is
    where the async iterator stands, and a change read ahead into a buffer would count as
    handed out, so a job that stored the checkpoint and stopped would never see it. (The
    async iterator buffers its pages itself; between two changes it has no request out.)
    """

    def __init__(self, changes: SubscriptionChanges, runner: _Runner) -> None:
        self._items = self._one_by_one(changes, runner)
        self._changes = changes
        self._runner = runner

    @staticmethod
    def _one_by_one(
        changes: SubscriptionChanges, runner: _Runner
    ) -> Generator[SubscriptionChange, None, None]:
        try:
            while True:
                try:
                    yield runner.call(_awaited(changes.__anext__()))
                except StopAsyncIteration:
                    return
        finally:
            # A break, close() or garbage collection: stop its requests, where this thread
            # may wait for them (a closed client has stopped them already).
            if runner._may_block():
                runner.call(changes.aclose())

    @property
    def checkpoint(self) -> str:
        """Where to resume: right after the last change this iterator handed out."""
        if not self._runner._may_block():  # a closed client (its loop stopped), or the loop
            return self._changes.checkpoint  # thread itself: nothing changes it meanwhile
        return self._runner.call(_checkpoint(self._changes))


async def _checkpoint(changes: SubscriptionChanges) -> str:
    """Read the checkpoint in the loop, where the iterator's state changes."""
    return changes.checkpoint


class SyncSequenceSubscriptions(_SyncResource[SequenceSubscriptions]):
    """``SequenceSubscriptions``, blocking; ``list``/``list_many`` return iterators."""

    list = _Adapted(SequenceSubscriptions.list, _iterate)
    list_many = _AdaptedFanOut(SequenceSubscriptions.list_many)
    list_all = _AdaptedFanOut(SequenceSubscriptions.list_all)
    get = _Adapted(SequenceSubscriptions.get, _block)
    create = _Adapted(SequenceSubscriptions.create, _block)
    update = _Adapted(SequenceSubscriptions.update, _block)
    pause = _Adapted(SequenceSubscriptions.pause, _block)
    resume = _Adapted(SequenceSubscriptions.resume, _block)
    delete = _Adapted(SequenceSubscriptions.delete, _block)
    changes = _Adapted(SequenceSubscriptions.changes, _changes)
    changes_checkpoint = _Adapted(SequenceSubscriptions.changes_checkpoint, _block)


class SyncEvents(_SyncResource[Events]):
    """``Events``, blocking; ``list`` returns an iterator."""

    list = _Adapted(Events.list, _iterate)
    get = _Adapted(Events.get, _block)


class SyncWebhooks(_SyncResource[Webhooks]):
    """``Webhooks``, blocking; ``list`` returns an iterator."""

    list = _Adapted(Webhooks.list, _iterate)
    get = _Adapted(Webhooks.get, _block)
    create = _Adapted(Webhooks.create, _block)
    update = _Adapted(Webhooks.update, _block)
    delete = _Adapted(Webhooks.delete, _block)


class SyncSequences(_SyncResource[Sequences]):
    """``Sequences``, blocking; ``list`` returns an iterator."""

    list = _Adapted(Sequences.list, _iterate)
    get = _Adapted(Sequences.get, _block)
    create = _Adapted(Sequences.create, _block)
    update = _Adapted(Sequences.update, _block)
    delete = _Adapted(Sequences.delete, _block)


class SyncBulkSequenceSubscriptions(_SyncResource[BulkSequenceSubscriptions]):
    """``BulkSequenceSubscriptions``, blocking; ``list`` returns an iterator."""

    list = _Adapted(BulkSequenceSubscriptions.list, _iterate)
    get = _Adapted(BulkSequenceSubscriptions.get, _block)
    create = _Adapted(BulkSequenceSubscriptions.create, _block)
    pause = _Adapted(BulkSequenceSubscriptions.pause, _block)
    resume = _Adapted(BulkSequenceSubscriptions.resume, _block)
    wait = _Adapted(BulkSequenceSubscriptions.wait, _block)


class SyncBulkActions:
    """Bulk actions, by the kind of object they act on."""

    def __init__(self, resource: BulkSequenceSubscriptions, runner: _Runner) -> None:
        self.sequence_subscriptions = SyncBulkSequenceSubscriptions(resource, runner)

    def __repr__(self) -> str:
        return "<SyncBulkActions sequence_subscriptions>"


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of ``CloseClient`` (see there), which ``SyncCloseClient`` takes
    too: typed, so that a type checker refuses a misspelled one. A test keeps the two in
    step."""

    oauth_token: str | None
    base_url: str
    timeout: float | aiohttp.ClientTimeout | None
    max_retries: int
    max_concurrency: int
    session: aiohttp.ClientSession | None
    max_rate_limit_wait: float
    backoff_base: float
    backoff_cap: float
    prefetch: int
    rate_limit_gate: RateLimitGate | None
    max_response_size: int


class SyncCloseClient:
    """A blocking client for the Close API, for code that does not run an event loop.

    It takes the same arguments as ``CloseClient`` and has the same resources, verbs and
    arguments; methods return values, and ``list``/``list_many`` return ordinary iterators.
    One private event loop runs in a background thread for the life of the client, so the
    connection pool and the rate-limit gate carry across calls, and one instance can be
    shared by several threads. Use it as ``with SyncCloseClient(...) as close:`` or call
    ``close()`` when done, which leaves no thread or connection behind. Calling it from a
    thread that runs an event loop raises RuntimeError: use ``CloseClient`` there.

    Callbacks given to ``list_many`` and ``list_all``: ``on_progress`` runs in the
    background thread; ``on_id_done`` in the thread that iterates, once it has had all of
    the ID's items (so that a journal it writes is never ahead of them).
    """

    def __init__(self, api_key: str | None = None, **options: Unpack[ClientOptions]) -> None:
        self._client = CloseClient(api_key, **options)  # checks the arguments, sends nothing
        self._runner = _Runner()
        # If the caller forgets close(), stop the thread at exit rather than leak it.
        self._finalizer = weakref.finalize(self, self._runner.shutdown, self._client)
        client, runner = self._client, self._runner
        self.sequence_subscriptions = SyncSequenceSubscriptions(
            client.sequence_subscriptions, runner
        )
        self.sequences = SyncSequences(client.sequences, runner)
        self.bulk_actions = SyncBulkActions(client.bulk_actions.sequence_subscriptions, runner)
        self.events = SyncEvents(client.events, runner)
        self.webhooks = SyncWebhooks(client.webhooks, runner)

    def __repr__(self) -> str:
        return repr(self._client).replace("<CloseClient", "<SyncCloseClient", 1)

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._client.base_url

    @property
    def stats(self) -> ClientStats:
        """Counters of everything this client did: requests, retries, 429s, waits."""
        return self._client.stats

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._runner.closed

    def close(self) -> None:
        """Stop the background loop and close the connections. Safe to call twice."""
        self._finalizer()

    def __enter__(self) -> SyncCloseClient:
        if self.closed:
            raise ClientClosedError(_CLOSED)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
