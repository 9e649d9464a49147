"""The pure core of ``sequence_subscriptions.changes()``: checkpoints, the overlap window,
time slices and ordering. No I/O here (``_change_feed.py`` does the reading).

What Close's docs say, and what follows from it
(https://developer.close.com/api/resources/events/list):

- Events come newest first, by ``date_updated``. A job wants them oldest first. Holding a
  whole catch-up (up to 30 days) in memory to reverse it is not an option, so the time
  since the checkpoint is cut into slices read oldest slice first, each with the
  ``date_updated__gte``/``__lt`` filters: a slice is read whole (newest first), put in
  order, and handed out. At most ``max_buffered`` events are held: a slice that holds more
  is dropped and read again in halves (a cost in requests, never in correctness); quiet
  slices make the next one wider.
- Only some filter combinations are supported; ``object_type`` alone is not. So each slice
  is read once per documented action (``created``, ``updated``, ``deleted``) with
  ``object_type`` + ``action``, and the three merged.
- "Events may be visible through the API in a different order than they were triggered
  [...] To avoid missing recent events when paginating, we recommend to scan the latest
  five minutes of events." Each run therefore starts ``overlap`` (5 minutes) before the
  newest change it handed out last time, and skips what it handed out already.
- "Existing events can be updated if multiple actions to the same object happen in a short
  time frame": an event may come back with the same ``id`` and a later ``date_updated``
  (and newer data). It is a change not seen yet, so the key of an event is its ``id`` *and*
  ``date_updated``: deduplicating by ``id`` alone would drop the later state.

A checkpoint is ``(high, floor, seen)``: ``high`` the newest ``date_updated`` handed out (or
known to be covered), ``floor`` the ``since`` first asked for or, once changes were handed
out, ``high - overlap`` (nothing older is ever handed out), ``seen`` the keys handed out
within ``overlap`` of ``high`` -- the only ones a run starting at ``high - overlap`` can meet
again, so memory stays bounded by the overlap. The floor keeps a later run with a wider
``overlap`` from reading back past what ``seen`` covers and handing those changes out again.
It is written as an opaque string: ``cac1.`` (version 1) and the JSON state, zlib-compressed
and base64url-encoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Final

import attrs

from ._convert import parse_datetime
from ._event_models import Event, EventAction, SubscriptionChange
from ._json import loads
from ._models import SequenceSubscription

__all__ = [
    "ACTIONS",
    "DEFAULT_MAX_BUFFERED",
    "IDLE_ADVANCE",
    "OVERLAP",
    "RETENTION",
    "ChangeState",
    "Checkpoint",
    "Slice",
    "SlicePlanner",
    "before",
    "key_of",
    "ordered",
    "starting_point",
    "to_change",
]

#: The actions read (the ones Close documents for every object type).
ACTIONS: Final = (EventAction.CREATED, EventAction.UPDATED, EventAction.DELETED)
#: Close: "we recommend to scan the latest five minutes of events".
OVERLAP: Final = timedelta(minutes=5)
#: Close: the event log API gives access to events "up to 30 days back in history".
RETENTION: Final = timedelta(days=30)
#: When nothing happened for a long time, a run still moves the checkpoint up to this long
#: before now (by this machine's clock), so that a quiet log does not let it expire. Any
#: event that old was visible when the run read the log, unless the clocks differ by more
#: than a day.
IDLE_ADVANCE: Final = timedelta(days=1)
DEFAULT_MAX_BUFFERED: Final = 10_000

_PREFIX = "cac1."
_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_EARLIEST = datetime.min.replace(tzinfo=_UTC)


def before(when: datetime, delta: timedelta) -> datetime:
    """``delta`` before ``when``, or the first datetime if that lies before year 1 (a since
    of ``datetime.min``, a retention of ``timedelta.max``: "from the very beginning")."""
    try:
        return when - delta
    except OverflowError:
        return _EARLIEST


# Slices: the first one, the narrowest (a slice that narrow is read whole, however many
# events share that instant) and the widest.
_FIRST_SLICE = timedelta(hours=1)
_MIN_SLICE = timedelta(microseconds=1)
_MAX_SLICE = timedelta(days=31)

Key = tuple[str, datetime]


@attrs.frozen
class Checkpoint:
    """Where ``changes()`` stands; see the module docstring. Opaque to users as a string."""

    high: datetime
    floor: datetime | None = None
    seen: tuple[Key, ...] = ()

    def encode(self) -> str:
        """Write the checkpoint as a short opaque string (JSON-serialisable)."""
        state = {
            "high": _text(self.high),
            "floor": None if self.floor is None else _text(self.floor),
            "seen": [[event_id, _text(date)] for event_id, date in self.seen],
        }
        packed = zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 9)
        return _PREFIX + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: object, name: str = "since") -> Checkpoint:
        """Read a checkpoint string; ValueError (naming ``name``) if it is not one of ours."""
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a checkpoint string or a datetime, not {text!r}")
        if not text.startswith(_PREFIX):
            version = text.split(".", 1)[0] if "." in text[:10] else None
            hint = f" (version {version!r} is not one this release reads)" if version else ""
            raise ValueError(
                f"{name} is not a checkpoint from changes(){hint}: pass the string that "
                "changes().checkpoint (or changes_checkpoint()) returned, or a datetime"
            )
        try:
            body = text[len(_PREFIX) :]
            raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            state = loads(raw)  # a ValueError for a document nested too deeply, too
            floor = state["floor"]
            return cls(
                high=_read(state["high"]),
                floor=None if floor is None else _read(floor),
                seen=tuple((str(i), _read(d)) for i, d in state["seen"]),
            )
        except (ValueError, TypeError, KeyError, OverflowError, zlib.error, binascii.Error):
            raise ValueError(
                f"{name} is a damaged checkpoint: pass the string changes() gave, unchanged"
            ) from None


def _text(when: datetime) -> str:
    return when.astimezone(_UTC).isoformat(timespec="microseconds")


def _read(text: str) -> datetime:
    return parse_datetime(text).astimezone(_UTC)


class ChangeState:
    """The running state of one ``changes()``: what was handed out, and the checkpoint."""

    def __init__(self, start: Checkpoint, *, overlap: timedelta = OVERLAP) -> None:
        self.high = start.high
        self.floor = start.floor
        self._overlap = overlap
        self._seen: set[Key] = set()
        self._order: deque[Key] = deque()
        for key in sorted(start.seen, key=lambda k: k[1]):
            self._remember(key)

    def __len__(self) -> int:
        """How many keys it holds (only those within the overlap of the newest)."""
        return len(self._seen)

    @property
    def read_from(self) -> datetime:
        """Where the next read must start: ``overlap`` before the high-water mark."""
        start = self._horizon()
        return start if self.floor is None else max(self.floor, start)

    def accept(self, key: Key) -> bool:
        """Whether to hand out the change with this key (then it counts as handed out)."""
        if key in self._seen or (self.floor is not None and key[1] < self.floor):
            return False
        self.high = max(self.high, key[1])
        self._remember(key)
        return True

    def finish(self, until: datetime | None, now: datetime) -> None:
        """Mark a complete read: up to ``until``, or up to a day before ``now`` when quiet."""
        covered = now - IDLE_ADVANCE
        if until is not None:
            covered = min(covered, until)
        self.high = max(self.high, covered)
        self._prune()

    def checkpoint(self) -> Checkpoint:
        """The checkpoint to resume right after the last change handed out."""
        horizon = self._horizon()
        seen = tuple(key for key in self._order if key[1] >= horizon)
        # `seen` covers what was handed out from `horizon` on, and no further back.
        floor = horizon if self.floor is None else max(self.floor, horizon)
        return Checkpoint(high=self.high, floor=floor, seen=seen)

    def _horizon(self) -> datetime:
        """``overlap`` before the high-water mark."""
        return before(self.high, self._overlap)

    def _remember(self, key: Key) -> None:
        self._seen.add(key)
        self._order.append(key)
        self._prune()

    def _prune(self) -> None:
        # Keys come in date order (late events aside, which only stay a little longer).
        horizon = self._horizon()
        order = self._order
        while order and order[0][1] < horizon:
            self._seen.discard(order.popleft())


@attrs.frozen
class Slice:
    """A time range to read whole: ``[start, end)``, ``end`` None for "up to now".

    ``capped`` is False for a slice already as narrow as slices go: it is read however
    many events it holds.
    """

    start: datetime
    end: datetime | None
    capped: bool = True


class SlicePlanner:
    """Cut ``[start, until)`` (``until`` None: up to the newest event) into slices, oldest
    first, each small enough to hold in memory; see the module docstring."""

    def __init__(self, start: datetime, until: datetime | None, now: datetime) -> None:
        self._start = start
        self._until = until
        self._now = now
        self._width = _FIRST_SLICE
        self._done = until is not None and start >= until

    def current(self) -> Slice | None:
        """The slice to read now, or None when all is read."""
        if self._done:
            return None
        # Compared as differences: `start + width` may lie past datetime.max (a since in
        # year 9999), and is only computed where it stays before `until` or `now`.
        end: datetime | None
        if self._until is not None and self._until - self._start <= self._width:
            end = self._until
        elif self._until is None and self._now - self._start <= self._width:
            end = None
        else:
            end = self._start + self._width
        return Slice(self._start, end, capped=self._width > _MIN_SLICE)

    def overflowed(self, oldest: datetime, newest: datetime, count: int, limit: int) -> None:
        """The current slice held more than ``limit`` events: ``count`` of them were read,
        dated from ``oldest`` to ``newest``. Narrow it to what should hold about half the
        limit at that density (at most half the slice): a burst of changes then costs one
        wasted read, not one per halving."""
        current = self.current()
        assert current is not None
        end = current.end
        if end is None:  # an open slice: the newest event read bounds it
            end = max(newest, self._start + 2 * _MIN_SLICE)
            # The log goes on past the time the read began (changes made meanwhile): the
            # narrowed slice must close before `end`, or it would be read open, whole, for
            # ever. Slices up to `end` are closed; only what follows it is read open.
            self._now = max(self._now, end)
        span = max(newest - oldest, _MIN_SLICE)
        at_density = span * (limit / (2 * max(count, 1)))
        self._width = max(min((end - self._start) / 2, at_density), _MIN_SLICE)

    def advance(self, count: int, max_buffered: int) -> None:
        """The current slice was read whole (``count`` events): move on, wider if quiet."""
        current = self.current()
        assert current is not None
        if current.end is None or (self._until is not None and current.end >= self._until):
            self._done = True
            return
        self._start = current.end
        # At least an empty slice widens: with max_buffered < 4, `// 4` is 0, and slices
        # narrowed by a burst stayed that narrow for the rest of the read.
        if count < max(max_buffered // 4, 1):
            self._width = min(self._width * 2, _MAX_SLICE)


def ordered(streams: Sequence[Sequence[Event]]) -> list[Event]:
    """Merge the events of one slice (one list per action, each newest first) oldest first.

    Ties on ``date_updated`` (Close's dates may have millisecond precision) keep Close's own
    order within an action ("two or more events for the same object are guaranteed to be
    returned in the proper order"), and put created before updated before deleted.
    """
    keyed = []
    for rank, events in enumerate(streams):
        last = len(events) - 1
        for position, event in enumerate(events):
            keyed.append(((event.date_updated or _EPOCH, rank, last - position), event))
    keyed.sort(key=lambda item: item[0])
    return [event for _, event in keyed]


def key_of(event: Event) -> Key:
    """The identity of a change: the event's id and ``date_updated`` (see the docstring)."""
    assert event.date_updated is not None
    return event.id, event.date_updated


def to_change(event: Event) -> SubscriptionChange:
    """Turn a ``sequence_subscription`` event into a ``SubscriptionChange``.

    Raises ValueError for an event that names no subscription or has no date.
    """
    data = event.data
    subscription = data if isinstance(data, SequenceSubscription) else None
    subscription_id = event.object_id or (subscription.id if subscription else None)
    if not subscription_id or event.date_updated is None or event.action is None:
        raise ValueError(f"event {event.id} has no object_id, action or date_updated")
    return SubscriptionChange(
        action=event.action,
        subscription_id=subscription_id,
        subscription=subscription,
        before=event.previous_data,
        changed_fields=event.changed_fields,
        event_id=event.id,
        date=event.date_updated,
        event=event,
    )


def starting_point(since: object, name: str = "since") -> Checkpoint:
    """Read ``since``: a checkpoint string, or an aware datetime (nothing older is handed out)."""
    if isinstance(since, datetime):
        if since.tzinfo is None or since.utcoffset() is None:
            raise ValueError(
                f"{name} is a naive datetime: give it a timezone, e.g. "
                "datetime(2024, 5, 1, tzinfo=timezone.utc)"
            )
        moment = since.astimezone(_UTC)
        # Nothing handed out yet: reading starts at `since` itself.
        return Checkpoint(high=moment, floor=moment)
    return Checkpoint.decode(since, name)
