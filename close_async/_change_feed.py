"""``SubscriptionChanges``: the async reader behind ``sequence_subscriptions.changes()``.

The decisions (slices, order, overlap, checkpoints) are the pure functions of
``_changes.py``; this module only reads each slice from the event log and hands the changes
out, keeping the checkpoint current as it goes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType

from ._changes import (
    ACTIONS,
    DEFAULT_MAX_BUFFERED,
    IDLE_ADVANCE,
    OVERLAP,
    RETENTION,
    ChangeState,
    Checkpoint,
    Slice,
    SlicePlanner,
    before,
    key_of,
    ordered,
    starting_point,
    to_change,
)
from ._event_errors import CheckpointExpiredError
from ._event_models import Event, SubscriptionChange
from ._exceptions import ResponseValidationError
from ._params import check_positive
from .resources.events import Events, format_datetime

__all__ = ["OBJECT_TYPE", "SubscriptionChanges", "current_checkpoint"]

logger = logging.getLogger("close_async")

OBJECT_TYPE = "sequence_subscription"
_PATH = Events.collection

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _check_delta(value: object, name: str) -> timedelta:
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a timedelta, not {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative")
    return value


def _span(delta: timedelta) -> str:
    if delta.days and delta == timedelta(days=delta.days):
        return f"{delta.days} days"
    return f"{delta.total_seconds():g} s"


class SubscriptionChanges(AsyncIterator[SubscriptionChange]):
    """The changes to sequence subscriptions since a checkpoint, oldest first, each once.

    Iterate with ``async for``; read ``checkpoint`` whenever a job has dealt with the
    changes so far (after the loop, or after each change) and store it: passed back as
    ``since`` it resumes right after the last change handed out. ``aclose()`` (or leaving an
    ``async with`` block) stops the requests in flight.
    """

    def __init__(
        self,
        events: Events,
        *,
        since: str | datetime,
        until: datetime | None = None,
        overlap: timedelta = OVERLAP,
        retention: timedelta = RETENTION,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        clock: Clock = _utc_now,
    ) -> None:
        start = starting_point(since)
        if until is not None:
            format_datetime(until, "until")  # checks it is an aware datetime
        self._overlap = _check_delta(overlap, "overlap")
        retention = _check_delta(retention, "retention")
        self._max_buffered = check_positive(max_buffered, "max_buffered")
        self._events = events
        self._until = until
        self._clock = clock
        self._state = ChangeState(start, overlap=self._overlap)
        self._started_at = clock()
        oldest = before(self._started_at, retention)  # year 1 at most: nothing expired
        if self._state.read_from < oldest:
            raise CheckpointExpiredError(
                f"changes since {self._state.read_from.isoformat()} cannot be read: Close's "
                f"event log keeps {_span(retention)} (back to about "
                f"{oldest.isoformat(timespec='seconds')}). Read everything again (e.g. "
                "list_all() or `close-async subscriptions export`), with a fresh "
                "changes_checkpoint() taken before, and continue from that",
                since=self._state.read_from,
                oldest=oldest,
            )
        self._run: AsyncGenerator[SubscriptionChange, None] = self._read()

    def __repr__(self) -> str:
        return f"<SubscriptionChanges from {self._state.read_from.isoformat()}>"

    @property
    def checkpoint(self) -> str:
        """Where to resume: right after the last change handed out (opaque, JSON-safe).

        Once the iteration has ended it also covers the quiet time read up to now. Building
        it costs time in proportion to the changes of the 5 minutes before the last one:
        read it after a batch of changes rather than after each.
        """
        return self._state.checkpoint().encode()

    def __aiter__(self) -> SubscriptionChanges:
        return self

    async def __anext__(self) -> SubscriptionChange:
        return await self._run.__anext__()

    async def aclose(self) -> None:
        """Stop: cancel the requests in flight."""
        await self._run.aclose()

    async def __aenter__(self) -> SubscriptionChanges:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _read(self) -> AsyncGenerator[SubscriptionChange, None]:
        state = self._state
        planner = SlicePlanner(state.read_from, self._until, self._started_at)
        while (piece := planner.current()) is not None:
            streams, (oldest, newest, count) = await self._read_slice(piece)
            if streams is None:
                logger.debug(
                    "changes: more than %d events from %s; reading that time again in halves",
                    self._max_buffered,
                    piece.start.isoformat(),
                )
                planner.overflowed(oldest, newest, count, self._max_buffered)
                continue
            for event in ordered(streams):
                if state.accept(key_of(event)):
                    yield _change(event)
            planner.advance(sum(map(len, streams)), self._max_buffered)
            del streams
        state.finish(self._until, self._started_at)

    async def _read_slice(
        self, piece: Slice
    ) -> tuple[list[list[Event]] | None, tuple[datetime, datetime, int]]:
        """Read one slice: one list per action (newest first), and the oldest and newest
        dates read and how many events; the lists are None if the slice held more than
        ``max_buffered`` events."""
        streams: list[list[Event]] = []
        count = 0
        oldest: datetime | None = None
        newest = piece.start
        for action in ACTIONS:
            found: list[Event] = []
            items = self._events.list(
                object_type=OBJECT_TYPE,
                action=action.value,
                date_updated__gte=piece.start,
                date_updated__lt=piece.end,
            )
            try:
                async for event in items:
                    if event.object_type not in (OBJECT_TYPE, None):
                        # Close ignored the filter: another object's event, whose object_id
                        # would be taken for a subscription's ID.
                        continue
                    date = event.date_updated
                    if date is None:
                        raise ResponseValidationError(
                            f"GET {_PATH}: event {event.id} has no date_updated",
                            method="GET",
                            path=_PATH,
                            field="$.data[].date_updated",
                        )
                    newest = max(newest, date)
                    oldest = date if oldest is None else min(oldest, date)
                    found.append(event)
                    count += 1
                    if piece.capped and count > self._max_buffered:
                        return None, (oldest, newest, count)
            finally:
                await items.aclose()
            streams.append(found)
        return streams, (oldest or piece.start, newest, count)


def _change(event: Event) -> SubscriptionChange:
    try:
        return to_change(event)
    except ValueError as exc:
        raise ResponseValidationError(
            f"GET {_PATH}: {exc}", method="GET", path=_PATH, field="$.data[].object_id"
        ) from None


async def current_checkpoint(events: Events, *, clock: Clock = _utc_now) -> str:
    """A checkpoint for "from now on", anchored on Close's clock: the newest event's date.

    ``changes()`` from it starts ``overlap`` before the newest event already in the log, so
    whatever happens after this call is read, whatever this machine's clock says (and a few
    changes from before may be read too: apply changes as upserts). One request per action.
    """
    now = clock()
    newest = now - IDLE_ADVANCE
    for action in ACTIONS:
        items = events.list(object_type=OBJECT_TYPE, action=action.value, limit=1)
        try:
            async for event in items:
                if event.date_updated is not None:
                    newest = max(newest, event.date_updated)
        finally:
            await items.aclose()
    return Checkpoint(high=newest).encode()
