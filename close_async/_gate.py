"""The shared rate-limit gate: one per client, one state per endpoint group.

Close limits each endpoint group per API key and tells us where we stand in every answer's
``RateLimit`` header. Instead of letting each task find the limit by running into a 429,
every request first passes the gate of its group, which admits it only while the requests in
flight plus this one fit in what the window has ``remaining``; once the window is spent, the
gate holds new requests until its reset. A 429 pauses the whole group once, until the reset
the server gave (plus a little jitter), instead of each task discovering it on its own.
Which endpoints form one group is ``EndpointGroups``' business (``_groups.py``).

Before the first answer of a group we know nothing, so the gate admits a small first burst
(``initial_burst``, 10 by default) and holds the rest until an answer tells it the limit: a
burst of 32 requests into a window of 20 would otherwise earn 12 429s at the start of every
job, while a lone first request would cost every job a round trip. Ten is half the smallest
per-key limit Close gives as an example (20 per second), and as many as ``list_many`` sends
at once by default. Answers without a ``RateLimit`` header open the group (the server does
not limit it, or does not say).

The estimate is conservative: the server's ``remaining`` may already count some of the
requests in flight, but the gate subtracts them all. It never admits more than the window
allows, at the price of a little throughput at the end of a window.

No wait without end: a pause or a spent window is never held longer than the client's
``max_rate_limit_wait``. When Close asks for more (``reset=1e9``, say), the requests waiting
in the group fail at once with ``RateLimitError``, and so does every request to the group
for the next ``max_rate_limit_wait`` seconds; then one request is let through to ask again.
A 429 that asks for no wait at all (``reset=0``) still pauses the group
``_retry.MIN_RATE_LIMIT_WAIT``, the least wait of a 429's retry too.

``RateLimitGate`` is the interface; ``close_async.redis.RedisRateLimitGate`` keeps the same
state in Redis, for many worker processes on one API key.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import attrs

from ._defaults import DEFAULT_MAX_RATE_LIMIT_WAIT
from ._exceptions import RateLimitError
from ._groups import EndpointGroups
from ._params import check_number, check_positive
from ._ratelimit import RateLimitInfo
from ._retry import MIN_RATE_LIMIT_WAIT

__all__ = [
    "GateSettings",
    "GroupSnapshot",
    "LocalRateLimitGate",
    "Observation",
    "RateLimitGate",
    "client_gate",
    "log_refusal",
    "refused_error",
    "unbind_client",
]

logger = logging.getLogger("close_async")


@attrs.frozen
class Observation:
    """What one answer told the gate: its status, its ``RateLimit`` header, and the seconds
    the server asked us to wait (reset, else Retry-After)."""

    status: int
    info: RateLimitInfo | None
    wait: float | None


@runtime_checkable
class RateLimitGate(Protocol):
    """Admits requests per endpoint group; fed with what each answer says.

    ``acquire`` gets the request's endpoint, ``"METHOD resource/"`` (``"GET
    sequence_subscription/"``), and returns a token that goes back to ``release`` with the
    same endpoint and what the answer said (``None`` when no answer came: a connection
    error, a timeout, a cancellation). The gate decides which endpoints share a group.

    A gate may also define ``bind_client(settings: GateSettings) -> RateLimitGate``: a
    ``CloseClient`` then calls it once and uses the gate it returns, which knows the
    client's credential (as a digest, never the credential) and ``max_rate_limit_wait``.
    The gate it returns may define ``async unbind_client()``, which the client awaits when
    it closes, to free what it holds in the client's event loop.
    """

    async def acquire(self, group: str) -> object:
        """Wait until a request to ``group`` may be sent."""
        ...

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        """Record that an admitted request has its answer (or never will)."""
        ...


@runtime_checkable
class _BindableGate(RateLimitGate, Protocol):
    def bind_client(self, settings: GateSettings) -> RateLimitGate: ...


@attrs.frozen(kw_only=True)
class GateSettings:
    """What a client tells its gate (see ``RateLimitGate.bind_client``).

    Attributes:
        credential_digest: the SHA-256 digest of the client's ``Authorization`` header:
            tells API keys apart without being one (never in reprs).
        max_wait: the client's ``max_rate_limit_wait``: the longest pause or spent-window
            wait the gate may make a request wait.
    """

    credential_digest: bytes = attrs.field(repr=False)
    max_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT


def client_gate(gate: RateLimitGate | None, authorization: str, max_wait: float) -> RateLimitGate:
    """The gate a client uses: ``gate`` (an in-process one by default), bound to the client."""
    if gate is None:
        gate = LocalRateLimitGate()
    if not isinstance(gate, _BindableGate):
        return gate  # a gate of the caller's that knows nothing of clients
    digest = hashlib.sha256(authorization.encode()).digest()
    return gate.bind_client(GateSettings(credential_digest=digest, max_wait=max_wait))


async def unbind_client(gate: RateLimitGate) -> None:
    """Tell a client's gate that the client is closing (if the gate wants to know)."""
    unbind = getattr(gate, "unbind_client", None)
    if unbind is not None:
        await unbind()


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


def refused_error(endpoint: str, asked: float, left: float, max_wait: float) -> RateLimitError:
    """The error of a request refused because Close asked for a longer wait than allowed."""
    method, _, path = endpoint.partition(" ")
    return RateLimitError(
        f"{endpoint}: Close asked us to wait {_seconds(asked)} s before more requests to this "
        f"endpoint group, longer than max_rate_limit_wait ({_seconds(max_wait)} s); requests "
        f"to the group fail at once for the next {_seconds(max(left, 0.0))} s, then one is "
        "let through to ask again. Retry later, or raise max_rate_limit_wait= to wait as "
        "long as Close asks",
        status=429,
        method=method,
        path=path,
        retry_after=asked,
    )


def log_refusal(group: str, asked: float, max_wait: float) -> None:
    """Log that Close asked for a longer wait than allowed, so the group is refused."""
    logger.warning(
        "Rate limited on %s: Close asked for a wait of %s s, longer than max_rate_limit_wait "
        "(%s s); requests to the group fail for %s s",
        group,
        _seconds(asked),
        _seconds(max_wait),
        _seconds(max_wait),
    )


@attrs.frozen(kw_only=True)
class GroupSnapshot:
    """The gate's belief about one endpoint group: the window's limit and what is left of
    it (None: unknown or unlimited), seconds to its reset, requests in flight, the seconds
    left of a pause after a 429, and of a refusal after a wait longer than allowed."""

    limit: float | None
    remaining: float | None
    reset_in: float | None
    inflight: int
    paused_for: float
    refused_for: float = 0.0


#: Requests a group admits before its first answer (see the module docstring).
DEFAULT_INITIAL_BURST = 10

# The least difference between two answers' window ends (each "time received + reset") that
# can tell two windows apart, however short the windows.
_MIN_TOLERANCE = 0.01
#: When the server gives remaining but no reset, assume the window is this long.
DEFAULT_WINDOW = 1.0
#: When a 429 does not say how long to wait (no reset, no Retry-After), pause this long.
DEFAULT_429_WAIT = 1.0


@attrs.define
class _Group:
    """What the gate knows of one endpoint group's current window."""

    name: str
    known: bool = False  # an answer (any answer) has come back
    limit: float | None = None
    remaining: float | None = None  # None: no limit reported, admit freely
    reset_at: float | None = None  # when the current window ends (the gate's clock)
    previous_reset_at: float = 0.0
    window: float = 0.0  # the longest reset seen: about the window's length
    inflight: int = 0
    paused_until: float = 0.0
    refused_until: float = 0.0  # requests fail at once until then ...
    asked: float = 0.0  # ... because Close asked for this long a wait
    probe: bool = False  # after a refusal: one request at a time until an answer comes
    # Each waiter with the endpoint it asked for (for the error if the group is refused).
    waiters: deque[tuple[asyncio.Future[None], str]] = attrs.field(factory=deque)
    timer: asyncio.TimerHandle | None = None
    logged_wait_until: float = 0.0


class LocalRateLimitGate:
    """The in-process gate: shared by all tasks of one client on one event loop.

    Clients that share one instance (on one loop) share its budgets, each API key its own.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
        pause_jitter: float = 0.1,
        initial_burst: int = DEFAULT_INITIAL_BURST,
        endpoint_groups: EndpointGroups | Mapping[str, str] | None = None,
    ) -> None:
        """
        Args:
            clock: the time in seconds (for tests); by default the event loop's clock,
                which is also what the gate's timers follow.
            rand: the randomness of the jitter (for tests).
            pause_jitter: a 429's pause is stretched by up to this fraction, at random.
            initial_burst: requests admitted in an endpoint group before its first answer
                tells the gate its limit (1: a lone probe, which costs a round trip but
                never earns a 429 at the start).
            endpoint_groups: which endpoints share a budget (see ``EndpointGroups``).
        """
        self._initial_burst = check_positive(initial_burst, "initial_burst")
        self._pause_jitter = check_number(pause_jitter, "pause_jitter")
        self._clock = clock
        self._rand = rand
        self._grouping = EndpointGroups.of(endpoint_groups)
        # Shared by the views bind_client() makes: one state per (credential, group).
        self._groups: dict[tuple[bytes, str], _Group] = {}
        self._credential = b""
        self._max_wait = DEFAULT_MAX_RATE_LIMIT_WAIT

    def bind_client(self, settings: GateSettings) -> LocalRateLimitGate:
        """A view of this gate for one client: the same state, that client's settings."""
        view = copy.copy(self)  # shallow: the groups stay shared
        view._credential = settings.credential_digest
        view._max_wait = settings.max_wait
        return view

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # snapshot() outside a loop
            return time.monotonic()

    def _group(self, endpoint: str) -> _Group:
        name = self._grouping(endpoint)
        key = (self._credential, name)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(name)
        return group

    async def acquire(self, group: str) -> object:
        """Return at once when the window has room; otherwise queue (FIFO) until it has.

        Raises RateLimitError when Close asked for a longer wait than ``max_wait`` allows.
        """
        state = self._group(group)
        if not state.waiters and self._admissible(state):
            state.inflight += 1
            return None  # this gate needs no token; a shared one may
        # A refused group is paused at least as long (_refuse), so the fast path above
        # never admits into one, and the usual request reads the clock only once.
        now = self._now()
        if now < state.refused_until:
            raise refused_error(group, state.asked, state.refused_until - now, self._max_wait)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.append((future, group))
        self._wake(state)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Admitted and cancelled in the same breath: give the place back.
                state.inflight -= 1
                self._wake(state)
            raise
        return None

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        """Free the request's place and learn from its answer."""
        state = self._group(group)
        state.inflight -= 1
        if observation is not None:
            self._observe(state, observation)
        self._wake(state)

    def snapshot(self, group: str) -> GroupSnapshot:
        """What the gate believes of one group now (for tests and debugging)."""
        state = self._group(group)
        now = self._now()
        return GroupSnapshot(
            limit=state.limit,
            remaining=state.remaining,
            reset_in=None if state.reset_at is None else state.reset_at - now,
            inflight=state.inflight,
            paused_for=max(0.0, state.paused_until - now),
            refused_for=max(0.0, state.refused_until - now),
        )

    # -- the decisions ------------------------------------------------------------------

    def _admissible(self, state: _Group) -> bool:
        now = self._now()
        if now < state.paused_until:
            return False
        if state.reset_at is not None and now >= state.reset_at:
            self._roll_over(state)
        if state.probe:
            return state.inflight == 0
        if not state.known:
            return state.inflight < self._initial_burst  # until the first answer
        if state.remaining is None:
            return True
        if state.inflight < state.remaining:
            return True
        if state.reset_at is None and state.inflight == 0:
            # Spent, nothing in flight to tell us when the window ends: assume a default.
            state.reset_at = now + DEFAULT_WINDOW
        return False

    def _roll_over(self, state: _Group) -> None:
        """The window ended: assume a fresh one with the whole limit until answers say more."""
        state.previous_reset_at = state.reset_at or 0.0
        state.reset_at = None
        state.remaining = state.limit

    def _observe(self, state: _Group, obs: Observation) -> None:
        now = self._now()
        state.known = True
        state.probe = False
        info = obs.info
        if obs.status == 429:
            self._pause(state, obs.wait if obs.wait is not None else DEFAULT_429_WAIT, now)
            if info is not None and info.limit is not None:
                state.limit = info.limit
            return
        if info is None or info.remaining is None:
            if state.limit is None and state.reset_at is None:
                state.remaining = None  # the server does not report a limit here
            return
        if info.limit is not None:
            state.limit = info.limit
        # No reset in the header: the answer's RateLimit-Reset or Retry-After, if it had one.
        reset = info.reset if info.reset is not None else obs.wait
        if reset is None:
            reset = DEFAULT_WINDOW
        if reset > self._max_wait:
            if info.remaining <= 0:  # spent until longer than we may wait
                self._refuse(state, reset, now)
                return
            reset = self._max_wait  # a guess we can afford: asking again costs a request
        end = now + reset
        # Answers about one window give ends that differ by their latencies; windows differ
        # by a whole window length, of which the longest reset seen is an estimate.
        state.window = max(state.window, reset)
        tolerance = max(_MIN_TOLERANCE, state.window / 2)
        if end <= state.previous_reset_at + tolerance:
            return  # an answer about a window that has ended since
        if state.reset_at is None or end > state.reset_at + tolerance:
            state.remaining, state.reset_at = info.remaining, end  # a newer window
        else:  # the same window: what is left only shrinks, and every end is a safe guess
            current = state.remaining if state.remaining is not None else info.remaining
            state.remaining = min(current, info.remaining)
            state.reset_at = min(state.reset_at, end)

    def _pause(self, state: _Group, wait: float, now: float) -> None:
        wait = max(wait, MIN_RATE_LIMIT_WAIT)
        if wait > self._max_wait:
            self._refuse(state, wait, now)
            return
        # The jitter spreads the tasks out, but never past the longest wait allowed.
        length = min(wait * (1.0 + self._pause_jitter * self._rand()), self._max_wait)
        until = now + length
        if until <= state.paused_until:
            return
        if state.paused_until <= now:
            logger.info(
                "Rate limited on %s: pausing the group for %.2f s (429)", state.name, length
            )
        self._close_window(state, until, now)

    def _refuse(self, state: _Group, asked: float, now: float) -> None:
        """Close asked for a wait longer than allowed: fail the group's requests for a while."""
        until = now + self._max_wait
        log_refusal(state.name, asked, self._max_wait)
        state.refused_until = max(state.refused_until, until)
        state.asked = asked
        state.probe = True
        self._close_window(state, max(until, state.paused_until), now)
        self._fail_waiters(state, now)

    @staticmethod
    def _close_window(state: _Group, until: float, now: float) -> None:
        """Hold the group until ``until``: the window is spent, the next starts after it."""
        state.paused_until = until
        state.previous_reset_at = max(state.previous_reset_at, now)
        state.remaining = 0 if state.limit is not None else None
        state.reset_at = until

    def _fail_waiters(self, state: _Group, now: float) -> None:
        while state.waiters:
            future, endpoint = state.waiters.popleft()
            if not future.done():
                left = state.refused_until - now
                future.set_exception(refused_error(endpoint, state.asked, left, self._max_wait))

    def _wake(self, state: _Group) -> None:
        """Admit queued requests while the window has room, in arrival order."""
        waiters = state.waiters
        while waiters:
            if waiters[0][0].done():  # cancelled while waiting
                waiters.popleft()
                continue
            if not self._admissible(state):
                break
            state.inflight += 1
            waiters.popleft()[0].set_result(None)
        self._schedule(state)

    def _schedule(self, state: _Group) -> None:
        """Wake the queue at the next moment the window may change by itself."""
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if not state.waiters:
            return
        now = self._now()
        deadline = max(state.paused_until, state.reset_at or 0.0)
        if deadline <= now:
            return  # waiting on answers in flight; release() will wake the queue
        if deadline > state.logged_wait_until:
            state.logged_wait_until = deadline
            logger.debug(
                "Rate limit window of %s spent: holding %d request(s) for %.2f s",
                state.name,
                len(state.waiters),
                deadline - now,
            )
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(deadline - now, self._wake, state)
