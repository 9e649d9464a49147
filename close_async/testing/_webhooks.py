"""The fake's webhook subscriptions and their delivery, signed the way Close signs.

Subscriptions are Close's (https://developer.close.com/api/resources/webhooks): `url`,
`events` (a list of `{object_type, action, extra_filter}`; `extra_filter` is stored but not
applied), `status` (`active`/`paused`), `verify_ssl`, and the `signature_key` (64 hex
characters) in every answer.

While the fake runs, each event that becomes visible in its log is POSTed to every active
subscription it matches, as `{"subscription_id": ..., "event": {...}}` with the headers
`close-sig-timestamp` (Unix seconds) and `close-sig-hash`: the hex HMAC-SHA256 of the
timestamp followed by the raw body, keyed with the hex-decoded signature key. A delivery
that fails (a connection error, or any status but 2xx) is retried after an exponential
backoff (`retry_delay`, doubling, at most `retry_cap`), up to `max_attempts` attempts, each
signed afresh, while the subscription stays active. Close retries failed deliveries too;
its schedule is its own (this one is short, for tests). Deliveries to one subscription go
one at a time, in the log's order; Close does not promise any order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import aiohttp

from ._errors import REQUIRED, field_errors, flat_error, invalid_choice
from ._model import IdFactory

__all__ = ["DeliveryAttempt", "WebhookHub", "sign_webhook"]

Json = dict[str, Any]
_STATUSES = ("active", "paused")
_WRITABLE = frozenset({"url", "events", "status", "verify_ssl"})


def sign_webhook(body: bytes, signature_key: str, timestamp: int | None = None) -> dict[str, str]:
    """Return the headers Close sends with a webhook body signed with `signature_key`.

    For testing a receiver without running deliveries: POST `body` with these headers.
    """
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(bytes.fromhex(signature_key), stamp.encode() + body, hashlib.sha256)
    return {
        "close-sig-hash": digest.hexdigest(),
        "close-sig-timestamp": stamp,
        "Content-Type": "application/json",
    }


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event to one subscription: the HTTP status (None: no answer)."""

    subscription_id: str
    event_id: str
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the receiver took it (a 2xx)."""
        return self.status is not None and 200 <= self.status < 300


class WebhookHub:
    """Store webhook subscriptions and deliver events to them; see the module docstring."""

    def __init__(
        self,
        *,
        ids: IdFactory,
        timestamp: Callable[[], str],
        user_id: str,
        retry_delay: float = 1.0,
        retry_cap: float = 60.0,
        max_attempts: int = 8,
        timeout: float = 10.0,
    ) -> None:
        if retry_delay < 0 or retry_cap < 0 or max_attempts < 1:
            raise ValueError("webhook retry delays must be >= 0 and max attempts >= 1")
        self._ids = ids
        self._timestamp = timestamp
        self._user_id = user_id
        self._retry_delay = retry_delay
        self._retry_cap = retry_cap
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._subs: dict[str, Json] = {}
        self._queues: dict[str, asyncio.Queue[Mapping[str, Any]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Every delivery attempt, in the order they ended.
        self.attempts: list[DeliveryAttempt] = []

    # Subscriptions --------------------------------------------------------------------------

    def create(self, fields: Mapping[str, Any]) -> Json:
        """Create a subscription from a POST body (400 for a bad one); return it."""
        errors = {f: REQUIRED for f in ("url", "events") if f not in fields}
        unknown = sorted(set(fields) - _WRITABLE - {"status"})
        if unknown:
            raise flat_error(f"Unknown fields: {', '.join(unknown)}.")
        if errors:
            raise field_errors(errors)
        now = self._timestamp()
        sub: Json = {
            "id": self._ids.new("whsub"),
            "url": None,
            "events": [],
            "status": "active",
            "verify_ssl": True,
            "signature_key": secrets.token_hex(32),
            "health_status": "healthy",
            "pause_reason": None,
            "latest_error": None,
            "counters": {},
            "recent_consecutive_fail_buckets_cnt": 0,
            "created_by": self._user_id,
            "updated_by": self._user_id,
            "date_created": now,
            "date_updated": now,
        }
        sub.update(_checked(fields))
        self._subs[sub["id"]] = sub
        return sub

    def update(self, sub_id: str, fields: Mapping[str, Any]) -> Json | None:
        """Apply a PUT body to a subscription (400 for a bad one); None if unknown."""
        sub = self._subs.get(sub_id)
        if sub is None:
            return None
        unknown = sorted(set(fields) - _WRITABLE)
        if unknown:
            raise flat_error(f"Unknown fields: {', '.join(unknown)}.")
        changes = _checked(fields)
        if changes.get("status") == "paused":
            changes["pause_reason"] = "api"
        elif changes.get("status") == "active":
            changes["pause_reason"] = None
        sub.update(changes, updated_by=self._user_id, date_updated=self._timestamp())
        return sub

    def delete(self, sub_id: str) -> bool:
        """Delete a subscription; False if unknown. Its pending deliveries are dropped."""
        self._queues.pop(sub_id, None)
        return self._subs.pop(sub_id, None) is not None

    def subscription(self, sub_id: str) -> Mapping[str, Any] | None:
        """Return one subscription, or None."""
        sub = self._subs.get(sub_id)
        return None if sub is None else MappingProxyType(sub)

    def subscriptions(self) -> list[Mapping[str, Any]]:
        """Return all subscriptions, oldest first."""
        return [MappingProxyType(sub) for sub in self._subs.values()]

    # Delivery -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering (called in the fake's event loop, once it runs)."""
        self._loop = asyncio.get_running_loop()
        self._running = True

    async def close(self) -> None:
        """Stop delivering: pending deliveries are dropped, the HTTP session closed."""
        self._running = False
        self._loop = None
        workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def publish(self, event: Mapping[str, Any]) -> None:
        """Queue an event for each active subscription it matches (the log's listener)."""
        loop = self._loop
        if not self._running or loop is None:
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is not loop:  # a change made from another thread: deliver from the fake's
            loop.call_soon_threadsafe(self._queue_deliveries, event)
        else:
            self._queue_deliveries(event)

    def _queue_deliveries(self, event: Mapping[str, Any]) -> None:
        if not self._running:
            return
        for sub in list(self._subs.values()):
            if sub["status"] != "active" or not _matches(sub["events"], event):
                continue
            queue = self._queues.get(sub["id"])
            if queue is None:
                queue = self._queues[sub["id"]] = asyncio.Queue()
                worker = asyncio.ensure_future(self._work(sub["id"], queue))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            queue.put_nowait(event)

    async def _work(self, sub_id: str, queue: asyncio.Queue[Mapping[str, Any]]) -> None:
        while self._queues.get(sub_id) is queue:
            event = await queue.get()
            await self._deliver(sub_id, event)

    async def _deliver(self, sub_id: str, event: Mapping[str, Any]) -> None:
        body = json.dumps({"subscription_id": sub_id, "event": dict(event)}).encode()
        for attempt in range(1, self._max_attempts + 1):
            sub = self._subs.get(sub_id)
            if sub is None or sub["status"] != "active" or not self._running:
                return  # deleted or paused meanwhile: Close delivers to active ones only
            status, error = await self._post(sub, body)
            done = DeliveryAttempt(sub_id, str(event["id"]), attempt, status, error)
            self.attempts.append(done)
            if done.ok:
                return
            if attempt < self._max_attempts:
                await asyncio.sleep(min(self._retry_delay * 2 ** (attempt - 1), self._retry_cap))

    async def _post(self, sub: Mapping[str, Any], body: bytes) -> tuple[int | None, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {**sign_webhook(body, sub["signature_key"]), "User-Agent": "close-fake-webhooks"}
        try:
            async with self._session.post(
                sub["url"], data=body, headers=headers, ssl=bool(sub["verify_ssl"])
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"


def _matches(filters: Iterable[Mapping[str, Any]], event: Mapping[str, Any]) -> bool:
    return any(
        f.get("object_type") == event["object_type"] and f.get("action") == event["action"]
        for f in filters
    )


def _checked(fields: Mapping[str, Any]) -> Json:
    """Type-check the writable fields of a subscription (a 400 for a bad value)."""
    errors: dict[str, str] = {}
    out = {name: fields[name] for name in _WRITABLE if name in fields}
    if "url" in out and not (isinstance(out["url"], str) and out["url"].startswith("http")):
        errors["url"] = "Enter a valid URL."
    events = out.get("events")
    if "events" in out and not (
        isinstance(events, list)
        and all(
            isinstance(e, dict)
            and isinstance(e.get("object_type"), str)
            and isinstance(e.get("action"), str)
            for e in events
        )
    ):
        errors["events"] = "A list of {object_type, action} objects is required."
    if "status" in out and out["status"] not in _STATUSES:
        errors["status"] = invalid_choice(out["status"])
    if "verify_ssl" in out and not isinstance(out["verify_ssl"], bool):
        errors["verify_ssl"] = "Must be a valid boolean."
    if errors:
        raise field_errors(errors)
    if events is not None:
        out["events"] = [
            {"object_type": e["object_type"], "action": e["action"], **_extra_filter(e)}
            for e in events
        ]
    return out


def _extra_filter(event_filter: Mapping[str, Any]) -> Json:
    extra = event_filter.get("extra_filter")
    return {} if extra is None else {"extra_filter": extra}
