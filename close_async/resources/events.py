"""Close's event log: ``/event/``.

https://developer.close.com/api/resources/events (the event format) and
https://developer.close.com/api/resources/events/list (filters, cursors). What the docs say,
and what this module does with it:

- Events come newest first (by ``date_updated``), 50 a page at most ("capped at and
  defaulting to 50"), with cursor pagination and no ``_skip``.
- Only some combinations of filters are supported; the date filters may be added to any
  of them. Unsupported combinations are refused here, before any request.
- The log keeps about 30 days.
- Whether the ``date_updated`` filters still apply to a request that carries ``_cursor`` is
  not documented by Close ("you still need to supply any other filters (except for
  ``date_updated``)"): they are sent with every page, and events outside the range are
  dropped here too, paging stopping at the first one older than the lower bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from .._convert import StructureError, structure, structure_many
from .._cursor import CursorPage, FetchCursorPage, paginate_cursor
from .._event_models import Event
from .._frozen import freeze
from .._models import Sequence, SequenceSubscription
from .._pagination import Items
from .._params import check_id, check_limit
from ._base import Resource, _invalid

__all__ = [
    "FILTER_COMBINATIONS",
    "MAX_EVENT_PAGE",
    "Events",
    "event_filters",
    "format_datetime",
    "typed_event",
]

#: Close's cap on ``_limit`` for the event log.
MAX_EVENT_PAGE: Final = 50

#: The filter combinations Close documents as supported (any of them may add the
#: ``date_updated`` range).
FILTER_COMBINATIONS: Final[frozenset[frozenset[str]]] = frozenset(
    frozenset(names.split())
    for names in (
        "object_type object_id",
        "object_type action",
        "object_id action",
        "lead_id object_type",
        "lead_id object_type action",
        "lead_id user_id object_type",
        "lead_id user_id object_type action",
        "lead_id user_id",
        "user_id object_id",
        "user_id object_id action",
        "user_id object_type",
        "user_id object_type action",
        "lead_id",
        "user_id",
        "request_id",
    )
)

_DATE_FILTERS = ("date_updated__gt", "date_updated__gte", "date_updated__lt", "date_updated__lte")

#: The models that an event's ``data`` is structured into, by object type.
_DATA_MODELS: Mapping[str, type[Any]] = {
    "sequence_subscription": SequenceSubscription,
    "sequence": Sequence,
}


def format_datetime(value: object, name: str) -> str:
    """Check a datetime argument and write it the way Close's filters read it.

    A naive datetime is refused: whether Close would read it as UTC or in the
    organization's timezone is not documented, and a wrong guess shifts the range by
    hours. Sent as ISO 8601 in UTC with its offset, e.g. ``2024-05-01T12:00:00.000000+00:00``.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} is a naive datetime: give it a timezone, e.g. "
            "datetime(2024, 5, 1, tzinfo=timezone.utc)"
        )
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def event_filters(
    filters: Mapping[str, object], dates: Mapping[str, object]
) -> tuple[dict[str, str], dict[str, datetime]]:
    """Check the filters of an event list; return the query parameters and the date bounds.

    ``filters`` are the ID-like filters (``None`` means not given), which must form one of
    ``FILTER_COMBINATIONS``; ``dates`` the ``date_updated__*`` bounds, aware datetimes.
    """
    params = {name: check_id(value, name) for name, value in filters.items() if value is not None}
    if frozenset(params) not in FILTER_COMBINATIONS:
        given = ", ".join(sorted(params)) or "no filter"
        supported = "; ".join(
            sorted(" + ".join(sorted(combination)) for combination in FILTER_COMBINATIONS)
        )
        raise ValueError(
            f"Close's event log does not support filtering by {given}; the supported "
            f"combinations are: {supported} (each may add a date_updated range)"
        )
    bounds: dict[str, datetime] = {}
    for name, value in dates.items():
        if value is not None:
            params[name] = format_datetime(value, name)
            assert isinstance(value, datetime)
            bounds[name] = value
    return params, bounds


def _in_range(when: datetime | None, bounds: Mapping[str, datetime]) -> tuple[bool, bool]:
    """Whether an event's date is inside the bounds, and whether it is past the lower one
    (newest first: nothing after it can be inside)."""
    if when is None or not bounds:
        return True, False
    low = bounds.get("date_updated__gte")
    low_open = bounds.get("date_updated__gt")
    if (low is not None and when < low) or (low_open is not None and when <= low_open):
        return False, True
    high = bounds.get("date_updated__lt")
    high_closed = bounds.get("date_updated__lte")
    if (high is not None and when >= high) or (high_closed is not None and when > high_closed):
        return False, False
    return True, False


def typed_event(event: Event) -> Event:
    """Structure an event's ``data`` by its object type (read-only mappings otherwise).

    (``previous_data`` is a read-only mapping already: the converter freezes it.) Raises
    ``StructureError`` rooted at the event (``$.data.status``).
    """
    data = event.data
    model = _DATA_MODELS.get(event.object_type or "")
    if isinstance(data, dict):
        if model is not None:
            try:
                data = structure(data, model)
            except StructureError as exc:
                raise exc.under("$.data") from None
        else:
            data = freeze(data)
    elif data is not None:
        raise StructureError(f"expected a JSON object, got {type(data).__name__}", "$.data")
    if data is event.data:
        return event
    return attrs.evolve(event, data=data)


class Events(Resource):
    """Read Close's event log (about 30 days of it)."""

    collection = "event/"

    def list(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        action: str | None = None,
        lead_id: str | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
        date_updated__gt: datetime | None = None,
        date_updated__gte: datetime | None = None,
        date_updated__lt: datetime | None = None,
        date_updated__lte: datetime | None = None,
        page_size: int = MAX_EVENT_PAGE,
        limit: int | None = None,
    ) -> Items[Event]:
        """Iterate over the events matching the filters, newest first, across all pages.

        The filters must form one of the combinations Close supports (``FILTER_COMBINATIONS``:
        e.g. ``object_type`` + ``action``, or ``lead_id`` alone); the ``date_updated__*``
        bounds (timezone-aware datetimes) may be added to any. ``page_size`` (1-50) is the
        ``_limit`` of each request; ``limit`` caps the events yielded. Arguments are checked
        now, before any request. Close's log is eventually consistent: the newest few
        minutes may still change (see ``sequence_subscriptions.changes`` for a reader that
        deals with that).
        """
        params, bounds = event_filters(
            {
                "object_type": object_type,
                "object_id": object_id,
                "action": action,
                "lead_id": lead_id,
                "user_id": user_id,
                "request_id": request_id,
            },
            {
                "date_updated__gt": date_updated__gt,
                "date_updated__gte": date_updated__gte,
                "date_updated__lt": date_updated__lt,
                "date_updated__lte": date_updated__lte,
            },
        )
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise TypeError(f"page_size must be an int, not {type(page_size).__name__}")
        if not 1 <= page_size <= MAX_EVENT_PAGE:
            raise ValueError(f"page_size must be from 1 to {MAX_EVENT_PAGE}, not {page_size}")
        cap = check_limit(limit)
        if cap:
            page_size = min(page_size, cap)  # `limit=1` asks for one event, not fifty
        pages = paginate_cursor(self._fetcher(params, page_size, bounds), limit=cap)
        return Items(pages)

    async def get(self, id: str) -> Event:
        """Fetch one event by ID."""
        path = self._detail(id)
        event = self._structure(await self._request("GET", path), Event, "GET", path)
        try:
            return typed_event(event)
        except StructureError as exc:
            raise _invalid(exc, "GET", path) from None

    def _fetcher(
        self, params: Mapping[str, str], size: int, bounds: Mapping[str, datetime]
    ) -> FetchCursorPage[Event]:
        path = self.collection
        # Every cursor followed so far: one that comes back (the one just sent, or any
        # earlier one) would page in a circle for ever, handing out its events again.
        followed: set[str] = set()

        async def fetch(cursor: str | None) -> CursorPage[Event]:
            while True:
                query: dict[str, str | int] = {**params, "_limit": size}
                if cursor is not None:
                    query["_cursor"] = cursor
                    followed.add(cursor)
                page = self._cursor_page(await self._request("GET", path, params=query), path)
                if page.cursor_next is not None and page.cursor_next in followed:
                    raise _invalid(
                        StructureError(
                            "a cursor already followed came back: paging would not end",
                            "$.cursor_next",
                        ),
                        "GET",
                        path,
                    )
                if not bounds:
                    return page
                kept: list[Event] = []
                for event in page.items:
                    inside, past = _in_range(event.date_updated, bounds)
                    if past:
                        return CursorPage(kept, None)
                    if inside:
                        kept.append(event)
                # A page of events all newer than the upper bound is not the end of the
                # list (an empty page would be): go on to the next one.
                if kept or not page.items or not page.cursor_next:
                    return CursorPage(kept, page.cursor_next)
                cursor = page.cursor_next

        return fetch

    def _cursor_page(self, data: object, path: str) -> CursorPage[Event]:
        if not isinstance(data, dict):
            raise _invalid(StructureError("expected a JSON object", "$"), "GET", path)
        if "cursor_next" not in data:
            # Guessing here would either stop early (lose events) or never stop.
            raise _invalid(StructureError("required field missing", "$.cursor_next"), "GET", path)
        cursor = data["cursor_next"]
        if cursor is not None and not isinstance(cursor, str):
            raise _invalid(
                StructureError("expected a string or null", "$.cursor_next"), "GET", path
            )
        try:
            events = structure_many(data.get("data"), Event, owned=True)
            items = []
            for index, event in enumerate(events):
                try:
                    items.append(typed_event(event))
                except StructureError as exc:
                    raise exc.under(f"$.data[{index}]") from None
        except StructureError as exc:
            raise _invalid(exc, "GET", path) from None
        return CursorPage(items, cursor or None)
