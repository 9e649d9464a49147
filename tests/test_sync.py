"""SyncCloseClient: the same API, blocking, from plain threads; never from a running loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from close_async import (
    ClientClosedError,
    NotFoundError,
    SequenceSubscription,
    SubscriptionStatus,
    SyncCloseClient,
    SyncFanOut,
)
from close_async.testing import FakeClose, Fault


@pytest.fixture
def fake() -> Iterator[FakeClose]:
    """A fake in a thread of its own (the sync client runs its own loop, too)."""
    with FakeClose(leads=40, sequences=4, seed=5).run_in_thread() as server:
        server.add_subscriptions(lead_id="lead_sync_long", count=260)
        yield server


@pytest.fixture
def close(fake: FakeClose) -> Iterator[SyncCloseClient]:
    with SyncCloseClient(fake.api_key, base_url=fake.url, backoff_base=0.001) as client:
        yield client


def sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "close-async-sync"]


def test_methods_return_values(fake: FakeClose, close: SyncCloseClient) -> None:
    sub_id = next(iter(fake.state.subscriptions()))["id"]
    sub = close.sequence_subscriptions.get(sub_id)
    assert isinstance(sub, SequenceSubscription)
    assert close.sequence_subscriptions.pause(sub_id).status is SubscriptionStatus.PAUSED
    assert close.sequence_subscriptions.resume(sub_id).status is SubscriptionStatus.ACTIVE
    close.sequence_subscriptions.delete(sub_id)
    with pytest.raises(NotFoundError):
        close.sequence_subscriptions.get(sub_id)
    seq = close.sequences.create(name="From sync code", timezone="UTC")
    assert close.sequences.get(seq.id).name == "From sync code"
    assert close.stats.requests >= 7


def test_list_is_an_ordinary_iterator(fake: FakeClose, close: SyncCloseClient) -> None:
    subs = close.sequence_subscriptions.list(lead_id="lead_sync_long")
    assert iter(subs) is subs
    got = list(subs)
    assert len(got) == 260
    assert len({s.id for s in got}) == 260
    assert [s.id for s in close.sequences.list()] == [s["id"] for s in fake.state.sequences()]


def test_arguments_are_checked_in_the_callers_thread(
    fake: FakeClose, close: SyncCloseClient
) -> None:
    with pytest.raises(ValueError, match="at least one of lead_id"):
        close.sequence_subscriptions.list()
    with pytest.raises(TypeError, match="not a single string"):
        close.sequence_subscriptions.list_many(lead_ids="lead_1")
    with pytest.raises(ValueError, match="nothing to update"):
        close.sequence_subscriptions.update("sub_1")
    assert fake.stats.requests == 0


def test_list_many_with_failures_and_progress(fake: FakeClose, close: SyncCloseClient) -> None:
    ids = [lead.id for lead in fake.state.leads()]
    fake.inject("GET", "sequence_subscription", [Fault.response(404)])
    run = close.sequence_subscriptions.list_many(lead_ids=ids, on_error="continue")
    assert isinstance(run, SyncFanOut)
    got = list(run)
    assert len(got) == len({s.id for s in got})
    assert len(run.failures) == 1
    assert run.progress.ids_done == len(ids)


def test_breaking_out_stops_the_work(fake: FakeClose, close: SyncCloseClient) -> None:
    ids = (f"lead_{i}" for i in range(1_000_000))
    for _ in close.sequence_subscriptions.list_many(lead_ids=["lead_sync_long", *ids]):
        break
    # the generator behind the loop was closed, and with it the run: nothing is in flight,
    # and nothing more is sent (the client's count; the fake may still be reading requests
    # that were on the wire when they were cancelled)
    settled = close.stats.requests
    assert close.sequence_subscriptions.get(next(iter(fake.state.subscriptions()))["id"])
    assert close.stats.requests == settled + 1


def test_close_on_an_iterator_stops_it(close: SyncCloseClient) -> None:
    run = close.sequence_subscriptions.list_many(lead_ids=["lead_sync_long"] * 3)
    next(run)
    run.close()
    assert list(run) == []


def test_shared_by_several_threads(fake: FakeClose, close: SyncCloseClient) -> None:
    ids = [lead.id for lead in fake.state.leads()]
    expected = {lead_id: len(fake.state.subscriptions(lead_id=lead_id)) for lead_id in ids}

    def count(lead_id: str) -> int:
        return len(list(close.sequence_subscriptions.list(lead_id=lead_id)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = dict(zip(ids, pool.map(count, ids), strict=True))
    assert counts == expected
    assert len(sync_threads()) == 1  # one loop thread, whatever the callers


async def test_refuses_a_thread_running_an_event_loop(close: SyncCloseClient) -> None:
    with pytest.raises(RuntimeError, match="use CloseClient"):
        close.sequence_subscriptions.get("sub_1")
    with pytest.raises(RuntimeError, match="use CloseClient"):
        close.sequence_subscriptions.list(lead_id="lead_1")
    assert asyncio.get_running_loop().is_running()


def test_close_leaves_no_thread_and_refuses_more(fake: FakeClose) -> None:
    before = len(sync_threads())
    client = SyncCloseClient(fake.api_key, base_url=fake.url)
    assert len(sync_threads()) == before + 1
    client.sequence_subscriptions.list(lead_id="lead_sync_long").__next__()
    client.close()
    client.close()  # twice is fine
    assert len(sync_threads()) == before
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.sequence_subscriptions.get("sub_1")


def test_bad_settings_fail_before_a_thread_starts(fake: FakeClose) -> None:
    before = len(sync_threads())
    with pytest.raises(ValueError, match="max_concurrency"):
        SyncCloseClient(fake.api_key, base_url=fake.url, max_concurrency=0)
    assert len(sync_threads()) == before


def test_secrets_stay_out_of_repr(fake: FakeClose, close: SyncCloseClient) -> None:
    assert fake.api_key not in repr(close)
    assert repr(close).startswith("<SyncCloseClient http://127.0.0.1")


def test_bulk_action_wait(close: SyncCloseClient) -> None:
    bulk = close.bulk_actions.sequence_subscriptions
    action = bulk.create(action_type="pause", s_query={"type": "and", "queries": []})
    assert bulk.wait(action.id, timeout=5, poll_interval=0.05).is_finished


def test_every_public_method_of_the_async_resources_has_a_sync_one(
    close: SyncCloseClient,
) -> None:
    from close_async import CloseClient

    async_client = CloseClient("key")
    pairs = [
        (async_client.sequence_subscriptions, close.sequence_subscriptions),
        (async_client.sequences, close.sequences),
        (async_client.events, close.events),
        (async_client.webhooks, close.webhooks),
        (
            async_client.bulk_actions.sequence_subscriptions,
            close.bulk_actions.sequence_subscriptions,
        ),
    ]
    for resource, wrapper in pairs:
        public = {name for name in dir(type(resource)) if not name.startswith("_")}
        public -= {"collection"}
        missing = {name for name in public if not hasattr(wrapper, name)}
        assert not missing, (type(resource).__name__, missing)


def test_webhooks_and_events_blocking(fake: FakeClose, close: SyncCloseClient) -> None:
    sub = close.webhooks.create(url="https://example.com/h", events=[("lead", "created")])
    assert sub.signature_key is not None
    assert sub.signature_key not in repr(sub)
    assert [s.id for s in close.webhooks.list()] == [sub.id]
    assert close.webhooks.update(sub.id, status="paused").status == "paused"
    close.webhooks.delete(sub.id)
    (event,) = close.events.list(object_type="sequence_subscription", action="created", limit=1)
    assert close.events.get(event.id) == event


@pytest.mark.timeout(30)  # the defect was a hang: fail, do not hold the run for 120 s
def test_an_iterator_ends_with_an_error_when_its_client_is_closed(fake: FakeClose) -> None:
    fake.add_subscriptions(lead_id="lead_sync_huge", count=1200)  # more than the buffer
    client = SyncCloseClient(fake.api_key, base_url=fake.url)
    subs = client.sequence_subscriptions.list(lead_id="lead_sync_huge")
    next(subs)
    client.close()  # say by another thread, or by leaving a `with` block too early
    # What was buffered may still come out; then it says why it stops, rather than wait
    # for ever for items the stopped loop will never send.
    with pytest.raises(ClientClosedError, match="closed"):
        for _ in subs:
            pass


def test_a_closed_client_raises_what_the_async_one_does(fake: FakeClose) -> None:
    client = SyncCloseClient(fake.api_key, base_url=fake.url)
    client.close()
    # The async client raises ClientClosedError (a CloseError): `except CloseError` around
    # sync code must catch it too.
    with pytest.raises(ClientClosedError, match="closed"):
        client.sequence_subscriptions.get("sub_1")
    with pytest.raises(ClientClosedError, match="closed"):
        next(client.sequence_subscriptions.list(lead_id="lead_1"))
    with pytest.raises(ClientClosedError, match="closed"), client:
        pass


def test_changes_checkpoint_is_right_after_the_last_change_handed_out(
    fake: FakeClose, close: SyncCloseClient
) -> None:
    since = close.sequence_subscriptions.changes_checkpoint()
    ids = fake.add_subscriptions(lead_id="lead_sync_changes", count=5)
    changes = close.sequence_subscriptions.changes(since)
    # (A few changes from just before the checkpoint may come too: the fixture's.)
    first = next(change.subscription_id for change in changes if change.subscription_id in ids)
    checkpoint = changes.checkpoint  # a job that dealt with one change, and stops there
    changes.close()
    rest = [
        change.subscription_id
        for change in close.sequence_subscriptions.changes(checkpoint)
        if change.subscription_id in ids
    ]
    # None lost (read ahead into a buffer, and counted as handed out), none twice.
    assert sorted([first, *rest]) == sorted(ids)


def test_changes_checkpoint_can_be_read_after_the_client_is_closed(fake: FakeClose) -> None:
    with SyncCloseClient(fake.api_key, base_url=fake.url) as client:
        changes = client.sequence_subscriptions.changes(
            client.sequence_subscriptions.changes_checkpoint()
        )
        list(changes)
        before = changes.checkpoint
    assert changes.checkpoint == before  # stored after the `with` block: no error


def test_on_id_done_comes_after_the_ids_items_are_handed_out(
    fake: FakeClose, close: SyncCloseClient
) -> None:
    leads = ["lead_sync_long", *(lead.id for lead in fake.state.leads()[:5])]
    handed: dict[str, int] = {}
    journaled: list[tuple[str, int, int]] = []  # id, count, its items handed out by then

    def on_id_done(lead_id: str, count: int) -> None:
        journaled.append((lead_id, count, handed.get(lead_id, 0)))

    for sub in close.sequence_subscriptions.list_many(lead_ids=leads, on_id_done=on_id_done):
        assert sub.lead_id is not None
        handed[sub.lead_id] = handed.get(sub.lead_id, 0) + 1
    # A journal written by on_id_done never names an ID whose items the caller has not
    # had (they would be lost by a stop there, then a resume that skips the ID).
    assert sorted(lead_id for lead_id, _, _ in journaled) == sorted(leads)
    assert all(count == had for _, count, had in journaled), journaled


def test_sync_methods_show_the_async_ones_signature(close: SyncCloseClient) -> None:
    import inspect

    from close_async import CloseClient

    async_client = CloseClient("key")
    for name in ("list", "list_many", "get", "changes", "update"):
        method = getattr(async_client.sequence_subscriptions, name)
        twin = getattr(close.sequence_subscriptions, name)
        # What help() and an editor show: the arguments, not (*args, **kwargs).
        assert inspect.signature(twin).parameters == inspect.signature(method).parameters
        assert twin.__name__ == name
        assert twin.__doc__ == method.__doc__


@pytest.mark.timeout(30)
def test_a_call_cut_short_by_close_in_another_thread_raises_client_closed() -> None:
    with FakeClose(leads=2, sequences=1, seed=5, latency=20).run_in_thread() as slow:
        client = SyncCloseClient(slow.api_key, base_url=slow.url)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.sequences.get("seq_1")
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        while not slow.stats.in_flight:  # the request is at the fake, waiting
            threading.Event().wait(0.01)
        client.close()
        caller.join()
        # One of ours, as the async client raises: not concurrent.futures.CancelledError.
        assert len(errors) == 1
        assert isinstance(errors[0], ClientClosedError), repr(errors[0])
