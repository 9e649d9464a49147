"""The in-process rate-limit gate, driven by a simulated fixed-window server (no HTTP).

The tests run on a virtual clock (``tests/_virtual_time.py``): windows of one second and
pauses of two minutes take no real time, and times can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import pytest

from close_async import (
    CloseClient,
    EndpointGroups,
    GateSettings,
    LocalRateLimitGate,
    Observation,
    RateLimitError,
    RateLimitGate,
    RateLimitInfo,
)
from close_async._gate import DEFAULT_INITIAL_BURST
from close_async._retry import MIN_RATE_LIMIT_WAIT
from close_async.testing import FakeClose, Fault

from ._virtual_time import run_virtual

GROUP = "GET sequence_subscription/"
P = ParamSpec("P")


def virtual(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on a fresh virtual-time loop (a plain test to pytest)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        run_virtual(test(*args, **kwargs))

    return run


def now() -> float:
    return asyncio.get_running_loop().time()


def bound(gate: LocalRateLimitGate, max_wait: float, credential: bytes = b"key") -> Any:
    return gate.bind_client(GateSettings(credential_digest=credential, max_wait=max_wait))


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
        t = now()
        if t >= self.started + self.window:
            self.started, self.count = t, 0
        reset = self.started + self.window - t
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
@virtual
async def test_fan_out_stays_within_the_window(limit: int, n: int) -> None:
    server = WindowServer(limit, window=1.0)
    gate = LocalRateLimitGate()
    started = now()
    statuses = await run_all(gate, server, n, latency=0.03)
    assert statuses == [200] * n
    assert server.rejected == 0
    # At the limit: the last window opens after (n - 1) // limit whole windows.
    assert now() - started < (n - 1) // limit + 1


@pytest.mark.parametrize("burst", [1, 3, DEFAULT_INITIAL_BURST])
@virtual
async def test_before_the_first_answer_only_the_initial_burst_goes(burst: int) -> None:
    gate = (
        LocalRateLimitGate()
        if burst == DEFAULT_INITIAL_BURST
        else LocalRateLimitGate(initial_burst=burst)
    )
    tokens = [await gate.acquire(GROUP) for _ in range(burst)]
    held = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(60)
    assert not held.done()  # nothing known yet, however long it takes
    assert gate.snapshot(GROUP).inflight == burst
    await gate.release(GROUP, tokens[0], Observation(200, RateLimitInfo(50, 49, 1.0), 1.0))
    await asyncio.sleep(0)
    assert held.done()  # the answer says there is room
    assert gate.snapshot(GROUP).inflight == burst


@pytest.mark.parametrize("bad", [0, -1])
def test_initial_burst_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="initial_burst must be at least 1"):
        LocalRateLimitGate(initial_burst=bad)


@pytest.mark.parametrize("bad", [1.5, "2", True])
def test_initial_burst_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="initial_burst must be an int"):
        LocalRateLimitGate(initial_burst=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "error"), [(-0.1, ValueError), (math.nan, ValueError), ("x", TypeError)]
)
def test_pause_jitter_is_checked(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="pause_jitter"):
        LocalRateLimitGate(pause_jitter=bad)  # type: ignore[arg-type]


@virtual
async def test_a_limit_below_the_initial_burst_costs_one_pause_then_fits() -> None:
    # The first burst (10) overshoots a window of 4: 6 answers are 429s, which pause the
    # group once; after that, every window is filled exactly.
    server = WindowServer(4, window=1.0)
    gate = LocalRateLimitGate(pause_jitter=0.0)
    statuses = await run_all(gate, server, 30, latency=0.03)
    assert statuses == [200] * 30
    assert server.rejected == DEFAULT_INITIAL_BURST - 4


@virtual
async def test_answers_without_header_open_the_group() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, None, None))
    tokens = [await gate.acquire(GROUP) for _ in range(50)]
    assert len(tokens) == 50
    assert now() == 0  # none of them waited


@virtual
async def test_429_pauses_the_whole_group_then_reopens() -> None:
    gate = LocalRateLimitGate(pause_jitter=0.0)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 2.0), 2.0))
    assert gate.snapshot(GROUP).paused_for == 2.0
    waiters = [asyncio.ensure_future(gate.acquire(GROUP)) for _ in range(3)]
    await asyncio.sleep(1.99)
    assert not any(w.done() for w in waiters)
    await asyncio.gather(*waiters)  # after the reset, all fit in 5
    assert now() == 2.0


@virtual
async def test_only_retry_after_pauses_too() -> None:
    gate = LocalRateLimitGate(pause_jitter=0.0)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, None, 3.0))
    await gate.acquire(GROUP)
    assert now() == 3.0


@virtual
async def test_a_429_asking_for_no_wait_still_pauses_a_little() -> None:
    gate = LocalRateLimitGate(pause_jitter=0.0)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 0.0), 0.0))
    assert gate.snapshot(GROUP).paused_for == MIN_RATE_LIMIT_WAIT
    await gate.acquire(GROUP)
    assert now() == MIN_RATE_LIMIT_WAIT


@virtual
async def test_the_jitter_never_stretches_a_pause_past_the_longest_wait() -> None:
    gate = bound(LocalRateLimitGate(pause_jitter=0.5, rand=lambda: 1.0), max_wait=10)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 8.0), 8.0))
    assert gate.snapshot(GROUP).paused_for == 10.0  # not 12


@virtual
async def test_spent_window_holds_requests_until_reset() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(3, 2, 5.0), 5.0))
    admitted = [await gate.acquire(GROUP), await gate.acquire(GROUP)]
    assert len(admitted) == 2
    assert now() == 0
    await gate.acquire(GROUP)  # 2 in flight = the 2 remaining: wait for the window's end
    assert now() == 5.0


@pytest.mark.parametrize("status", [429, 200])
@virtual
async def test_a_wait_longer_than_allowed_fails_the_waiting_requests_at_once(status: int) -> None:
    # A 429, or a spent window, whose reset is absurdly far away: nothing waits for it.
    gate = bound(LocalRateLimitGate(initial_burst=1), max_wait=120)
    token = await gate.acquire(GROUP)
    waiters = [asyncio.ensure_future(gate.acquire(GROUP)) for _ in range(3)]
    await asyncio.sleep(0)
    await gate.release(GROUP, token, Observation(status, RateLimitInfo(20, 0, 1e9), 1e9))
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert now() == 0  # at once
    for error in results:
        assert isinstance(error, RateLimitError)
        assert error.retry_after == 1e9
        assert (error.method, error.path, error.status) == ("GET", "sequence_subscription/", 429)
        assert "wait 1000000000 s" in str(error)
        assert "longer than max_rate_limit_wait (120 s)" in str(error)
        assert "raise max_rate_limit_wait=" in str(error)


@virtual
async def test_a_spent_window_whose_end_only_retry_after_gives_is_capped_too() -> None:
    # A 200 with remaining=0, no reset in RateLimit, and Retry-After in the year 9999.
    gate = bound(LocalRateLimitGate(), max_wait=120)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(20, 0, None), 2.5e11))
    with pytest.raises(RateLimitError, match="wait 250000000000 s"):
        await gate.acquire(GROUP)
    assert now() == 0


@virtual
async def test_after_a_refusal_the_group_asks_again_once_the_longest_wait_is_over() -> None:
    gate = bound(LocalRateLimitGate(), max_wait=120)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(20, 0, 1e9), 1e9))
    assert gate.snapshot(GROUP).refused_for == 120
    await asyncio.sleep(119)
    with pytest.raises(RateLimitError, match=r"fail at once for the next 1 s"):
        await gate.acquire(GROUP)  # refused without waiting
    assert now() == 119
    await asyncio.sleep(1)
    await gate.acquire(GROUP)  # not held for ever: the next request asks Close again
    assert now() == 120


@virtual
async def test_after_a_refusal_one_request_asks_close_before_any_other_goes() -> None:
    gate = bound(LocalRateLimitGate(), max_wait=120)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(20, 0, 1e9), 1e9))
    await asyncio.sleep(120)
    probe = await gate.acquire(GROUP)
    others = [asyncio.ensure_future(gate.acquire(GROUP)) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(other.done() for other in others)  # not a window's worth at once
    await gate.release(GROUP, probe, None)  # no answer came: the next one asks instead
    await asyncio.sleep(0)
    assert [other.done() for other in others] == [True, False, False]
    await gate.release(GROUP, others[0].result(), Observation(200, RateLimitInfo(20, 19, 1), 1))
    await asyncio.gather(*others)  # Close answered: the window's room is known again
    assert now() == 120


@virtual
async def test_a_far_reset_with_room_left_is_capped_not_refused() -> None:
    gate = bound(LocalRateLimitGate(), max_wait=30)
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(20, 1, 1e9), 1e9))
    snap = gate.snapshot(GROUP)
    assert (snap.remaining, snap.reset_in, snap.refused_for) == (1, 30, 0)
    first = await gate.acquire(GROUP)
    await gate.acquire(GROUP)  # the window is spent: held for at most max_wait
    assert now() == 30
    await gate.release(GROUP, first, None)


@virtual
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


@virtual
async def test_failed_probe_lets_the_next_one_go() -> None:
    gate = LocalRateLimitGate(initial_burst=1)
    token = await gate.acquire(GROUP)
    waiter = asyncio.ensure_future(gate.acquire(GROUP))
    await asyncio.sleep(0)
    await gate.release(GROUP, token, None)  # no answer: a timeout, say
    await waiter
    assert now() == 0


@virtual
async def test_reads_and_writes_are_separate_groups_and_writes_share_one() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 10), 10))
    await gate.acquire("PUT sequence_subscription/")  # the writes are not held
    assert now() == 0
    assert gate.snapshot("POST sequence_subscription/").inflight == 1  # one group of writes
    assert gate.snapshot("DELETE sequence_subscription/").inflight == 1
    assert gate.snapshot("GET sequence/").paused_for == 0  # another resource


@virtual
async def test_the_grouping_can_be_changed() -> None:
    groups = {"sequence/": "all sequences", "GET sequence_subscription/": "all sequences"}
    gate = LocalRateLimitGate(endpoint_groups=groups, pause_jitter=0.0)
    token = await gate.acquire("PUT sequence/")
    await gate.release("PUT sequence/", token, Observation(429, RateLimitInfo(5, 0, 10), 10))
    assert gate.snapshot("GET sequence/").paused_for == 10
    assert gate.snapshot(GROUP).paused_for == 10
    assert gate.snapshot("PUT sequence_subscription/").paused_for == 0


def test_endpoint_groups_default_rule_and_overrides() -> None:
    groups = EndpointGroups({"post sequence_subscription": "subscribe", "sequence": "seq"})
    assert groups("GET sequence_subscription/") == "read sequence_subscription/"
    assert groups("PUT sequence_subscription/") == "write sequence_subscription/"
    assert groups("DELETE sequence_subscription/") == "write sequence_subscription/"
    assert groups("POST sequence_subscription/") == "subscribe"
    assert groups("GET sequence/") == groups("PUT sequence/") == "seq"
    assert groups("my own group") == "my own group"  # not an endpoint: a group already


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"FETCH sequence/": "x"}, ValueError, "neither 'METHOD resource/'"),
        ({"": "x"}, ValueError, "neither"),
        ({"GET sequence/": ""}, TypeError, "group names"),
        ({"GET sequence/": 3}, TypeError, "group names"),
        (["GET sequence/"], TypeError, "must be a mapping"),
    ],
)
def test_endpoint_groups_are_checked(overrides: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LocalRateLimitGate(endpoint_groups=overrides)


@virtual
async def test_stale_answer_from_a_past_window_is_ignored() -> None:
    gate = LocalRateLimitGate()
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, Observation(200, RateLimitInfo(5, 4, 1.0), 1.0))
    straggler = await gate.acquire(GROUP)  # sent in the first window, answered late
    await asyncio.sleep(1.0)  # the window ended
    fresh = await gate.acquire(GROUP)  # rolls over: the full limit is assumed
    assert gate.snapshot(GROUP).remaining == 5
    # the straggler's answer is about the window that ended: it must not count
    await gate.release(GROUP, straggler, Observation(200, RateLimitInfo(5, 0, 0.0), 0.0))
    assert gate.snapshot(GROUP).remaining == 5
    await gate.release(GROUP, fresh, Observation(200, RateLimitInfo(5, 4, 1.0), 1.0))
    assert gate.snapshot(GROUP).remaining == 4


@virtual
async def test_clients_sharing_a_gate_share_a_key_budget_not_another_keys() -> None:
    gate = LocalRateLimitGate()
    a1, a2, b = bound(gate, 60, b"a"), bound(gate, 60, b"a"), bound(gate, 60, b"b")
    token = await a1.acquire(GROUP)
    await a1.release(GROUP, token, Observation(429, RateLimitInfo(5, 0, 10), 10))
    assert a2.snapshot(GROUP).paused_for > 0  # the same key: the same budget
    assert b.snapshot(GROUP).paused_for == 0  # another key


class _PlainGate:
    """A gate of the caller's, with no bind_client: used as it is."""

    def __init__(self) -> None:
        self.acquired: list[str] = []

    async def acquire(self, group: str) -> object:
        self.acquired.append(group)
        return None

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        pass


async def test_a_gate_without_bind_client_is_used_as_it_is(fake: FakeClose) -> None:
    gate = _PlainGate()
    async with CloseClient(fake.api_key, base_url=fake.url, rate_limit_gate=gate) as close:
        await close.sequences.get(fake.state.sequences()[0]["id"])
    assert gate.acquired == ["GET sequence/"]  # the endpoint; grouping is the gate's


async def test_the_client_binds_its_gate_to_its_longest_wait(fake: FakeClose) -> None:
    seq_id = fake.state.sequences()[0]["id"]
    async with CloseClient(fake.api_key, base_url=fake.url, max_rate_limit_wait=5) as close:
        fake.inject("GET", "sequence", [Fault.rate_limited(30)])
        with pytest.raises(RateLimitError, match="longer than max_rate_limit_wait"):
            await close.sequences.get(seq_id)  # the 429 itself (raised by the transport)
        sent = fake.stats.requests
        with pytest.raises(RateLimitError, match=r"wait 30 s .* max_rate_limit_wait \(5 s\)"):
            await close.sequences.get(seq_id)  # refused by the gate, not sent
        assert fake.stats.requests == sent
