"""The fake's event log: every change the fake makes, as Close's event log would show it.

Close logs "most actions that change an object" (https://developer.close.com/api/resources/events):
here, every create, update and delete of a sequence or subscription (API calls, bulk actions
and the `add_*` helpers alike) and the creation of leads and contacts. Each event has Close's
shape: `id`, `date_created`, `date_updated`, `organization_id`, `user_id`, `request_id`,
`api_key_id`, `object_type`, `object_id`, `lead_id`, `action`, `changed_fields`, `data` (the
object after the change, `null` for a delete), `previous_data` (for an update the changed
fields' old values, for a delete the whole object, `{}` for a create) and `meta`
(`request_method`/`request_path` for API calls, `bulk_action_id` for bulk actions).

Listing is Close's: newest first by `date_updated`, cursor pagination (`_cursor`,
`cursor_next`; `cursor_previous` is always null here), `_limit` capped at 50, the documented
filter combinations (others get a 400), the `date_updated__gt/gte/lt/lte` range, and a
retention (30 days unless told otherwise). Seeded data predates the log: only changes made
after the fake is built are logged.

Close's log is eventually consistent: events can become visible late, out of order. `hold()`
(until `release()`, or `stop_holding()`) reproduces that: the events recorded meanwhile are
dated when they happen but stay invisible (to the API and to webhooks) until `release()`.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from ..resources.events import FILTER_COMBINATIONS, MAX_EVENT_PAGE
from ._errors import flat_error
from ._model import IdFactory, dumps, format_datetime, utc_now

__all__ = ["DEFAULT_RETENTION", "EventLog"]

Json = dict[str, Any]
Listener = Callable[[Mapping[str, Any]], None]

_ID_FILTERS = ("object_type", "object_id", "action", "lead_id", "user_id", "request_id")
_DATE_FILTERS: Mapping[str, Callable[[str, str], bool]] = {
    "date_updated__gt": lambda date, bound: date > bound,
    "date_updated__gte": lambda date, bound: date >= bound,
    "date_updated__lt": lambda date, bound: date < bound,
    "date_updated__lte": lambda date, bound: date <= bound,
}
DEFAULT_RETENTION = 30 * 24 * 3600.0
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class EventLog:
    """Record the fake's changes as Close events and serve them; see the module docstring.

    `listeners` are called with each event as it becomes visible (webhook delivery).
    """

    def __init__(
        self,
        *,
        ids: IdFactory,
        organization_id: str,
        timestamp: Callable[[], str],
        retention: float | None = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if retention is not None and retention <= 0:
            raise ValueError("event_retention must be > 0 seconds (or None: keep everything)")
        self._ids = ids
        self._rng = random.Random(ids.new("seed"))
        self._organization_id = organization_id
        self._timestamp = timestamp
        self._retention = retention
        self._clock = clock
        # Visible events, sorted by (date_updated, sequence number): the list order.
        self._keys: list[tuple[str, int]] = []
        self._events: list[Json] = []
        self._texts: dict[str, str] = {}
        self._by_id: dict[str, Json] = {}
        self._sequence = 0
        self._held: list[Json] = []
        self._holding = False
        self._scope: Json = {}
        self.listeners: list[Listener] = []

    # Recording ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def scope(self, **meta: Any) -> Iterator[None]:
        """Attach `meta` to the events recorded inside; an API call also gets a request id."""
        previous = self._scope
        request_id = self._ids.new("req") if "request_method" in meta else None
        self._scope = {"meta": meta, "request_id": request_id}
        try:
            yield
        finally:
            self._scope = previous

    def record_change(
        self, object_type: str, action: str, before: Json | None, after: Json | None, user: str
    ) -> None:
        """Log one change (the store's `on_change` hook)."""
        record = after if after is not None else before or {}
        object_id = record.get("id")
        lead_id = object_id if object_type == "lead" else record.get("lead_id")
        date = (after or {}).get("date_updated") if action != "deleted" else None
        date = date or self._timestamp()
        if action == "updated" and before is not None and after is not None:
            changed = sorted(
                k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
            )
            previous: Json = {k: before[k] for k in changed if k in before}
        else:
            changed, previous = [], dict(before or {}) if action == "deleted" else {}
        event = {
            "id": self._event_id(),
            "date_created": date,
            "date_updated": date,
            "organization_id": self._organization_id,
            "user_id": user,
            "request_id": self._scope.get("request_id"),
            "api_key_id": None,
            "object_type": object_type,
            "object_id": object_id,
            "lead_id": lead_id,
            "action": action,
            "changed_fields": changed,
            "data": after if action != "deleted" else None,
            "previous_data": previous,
            "meta": dict(self._scope.get("meta") or {}),
        }
        if self._holding:
            self._held.append(event)
        else:
            self._publish(event)

    def _event_id(self) -> str:
        # Close's look (`ev_` and 22 base62 characters), four times cheaper than IdFactory's:
        # a bulk `add_subscriptions` logs thousands.
        number = self._rng.getrandbits(128)
        chars = []
        for _ in range(22):
            number, digit = divmod(number, 62)
            chars.append(_BASE62[digit])
        return "ev_" + "".join(chars)

    def hold(self) -> None:
        """Keep the events recorded from now on invisible until `release()` (late events)."""
        self._holding = True

    def stop_holding(self) -> None:
        """Record visible events again; those held so far stay held until `release()`."""
        self._holding = False

    def release(self) -> None:
        """Make the held events visible (at their own dates, so possibly behind newer ones)."""
        held, self._held, self._holding = self._held, [], False
        for event in held:
            self._publish(event)

    def _publish(self, event: Json) -> None:
        self._sequence += 1
        key = (event["date_updated"], self._sequence)
        index = bisect.bisect(self._keys, key)
        self._keys.insert(index, key)
        self._events.insert(index, event)
        self._by_id[event["id"]] = event
        view = MappingProxyType(event)
        for listener in list(self.listeners):
            listener(view)

    # Reading ------------------------------------------------------------------------------

    def events(self) -> list[Mapping[str, Any]]:
        """Return the visible events still kept, oldest first (read-only mappings)."""
        self._expire()
        return [MappingProxyType(event) for event in self._events]

    def event_json(self, event_id: str) -> str | None:
        """Return one visible event's JSON text, or None."""
        self._expire()
        event = self._by_id.get(event_id)
        return None if event is None else self._text(event)

    def page(self, query: Mapping[str, str]) -> str:
        """Answer `GET /event/` for a query: one page, newest first, as JSON text.

        Raises `RejectedError` (a 400) for an unsupported filter combination or a bad value.
        """
        self._expire()
        filters = {name: query[name] for name in _ID_FILTERS if query.get(name)}
        if frozenset(filters) not in FILTER_COMBINATIONS:
            raise flat_error(
                "Unsupported combination of filters: "
                + (", ".join(sorted(filters)) or "none")
                + "."
            )
        dates = {name: _date_bound(query[name], name) for name in _DATE_FILTERS if name in query}
        limit = _limit(query.get("_limit"))
        end = _cursor_index(self._keys, query.get("_cursor"))
        found: list[str] = []
        last_key: tuple[str, int] | None = None
        more = False
        for index in range(end - 1, -1, -1):
            event = self._events[index]
            if any(event[name] != value for name, value in filters.items()):
                continue
            date = event["date_updated"]
            if any(not _DATE_FILTERS[name](date, bound) for name, bound in dates.items()):
                continue
            if len(found) == limit:
                more = True
                break
            found.append(self._text(event))
            last_key = self._keys[index]
        cursor = _encode_cursor(last_key) if more and last_key is not None else None
        return (
            f'{{"data":[{",".join(found)}],"cursor_next":{dumps(cursor)},"cursor_previous":null}}'
        )

    def _text(self, event: Json) -> str:
        # Serialised when first served: most events of most tests never are.
        text = self._texts.get(event["id"])
        if text is None:
            text = self._texts[event["id"]] = dumps(event)
        return text

    def _expire(self) -> None:
        """Forget events older than the retention (Close keeps about 30 days)."""
        if self._retention is None or not self._events:
            return
        cutoff = format_datetime(self._clock() - timedelta(seconds=self._retention))
        index = bisect.bisect_left(self._keys, (cutoff, 0))
        if index:
            for event in self._events[:index]:
                del self._by_id[event["id"]]
                self._texts.pop(event["id"], None)
            del self._keys[:index], self._events[:index]


def _limit(text: str | None) -> int:
    if text is None:
        return MAX_EVENT_PAGE
    if not (text.isascii() and text.isdecimal()) or int(text) == 0:
        raise flat_error("_limit must be a positive integer.")
    return min(int(text), MAX_EVENT_PAGE)  # "capped at and defaulting to 50"


def _date_bound(text: str, name: str) -> str:
    """Read a date filter (ISO 8601; naive means UTC) as the log's own date text."""
    value = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise flat_error(f"{name}: not an ISO 8601 date/time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return format_datetime(parsed)


def _encode_cursor(key: tuple[str, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}|{key[1]}".encode()).decode("ascii")


def _cursor_index(keys: list[tuple[str, int]], cursor: str | None) -> int:
    """Where the page after `cursor` ends (exclusive), in the oldest-first list."""
    if not cursor:
        return len(keys)
    try:
        date, _, number = base64.urlsafe_b64decode(cursor.encode("ascii")).decode().partition("|")
        key = (date, int(number))
    except (ValueError, UnicodeError):
        raise flat_error("Invalid cursor.") from None
    return bisect.bisect_left(keys, key)
