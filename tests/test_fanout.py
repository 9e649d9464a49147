"""list_many: completeness, bounded concurrency, lazy input, failures, and clean stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from close_async import (
    ClientClosedError,
    CloseClient,
    FanOut,
    NotFoundError,
    PermissionDeniedError,
    Progress,
    SequenceSubscription,
)
from close_async.testing import FakeClose, Fault


@pytest.fixture(autouse=True)
def no_asyncio_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on what asyncio only logs: "Task was destroyed but it is pending!", "Task
    exception was never retrieved", unclosed sessions reported by aiohttp..."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    complaints = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert complaints == []


@pytest.fixture
async def big() -> AsyncIterator[FakeClose]:
    """60 leads, a few with several pages of subscriptions, and a little latency."""
    async with FakeClose(leads=60, sequences=6, seed=11, latency=0.002) as server:
        server.add_subscriptions(lead_id="lead_many_pages", count=330)
        yield server


@pytest.fixture
async def client(big: FakeClose) -> AsyncIterator[CloseClient]:
    async with CloseClient(big.api_key, base_url=big.url, backoff_base=0.001) as c:
        yield c


class InFlight:
    """Counts the client's requests in flight, as aiohttp sends them (a request cancelled
    by the client ends here at once, even if the server still works on it)."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)
        self.config.on_request_exception.append(self._end)

    async def _start(self, *_: object) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    async def _end(self, *_: object) -> None:
        self.now -= 1


@pytest.fixture
async def traced(big: FakeClose) -> AsyncIterator[tuple[CloseClient, InFlight]]:
    counter = InFlight()
    async with (
        aiohttp.ClientSession(trace_configs=[counter.config]) as session,
        CloseClient(big.api_key, base_url=big.url, session=session) as c,
    ):
        yield c, counter


def expected_by_lead(fake: FakeClose) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for sub in fake.state.subscriptions():
        out.setdefault(sub["lead_id"], set()).add(sub["id"])
    return out


def lead_ids(fake: FakeClose) -> list[str]:
    return [lead.id for lead in fake.state.leads()]


def client_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running, but the fake server's (it runs in this loop too)."""
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and not t.done() and not _is_server_task(t)
    ]


def _is_server_task(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    server = ("/close_async/testing/", "/aiohttp/web", "asyncio/selector_events.py")
    return any(part in filename for part in server)


def assert_no_pending_tasks() -> None:
    assert client_tasks() == []


async def assert_finalised_soon() -> None:
    """A dropped generator is finalised by the event loop in a task of its own, scheduled at
    once: give it a few turns of the loop (no clock involved), then nothing may be left."""
    for _ in range(20):
        if not client_tasks():
            return
        await asyncio.sleep(0)
    assert_no_pending_tasks()


async def test_every_subscription_of_every_lead_once(
    big: FakeClose, traced: tuple[CloseClient, InFlight]
) -> None:
    client, in_flight = traced
    ids = lead_ids(big)
    expected = expected_by_lead(big)
    got: list[SequenceSubscription] = []
    run = client.sequence_subscriptions.list_many(lead_ids=ids, concurrency=8)
    async for sub in run:
        got.append(sub)
    counts = Counter(s.id for s in got)
    assert max(counts.values()) == 1
    assert set(counts) == set().union(*expected.values())
    assert in_flight.peak <= 8
    assert run.progress.ids_done == len(ids)
    assert run.progress.ids_total == len(ids)
    assert run.progress.items == len(got)
    assert run.progress.requests == big.stats.requests
    assert run.failures == []


@pytest.mark.parametrize("kind", ["generator", "async generator", "tuple"])
async def test_any_iterable_of_ids(big: FakeClose, client: CloseClient, kind: str) -> None:
    ids = lead_ids(big)
    expected = set().union(*expected_by_lead(big).values())

    async def agen() -> AsyncIterator[str]:
        for i in ids:
            await asyncio.sleep(0)
            yield i

    source: Any = {"generator": (i for i in ids), "async generator": agen(), "tuple": tuple(ids)}
    run = client.sequence_subscriptions.list_many(lead_ids=source[kind], concurrency=5)
    got = [s.id async for s in run]
    assert sorted(got) == sorted(expected)
    assert run.progress.ids_total == (len(ids) if kind == "tuple" else None)


async def test_contact_and_sequence_ids(big: FakeClose, client: CloseClient) -> None:
    subs = list(big.state.subscriptions())
    contacts = sorted({s["contact_id"] for s in subs})
    got = [s async for s in client.sequence_subscriptions.list_many(contact_ids=contacts)]
    assert sorted(s.id for s in got) == sorted(s["id"] for s in subs)
    sequences = sorted({s["sequence_id"] for s in subs})
    got = [s async for s in client.sequence_subscriptions.list_many(sequence_ids=sequences)]
    assert sorted(s.id for s in got) == sorted(s["id"] for s in subs)


async def test_repeated_ids_never_repeat_a_subscription(
    big: FakeClose, client: CloseClient
) -> None:
    ids = lead_ids(big)
    got = [s.id async for s in client.sequence_subscriptions.list_many(lead_ids=ids * 3)]
    assert len(got) == len(set(got))
    assert set(got) == set().union(*expected_by_lead(big).values())


async def test_a_million_ids_are_consumed_lazily(big: FakeClose, client: CloseClient) -> None:
    pulled = 0

    def million() -> Iterator[str]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield "lead_many_pages" if i == 0 else f"lead_unknown_{i}"

    seen = 0
    async with contextlib.aclosing(
        client.sequence_subscriptions.list_many(lead_ids=million(), concurrency=4)
    ) as run:
        async for _ in run:
            seen += 1
            if seen == 250:
                break
    assert seen == 250
    assert pulled < 1000  # the input was read as the work went, not up front
    assert_no_pending_tasks()


async def test_empty_input_sends_nothing(big: FakeClose, client: CloseClient) -> None:
    assert [s async for s in client.sequence_subscriptions.list_many(lead_ids=[])] == []
    assert [s async for s in client.sequence_subscriptions.list_many(lead_ids=iter([]))] == []
    assert big.stats.requests == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lead_ids": "lead_1"}, TypeError, "not a single string"),
        ({"lead_ids": ["lead_1"], "concurrency": 0}, ValueError, "concurrency must be at least 1"),
        ({"lead_ids": ["lead_1", 7]}, TypeError, "each of lead_ids must be a string ID"),
        ({"lead_ids": ["lead_1", ""]}, ValueError, "must not be empty"),
        ({}, ValueError, "give exactly one of lead_ids, contact_ids, sequence_ids"),
        ({"lead_ids": ["a"], "contact_ids": ["b"]}, ValueError, "exactly one"),
        ({"lead_ids": 5}, TypeError, "must be an iterable of IDs"),
        ({"lead_ids": ["a"], "on_error": "ignore"}, ValueError, "on_error"),
        ({"lead_ids": ["a"], "page_size": 1000}, ValueError, "page_size"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    big: FakeClose, client: CloseClient, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        client.sequence_subscriptions.list_many(**kwargs)
    assert big.stats.requests == 0


async def test_bad_id_from_a_generator_stops_the_run(big: FakeClose, client: CloseClient) -> None:
    ids: list[Any] = ["lead_x", 3]
    with pytest.raises(TypeError, match="each of lead_ids must be a string ID"):
        async for _ in client.sequence_subscriptions.list_many(lead_ids=iter(ids)):
            pass
    assert_no_pending_tasks()


@pytest.mark.parametrize("kind", ["generator", "async generator"])
async def test_a_none_from_a_generator_is_a_bad_id_not_the_end_of_the_input(
    big: FakeClose, client: CloseClient, kind: str
) -> None:
    # It ended the worker that drew it, as if the input had run out: with one worker, the
    # IDs after it were silently never listed.
    ids: list[Any] = ["lead_x", None, "lead_y"]

    async def agen() -> AsyncIterator[Any]:
        for id_ in ids:
            yield id_

    source: Any = iter(ids) if kind == "generator" else agen()
    with pytest.raises(TypeError, match="each of lead_ids must be a string ID, not NoneType"):
        async for _ in client.sequence_subscriptions.list_many(lead_ids=source, concurrency=1):
            pass
    assert_no_pending_tasks()


async def test_concurrency_is_capped_by_the_client(big: FakeClose) -> None:
    in_flight = InFlight()
    async with aiohttp.ClientSession(trace_configs=[in_flight.config]) as session:
        close = CloseClient(big.api_key, base_url=big.url, max_concurrency=3, session=session)
        async with close:
            run = close.sequence_subscriptions.list_many(lead_ids=lead_ids(big), concurrency=50)
            assert run.concurrency == 3
            async for _ in run:
                pass
    assert in_flight.peak == 3


async def test_a_failure_raises_and_stops_everything(big: FakeClose, client: CloseClient) -> None:
    big.inject("GET", "sequence_subscription", [Fault.response(403)])
    with pytest.raises(PermissionDeniedError):
        async for _ in client.sequence_subscriptions.list_many(lead_ids=lead_ids(big)):
            pass
    assert_no_pending_tasks()


async def test_continue_mode_reports_failed_ids_and_completes_the_rest(
    big: FakeClose, client: CloseClient
) -> None:
    ids = lead_ids(big)
    expected = expected_by_lead(big)
    big.inject("GET", "sequence_subscription", [Fault.response(404), Fault.response(404)])
    seen: list[Progress] = []
    run = client.sequence_subscriptions.list_many(
        lead_ids=ids, on_error="continue", on_progress=seen.append
    )
    got = [s async for s in run]
    failed = {f.id for f in run.failures}
    assert len(failed) == 2
    assert all(isinstance(f.error, NotFoundError) for f in run.failures)
    complete = set().union(*(expected.get(i, set()) for i in ids if i not in failed))
    assert complete <= {s.id for s in got}
    assert len(got) == len({s.id for s in got})
    assert run.progress.ids_failed == 2
    assert run.progress.ids_done == len(ids)
    assert seen
    assert seen[-1].ids_done == len(ids)


async def test_a_worker_lets_the_consumer_see_a_failure_before_its_next_request(
    big: FakeClose, client: CloseClient
) -> None:
    # What the CLI relies on to stop at the first 401: on_progress raising on a failure
    # stops the run before any other request goes out.
    big.inject("GET", "sequence_subscription", [Fault.response(404)])
    big.reset_stats()

    def stop_on_failure(progress: Progress) -> None:
        if progress.ids_failed:
            raise RuntimeError("stop")

    run = client.sequence_subscriptions.list_many(
        lead_ids=lead_ids(big), concurrency=1, on_error="continue", on_progress=stop_on_failure
    )
    with pytest.raises(RuntimeError, match="stop"):
        async for _ in run:
            pass
    assert big.stats.requests == 1
    assert_no_pending_tasks()


async def test_break_finalises_the_run_and_leaves_nothing(
    big: FakeClose, client: CloseClient
) -> None:
    async for _ in client.sequence_subscriptions.list_many(lead_ids=lead_ids(big)):
        break
    await assert_finalised_soon()


async def test_aclose_and_async_with_stop_at_once(big: FakeClose, client: CloseClient) -> None:
    run = client.sequence_subscriptions.list_many(lead_ids=lead_ids(big))
    async with run:
        async for _ in run:
            break
    assert_no_pending_tasks()
    assert [s async for s in run] == []  # like a closed generator: nothing more


async def test_cancelling_the_consumer_stops_the_run(big: FakeClose, client: CloseClient) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in client.sequence_subscriptions.list_many(lead_ids=lead_ids(big)):
            started.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_finalised_soon()


async def test_closing_the_client_stops_the_run(big: FakeClose) -> None:
    close = CloseClient(big.api_key, base_url=big.url)
    run = close.sequence_subscriptions.list_many(lead_ids=lead_ids(big), concurrency=4)
    await anext(run)
    await close.aclose()  # leaving ``async with CloseClient`` does this
    with pytest.raises(ClientClosedError, match="closed while list_many was running"):
        await drain(run)
    assert_no_pending_tasks()


async def drain(run: FanOut[SequenceSubscription]) -> None:
    async for _ in run:
        pass


async def test_counters_add_up_on_the_client(big: FakeClose, client: CloseClient) -> None:
    big.inject("GET", "sequence_subscription", ["503", Fault.rate_limited(0.01)])
    run = client.sequence_subscriptions.list_many(lead_ids=lead_ids(big)[:10])
    assert isinstance(run, FanOut)
    async for _ in run:
        pass
    assert run.progress.retries == 2
    assert run.progress.rate_limited == 1
    assert client.stats.retries == 2
    assert client.stats.requests == run.progress.requests == big.stats.requests


async def test_closed_before_it_started_never_starts(big: FakeClose, client: CloseClient) -> None:
    run = client.sequence_subscriptions.list_many(lead_ids=lead_ids(big))
    await run.aclose()
    assert [s async for s in run] == []
    assert big.stats.requests == 0


async def test_on_id_done_follows_the_ids_last_subscription(
    big: FakeClose, client: CloseClient
) -> None:
    ids = lead_ids(big)
    expected = expected_by_lead(big)
    yielded: Counter[str] = Counter()
    done: dict[str, int] = {}

    def on_id_done(lead_id: str, count: int) -> None:
        # Once per ID with subscriptions; an ID without any is not remembered (memory
        # stays flat), so its repeat is listed, and reported, again: with 0 both times.
        assert lead_id not in done or done[lead_id] == count == 0
        assert yielded[lead_id] == count  # all of its subscriptions came before
        done[lead_id] = count

    run = client.sequence_subscriptions.list_many(lead_ids=ids + ids[:5], on_id_done=on_id_done)
    async for sub in run:
        assert sub.lead_id is not None
        assert sub.lead_id not in done  # nothing of an ID after it was reported done
        yielded[sub.lead_id] += 1
    assert done == {i: len(expected.get(i, ())) for i in ids}
    assert run.progress.ids_done == len(ids) + 5


async def test_on_id_done_skips_failed_ids(big: FakeClose, client: CloseClient) -> None:
    done: list[str] = []
    big.inject("GET", "sequence_subscription", [Fault.response(404)])
    run = client.sequence_subscriptions.list_many(
        lead_ids=lead_ids(big), on_error="continue", on_id_done=lambda i, n: done.append(i)
    )
    async for _ in run:
        pass
    (failed,) = run.failures
    assert failed.id not in done
    assert len(done) == len(lead_ids(big)) - 1


@pytest.mark.parametrize("separator", [",", ";"])
async def test_fan_out_under_a_rate_limit_stays_within_it(separator: str) -> None:
    """Many tasks share one gate: the window is used, not overrun (counts, not times)."""
    async with FakeClose(
        leads=80, seed=3, rate_limit=10, rate_window=0.1, ratelimit_separator=separator
    ) as fake:
        ids = [lead.id for lead in fake.state.leads()]
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            run = close.sequence_subscriptions.list_many(lead_ids=ids, concurrency=32)
            got = [s.id async for s in run]
        assert sorted(got) == sorted(s["id"] for s in fake.state.subscriptions())
        assert fake.stats.rate_limited <= fake.stats.requests // 100  # under 1%
        assert run.progress.rate_limited == fake.stats.rate_limited


async def test_fan_out_fetches_ahead_only_once_the_input_runs_out(
    big: FakeClose, client: CloseClient
) -> None:
    for i in range(12):
        big.add_subscriptions(lead_id=f"lead_three_pages_{i}", count=300)
    ids = [f"lead_three_pages_{i}" for i in range(12)]
    big.reset_stats()
    got = [s async for s in client.sequence_subscriptions.list_many(lead_ids=ids, concurrency=4)]
    assert len(got) == 12 * 300
    # 3 pages an ID; pages past an end are fetched only by the lists still running once the
    # input has run out (4 here, each wasting at most 3 as its window grows to 4); fetching
    # ahead all along would waste 2 for every ID (60 requests).
    assert 36 <= big.stats.requests <= 36 + 4 * 3


async def wait_inside_anext(run: Any, after: int) -> tuple[asyncio.Task[int], asyncio.Event]:
    """Start a task consuming ``run``; return it once it has taken ``after`` items and is
    waiting for the next page (the pages generator is then running)."""
    reached = asyncio.Event()

    async def consume() -> int:
        n = 0
        async for _ in run:
            n += 1
            if n == after:
                reached.set()
        return n

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(reached.wait(), 10)
    return task, reached


async def test_aclose_from_another_task_stops_a_running_list_many() -> None:
    async with FakeClose(leads=0, latency=0.05) as fake:
        for i in range(40):
            fake.add_subscriptions(lead_id=f"lead_{i}", count=2)
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            ids = [f"lead_{i}" for i in range(40)]
            run = close.sequence_subscriptions.list_many(lead_ids=ids, concurrency=2)
            consumer, _ = await wait_inside_anext(run, after=2)
            await run.aclose()  # this task is not the one iterating
            sent = fake.stats.requests
            taken = await consumer  # its `async for` just ends
            assert_no_pending_tasks()
            assert taken < 80
            assert fake.stats.requests == sent  # nothing more went out
            assert run.progress.ids_done < 40
            assert [s async for s in run] == []  # closed, like a generator


async def test_aclose_from_another_task_stops_a_running_list() -> None:
    async with FakeClose(leads=0, latency=0.05) as fake:
        fake.add_subscriptions(lead_id="lead_long", count=1000)
        async with CloseClient(fake.api_key, base_url=fake.url, prefetch=1) as close:
            subs = close.sequence_subscriptions.list(lead_id="lead_long")
            consumer, _ = await wait_inside_anext(subs, after=100)
            await subs.aclose()
            assert await consumer == 100
            assert fake.stats.requests == 2  # page 2 was cut short, page 3 never asked
            assert_no_pending_tasks()


async def test_a_consumer_cancelled_while_waiting_for_a_page_is_cancelled() -> None:
    """Only a stop asked by aclose() ends the loop quietly; another cancellation stays one."""
    async with FakeClose(leads=0, latency=0.05) as fake:
        fake.add_subscriptions(lead_id="lead_long", count=500)
        async with CloseClient(fake.api_key, base_url=fake.url, prefetch=1) as close:
            subs = close.sequence_subscriptions.list(lead_id="lead_long")
            consumer, _ = await wait_inside_anext(subs, after=100)
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
            assert_no_pending_tasks()


async def test_a_failed_id_is_recorded_once_and_its_repeat_not_listed() -> None:
    # A failure that a later repeat of the ID got past would leave run.failures naming an
    # ID whose subscriptions were all yielded (read again from failures: twice).
    async with FakeClose(leads=0, seed=5) as fake:
        fake.add_subscriptions(lead_id="lead_a", count=3)
        fake.add_subscriptions(lead_id="lead_b", count=2)
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            for faults in (1, 3):  # the repeat would succeed; the repeat would fail too
                fake.inject("GET", "sequence_subscription", [Fault.response(500)] * faults)
                run = close.sequence_subscriptions.list_many(
                    lead_ids=["lead_a", "lead_b", "lead_a"], concurrency=1, on_error="continue"
                )
                got = [s.lead_id async for s in run]
                assert [f.id for f in run.failures] == ["lead_a", "lead_b"][: min(faults, 2)]
                assert "lead_a" not in got
                assert run.progress.ids_done == 3
                assert run.progress.ids_failed == len(run.failures)
            fake.clear_faults()


async def test_a_repeat_of_an_id_that_failed_part_way_repeats_nothing() -> None:
    # Its first pages were yielded before it failed: listing it again would yield them twice.
    async with FakeClose(leads=0, seed=5, max_skip=100) as fake:
        fake.add_subscriptions(lead_id="lead_long", count=330)  # the page at _skip=200 fails
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            run = close.sequence_subscriptions.list_many(
                lead_ids=["lead_long", "lead_long"], concurrency=1, on_error="continue"
            )
            got = [s.id async for s in run]
    assert len(got) == len(set(got)) == 200
    (failed,) = run.failures
    assert (failed.id, failed.items_yielded) == ("lead_long", 200)
    assert run.progress.ids_done == 2
