"""The Redis gate, against a real redis-server (the session's ``redis_server`` fixture).

Single-process tests give the gate a clock of their own (``clock=``) and ask another bound
gate (another "process") what it sees; the multi-process tests run ``tests/_gate_worker.py``
in subprocesses against the same Redis. No test measures time: they count admissions.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from close_async import (
    CloseClient,
    GateSettings,
    GateUnavailableError,
    GroupSnapshot,
    LocalRateLimitGate,
    Observation,
    RateLimitError,
    RateLimitGate,
    RateLimitInfo,
    SyncCloseClient,
)
from close_async._retry import MIN_RATE_LIMIT_WAIT
from close_async.redis import RedisRateLimitGate, _Grant, _StoreDown
from close_async.testing import FakeClose
from close_async.testing._redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
GROUP = "GET sequence_subscription/"
SETTINGS = GateSettings(credential_digest=hashlib.sha256(b"Basic test-key").digest())


class Clock:
    """A clock the test moves by hand (POSIX seconds, as the gate's clock= expects)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


Gates = Callable[..., RedisRateLimitGate]


@pytest.fixture
async def gates(redis_url: str) -> AsyncIterator[Gates]:
    """Make Redis gates on the session's (emptied) Redis; all are closed at teardown."""
    made: list[RedisRateLimitGate] = []

    def make(**kwargs: Any) -> RedisRateLimitGate:
        gate = RedisRateLimitGate(kwargs.pop("redis", redis_url), **kwargs)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        await gate.aclose()


def bind(gate: RedisRateLimitGate | LocalRateLimitGate, max_wait: float = 120) -> Any:
    settings = GateSettings(credential_digest=SETTINGS.credential_digest, max_wait=max_wait)
    return gate.bind_client(settings)


async def answer(gate: RateLimitGate, observation: Observation) -> None:
    """One request to GROUP, admitted and answered with ``observation``."""
    token = await gate.acquire(GROUP)
    await gate.release(GROUP, token, observation)


async def held(gate: RateLimitGate, endpoint: str = GROUP) -> bool:
    """Whether an acquire stays held (it is let go again if it was admitted after all)."""
    try:
        token = await asyncio.wait_for(gate.acquire(endpoint), 0.2)
    except asyncio.TimeoutError:
        return True
    await gate.release(endpoint, token, None)
    return False


# -- construction ---------------------------------------------------------------------------


async def test_the_gate_is_a_gate_and_hides_the_redis_password(
    gates: Gates, redis_server: RedisServer
) -> None:
    gate = gates(redis=f"redis://:s3cret-pw@127.0.0.1:{redis_server.port}/0")
    assert isinstance(gate, RateLimitGate)
    assert isinstance(bind(gate), RateLimitGate)
    assert "s3cret-pw" not in repr(gate) + repr(bind(gate))
    assert f"redis://127.0.0.1:{redis_server.port}/0" in repr(gate)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"on_unavailable": "ignore"}, ValueError, "on_unavailable"),
        ({"organization": ""}, ValueError, "organization"),
        ({"organization_factor": 0}, ValueError, "organization_factor"),
        ({"lease_seconds": -1}, ValueError, "lease_seconds"),
        ({"lease_seconds": float("nan")}, ValueError, "lease_seconds"),
        ({"poll_interval": "fast"}, TypeError, "poll_interval"),
        ({"initial_burst": 0}, ValueError, "initial_burst"),
        ({"pause_jitter": -1}, ValueError, "pause_jitter"),
        ({"hash_secret": 3}, TypeError, "hash_secret"),
        ({"key_prefix": ""}, ValueError, "key_prefix"),
        ({"redis": 6379}, TypeError, "redis must be a URL"),
        ({"redis": "http://:pw@localhost/"}, ValueError, "redis://"),
    ],
)
def test_bad_arguments_are_refused(
    redis_url: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        RedisRateLimitGate(kwargs.pop("redis", redis_url), **kwargs)
    assert ":pw@" not in str(info.value)


async def test_an_unbound_gate_says_how_to_use_it(gates: Gates) -> None:
    with pytest.raises(RuntimeError, match="CloseClient"):
        await gates().acquire(GROUP)


async def test_your_own_client_is_used_and_left_open(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    gate = RedisRateLimitGate(client)
    assert "(your client)" in repr(gate)
    token = await bind(gate).acquire(GROUP)
    await bind(gate).release(GROUP, token, None)
    await gate.aclose()
    assert await client.ping()  # still open
    await client.aclose()


def test_a_sync_client_closes_the_gates_connections_with_its_loop(redis_url: str) -> None:
    gate = RedisRateLimitGate(redis_url)
    with (
        FakeClose(leads=5, seed=1).run_in_thread() as fake,
        SyncCloseClient(fake.api_key, base_url=fake.url, rate_limit_gate=gate) as close,
    ):
        assert list(close.sequences.list())  # connects to Redis in the client's loop
    del close, gate
    gc.collect()  # a connection left open would warn (an error in this suite)


# -- the same rules as the in-process gate ---------------------------------------------------

# Each step: (seconds to move the clock, then "acquire", or a release with its observation).
Step = tuple[float, str | Observation | None]
STEPS: list[Step] = [
    (0, "acquire"),
    (0, "acquire"),
    (0.1, Observation(200, RateLimitInfo(5, 4, 1.0), 1.0)),  # the first window
    (0, "acquire"),
    (0.1, Observation(200, RateLimitInfo(5, 2, 0.8), 0.8)),  # the same window: shrinks
    (1.0, "acquire"),  # the window ended: the whole limit assumed
    (0, Observation(200, RateLimitInfo(5, 0, 0.0), 0.0)),  # a straggler's: ignored
    (0, "acquire"),
    (0, Observation(200, RateLimitInfo(5, 4, 1.0), 1.0)),  # the new window
    (0, "acquire"),
    (0, Observation(429, RateLimitInfo(5, 0, 2.0), 2.0)),  # a 429 pauses the group
    (2.0, "acquire"),
    (0, Observation(429, None, 0.0)),  # asks for no wait: still a little pause
    (0.2, "acquire"),
    (0, Observation(200, None, None)),  # no header
    (0, "acquire"),
    (0, Observation(429, None, 3.0)),  # Retry-After only
    (3.0, "acquire"),
    (0, "acquire"),
    (0, Observation(200, RateLimitInfo(20, 3, 1e9), 1e9)),  # a far reset, room left: capped
    (0, None),  # no answer at all
    (60, "acquire"),
    (0, Observation(200, RateLimitInfo(20, 0, 1e9), 1e9)),  # spent for ever: refused
    (0, None),  # the last one in flight gets no answer either: one request may ask again
    (120, "acquire"),  # and asked again after the longest wait
    (0, Observation(200, RateLimitInfo(20, 19, 1.0), 1.0)),
    (0, "acquire"),
    (0, Observation(200, RateLimitInfo(20, 5, None), 4.0)),  # no reset: the answer's wait
    (10, "acquire"),
    (0, Observation(200, RateLimitInfo(20, 0, None), 2.5e11)),  # Retry-After in 9999
]


def same(local: GroupSnapshot, shared: GroupSnapshot) -> bool:
    def close(a: float | None, b: float | None) -> bool:
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-5)

    return (
        close(local.limit, shared.limit)
        and close(local.remaining, shared.remaining)
        and close(local.reset_in, shared.reset_in)
        and local.inflight == shared.inflight
        and close(local.paused_for, shared.paused_for)
        and close(local.refused_for, shared.refused_for)
    )


async def test_redis_keeps_the_state_the_in_process_gate_keeps(gates: Gates) -> None:
    clock = Clock()
    local = bind(LocalRateLimitGate(clock=clock, pause_jitter=0.0))
    # Leases long enough not to expire while the clock jumps (the local gate has none).
    shared = bind(gates(clock=clock, pause_jitter=0.0, lease_seconds=1000))
    tokens: list[tuple[object, object]] = []
    for n, (seconds, step) in enumerate(STEPS):
        clock.now += seconds
        if step == "acquire":
            pair = (await local.acquire(GROUP), await shared.acquire(GROUP))
            tokens.append(pair)
        else:
            assert not isinstance(step, str)
            local_token, shared_token = tokens.pop(0)
            await local.release(GROUP, local_token, step)
            await shared.release(GROUP, shared_token, step)
        local_view, shared_view = local.snapshot(GROUP), await shared.snapshot(GROUP)
        assert same(local_view, shared_view), f"step {n}: {local_view} != {shared_view}"


async def test_the_first_burst_is_shared_by_every_process(gates: Gates) -> None:
    gate = gates(initial_burst=3)
    one, two = bind(gate), bind(gates(initial_burst=3))
    tokens = [await one.acquire(GROUP), await two.acquire(GROUP), await one.acquire(GROUP)]
    assert await held(two)  # 3 in flight, none answered: nothing more goes
    await one.release(GROUP, tokens[0], Observation(200, RateLimitInfo(50, 40, 60), 60))
    assert not await held(two)  # the answer says there is room
    assert (await two.snapshot(GROUP)).inflight == 2


async def test_a_429_pauses_the_group_for_every_process(gates: Gates) -> None:
    clock = Clock()
    one, two = bind(gates(clock=clock, pause_jitter=0.0)), bind(gates(clock=clock))
    await answer(one, Observation(429, RateLimitInfo(5, 0, 30), 30))
    assert (await two.snapshot(GROUP)).paused_for == 30
    assert await held(two)
    assert not await held(two, "PUT sequence_subscription/")  # the writes are another group
    clock.now += 30
    assert not await held(bind(gates(clock=clock)))


async def test_a_429_with_reset_0_still_pauses_a_little(gates: Gates) -> None:
    clock = Clock()
    gate = bind(gates(clock=clock, pause_jitter=0.0))
    await answer(gate, Observation(429, RateLimitInfo(5, 0, 0.0), 0.0))
    assert (await gate.snapshot(GROUP)).paused_for == pytest.approx(MIN_RATE_LIMIT_WAIT)


async def test_a_wait_longer_than_allowed_fails_every_waiting_request_at_once(
    gates: Gates,
) -> None:
    clock = Clock()
    gate = bind(gates(clock=clock, initial_burst=1), max_wait=120)
    other = bind(gates(clock=clock), max_wait=120)  # another process
    token = await gate.acquire(GROUP)
    waiters = [asyncio.ensure_future(gate.acquire(GROUP)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiters)
    await gate.release(GROUP, token, Observation(429, RateLimitInfo(20, 0, 1e9), 1e9))
    errors = await asyncio.gather(*waiters, return_exceptions=True)
    for error in errors:
        assert isinstance(error, RateLimitError)
        assert "wait 1000000000 s" in str(error)
        assert "longer than max_rate_limit_wait (120 s)" in str(error)
    with pytest.raises(RateLimitError, match="fail at once for the next 120 s"):
        await other.acquire(GROUP)  # the other process refuses too, without waiting
    clock.now += 120
    await other.acquire(GROUP)  # then asks Close again


async def test_after_a_refusal_one_request_asks_close_before_any_other_goes(
    gates: Gates,
) -> None:
    clock = Clock()
    gate = bind(gates(clock=clock), max_wait=120)
    await answer(gate, Observation(200, RateLimitInfo(20, 0, 1e9), 1e9))
    clock.now += 120
    probe = await gate.acquire(GROUP)
    assert await held(bind(gates(clock=clock)))  # in no process: one asks Close first
    await gate.release(GROUP, probe, None)  # no answer came: the next one asks instead
    probe = await gate.acquire(GROUP)
    assert await held(gate)
    await gate.release(GROUP, probe, Observation(200, RateLimitInfo(20, 19, 1), 1))
    assert not await held(gate)


@pytest.mark.parametrize("outcome", ["refused", "redis down", "a bug"])
async def test_requests_that_queue_while_redis_is_asked_get_its_answer_too(
    gates: Gates, outcome: str
) -> None:
    # The queue's call to Redis is held open while a second request joins the queue; the
    # call ends in a refusal (or Redis failing, or a bug): no request may be left waiting.
    gate = bind(gates(on_unavailable="raise"))
    asked, answer = asyncio.Event(), asyncio.Event()
    calls = 0

    async def grant(group: str, wanted: int) -> _Grant:
        nonlocal calls
        calls += 1
        if calls == 1:
            return _Grant([], 0.0, None)  # the first request's own try: no room
        asked.set()
        await answer.wait()
        if outcome == "redis down":
            raise _StoreDown("ConnectionError: gone")
        if outcome == "a bug":
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
        return _Grant([], 0.0, (1e9, 120.0))

    gate._grant = grant
    first = asyncio.ensure_future(gate.acquire(GROUP))
    await asked.wait()
    second = asyncio.ensure_future(gate.acquire(GROUP))  # queues behind the first
    await asyncio.sleep(0)
    answer.set()
    expected = RateLimitError if outcome == "refused" else GateUnavailableError
    for waiter in (first, second):
        with pytest.raises(expected):
            await asyncio.wait_for(waiter, 5)


# -- several processes -----------------------------------------------------------------------


class Worker:
    """A ``tests/_gate_worker.py serve`` process: one JSON command in, one JSON result out."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests._gate_worker", "serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def send(self, mode: str, *args: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"mode": mode, "args": args}) + "\n")
        self.process.stdin.flush()

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the worker ended (exit {self.process.wait()})"
        return json.loads(line)

    async def result(self) -> Any:
        """The next result, read in a thread so that this loop (and a fake on it) runs."""
        return await asyncio.to_thread(self.read)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    """Three worker processes, started together once for the module's tests."""
    started = [Worker() for _ in range(3)]
    try:
        for worker in started:
            assert worker.read() == "READY"
        yield started
    finally:
        for worker in started:
            worker.stop()


async def test_many_acquirers_in_many_processes_never_exceed_the_window(
    gates: Gates, redis_url: str, workers: list[Worker]
) -> None:
    # The window has 50 left for 60 s; 3 processes x 30 tasks race for it: exactly 50 get in.
    gate = bind(gates())
    await answer(gate, Observation(200, RateLimitInfo(50, 50, 60), 60))
    for worker in workers:
        worker.send("grab", redis_url, 30, 0.5)
    got = [(await worker.result())["got"] for worker in workers]
    assert sum(got) == 50
    assert sum(1 for n in got if n > 0) >= 2  # shared among processes, not one winner


async def test_a_killed_workers_leases_expire_and_a_live_ones_are_renewed(
    gates: Gates, redis_url: str
) -> None:
    gate = bind(gates())
    holder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests._gate_worker", "hold", redis_url, "6", "0.2"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None
        assert json.loads(await holder.stdout.readline()) == "HELD"
        await asyncio.sleep(0.45)  # over two lease lengths: renewed all along
        assert (await gate.snapshot(GROUP)).inflight == 6
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        assert (await gate.snapshot(GROUP)).inflight == 6  # still counted just after the kill
        # Seen from a little later (a clock 0.2 s ahead): no longer counted.
        later = bind(gates(clock=lambda: time.time() + 0.21))
        assert (await later.snapshot(GROUP)).inflight == 0
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.communicate()


async def test_a_429_is_seen_by_every_process(
    gates: Gates, redis_url: str, workers: list[Worker]
) -> None:
    gate = bind(gates())
    await answer(gate, Observation(429, RateLimitInfo(20, 0, 30), 30))
    for worker in workers[:2]:
        worker.send("probe", redis_url, 0.2)
    for worker in workers[:2]:
        seen = await worker.result()
        assert seen["paused_for"] > 25
        assert seen["admitted"] is False


async def test_worker_processes_on_one_key_stay_under_the_limit(
    redis_url: str, workers: list[Worker]
) -> None:
    async with FakeClose(leads=80, seed=5, rate_limit=20, rate_window=0.1) as fake:
        ids = [lead.id for lead in fake.state.leads()]
        for n, worker in enumerate(workers[:3]):
            worker.send("fan-out", redis_url, fake.url, fake.api_key, ids[n::3])
        found = [await worker.result() for worker in workers[:3]]
        assert sum(seen["subscriptions"] for seen in found) == len(fake.state.subscriptions())
        assert fake.stats.rate_limited <= fake.stats.requests // 100  # under 1%
        assert sum(seen["rate_limited"] for seen in found) == fake.stats.rate_limited
        assert len(fake.stats.by_api_key) == 1  # one key, three processes


# -- organizations ---------------------------------------------------------------------------


@pytest.mark.parametrize("organization", ["acme", None])
async def test_keys_of_one_organization_share_its_budget(
    gates: Gates, organization: str | None
) -> None:
    keys = [f"key-{n}" for n in range(4)]
    async with FakeClose(
        leads=100,
        seed=2,
        api_key=keys[0],
        api_keys=keys[1:],
        rate_limit=10,
        organization_rate_limit=30,
        rate_window=0.1,
    ) as fake:
        ids = [lead.id for lead in fake.state.leads()]
        gate = gates(organization=organization)

        async def one(n: int) -> int:
            async with CloseClient(keys[n], base_url=fake.url, rate_limit_gate=gate) as close:
                run = close.sequence_subscriptions.list_many(lead_ids=ids[n::4], concurrency=8)
                return len([sub async for sub in run])

        counts = await asyncio.gather(*(one(n) for n in range(4)))
        assert sum(counts) == len(fake.state.subscriptions())
        organization_429s = fake.stats.rate_limited_by["organization"]
        if organization is None:  # each key believes it has its whole limit: the 4th trips it
            assert organization_429s > fake.stats.requests // 100
        else:
            assert organization_429s <= fake.stats.requests // 100


# -- when Redis goes away --------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to kill."""
    with RedisServer() as server:
        yield server


async def _fan_out_killing_redis(
    fake: FakeClose, gate: RedisRateLimitGate, redis: RedisServer, *, restart: bool
) -> int:
    ids = [lead.id for lead in fake.state.leads()]
    count = 0
    async with CloseClient(fake.api_key, base_url=fake.url, rate_limit_gate=gate) as close:
        async for _ in close.sequence_subscriptions.list_many(lead_ids=ids, concurrency=4):
            count += 1
            if count == 20:
                redis.kill()
            if restart and count == 120:
                redis.start()  # the same port, empty
    return count


async def test_redis_going_away_falls_back_to_the_local_gate(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="close_async")
    async with FakeClose(leads=80, seed=4, rate_limit=20, rate_window=0.1) as fake:
        async with RedisRateLimitGate(own_redis.url, recheck_seconds=0) as gate:
            count = await _fan_out_killing_redis(fake, gate, own_redis, restart=True)
        assert count == len(fake.state.subscriptions())
    messages = [r.getMessage() for r in caplog.records]
    fallbacks = [m for m in messages if "falling back to the in-process gate" in m]
    assert len(fallbacks) == 1  # said once, not for every request
    assert f"cannot reach Redis at {own_redis.url}" in fallbacks[0]
    assert any("answers again; back to the shared gate" in m for m in messages)


async def test_redis_going_away_fails_requests_when_told_to(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        FakeClose(leads=80, seed=4, rate_limit=20, rate_window=0.1) as fake,
        RedisRateLimitGate(own_redis.url, on_unavailable="raise") as gate,
    ):
        with pytest.raises(GateUnavailableError, match="the request was not sent"):
            await _fan_out_killing_redis(fake, gate, own_redis, restart=False)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "on_unavailable='raise'" in errors[0].getMessage()


# -- secrets ---------------------------------------------------------------------------------


async def test_the_api_key_is_in_no_redis_key_value_or_log(
    gates: Gates, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api_key = "api_7cU4sEcReTk3y"
    secrets = [
        api_key,
        base64.b64encode(f"{api_key}:".encode()).decode(),
        hashlib.sha256(
            f"Basic {base64.b64encode(f'{api_key}:'.encode()).decode()}".encode()
        ).hexdigest(),
    ]
    async with FakeClose(leads=40, seed=1, api_key=api_key, rate_limit=10, rate_window=0.1) as fake:
        gate = gates(organization="acme")
        async with CloseClient(api_key, base_url=fake.url, rate_limit_gate=gate) as close:
            ids = [lead.id for lead in fake.state.leads()]
            fake.inject("GET", "sequence_subscription", ["429"])
            async for _ in close.sequence_subscriptions.list_many(lead_ids=ids):
                pass
            dumped = [repr(gate), repr(close._transport._gate)]
    client = aioredis.Redis.from_url(redis_url)
    keys = await client.keys("*")
    assert keys, "the gate wrote nothing?"
    for key in keys:
        dumped.append(key.decode())
        kind = (await client.type(key)).decode()
        if kind == "hash":
            dumped.append(repr(await client.hgetall(key)))
        else:
            dumped.append(repr(await client.zrange(key, 0, -1, withscores=True)))
    await client.aclose()
    dumped += [record.getMessage() for record in caplog.records]
    text = "\n".join(dumped)
    assert "Rate limited on read sequence_subscription/" in text  # the log was captured
    for secret in secrets:
        assert secret not in text
