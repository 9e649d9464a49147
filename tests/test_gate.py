"""The rate-limit gate, driven by a simulated fixed-window server (no HTTP)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from close_async import LocalRateLimitGate, Observation, RateLimitGate, RateLimitInfo
from close_async._gate import DEFAULT_INITIAL_BURST

GROUP = "GET sequence_subscription/"


class WindowServer:
    """Counts requests in fixed windows of ``limit`` per ``window`` s, like Close (and the fake)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.started = -math.inf
        self.count = 0
        self.served = 0
        self.rejected = 0

    def arrive(self) -> Observation:
        now = time.monotonic()
        if now >= self.started + self.window:
            self.started, self.count = now, 0
        reset = self.started + self.window - now
        if self.count >= self.limit:
            self.rejected += 1
            return Observation(429, RateLimitInfo(self.limit, 0, reset), reset)
        self.count += 1
        self.served += 1
        return Observation(200, RateLimitInfo(self.limit, self.limit - self.count, reset), reset)


async def call(gate: LocalRateLimitGate, server: WindowServer, latency: float) -> int:
    token = await gate.acquire(GROUP)
    obs = server.arrive()
    await asyncio.sleep(latency)
    await gate.release(GROUP, token, obs)
    return obs.status


async def run_all(
    gate: LocalRateLimitGate, server: WindowServer, n: int, latency: float
) -> list[int]:
    sem = asyncio.Semaphore(32)

    async def one() -> int:
        async with sem:
            status = await call(gate, server, latency)
            while status == 429:  # what the transport's retry does
                status = await call(gate, server, latency)
            return status

    return await asyncio.gather(*(one() for _ in range(n)))


def test_local_gate_implements_the_interface() -> None:
    assert isinstance(LocalRateLimitGate(), RateLimitGate)


@pytest.mark.parametrize(("limit", "n"), [(10, 45), (25, 60), (40, 100)])
async def test_fan_out_stays_within_the_window(limit: int, n: int) -> None:
    server = WindowServer(limit, window=0.1)
    gate = LocalRateLimitGate()
    statuses = await run_all(gate, server, n, latency=0.005)
    assert statuses == [200] * n
    assert server.rejected == 0


@pytest.mark.parametrize("burst", [1, 3, DEFAULT_INITIAL_BURST])
async def test_before_the_first_answer_only_the_initial_burst_goes(burst: int) -> None:
    gate = (
        LocalRateLimitGate()
        if burst == DEFAULT_INITIAL_BURST
        else LocalRateLimitGate(initial_burst=burst)
    )
    tokens = [await asyncio.wait_for(gate.acquire(GROUP), 1) for _ in range(burst)]
    held = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0.01)
    assert not held.done()  # nothing known yet
    assert gate.snapshot(GROUP).inflight == burst
    await gate.release(GROUP, tokens[0], Observation(200, RateLimitInfo(50, 49, 1.0), 1.0))
    await asyncio.wait_for(held, 1)  # the answer says there is room
    assert gate.snapshot(GROUP).inflight == burst


@pytest.mark.parametrize("bad", [0, -1])
def test_initial_burst_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="initial_burst must be at least 1"):
        LocalRateLimitGate(initial_burst=bad)


@pytest.mark.parametrize("bad", [1.5, "2", True])
def test_initial_burst_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="initial_burst must be an int"):
        LocalRateLimitGate(initial_burst=bad)  # type: ignore[arg-type]


async def test_a_limit_below_the_initial_burst_costs_one_pause_then_fits() -> None:
    # The first burst (10) overshoots a window of 4: 6 answers are 429s, which pause the
    # group once; after that, every window is filled exactly.
    server = WindowServer(4, window=0.05)
    gate = LocalRateLimitGate(pause_jitter=0.0)
    statuses = await run_all(gate, server, 30, latency=0.005)
    assert statuses == [200] * 30
    assert server.rejected == DEFAULT_INITIAL_BURST - 4


async def test_answers_without_header_open_the_group() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, None, None))
    tokens = [await asyncio.wait_for(gate.acquire(GROUP), 1) for _ in range(50)]
    assert len(tokens) == 50


async def test_429_pauses_the_whole_group_then_reopens() -> None:
    gate = LocalRateLimitGate(pause_jitter=0.0)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 0.05), 0.05))
    assert gate.snapshot(GROUP).paused_for > 0
    waiters = [asyncio.ensure_future(gate.acquire(GROUP)) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    await asyncio.wait_for(asyncio.gather(*waiters), 1)  # after the reset, all fit in 5


async def test_only_retry_after_pauses_too() -> None:
    gate = LocalRateLimitGate(pause_jitter=0.0)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, None, 0.05))
    waiter = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0)
    assert not waiter.done()
    await asyncio.wait_for(waiter, 1)


async def test_spent_window_holds_requests_until_reset() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(3, 2, 0.05), 0.05))
    admitted = [await gate.acquire(GROUP), await gate.acquire(GROUP)]
    third = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0.01)
    assert len(admitted) == 2
    assert not third.done()  # 2 in flight = the 2 remaining
    await asyncio.wait_for(third, 1)  # the window rolled over


async def test_cancelled_waiter_gives_its_place_back() -> None:
    gate = LocalRateLimitGate(initial_burst=1)
    token = await gate.acquire(GROUP)
    waiter = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(10, 9, 1.0), 1.0))
    assert gate.snapshot(GROUP).inflight == 0


async def test_failed_probe_lets_the_next_one_go() -> None:
    gate = LocalRateLimitGate(initial_burst=1)
    token = await gate.acquire(GROUP)
    waiter = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0)
    await gate.release(GROUP, token, None)  # no answer: a timeout, say
    await asyncio.wait_for(waiter, 1)


async def test_groups_are_independent() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 10), 10))
    await asyncio.wait_for(gate.acquire("PUT sequence_subscription/"), 1)  # not held
    assert gate.snapshot("PUT sequence_subscription/").inflight == 1


async def test_stale_answer_from_a_past_window_is_ignored() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(5, 4, 0.2), 0.2))
    straggler = await gate.acquire(GROUP)  # sent in the first window, answered late
    await asyncio.sleep(0.21)  # the window ended
    fresh = await gate.acquire(GROUP)  # rolls over: the full limit is assumed
    assert gate.snapshot(GROUP).remaining == 5
    # the straggler's answer is about the window that ended: it must not count
    await gate.release(GROUP, straggler, Observation(200, RateLimitInfo(5, 0, 0.0), 0.0))
    assert gate.snapshot(GROUP).remaining == 5
    await gate.release(GROUP, fresh, Observation(200, RateLimitInfo(5, 4, 0.2), 0.2))
    assert gate.snapshot(GROUP).remaining == 4
