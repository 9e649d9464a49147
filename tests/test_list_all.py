"""Reading by sequence: list_all, list_many(strategy=...), and Close's maximum _skip."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from close_async import (
    CloseClient,
    MaxSkipError,
    PermissionDeniedError,
    Progress,
    SequenceSubscription,
    ServerError,
)
from close_async.testing import FakeClose, Fault

from .test_fanout import InFlight, assert_finalised_soon, assert_no_pending_tasks

FILLERS = 80  # leads with 0-2 subscriptions each, so that reading by sequence pays off


@pytest.fixture
async def fake() -> AsyncIterator[FakeClose]:
    """Four sequences; leads with 0, 1 and 150 subscriptions and 80 more with 0-2 each; one
    empty sequence; one deleted sequence whose subscriptions Close keeps."""
    async with FakeClose(leads=0, sequences=4, seed=5) as server:
        server.add_lead(lead_id="lead_none")
        server.add_subscriptions(lead_id="lead_one", count=1)
        server.add_subscriptions(lead_id="lead_many", count=150)
        for i in range(FILLERS):
            server.add_subscriptions(lead_id=f"lead_filler_{i:02d}", count=i % 3)
        server.add_sequence(name="Nobody yet")
        doomed = server.add_sequence(name="Doomed")["id"]
        for lead in ("lead_one", "lead_many", "lead_filler_01"):
            contact = server.state.subscriptions(lead_id=lead)[0]["contact_id"]
            server.add_subscription(sequence_id=doomed, contact_id=contact)
        async with CloseClient(server.api_key, base_url=server.url) as close:
            await close.sequences.delete(doomed)
        server.reset_stats()
        yield server


@pytest.fixture
async def close(fake: FakeClose) -> AsyncIterator[CloseClient]:
    async with CloseClient(fake.api_key, base_url=fake.url, backoff_base=0.001) as client:
        yield client


def all_leads() -> list[str]:
    return ["lead_none", "lead_one", "lead_many", *(f"lead_filler_{i:02d}" for i in range(FILLERS))]


def expected(fake: FakeClose, leads: list[str], *, live_only: bool) -> set[str]:
    return {
        sub["id"]
        for lead in leads
        for sub in fake.state.subscriptions(lead_id=lead)
        if not (live_only and sub["status_reason"] == "sequence-deleted")
    }


def by_sequence_cost(fake: FakeClose) -> int:
    """1 request to list the sequences, 1 count per sequence, the pages the counts imply."""
    sequences = fake.state.sequences()
    sizes = [sum(fake.state.subscription_counts(s["id"]).values()) for s in sequences]
    return 1 + len(sequences) + sum(max(math.ceil(size / 100), 1) for size in sizes)


async def ids_of(run: AsyncIterator[SequenceSubscription]) -> list[str]:
    return [sub.id async for sub in run]


# The contract: the same set whichever strategy runs -----------------------------------------


async def test_the_deleted_sequence_is_as_close_would_leave_it(fake: FakeClose) -> None:
    orphans = [s for s in fake.state.subscriptions() if s["status_reason"] == "sequence-deleted"]
    assert len(orphans) == 3
    assert {s["sequence_id"] for s in orphans} - {s["id"] for s in fake.state.sequences()}


@pytest.mark.parametrize("many", [True, False], ids=["83 leads", "5 leads"])
async def test_every_strategy_yields_the_same_live_set(
    fake: FakeClose, close: CloseClient, many: bool
) -> None:
    leads = all_leads() if many else ["lead_none", "lead_one", "lead_many", "lead_filler_01", "x"]
    live = expected(fake, leads, live_only=True)
    runs = {
        strategy: close.sequence_subscriptions.list_many(lead_ids=leads, strategy=strategy)
        for strategy in ("by_sequence", "auto")
    }
    for strategy, run in runs.items():
        got = await ids_of(run)
        assert len(got) == len(set(got)), strategy  # none twice
        assert set(got) == live, strategy
    # auto took the cheaper read, and says why.
    assert runs["auto"].strategy == ("by_sequence" if many else "per_id")
    assert runs["auto"].progress.strategy == runs["auto"].strategy
    assert runs["auto"].progress.strategy_reason.startswith("by sequence: " if many else "per ID: ")


async def test_per_id_also_yields_the_subscriptions_of_deleted_sequences(
    fake: FakeClose, close: CloseClient
) -> None:
    leads = all_leads()
    got = await ids_of(close.sequence_subscriptions.list_many(lead_ids=leads))
    assert set(got) == expected(fake, leads, live_only=False)
    assert len(expected(fake, leads, live_only=False) - expected(fake, leads, live_only=True)) == 3


async def test_auto_estimates_before_it_reads_and_spends_what_it_estimated(
    fake: FakeClose, close: CloseClient
) -> None:
    leads = all_leads()
    run = close.sequence_subscriptions.list_many(lead_ids=leads, strategy="auto")
    assert run.strategy is None  # decided once the run starts
    await ids_of(run)
    assert run.plan is not None
    assert run.plan.estimates == {"per_id": len(leads), "by_sequence": by_sequence_cost(fake)}
    assert run.progress.requests == fake.stats.requests == by_sequence_cost(fake)


async def test_auto_with_a_few_ids_lists_the_sequences_and_fetches_no_count(
    fake: FakeClose, close: CloseClient
) -> None:
    run = close.sequence_subscriptions.list_many(lead_ids=["lead_one"], strategy="auto")
    await ids_of(run)
    assert run.strategy == "per_id"
    # One ID: one request, no look-up at all.
    assert fake.stats.by_path["/api/v1/sequence/"] == 0
    assert run.progress.requests == 1
    run = close.sequence_subscriptions.list_many(
        lead_ids=["lead_one", "lead_none", "lead_many"], strategy="auto"
    )
    await ids_of(run)
    assert run.strategy == "per_id"
    # Three IDs, five sequences: the list of sequences, then per ID; no sequence fetched.
    assert fake.stats.by_path["/api/v1/sequence/"] == 1
    assert sum(n for path, n in fake.stats.by_path.items() if path.count("/") > 4) == 0


async def test_auto_with_a_generator_goes_per_id_without_a_look_up(
    fake: FakeClose, close: CloseClient
) -> None:
    leads = all_leads()
    run = close.sequence_subscriptions.list_many(lead_ids=iter(leads), strategy="auto")
    got = await ids_of(run)
    assert run.strategy == "per_id"
    assert "no length" in run.progress.strategy_reason
    assert set(got) == expected(fake, leads, live_only=True)
    assert fake.stats.by_path["/api/v1/sequence/"] == 0


async def test_by_sequence_needs_a_finite_collection(fake: FakeClose, close: CloseClient) -> None:
    with pytest.raises(TypeError, match=r"strategy='by_sequence' needs lead_ids as a list"):
        close.sequence_subscriptions.list_many(lead_ids=iter(["lead_one"]), strategy="by_sequence")
    with pytest.raises(ValueError, match="strategy must be one of 'per_id', 'by_sequence'"):
        close.sequence_subscriptions.list_many(lead_ids=["lead_one"], strategy="fastest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        close.sequence_subscriptions.list_many(lead_ids={"lead_one", ""}, strategy="by_sequence")
    assert fake.stats.requests == 0


async def test_by_contact(fake: FakeClose, close: CloseClient) -> None:
    contacts = sorted({s["contact_id"] for s in fake.state.subscriptions()})
    live = {s["id"] for s in fake.state.subscriptions() if s["status_reason"] != "sequence-deleted"}
    run = close.sequence_subscriptions.list_many(contact_ids=contacts, strategy="auto")
    assert set(await ids_of(run)) == live
    assert run.strategy == "by_sequence"


async def test_sequence_ids_are_read_per_sequence_whatever_the_strategy(
    fake: FakeClose, close: CloseClient
) -> None:
    seqs = [s["id"] for s in fake.state.sequences()]
    run = close.sequence_subscriptions.list_many(sequence_ids=seqs, strategy="by_sequence")
    got = await ids_of(run)
    assert run.strategy == "per_id"
    assert "the IDs are sequences" in run.progress.strategy_reason
    assert set(got) == {s["id"] for s in fake.state.subscriptions() if s["sequence_id"] in seqs}


# list_all ----------------------------------------------------------------------------------


async def test_list_all_reads_every_live_subscription_at_known_offsets(
    fake: FakeClose, close: CloseClient
) -> None:
    done: dict[str, int] = {}
    seen: list[Progress] = []
    run = close.sequence_subscriptions.list_all(
        on_id_done=lambda seq, n: done.__setitem__(seq, n), on_progress=seen.append
    )
    got = await ids_of(run)
    live = {s["id"] for s in fake.state.subscriptions() if s["status_reason"] != "sequence-deleted"}
    assert len(got) == len(set(got))
    assert set(got) == live
    # Exactly the look-ups and the pages the counts imply: no request past any end, and
    # one for the empty sequence (its count of 0 is checked, not trusted).
    assert fake.stats.requests == run.progress.requests == by_sequence_cost(fake)
    sequences = {s["id"] for s in fake.state.sequences()}
    assert done == {seq: sum(fake.state.subscription_counts(seq).values()) for seq in sequences}
    assert run.progress.ids_total == run.progress.ids_done == len(sequences)
    assert run.strategy == "by_sequence"
    assert seen[-1].strategy_reason == "by sequence: every sequence of the organisation (5)"


async def test_list_all_fetches_a_long_sequences_pages_in_parallel(fake: FakeClose) -> None:
    sequence = fake.add_sequence(name="Long")["id"]
    fake.add_subscriptions(lead_id="lead_long", count=1234, sequence_id=sequence)
    fake.reset_stats()
    in_flight = InFlight()
    async with (
        aiohttp.ClientSession(trace_configs=[in_flight.config]) as session,
        CloseClient(fake.api_key, base_url=fake.url, session=session) as close,
    ):
        run = close.sequence_subscriptions.list_all([sequence], concurrency=6)
        got = await ids_of(run)
    assert len(got) == len(set(got)) == 1234
    assert fake.stats.requests == 1 + 13  # its count, then 13 pages, none past the end
    assert 1 < in_flight.peak <= 6


async def test_list_all_without_counts_reads_with_the_adaptive_window(
    fake: FakeClose, close: CloseClient
) -> None:
    sequence = fake.state.sequences()[0]["id"]
    size = sum(fake.state.subscription_counts(sequence).values())
    fake.inject("GET", "sequence", [Fault.response(200, {"id": sequence, "name": "No counts"})])
    got = await ids_of(close.sequence_subscriptions.list_all([sequence]))
    assert set(got) == {s["id"] for s in fake.state.subscriptions(sequence_id=sequence)}
    assert len(got) == size
    assert fake.stats.requests >= 1 + math.ceil(size / 100)


async def test_list_all_of_a_deleted_sequence_reads_what_close_still_lists(
    fake: FakeClose, close: CloseClient
) -> None:
    orphans = [s for s in fake.state.subscriptions() if s["status_reason"] == "sequence-deleted"]
    deleted = orphans[0]["sequence_id"]
    run = close.sequence_subscriptions.list_all([deleted])
    assert set(await ids_of(run)) == {s["id"] for s in orphans}  # its fetch is a 404
    assert run.failures == []


async def test_list_all_failures_and_continue(fake: FakeClose, close: CloseClient) -> None:
    sequences = [s["id"] for s in fake.state.sequences()]
    fake.inject("GET", "sequence_subscription", [Fault.response(500)])  # a 500: not retried
    run = close.sequence_subscriptions.list_all(sequences, on_error="continue")
    got = await ids_of(run)
    (failure,) = run.failures
    assert isinstance(failure.error, ServerError)
    assert failure.id in sequences
    assert set(got) == {
        s["id"]
        for s in fake.state.subscriptions()
        if s["sequence_id"] in set(sequences) - {failure.id}
    }
    assert run.progress.ids_done == len(sequences)


async def test_list_all_stops_cleanly(fake: FakeClose, close: CloseClient) -> None:
    async for _ in close.sequence_subscriptions.list_all(concurrency=3):
        break
    await assert_finalised_soon()
    run = close.sequence_subscriptions.list_all()
    async with contextlib.aclosing(run):
        async for _ in run:
            break
    assert_no_pending_tasks()


async def test_aclose_from_another_task_while_auto_is_still_planning() -> None:
    sent = asyncio.Event()

    async def on_request_start(*_: object) -> None:
        sent.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with (
        FakeClose(leads=0, sequences=3, latency=0.2) as slow,
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        CloseClient(slow.api_key, base_url=slow.url, session=session) as close,
    ):
        run = close.sequence_subscriptions.list_many(lead_ids=all_leads(), strategy="auto")
        consumer = asyncio.ensure_future(ids_of(run))
        await sent.wait()  # planning: the list of sequences is on its way
        await run.aclose()
        assert await consumer == []
        assert run.strategy is None  # it never got to choose
        assert slow.stats.requests <= 1  # the list of sequences, if it got there
        assert_no_pending_tasks()


async def test_a_look_up_that_fails_stops_the_other_look_ups(fake: FakeClose) -> None:
    in_flight = InFlight()
    async with (
        aiohttp.ClientSession(trace_configs=[in_flight.config]) as session,
        CloseClient(fake.api_key, base_url=fake.url, session=session) as close,
    ):
        sequences = [{"id": s.id} async for s in close.sequences.list()]
        assert len(sequences) > 2
        # The list of sequences, then one look-up refused, and the others left hanging.
        faults: list[Any] = [Fault.response(200, {"data": sequences, "has_more": False})]
        faults += [Fault.response(403), *["stall"] * len(sequences)]
        fake.inject("GET", "sequence", faults)
        run = close.sequence_subscriptions.list_many(lead_ids=all_leads(), strategy="auto")
        with pytest.raises(PermissionDeniedError):
            await ids_of(run)
        assert in_flight.now == 0  # no look-up goes on after the run has raised


# Close's maximum _skip -----------------------------------------------------------------------


CAPPED_LEADS = [f"lead_{i}" for i in range(400)]


@pytest.fixture
async def capped() -> AsyncIterator[FakeClose]:
    """A fake refusing _skip above 200, with a sequence of 350 subscriptions (one a lead)."""
    async with FakeClose(leads=0, sequences=2, seed=9, max_skip=200) as server:
        long, short = (s["id"] for s in server.state.sequences())
        for i, lead in enumerate(CAPPED_LEADS):
            server.add_subscriptions(lead_id=lead, count=1, sequence_id=long if i < 350 else short)
        server.reset_stats()
        yield server


async def test_a_list_past_max_skip_raises_a_typed_error_naming_it(capped: FakeClose) -> None:
    long = capped.state.sequences()[0]["id"]
    async with CloseClient(capped.api_key, base_url=capped.url, prefetch=1) as close:
        with pytest.raises(MaxSkipError) as caught:
            await ids_of(close.sequence_subscriptions.list(sequence_id=long))
    error = caught.value
    assert (error.status, error.skip, error.max_skip) == (400, 300, 200)
    assert error.filters == {"sequence_id": long}
    assert f"sequence_subscription/?sequence_id={long}" in str(error)
    assert "per lead" in str(error)


async def test_once_max_skip_is_known_auto_plans_around_it(capped: FakeClose) -> None:
    long = capped.state.sequences()[0]["id"]
    leads = CAPPED_LEADS
    async with CloseClient(capped.api_key, base_url=capped.url) as close:
        # Before: auto reads by sequence, and Close refuses the deep page of the long one.
        run = close.sequence_subscriptions.list_many(
            lead_ids=leads, strategy="auto", on_error="continue"
        )
        await ids_of(run)
        assert run.strategy == "by_sequence"
        (failure,) = run.failures
        assert failure.id == long
        assert isinstance(failure.error, MaxSkipError)
        # After: the client knows the maximum; auto reads per ID, and gets everything.
        capped.reset_stats()
        run = close.sequence_subscriptions.list_many(lead_ids=leads, strategy="auto")
        got = await ids_of(run)
        assert run.strategy == "per_id"
        assert "past the 200 Close accepts" in run.progress.strategy_reason
        assert set(got) == {s["id"] for s in capped.state.subscriptions()}
        # And list_all refuses that sequence before sending its pages.
        capped.reset_stats()
        run = close.sequence_subscriptions.list_all([long], on_error="continue")
        assert await ids_of(run) == []
        (failure,) = run.failures
        assert isinstance(failure.error, MaxSkipError)
        assert "not sent" in str(failure.error)
        assert capped.stats.requests == 1  # its count only


def test_list_all_in_sync_code(fake_close_factory: Any) -> None:
    from close_async import SyncCloseClient

    fake = fake_close_factory(leads=30, sequences=3, seed=2)
    with SyncCloseClient(fake.api_key, base_url=fake.url) as close:
        run = close.sequence_subscriptions.list_all()
        got = [sub.id for sub in run]
        assert run.strategy == "by_sequence"
    assert Counter(got) == Counter(s["id"] for s in fake.state.subscriptions())


async def test_skip_sequences_leaves_finished_sequences_out(
    fake: FakeClose, close: CloseClient
) -> None:
    leads = all_leads()
    skipped = fake.state.sequences()[0]["id"]
    run = close.sequence_subscriptions.list_many(
        lead_ids=leads, strategy="by_sequence", skip_sequences=[skipped]
    )
    got = await ids_of(run)
    assert set(got) == {
        s
        for s in expected(fake, leads, live_only=True)
        if fake.state.subscription(s)["sequence_id"] != skipped  # type: ignore[index]
    }
    assert run.progress.ids_total == len(fake.state.sequences()) - 1
    assert "1 skipped as done" in run.progress.strategy_reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lead_ids": ["lead_one"], "strategy": "auto"},
        {"lead_ids": ["lead_one"]},
        {"sequence_ids": ["seq_1"], "strategy": "by_sequence"},
    ],
)
async def test_skip_sequences_goes_with_by_sequence_only(
    fake: FakeClose, close: CloseClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="skip_sequences goes with strategy='by_sequence'"):
        close.sequence_subscriptions.list_many(skip_sequences=["seq_x"], **kwargs)
    assert fake.stats.requests == 0


# Counts Close gets wrong ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "counts",
    [{"active": "5"}, {"active": None}, {"active": -400}, {"active": 2.5}, {"active": True}],
    ids=["a string", "null", "negative", "a fraction", "a boolean"],
)
async def test_counts_that_are_not_counts_are_taken_as_unknown(
    fake: FakeClose, close: CloseClient, counts: dict[str, Any]
) -> None:
    sequence = max(
        (s["id"] for s in fake.state.sequences()),
        key=lambda seq: len(fake.state.subscriptions(sequence_id=seq)),
    )
    real = {s["id"] for s in fake.state.subscriptions(sequence_id=sequence)}
    assert len(real) > 50
    fake.inject(
        "GET",
        "sequence",
        [Fault.response(200, {"id": sequence, "subscription_counts_by_status": counts})],
    )
    # Read with the adaptive window, as without counts: every subscription, no TypeError.
    assert set(await ids_of(close.sequence_subscriptions.list_all([sequence]))) == real
    # auto cannot cost a read by sequence on them: it reads per ID, and says why.
    sequences = [{"id": s["id"]} for s in fake.state.sequences()]
    faults = [Fault.response(200, {"data": sequences, "has_more": False})]
    faults += [
        Fault.response(200, {"id": s["id"], "subscription_counts_by_status": counts})
        for s in sequences
    ]
    fake.inject("GET", "sequence", faults)
    leads = all_leads()
    run = close.sequence_subscriptions.list_many(lead_ids=leads, strategy="auto")
    assert set(await ids_of(run)) == expected(fake, leads, live_only=True)
    assert run.strategy == "per_id"
    assert "did not say how many" in run.progress.strategy_reason


@pytest.mark.parametrize("counts", [{"active": 0}, {}], ids=["zero", "empty"])
async def test_a_count_of_zero_does_not_hide_a_sequences_subscriptions(
    fake: FakeClose, close: CloseClient, counts: dict[str, Any]
) -> None:
    # Close's counts may lag behind (or leave a status out): only has_more ends a list.
    sequence = fake.state.sequences()[0]["id"]
    real = {s["id"] for s in fake.state.subscriptions(sequence_id=sequence)}
    assert real
    zero = Fault.response(200, {"id": sequence, "subscription_counts_by_status": counts})
    fake.inject("GET", "sequence", [zero])
    assert set(await ids_of(close.sequence_subscriptions.list_all([sequence]))) == real
    # by_sequence yields what per_id yields (deleted sequences apart).
    leads = all_leads()
    fake.inject(
        "GET", "sequence", [Fault.response(200, {"data": [{"id": sequence}], "has_more": False})]
    )
    fake.inject("GET", "sequence", [zero])
    run = close.sequence_subscriptions.list_many(lead_ids=leads, strategy="by_sequence")
    assert set(await ids_of(run)) == expected(fake, leads, live_only=True) & real


async def test_once_a_sequence_meets_max_skip_auto_sends_no_page_past_it() -> None:
    skips: list[int] = []

    async def on_request_start(_: object, __: object, params: Any) -> None:
        if "_skip" in params.url.query:
            skips.append(int(params.url.query["_skip"]))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with FakeClose(leads=0, sequences=2, seed=9, max_skip=200) as capped:
        for n, sequence in enumerate(s["id"] for s in capped.state.sequences()):
            for i in range(350):
                capped.add_subscriptions(lead_id=f"lead_{n}_{i}", count=1, sequence_id=sequence)
        leads = [s["lead_id"] for s in capped.state.subscriptions()]
        async with (
            aiohttp.ClientSession(trace_configs=[trace]) as session,
            CloseClient(capped.api_key, base_url=capped.url, session=session) as close,
        ):
            # Planned before Close named its maximum: by sequence, one list at a time.
            run = close.sequence_subscriptions.list_many(
                lead_ids=leads, strategy="auto", concurrency=1, on_error="continue"
            )
            await ids_of(run)
    assert run.strategy == "by_sequence"
    first, second = run.failures
    assert isinstance(first.error, MaxSkipError)
    assert isinstance(second.error, MaxSkipError)
    # The first sequence met the maximum; the second is refused before any of its pages.
    assert (first.items_yielded, second.items_yielded) == (300, 0)
    assert "not sent" in str(second.error)
    assert [skip for skip in skips if skip > 200] == [300]


async def test_auto_reads_each_sequence_it_listed_whatever_id_its_fetch_answers_with(
    fake: FakeClose, close: CloseClient
) -> None:
    # The counts are the sequence's asked for: keyed by the answer's id, a sequence
    # answered for under another id was never read, and its subscriptions never yielded.
    sequences = [s["id"] for s in fake.state.sequences()]
    listing = Fault.response(200, {"data": [{"id": s} for s in sequences], "has_more": False})
    counts = {s: fake.state.subscription_counts(s) for s in sequences}
    answers = [
        Fault.response(200, {"id": "seq_other", "subscription_counts_by_status": counts[s]})
        for s in sequences
    ]
    fake.inject("GET", "sequence", [listing, *answers])
    leads = all_leads()
    run = close.sequence_subscriptions.list_many(lead_ids=leads, strategy="auto")
    assert set(await ids_of(run)) == expected(fake, leads, live_only=True)
    assert run.strategy == "by_sequence"
