"""`FakeClose`'s event log and webhooks: set-up and the public methods (a mixin).

Kept apart from `_fake.py` so that the fake's core stays about the sequences it serves.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from ._events import DEFAULT_RETENTION, EventLog
from ._events_api import event_routes
from ._model import IdFactory
from ._server import FakeServer
from ._state import FakeState, Record
from ._webhooks import WebhookHub

__all__ = ["DEFAULT_RETENTION", "EventFeatures"]

_T = TypeVar("_T")
_P = ParamSpec("_P")


class EventFeatures:
    """The event log (`events`) and webhook subscriptions (`webhooks`) of a `FakeClose`."""

    state: FakeState
    _server: FakeServer
    call: Callable[..., Any]

    def _attach_events(
        self,
        seed: int,
        *,
        retention: float | None,
        retry_delay: float,
        max_attempts: int,
    ) -> None:
        # Their own id stream: logging a change must not shift the ids of later records.
        ids = IdFactory(random.Random(f"close-fake-events:{seed}"))
        state = self.state
        self.events = EventLog(
            ids=ids,
            organization_id=state.organization_id,
            timestamp=state.timestamp,
            retention=retention,
        )
        self.webhooks = WebhookHub(
            ids=ids,
            timestamp=state.timestamp,
            user_id=state.default_user.id,
            retry_delay=retry_delay,
            max_attempts=max_attempts,
        )
        state.on_change = self.events.record_change
        self.events.listeners.append(self.webhooks.publish)
        api = self._server.api
        api.scope = self.events.scope
        api.add_routes(event_routes(self.events, self.webhooks))

    def add_webhook(
        self,
        url: str,
        events: Iterable[tuple[str, str] | Mapping[str, Any]],
        *,
        verify_ssl: bool = True,
    ) -> Record:
        """Subscribe `url` to events, like `POST webhook/`; return the subscription (with its
        `signature_key`). `events` holds `(object_type, action)` pairs or Close's
        `{"object_type": ..., "action": ...}` objects."""
        filters = [
            dict(e) if isinstance(e, Mapping) else {"object_type": e[0], "action": e[1]}
            for e in events
        ]
        fields = {"url": url, "events": filters, "verify_ssl": verify_ssl}
        sub = self.call(self.webhooks.create, fields)
        return self.webhooks.subscription(sub["id"]) or sub

    def hold_events(self) -> None:
        """Keep the events of the changes made from now on invisible (to `GET event/` and to
        webhooks) until `release_events()`: Close's log is eventually consistent."""
        self.call(self.events.hold)

    @contextlib.contextmanager
    def late_events(self) -> Iterator[None]:
        """Hold back the events of the changes made inside the block (only those) until
        `release_events()`: they show up late, behind newer ones."""
        self.call(self.events.hold)
        try:
            yield
        finally:
            self.call(self.events.stop_holding)

    def release_events(self) -> None:
        """Make the held events visible, at the dates they happened."""
        self.call(self.events.release)
