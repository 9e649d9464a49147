"""The shared rate-limit gate: one per client, one state per endpoint group.

Close limits each endpoint group (method + resource) per API key and tells us where we stand
in every answer's ``RateLimit`` header. Instead of letting each task find the limit by
running into a 429, every request first passes the gate of its group, which admits it only
while the requests in flight plus this one fit in what the window has ``remaining``; once the
window is spent, the gate holds new requests until its reset. A 429 pauses the whole group
once, until the reset the server gave (plus a little jitter), instead of each task
discovering it on its own.

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

``RateLimitGate`` is the interface, so that a gate whose state lives in a shared store (many
worker processes on one API key) can replace ``LocalRateLimitGate`` later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from ._params import check_positive
from ._ratelimit import RateLimitInfo

__all__ = ["GroupSnapshot", "LocalRateLimitGate", "Observation", "RateLimitGate"]

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

    ``acquire`` returns a token that goes back to ``release`` with what the answer said
    (``None`` when no answer came: a connection error, a timeout, a cancellation).
    """

    async def acquire(self, group: str) -> object:
        """Wait until a request to ``group`` may be sent."""
        ...

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        """Record that an admitted request has its answer (or never will)."""
        ...


@attrs.frozen(kw_only=True)
class GroupSnapshot:
    """The gate's belief about one endpoint group: the window's limit and what is left of
    it (None: unknown or unlimited), seconds to its reset, requests in flight, and the
    seconds left of a pause after a 429."""

    limit: float | None
    remaining: float | None
    reset_in: float | None
    inflight: int
    paused_for: float


#: Requests a group admits before its first answer (see the module docstring).
DEFAULT_INITIAL_BURST = 10

# The least difference between two answers' window ends (each "time received + reset") that
# can tell two windows apart, however short the windows.
_MIN_TOLERANCE = 0.01
# When the server gives remaining but no reset, assume the window is this long.
_DEFAULT_WINDOW = 1.0
# When a 429 comes with no wait at all, pause this long.
_DEFAULT_429_WAIT = 1.0


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
    waiters: deque[asyncio.Future[None]] = attrs.field(factory=deque)
    timer: asyncio.TimerHandle | None = None
    logged_wait_until: float = 0.0


class LocalRateLimitGate:
    """The in-process gate: shared by all tasks of one client on one event loop."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        pause_jitter: float = 0.1,
        initial_burst: int = DEFAULT_INITIAL_BURST,
    ) -> None:
        """
        Args:
            clock, rand: the time and the randomness (for tests).
            pause_jitter: a 429's pause is stretched by up to this fraction, at random.
            initial_burst: requests admitted in an endpoint group before its first answer
                tells the gate its limit (1: a lone probe, which costs a round trip but
                never earns a 429 at the start).
        """
        self._initial_burst = check_positive(initial_burst, "initial_burst")
        self._clock = clock
        self._rand = rand
        self._pause_jitter = pause_jitter
        self._groups: dict[str, _Group] = {}

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group(name)
        return group

    async def acquire(self, group: str) -> object:
        """Return at once when the window has room; otherwise queue (FIFO) until it has."""
        state = self._group(group)
        if not state.waiters and self._admissible(state):
            state.inflight += 1
            return None  # this gate needs no token; a shared one may
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiters.append(future)
        self._wake(state)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
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
        now = self._clock()
        return GroupSnapshot(
            limit=state.limit,
            remaining=state.remaining,
            reset_in=None if state.reset_at is None else state.reset_at - now,
            inflight=state.inflight,
            paused_for=max(0.0, state.paused_until - now),
        )

    # -- the decisions ------------------------------------------------------------------

    def _admissible(self, state: _Group) -> bool:
        now = self._clock()
        if now < state.paused_until:
            return False
        if state.reset_at is not None and now >= state.reset_at:
            self._roll_over(state)
        if not state.known:
            return state.inflight < self._initial_burst  # until the first answer
        if state.remaining is None:
            return True
        if state.inflight < state.remaining:
            return True
        if state.reset_at is None and state.inflight == 0:
            # Spent, nothing in flight to tell us when the window ends: assume a default.
            state.reset_at = now + _DEFAULT_WINDOW
        return False

    def _roll_over(self, state: _Group) -> None:
        """The window ended: assume a fresh one with the whole limit until answers say more."""
        state.previous_reset_at = state.reset_at or 0.0
        state.reset_at = None
        state.remaining = state.limit

    def _observe(self, state: _Group, obs: Observation) -> None:
        now = self._clock()
        state.known = True
        info = obs.info
        if obs.status == 429:
            self._pause(state, obs.wait if obs.wait is not None else _DEFAULT_429_WAIT, now)
            if info is not None and info.limit is not None:
                state.limit = info.limit
            return
        if info is None or info.remaining is None:
            if state.limit is None and state.reset_at is None:
                state.remaining = None  # the server does not report a limit here
            return
        if info.limit is not None:
            state.limit = info.limit
        reset = info.reset if info.reset is not None else _DEFAULT_WINDOW
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
        until = now + wait * (1.0 + self._pause_jitter * self._rand())
        if until <= state.paused_until:
            return
        if state.paused_until <= now:
            logger.info(
                "Rate limited on %s: pausing the group for %.2f s (429)", state.name, until - now
            )
        state.paused_until = until
        # The window is spent; the next one starts after the pause.
        state.previous_reset_at = max(state.previous_reset_at, now)
        state.remaining = 0 if state.limit is not None else None
        state.reset_at = until

    def _wake(self, state: _Group) -> None:
        """Admit queued requests while the window has room, in arrival order."""
        waiters = state.waiters
        while waiters:
            if waiters[0].done():  # cancelled while waiting
                waiters.popleft()
                continue
            if not self._admissible(state):
                break
            state.inflight += 1
            waiters.popleft().set_result(None)
        self._schedule(state)

    def _schedule(self, state: _Group) -> None:
        """Wake the queue at the next moment the window may change by itself."""
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if not state.waiters:
            return
        now = self._clock()
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
