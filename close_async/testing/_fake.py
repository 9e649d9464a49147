"""`FakeClose`: the public face of the fake server (options, seeding, scripts, lifecycle)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ._api import parse_group
from ._auth import Credentials, basic_authorization
from ._defaults import DEFAULT_API_KEY, DEFAULT_OAUTH_TOKEN, RATELIMIT_SEPARATORS
from ._fake_events import DEFAULT_RETENTION, EventFeatures
from ._faults import Fault, FaultKind, FaultPlan, FaultRates
from ._model import Contact, Lead
from ._ratelimit import RateLimits
from ._seed import make_state
from ._server import FakeServer, ServerOptions
from ._state import Record
from ._stats import FakeStats

_T = TypeVar("_T")
_P = ParamSpec("_P")
_F = TypeVar("_F", bound="FakeClose")


class FakeClose(EventFeatures):
    """Run a fake Close API (Sequences, Sequence Subscriptions, bulk actions) on loopback.

    Use it as `async with FakeClose(leads=300, seed=3) as fake:` and point a client at
    `fake.url` with `fake.api_key` (Basic auth, key as user name) or `fake.oauth_token`
    (Bearer). From sync code use `with FakeClose(...).run_in_thread() as fake:`.

    Data: `leads` leads and `sequences` sequences generated from `seed` (see `close_async.testing`
    for the distribution), plus whatever `add_*` adds; read it with `fake.state`.

    Rate limits: `rate_limit` requests per `rate_window` seconds per API key and endpoint group
    (method + resource, e.g. `GET sequence_subscription` covers list and fetch), fixed windows;
    `None` never limits. `organization_rate_limit` adds Close's organization limit: that many
    requests per window and group across all keys (Close's is 3 x `rate_limit`); `api_keys`
    are more keys of the organization. Every answer carries `RateLimit: limit=L, remaining=R,
    reset=S` for the limit with the fewest requests left, with `ratelimit_separator` between
    the values (`","` as documented, `";"` as seen live); a 429's body says which limit and
    group were hit (`rate_limit_type`, `endpoint_group`).

    Faults and latency: `latency` seconds (+/-25% seeded jitter) before each answer, or
    `endpoint_latency[group]`; random faults drawn with `faults` (a `FaultRates`) or
    `endpoint_faults[group]`; scripted faults with `inject`. A `429_storm` answers 429 to its
    group for `storm_seconds`; a `stall` answers after `stall_seconds` (or drops the connection
    when the fake closes). Bulk actions go `created` -> `processing` -> `done` in
    `bulk_action_seconds`.

    Events and webhooks: every change is logged in `events` (served at `event/`, kept
    `event_retention` seconds) and POSTed, signed, to the matching `webhooks` subscriptions,
    retried `webhook_max_attempts` times from `webhook_retry_delay` seconds, doubling.
    Deep pagination: `max_skip` is the largest `_skip` a list accepts; beyond it the fake
    answers 400 `{"error": "The skip you set is larger than the maximum skip for this
    resource (max_skip = N)."}`. Close has such a maximum, varying per resource and not
    published; `None` (the default) sets none.
    """

    def __init__(
        self,
        *,
        leads: int = 0,
        sequences: int = 10,
        seed: int = 0,
        api_key: str = DEFAULT_API_KEY,
        api_keys: Sequence[str] = (),
        oauth_token: str | None = DEFAULT_OAUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        organization_rate_limit: int | None = None,
        ratelimit_separator: str = ",",
        latency: float = 0.0,
        endpoint_latency: Mapping[str, float] | None = None,
        faults: FaultRates | None = None,
        endpoint_faults: Mapping[str, FaultRates] | None = None,
        storm_seconds: float = 0.5,
        stall_seconds: float = 30.0,
        bulk_action_seconds: float = 0.2,
        event_retention: float | None = DEFAULT_RETENTION,
        webhook_retry_delay: float = 1.0,
        webhook_max_attempts: int = 8,
        max_skip: int | None = None,
    ) -> None:
        if ratelimit_separator not in RATELIMIT_SEPARATORS:
            raise ValueError(f"ratelimit_separator must be one of {RATELIMIT_SEPARATORS}")
        endpoint_latency = {parse_group(g): s for g, s in (endpoint_latency or {}).items()}
        for name, seconds in (
            ("latency", latency),
            *endpoint_latency.items(),
            ("stall_seconds", stall_seconds),
            ("bulk_action_seconds", bulk_action_seconds),
        ):
            if seconds < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0 <= port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if max_skip is not None and (
            isinstance(max_skip, bool) or not isinstance(max_skip, int) or max_skip < 0
        ):
            raise ValueError(f"max_skip must be an int >= 0 or None, not {max_skip!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.oauth_token = oauth_token
        self.state, self._seeder = make_state(seed, leads=leads, sequences=sequences)
        self.stats = FakeStats()
        credentials = Credentials()
        if isinstance(api_keys, str):  # a lone key would be read as one key per character
            raise TypeError(f"api_keys must be a list of keys, e.g. [{api_keys!r}]")
        for key in (api_key, *api_keys):
            credentials.add_api_key(key)
        if oauth_token is not None:
            credentials.add_oauth_token(oauth_token)
        self._credentials = credentials
        plan = FaultPlan(
            faults or FaultRates(),
            {parse_group(g): rates for g, rates in (endpoint_faults or {}).items()},
            random.Random(f"close-fake-faults:{seed}"),
            storm_seconds,
        )
        self._plan = plan
        self._server = FakeServer(
            state=self.state,
            credentials=credentials,
            limits=RateLimits(rate_limit, rate_window, organization_rate_limit),
            plan=plan,
            stats=self.stats,
            options=ServerOptions(
                latency=latency,
                endpoint_latency=endpoint_latency,
                ratelimit_separator=ratelimit_separator,
                stall_seconds=stall_seconds,
                bulk_action_seconds=bulk_action_seconds,
                max_skip=max_skip,
            ),
            rng=random.Random(f"close-fake-latency:{seed}"),
        )
        self._attach_events(
            seed,
            retention=event_retention,
            retry_delay=webhook_retry_delay,
            max_attempts=webhook_max_attempts,
        )
        self._running = False
        # Set while the fake runs in a thread: calls from other threads are run on this loop.
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None

    def __repr__(self) -> str:
        where = self.url if self._running else "not running"
        return f"<FakeClose {where}>"

    # Lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Return True while the server is listening."""
        return self._running

    @property
    def url(self) -> str:
        """Return the API base URL, e.g. `http://127.0.0.1:54321/api/v1/`."""
        if not self._running:
            raise RuntimeError("the fake is not running: use `async with` or `await start()`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api/v1/"

    @property
    def authorization(self) -> str:
        """Return the `Authorization` header value for `api_key` (Basic, empty password)."""
        return basic_authorization(self.api_key)

    async def start(self) -> None:
        """Start listening on `host`:`port` (port 0 picks a free port, stored in `port`)."""
        self.port = await self._server.start(self.host, self.port)
        self.webhooks.start()
        self._running = True

    async def close(self) -> None:
        """Stop listening; stalled requests are cut off and bulk actions stop progressing."""
        self._running = False
        await self.webhooks.close()
        await self._server.close()

    async def __aenter__(self: _F) -> _F:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @contextlib.contextmanager
    def run_in_thread(self: _F) -> Iterator[_F]:
        """Serve from a background thread with its own event loop, for sync code and tests.

        Methods of the fake called from another thread (`add_*`, `inject`, `reset_stats`...)
        run on the server's loop; use `call` for anything else that must not race requests.
        """
        ready = threading.Event()
        stop: list[asyncio.Event] = []
        failure: list[BaseException] = []

        async def serve() -> None:
            stop.append(asyncio.Event())
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            self._thread_loop = asyncio.get_running_loop()
            self._thread_id = threading.get_ident()
            ready.set()
            try:
                await stop[0].wait()
            finally:
                await self.close()
                self._thread_loop = self._thread_id = None

        thread = threading.Thread(target=lambda: asyncio.run(serve()), name="FakeClose")
        thread.daemon = True
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        loop = self._thread_loop
        assert loop is not None
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop[0].set)
            thread.join()

    def call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run `fn(*args, **kwargs)` on the server's loop thread (directly if not threaded)."""
        loop = self._thread_loop
        if loop is None or threading.get_ident() == self._thread_id:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result()

    # Data ---------------------------------------------------------------------------------

    def add_lead(
        self, *, lead_id: str | None = None, name: str | None = None, contacts: int = 1
    ) -> Lead:
        """Add a lead with `contacts` generated contacts (each with an email); return it."""
        return self.call(self._seeder.add_lead, lead_id=lead_id, name=name, contacts=contacts)

    def add_contact(
        self, lead_id: str, *, name: str | None = None, emails: Sequence[str] | None = None
    ) -> Contact:
        """Add a contact to a lead (generated name and email unless given); return it."""
        return self.call(self._seeder.add_contact, lead_id, name=name, emails=emails)

    def add_sequence(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
    ) -> Record:
        """Add a sequence (generated steps and schedule unless given); return it."""
        seq_id = self.call(
            self._seeder.add_sequence, name=name, status=status, timezone=timezone, steps=steps
        )
        return self._record(self.state.sequence(seq_id))

    def add_subscription(
        self,
        *,
        sequence_id: str,
        contact_id: str,
        status: str = "active",
        status_reason: str | None = None,
        contact_email: str | None = None,
        sender_account_id: str | None = None,
        sender_email: str | None = None,
        sender_name: str | None = None,
        calls_assigned_to: Iterable[str] = (),
    ) -> Record:
        """Subscribe a contact to a sequence directly (Close's rules apply); return it.

        Raises `ValueError` for an unknown sequence or contact, or a contact already
        subscribed to that sequence. Sender fields default to the fake's first user.
        """
        sub_id = self.call(
            self.state.create_subscription,
            sequence_id=sequence_id,
            contact_id=contact_id,
            contact_email=contact_email,
            sender_account_id=sender_account_id,
            sender_email=sender_email,
            sender_name=sender_name,
            calls_assigned_to=calls_assigned_to,
            status=status,
            status_reason=status_reason,
        )
        return self._record(self.state.subscription(sub_id))

    def add_subscriptions(
        self,
        *,
        lead_id: str,
        count: int,
        sequence_id: str | None = None,
        status: str | None = None,
    ) -> list[str]:
        """Give a lead `count` more subscriptions (e.g. 6,000 = 60 pages); return their ids.

        The lead is created if unknown; contacts are added so that each (contact, sequence)
        pair is unique; sequences are used round-robin unless `sequence_id` is given; statuses
        follow the seeded mix unless `status` is given.
        """
        return self.call(
            self._seeder.add_subscriptions,
            lead_id,
            count,
            sequence_id=sequence_id,
            status=status,
        )

    def add_api_key(self, api_key: str) -> None:
        """Accept another API key (each key has its own rate-limit windows)."""
        self.call(self._credentials.add_api_key, api_key)

    # Faults and stats ---------------------------------------------------------------------

    def inject(self, method: str, resource: str, faults: Iterable[FaultKind | Fault]) -> None:
        """Give the next requests of an endpoint group these faults, in order, then none.

        `fake.inject("GET", "sequence_subscription", ["503", "drop", Fault.rate_limited(2.5)])`
        fails the next three list or fetch requests of subscriptions. Kinds: `"503"`,
        `"502_html"`, `"429"`, `"429_storm"`, `"drop"`, `"drop_after"`, `"stall"`, or a `Fault`.
        """
        if isinstance(faults, str):  # A lone kind would be read as one fault per character.
            raise TypeError(f"faults must be a list, e.g. [{faults!r}]")
        group = parse_group(f"{method} {resource}")
        self.call(self._plan.inject, group, list(faults))

    def pending_faults(self, method: str | None = None, resource: str | None = None) -> int:
        """Return how many injected faults are still waiting (for one group, or in all)."""
        group = None if method is None else parse_group(f"{method} {resource}")
        return self.call(self._plan.pending, group)

    def clear_faults(self) -> None:
        """Forget injected faults that have not been used and end running 429 storms."""
        self.call(self._plan.clear)

    def reset_stats(self) -> None:
        """Zero `stats` (requests in flight stay counted as in flight)."""
        self.call(self.stats.reset)

    @staticmethod
    def _record(record: Record | None) -> Record:
        assert record is not None
        return record
