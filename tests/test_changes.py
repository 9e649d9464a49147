"""``sequence_subscriptions.changes()``: its pure core, and exactly-once against the fake."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from close_async import (
    CheckpointExpiredError,
    CloseClient,
    Event,
    EventAction,
    SubscriptionChange,
    SyncCloseClient,
)
from close_async._changes import (
    IDLE_ADVANCE,
    ChangeState,
    Checkpoint,
    Slice,
    SlicePlanner,
    ordered,
    starting_point,
    to_change,
)
from close_async.testing import FakeClose, Fault

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(event_id: str, seconds: float, action: str = "updated", **fields: object) -> Event:
    return Event(
        id=event_id,
        object_type="sequence_subscription",
        object_id=f"sub_{event_id}",
        action=EventAction(action),
        date_updated=at(seconds),
        **fields,  # type: ignore[arg-type]
    )


# The pure core ------------------------------------------------------------------------------


def test_a_checkpoint_is_an_opaque_versioned_string_that_round_trips() -> None:
    checkpoint = Checkpoint(high=at(10), floor=at(-60), seen=(("ev_1", at(9)), ("ev_2", at(10))))
    text = checkpoint.encode()
    assert text.startswith("cac1.")
    assert json.loads(json.dumps(text)) == text  # JSON-serialisable as it is
    assert Checkpoint.decode(text) == checkpoint


def _packed(state: bytes) -> str:
    """A checkpoint string holding ``state``, packed as checkpoints are."""
    return "cac1." + base64.urlsafe_b64encode(zlib.compress(state)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("garbage", ValueError, "not a checkpoint"),
        ("cac9.abc", ValueError, "version 'cac9'"),
        ("cac1.!!!!", ValueError, "damaged"),
        ("cac1." + "A" * 20, ValueError, "damaged"),
        (_packed(b"[" * 100_000), ValueError, "damaged"),  # too deep for any JSON decoder
        (42, TypeError, "checkpoint string or a datetime"),
    ],
)
def test_a_bad_checkpoint_is_a_value_error_naming_the_argument(
    text: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        starting_point(text)


def test_since_as_a_datetime_must_be_aware() -> None:
    with pytest.raises(ValueError, match="naive"):
        starting_point(datetime(2024, 5, 1))
    start = starting_point(at(0).astimezone(timezone(timedelta(hours=-5))))
    assert ChangeState(start).read_from == at(0)  # no overlap before a time asked for


def test_the_state_skips_what_it_handed_out_and_keeps_only_the_overlap() -> None:
    state = ChangeState(Checkpoint(high=at(0), floor=at(0)), overlap=timedelta(seconds=60))
    assert state.accept(("ev_1", at(1)))
    assert not state.accept(("ev_1", at(1)))  # once
    assert state.accept(("ev_1", at(5)))  # the same event consolidated later: a new state
    assert not state.accept(("ev_0", at(-1)))  # before the floor asked for
    for n in range(2, 200):
        assert state.accept((f"ev_{n}", at(n)))
    assert len(state) == 61  # memory: only the keys within the overlap of the newest
    checkpoint = state.checkpoint()
    assert checkpoint.high == at(199)
    # Bounded: only the keys within the overlap of the newest one are kept.
    assert {date for _, date in checkpoint.seen} == {at(n) for n in range(139, 200)}
    resumed = ChangeState(checkpoint, overlap=timedelta(seconds=60))
    assert resumed.read_from == at(139)
    assert not resumed.accept(("ev_150", at(150)))
    assert resumed.accept(("ev_late", at(150)))  # not handed out before: late, not lost


def test_a_finished_quiet_run_moves_the_checkpoint_so_it_does_not_expire() -> None:
    state = ChangeState(Checkpoint(high=at(0)))
    now = at(0) + timedelta(days=20)
    state.finish(None, now)
    assert state.high == now - IDLE_ADVANCE
    until = at(3600)
    state = ChangeState(Checkpoint(high=at(0)))
    state.finish(until, now)
    assert state.high == until  # never past what was asked for


def test_slices_are_oldest_first_and_the_last_one_is_open() -> None:
    now = at(0) + timedelta(hours=5)
    planner = SlicePlanner(at(0), None, now)
    seen = []
    while (piece := planner.current()) is not None:
        seen.append((piece.start, piece.end))
        planner.advance(10_000, 10_000)  # busy: the width stays
    assert seen[0] == (at(0), at(3600))
    assert seen[-1][1] is None
    assert all(seen[i][1] == seen[i + 1][0] for i in range(len(seen) - 1))  # no gap


def test_an_overflowing_slice_narrows_to_the_density_read_and_quiet_slices_widen() -> None:
    now = at(0) + timedelta(days=3)
    planner = SlicePlanner(at(0), None, now)
    # 101 events read in the slice's last 10 seconds, with room for 100: narrowed to what
    # should hold 50 at that density (about 5 s), not just halved (30 minutes).
    planner.overflowed(at(3590), at(3600), 101, 100)
    narrowed = planner.current()
    assert narrowed is not None
    assert narrowed.end is not None
    assert timedelta(seconds=4) < narrowed.end - at(0) < timedelta(seconds=5)
    planner = SlicePlanner(at(0), None, now)
    planner.overflowed(at(0), at(3600), 101, 100)  # spread out: about halved
    halved = planner.current()
    assert halved is not None
    assert halved.end is not None
    assert at(1700) < halved.end <= at(1800)
    planner.advance(0, 100)  # a quiet slice: the next one is twice as wide
    wider = planner.current()
    assert wider is not None
    assert wider.start == halved.end
    assert wider.end == halved.end + 2 * (halved.end - at(0))


def test_an_open_slice_that_overflows_with_events_newer_than_the_start_closes() -> None:
    # Changes made while reading: the open last slice holds events dated after the run
    # began. Narrowed, it must end before them, or it is read open, whole, again and again.
    planner = SlicePlanner(at(0), None, at(60))
    planner.overflowed(at(50), at(200), 26, 25)
    narrowed = planner.current()
    assert narrowed is not None
    assert narrowed.end is not None
    assert narrowed.end < at(200)


def read_with(planner: SlicePlanner, dates: list[float], limit: int) -> list[float]:
    """Drive ``planner`` over events at ``dates`` as the change feed does; return the dates
    read whole, in order (fails if it does not end in a bounded number of reads)."""
    read: list[float] = []
    for _ in range(10_000):
        piece = planner.current()
        if piece is None:
            return read
        inside = sorted(
            d for d in dates if at(d) >= piece.start and (piece.end is None or at(d) < piece.end)
        )
        if piece.capped and len(inside) > limit:
            seen = inside[-(limit + 1) :]  # newest first, stopped one past the limit
            planner.overflowed(at(seen[0]), at(seen[-1]), len(seen), limit)
            continue
        read += inside
        planner.advance(len(inside), limit)
    raise AssertionError("the planner did not finish")


@pytest.mark.parametrize(
    "dates",
    [
        [0.001 * n for n in range(60)] + [30.0 + n for n in range(40)],  # 40 after now (t=10)
        [9.0 + 0.0001 * n for n in range(50)] + [500.0] * 30,  # 30 at one instant after now
        [float(n) for n in range(100)],
    ],
    ids=["a burst after now", "one instant after now", "spread"],
)
def test_the_planner_reads_every_event_once_and_ends(dates: list[float]) -> None:
    assert read_with(SlicePlanner(at(0), None, at(10)), dates, 25) == sorted(dates)


@pytest.mark.parametrize("limit", [1, 2, 3])
@pytest.mark.parametrize("until", [None, 7200.0], ids=["open", "until"])
def test_a_small_max_buffered_still_widens_after_a_burst_and_ends(
    limit: int, until: float | None
) -> None:
    # A burst narrows the slices to microseconds; with max_buffered below 4 quiet slices
    # never widened again (count < max_buffered // 4 == 0 is never true), and the next
    # hours were read a microsecond at a time: billions of requests.
    dates = [0.0, 0.000001, 0.000002, 0.000003]
    planner = SlicePlanner(at(0), None if until is None else at(until), at(3 * 3600))
    assert read_with(planner, dates, limit) == dates


def test_a_recent_start_is_read_in_one_open_slice_and_until_closes_it() -> None:
    planner = SlicePlanner(at(0), None, at(60))
    piece = planner.current()
    assert piece is not None
    assert (piece.start, piece.end) == (at(0), None)
    planner.advance(3, 100)
    assert planner.current() is None
    planner = SlicePlanner(at(0), at(30), at(60))
    piece = planner.current()
    assert piece is not None
    assert piece.end == at(30)
    assert SlicePlanner(at(30), at(30), at(60)).current() is None


def test_ordered_merges_the_actions_oldest_first_keeping_ties_in_closes_order() -> None:
    created = [event("c2", 5, "created"), event("c1", 1, "created")]  # newest first
    updated = [event("u2", 5), event("u1b", 3), event("u1a", 3)]  # u1a came first
    deleted = [event("d1", 4, "deleted")]
    assert [e.id for e in ordered([created, updated, deleted])] == [
        "c1",
        "u1a",
        "u1b",
        "d1",
        "c2",
        "u2",
    ]


def test_a_change_carries_the_event() -> None:
    change = to_change(event("e1", 1, changed_fields=("status",), previous_data={"x": 1}))
    assert isinstance(change, SubscriptionChange)
    assert change.subscription_id == "sub_e1"
    assert change.subscription is None  # no data was sent
    assert change.before == {"x": 1}
    assert change.date == at(1)
    with pytest.raises(ValueError, match="object_id"):
        to_change(Event(id="ev_x", action=EventAction.CREATED, date_updated=at(0)))


# Against the fake Close ---------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


def make_changes(fake: FakeClose, count: int, lead_id: str = "lead_job") -> list[str]:
    return fake.add_subscriptions(lead_id=lead_id, count=count, status="active")


async def read_all(
    close: CloseClient, since: str | datetime, **options: object
) -> tuple[list[SubscriptionChange], str]:
    changes = close.sequence_subscriptions.changes(since, **options)  # type: ignore[arg-type]
    found = [change async for change in changes]
    return found, changes.checkpoint


def log_keys(fake: FakeClose) -> list[tuple[str, str]]:
    """Every subscription event in the fake's log, oldest first: (event id, date)."""
    return [
        (e["id"], e["date_updated"])
        for e in fake.events.events()
        if e["object_type"] == "sequence_subscription"
    ]


def keys(changes: list[SubscriptionChange]) -> list[tuple[str, str]]:
    return [
        (c.event_id, c.date.replace(tzinfo=None).isoformat(timespec="microseconds"))
        for c in changes
    ]


async def test_reads_every_change_once_in_the_order_it_happened(
    fake: FakeClose, close: CloseClient
) -> None:
    start = now()
    ids = make_changes(fake, 20)
    await close.sequence_subscriptions.pause(ids[3])
    await close.sequence_subscriptions.delete(ids[4])
    changes, _ = await read_all(close, start)
    assert keys(changes) == log_keys(fake)
    actions = [(c.action, c.subscription_id) for c in changes]
    assert actions[-2:] == [(EventAction.UPDATED, ids[3]), (EventAction.DELETED, ids[4])]
    paused, deleted = changes[-2:]
    assert paused.subscription is not None
    assert paused.subscription.status == "paused"
    assert paused.before is not None
    assert paused.before["status"] == "active"
    assert "contact_id" not in paused.before  # partial: only what changed
    assert deleted.subscription is None
    assert deleted.before is not None
    assert deleted.before["id"] == ids[4]


async def test_many_pages_with_little_memory_still_exactly_once_in_order(
    fake: FakeClose, close: CloseClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = now()
    ids = make_changes(fake, 240)
    for sub_id in ids[::7]:
        await close.sequence_subscriptions.pause(sub_id)
    held: list[int] = []

    def ordered_and_counted(streams: list[list[Event]]) -> list[Event]:
        held.append(sum(map(len, streams)))
        return ordered(streams)

    monkeypatch.setattr("close_async._change_feed.ordered", ordered_and_counted)
    changes, _ = await read_all(close, start, max_buffered=40)  # slices get split
    assert keys(changes) == log_keys(fake)
    assert max(held) <= 40  # never more events held than asked
    assert len(held) > 7


async def test_exactly_once_across_a_restart_from_a_checkpoint(
    fake: FakeClose, close: CloseClient
) -> None:
    start = now()
    make_changes(fake, 30)
    first = close.sequence_subscriptions.changes(start)
    seen = []
    async for change in first:
        seen.append(change)
        if len(seen) == 12:
            break  # the job stops (or crashes) right after dealing with 12 changes
    checkpoint = first.checkpoint
    await first.aclose()
    more = make_changes(fake, 5, lead_id="lead_later")
    async with CloseClient(fake.api_key, base_url=fake.url) as restarted:
        rest, final = await read_all(restarted, checkpoint)
    assert keys(seen + rest) == log_keys(fake)  # none lost, none twice, in order
    assert [c.subscription_id for c in rest[-5:]] == more
    again, _ = await read_all(close, final)
    assert again == []


async def test_the_overlap_is_read_again_and_deduplicated(
    fake: FakeClose, close: CloseClient
) -> None:
    start = now()
    make_changes(fake, 8)
    changes, checkpoint = await read_all(close, start)
    assert len(changes) == 8
    requests = fake.stats.by_group["GET event"]
    again, checkpoint = await read_all(close, checkpoint)
    # The last five minutes were read again (they hold all 8 events): none handed out twice.
    assert again == []
    assert fake.stats.by_group["GET event"] > requests
    listed = [
        e async for e in close.events.list(object_type="sequence_subscription", action="created")
    ]
    assert len(listed) == 8


async def test_an_event_that_shows_up_late_is_found_next_time_once(
    fake: FakeClose, close: CloseClient
) -> None:
    start = now()
    with fake.late_events():  # Close's log is eventually consistent: these show up late
        (early,) = make_changes(fake, 1, lead_id="lead_early")
    visible = make_changes(fake, 2, lead_id="lead_visible")  # after it, but seen before it
    changes, checkpoint = await read_all(close, start)
    assert [c.subscription_id for c in changes] == visible
    fake.release_events()
    rest, checkpoint = await read_all(close, checkpoint)
    # Within the overlap before the last change handed out: found, and only it.
    assert [c.subscription_id for c in rest] == [early]
    assert keys(changes + rest) == [log_keys(fake)[i] for i in (1, 2, 0)]
    assert (await read_all(close, checkpoint))[0] == []


async def test_events_of_other_object_types_are_not_handed_out_as_subscription_changes(
    fake: FakeClose, close: CloseClient
) -> None:
    # A server that ignores object_type: a lead's event must not become a "change" to a
    # subscription named by the lead's ID (with no subscription data).
    start = now() - timedelta(hours=2)
    stray = {
        "id": "ev_lead",
        "object_type": "lead",
        "object_id": "lead_1",
        "action": "created",
        "date_updated": (start + timedelta(minutes=1)).isoformat(),
        "data": {"id": "lead_1", "display_name": "A lead"},
    }
    fake.inject("GET", "event", [Fault.response(200, {"data": [stray], "cursor_next": None})])
    (sub_id,) = make_changes(fake, 1)
    changes, _ = await read_all(close, start)
    assert [c.subscription_id for c in changes] == [sub_id]


async def test_a_wider_overlap_than_the_checkpoint_was_made_with_repeats_nothing(
    fake: FakeClose, close: CloseClient
) -> None:
    # The checkpoint remembers only what was handed out within its own overlap: a run with
    # a wider one read further back and handed those changes out a second time.
    start = now()
    make_changes(fake, 3)
    first, checkpoint = await read_all(close, start, overlap=timedelta(0))
    assert len(first) == 3
    again, checkpoint = await read_all(close, checkpoint, overlap=timedelta(minutes=10))
    assert again == []
    later = make_changes(fake, 2, lead_id="lead_later")
    rest, _ = await read_all(close, checkpoint, overlap=timedelta(minutes=10))
    assert [c.subscription_id for c in rest] == later


async def test_a_change_made_while_reading_is_seen_this_time_or_next(
    fake: FakeClose, close: CloseClient
) -> None:
    start = now()
    ids = make_changes(fake, 60)
    changes = close.sequence_subscriptions.changes(start, max_buffered=25)
    seen = []
    async for change in changes:
        seen.append(change)
        if len(seen) == 10:  # mid-way: more changes happen
            await close.sequence_subscriptions.pause(ids[0])
            await close.sequence_subscriptions.pause(ids[50])
            make_changes(fake, 3, lead_id="lead_during")
    rest, _ = await read_all(close, changes.checkpoint)
    assert keys(seen + rest) == log_keys(fake)


async def test_until_stops_before_a_time(fake: FakeClose, close: CloseClient) -> None:
    start = now()
    make_changes(fake, 4)
    cut = now()
    make_changes(fake, 3, lead_id="lead_after")
    changes, checkpoint = await read_all(close, start, until=cut)
    assert len(changes) == 4
    rest, _ = await read_all(close, checkpoint)
    assert keys(changes + rest) == log_keys(fake)


async def test_a_checkpoint_older_than_the_log_raises_before_any_request(
    fake: FakeClose, close: CloseClient
) -> None:
    with pytest.raises(CheckpointExpiredError, match="30 days") as caught:
        close.sequence_subscriptions.changes(now() - timedelta(days=31))
    assert caught.value.since < caught.value.oldest
    old = Checkpoint(high=now() - timedelta(days=30, minutes=1)).encode()
    with pytest.raises(CheckpointExpiredError):
        close.sequence_subscriptions.changes(old)
    with pytest.raises(CheckpointExpiredError):  # a log kept for a shorter time
        close.sequence_subscriptions.changes(
            now() - timedelta(hours=2), retention=timedelta(hours=1)
        )
    assert fake.stats.requests == 0
    with pytest.raises(ValueError, match="since"):
        close.sequence_subscriptions.changes("not a checkpoint")
    with pytest.raises(ValueError, match="until"):
        close.sequence_subscriptions.changes(now(), until=datetime(2024, 1, 1))


async def test_a_since_at_the_ends_of_the_calendar_is_no_overflow_error(
    fake: FakeClose, close: CloseClient
) -> None:
    # "Everything": since=datetime.min went back `overlap` past year 1 (OverflowError); a
    # since in year 9999 went an hour past the last datetime when the first slice was cut.
    with pytest.raises(CheckpointExpiredError):
        close.sequence_subscriptions.changes(datetime.min.replace(tzinfo=UTC))
    last = datetime.max.replace(tzinfo=UTC)
    changes, checkpoint = await read_all(close, last)
    assert changes == []
    assert Checkpoint.decode(checkpoint).high == last
    planner = SlicePlanner(last - timedelta(minutes=5), last, now())
    assert planner.current() == Slice(last - timedelta(minutes=5), last)
    year_one = json.dumps({"high": "0001-01-01T00:00:00+05:00", "floor": None, "seen": []})
    with pytest.raises(ValueError, match="damaged"):  # before UTC: not a datetime at all
        close.sequence_subscriptions.changes(_packed(year_one.encode()))
    first = Checkpoint(high=datetime.min.replace(tzinfo=UTC), seen=(("ev_1", last),))
    assert len(ChangeState(first)) == 1
    with pytest.raises(CheckpointExpiredError):
        close.sequence_subscriptions.changes(first.encode())


async def test_a_retention_longer_than_the_calendar_turns_the_check_off(
    fake: FakeClose, close: CloseClient
) -> None:
    # `now - retention` went back past year 1: OverflowError instead of no check at all.
    (sub_id,) = make_changes(fake, 1)
    found, _ = await read_all(close, now() - timedelta(hours=1), retention=timedelta.max)
    assert [c.subscription_id for c in found] == [sub_id]


async def test_changes_checkpoint_then_every_later_change(
    fake: FakeClose, close: CloseClient
) -> None:
    make_changes(fake, 5, lead_id="lead_before")
    checkpoint = await close.sequence_subscriptions.changes_checkpoint()
    after = make_changes(fake, 4, lead_id="lead_after")
    changes, _ = await read_all(close, checkpoint)
    ids = [c.subscription_id for c in changes]
    assert ids[-4:] == after  # everything after; a few before may come too (the overlap)
    assert len(ids) == len(set(ids))


def test_the_sync_client_reads_changes_and_checkpoints(fake_close: FakeClose) -> None:
    start = now()
    fake_close.add_subscriptions(lead_id="lead_sync", count=3, status="active")
    with SyncCloseClient(fake_close.api_key, base_url=fake_close.url) as close:
        changes = close.sequence_subscriptions.changes(start)
        assert [c.action for c in changes] == [EventAction.CREATED] * 3
        assert list(close.sequence_subscriptions.changes(changes.checkpoint)) == []
        assert close.sequence_subscriptions.changes_checkpoint().startswith("cac1.")
        events = list(close.events.list(lead_id="lead_sync", limit=2))
        assert len(events) == 2
