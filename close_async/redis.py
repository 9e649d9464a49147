"""``RedisRateLimitGate``: one rate-limit budget for many processes on one API key, in Redis.

Worker fleets (arq, a queue consumer, several machines) run many processes with one Close API
key. Each process's in-process gate sees only its own requests, so four workers that each
believe they have the whole window send four times the limit, then pause together. This gate
keeps the state of the in-process gate in Redis instead, per (API key, endpoint group): the
window Close's ``RateLimit`` header reports, the requests in flight in every process, and the
pause after a 429. Every change is one Lua script (``_redis_lua.py``), which Redis runs
atomically. Install it with ``pip install "close-async[redis]"`` (redis-py's asyncio client)::

    gate = RedisRateLimitGate("redis://localhost:6379/0")  # or your redis.asyncio.Redis
    async with CloseClient(rate_limit_gate=gate) as close:
        ...
    await gate.aclose()

- **Leases.** A request in flight holds a lease that its process renews while it runs; a
  process killed with SIGKILL stops renewing, so its requests stop counting after
  ``lease_seconds`` (5 s by default).
- **The API key is never stored.** The client gives the gate a digest of its credential; the
  Redis keys are an HMAC of that digest (``hash_secret``: the same in every process), and no
  value holds either. Nor does anything the gate logs or shows in its repr.
- **Organizations.** With ``organization="acme"``, the keys of one organization also share
  its budget: Close limits each group per organization at 3 times a key's limit
  (``organization_factor``), "This allows you to use 3 API keys at their maximum RPS and not
  hit the Organization rate limit until you add a 4th key"
  (https://developer.close.com/api/overview/rate-limits). The gate counts the requests of
  every key of the organization (in flight, and answered within the last window) and admits
  at most the factor times the per-key limit. Close reports the limit a request is closest to
  hitting, so an answer whose ``limit`` is the factor times the key's is taken as the
  organization's: a 429 then pauses the group for every key of the organization.
- **Redis unreachable.** ``on_unavailable="local"`` (the default) falls back to an in-process
  gate (this process's requests only) with a warning in the log, and tries Redis again every
  ``recheck_seconds``; ``"raise"`` fails each request with ``GateUnavailableError`` instead.
  Releasing a lease never fails a request: a lease Redis did not hear about expires.

Waiting: a request that finds no room queues in its process (first come, first served);
one task per group and process asks Redis for room for the whole queue, then sleeps until
the window or pause that holds it ends, or ``poll_interval`` when only answers still in flight
can make room, or until a request of this process finishes. Other processes learn of a new
pause when they next ask.

One gate per event loop: redis-py's connections belong to the loop that opened them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('close_async.redis needs redis-py: pip install "close-async[redis]"') from exc

from . import _redis_lua
from ._exceptions import GateUnavailableError
from ._gate import (
    DEFAULT_429_WAIT,
    DEFAULT_INITIAL_BURST,
    DEFAULT_WINDOW,
    GateSettings,
    GroupSnapshot,
    LocalRateLimitGate,
    Observation,
    RateLimitGate,
    log_refusal,
    refused_error,
)
from ._groups import EndpointGroups
from ._params import check_number, check_positive, check_seconds
from ._retry import MIN_RATE_LIMIT_WAIT

__all__ = ["RedisRateLimitGate"]

logger = logging.getLogger("close_async")

OnUnavailable = Literal["local", "raise"]

# The shortest a queue sleeps before asking Redis again.
_MIN_SLEEP = 0.001
# Idle state disappears from Redis after this long (a fresh start costs one first burst).
_STATE_TTL_MS = 3_600_000
# The secret of the keyed hash when none is given: the API key's own randomness is what
# protects it; a secret of yours also keeps Redis' readers from checking a guessed key.
_DEFAULT_HASH_SECRET = b"close_async rate-limit gate"


def _us(seconds: float) -> str:
    return f"{seconds * 1_000_000:.0f}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _float(value: object) -> float | None:
    text = _text(value)
    return float(text) if text else None


def _where(redis: str | aioredis.Redis) -> str:
    """Name the Redis the gate uses, without its password."""
    if isinstance(redis, str):
        parts = urlsplit(redis)
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ":?"
        return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    kwargs = redis.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']} (your client)"
    host, port, db = (kwargs.get(k, "?") for k in ("host", "port", "db"))
    return f"redis://{host}:{port}/{db} (your client)"


@attrs.frozen
class _Lease:
    """The token of an admitted request: its group, its lease (None: admitted by the
    in-process gate while Redis was unreachable), and when it was admitted."""

    group: str
    token: str | None
    admitted: float = attrs.field(factory=time.monotonic)


@attrs.frozen
class _Grant:
    tokens: list[str]
    wait: float  # seconds until the window or pause that holds the rest ends (0: unknown)
    refused: tuple[float, float] | None  # (asked, seconds left) when the group is refused


class _StoreDown(Exception):
    """Redis did not answer (internal: becomes a fallback or GateUnavailableError)."""


@attrs.define
class _Queue:
    """The requests of this process waiting for room in one group, and who asks for them."""

    waiters: deque[tuple[asyncio.Future[_Lease], str]] = attrs.field(factory=deque)
    pump: asyncio.Task[None] | None = None
    wake: asyncio.Event = attrs.field(factory=asyncio.Event)


class RedisRateLimitGate:
    """A rate-limit gate whose state lives in Redis, shared by every process that uses it.

    Pass it as ``CloseClient(rate_limit_gate=gate)``; see the module docstring.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        organization: str | None = None,
        organization_factor: float = 3.0,
        endpoint_groups: EndpointGroups | Mapping[str, str] | None = None,
        on_unavailable: OnUnavailable = "local",
        lease_seconds: float = 5.0,
        poll_interval: float = 0.05,
        initial_burst: int = DEFAULT_INITIAL_BURST,
        pause_jitter: float = 0.1,
        hash_secret: str | bytes | None = None,
        key_prefix: str = "close_async",
        socket_timeout: float = 2.0,
        recheck_seconds: float = 5.0,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """
        Args:
            redis: a ``redis://`` (``rediss://``, ``unix://``) URL, or your own
                ``redis.asyncio.Redis`` client (never closed by the gate).
            organization: a name for the organization whose keys share its budget (every
                process of every key of it must give the same name).
            organization_factor: the organization's limit over a key's (Close: 3).
            endpoint_groups: which endpoints share a budget (see ``EndpointGroups``); every
                process must use the same.
            on_unavailable: when Redis cannot be reached, ``"local"`` falls back to an
                in-process gate (logged as a warning), ``"raise"`` raises
                ``GateUnavailableError`` (logged as an error).
            lease_seconds: how long a request in flight of a process that stopped renewing
                (killed, or frozen) keeps counting.
            poll_interval: how often a queue asks Redis again while only answers in flight
                can make room.
            initial_burst: requests admitted before an endpoint group's first answer, in all
                processes together.
            pause_jitter: a 429's pause is stretched by up to this fraction, at random.
            hash_secret: the key of the HMAC that turns the credential into Redis keys
                (the same in every process).
            key_prefix: the start of every Redis key the gate writes.
            socket_timeout: seconds to wait for Redis (when the gate makes the client).
            recheck_seconds: after falling back, try Redis again this often.
            clock: POSIX seconds instead of Redis' clock (for tests).
            rand: the randomness of the jitter (for tests).
        """
        if on_unavailable not in ("local", "raise"):
            raise ValueError(f"on_unavailable must be 'local' or 'raise', not {on_unavailable!r}")
        if organization is not None and (not isinstance(organization, str) or not organization):
            raise ValueError("organization must be a non-empty string (or None)")
        if isinstance(hash_secret, str):
            hash_secret = hash_secret.encode()
        if hash_secret is not None and not isinstance(hash_secret, bytes):
            raise TypeError(f"hash_secret must be str or bytes, not {type(hash_secret).__name__}")
        if not isinstance(key_prefix, str) or not key_prefix:
            raise ValueError("key_prefix must be a non-empty string")
        self._factor = check_number(organization_factor, "organization_factor", positive=True)
        self._lease = check_seconds(lease_seconds, "lease_seconds", positive=True)
        self._poll = check_seconds(poll_interval, "poll_interval", positive=True)
        self._recheck = check_seconds(recheck_seconds, "recheck_seconds")
        self._burst = check_positive(initial_burst, "initial_burst")
        self._jitter = check_number(pause_jitter, "pause_jitter")
        timeout = check_seconds(socket_timeout, "socket_timeout", positive=True)
        self._grouping = EndpointGroups.of(endpoint_groups)
        self._secret = hash_secret or _DEFAULT_HASH_SECRET
        self._prefix = key_prefix
        self._organization = organization
        self._on_unavailable: OnUnavailable = on_unavailable
        self._clock = clock
        self._rand = rand
        if isinstance(redis, str):
            self._where = _where(redis)
            try:
                self._redis = aioredis.Redis.from_url(
                    redis, socket_timeout=timeout, socket_connect_timeout=timeout
                )
            except ValueError:
                raise ValueError(
                    f"redis must be a redis://, rediss:// or unix:// URL, not {self._where!r}"
                ) from None
            self._owns_redis = True
        elif isinstance(redis, aioredis.Redis):
            self._where = _where(redis)
            self._redis, self._owns_redis = redis, False
        else:
            raise TypeError(
                f"redis must be a URL or a redis.asyncio.Redis, not {type(redis).__name__}"
            )
        self._scripts = {
            name: self._redis.register_script(getattr(_redis_lua, name))
            for name in ("ACQUIRE", "RELEASE", "DROP", "RENEW", "SNAPSHOT")
        }
        self._local = LocalRateLimitGate(
            rand=rand,
            pause_jitter=self._jitter,
            initial_burst=self._burst,
            endpoint_groups=self._grouping,
        )
        self._down_until = 0.0  # time.monotonic(): use the in-process gate until then
        self._outage = False  # Redis failed and has not answered since
        self._clients = 0  # clients bound and not closed yet

    def __repr__(self) -> str:
        org = f" organization={self._organization!r}" if self._organization else ""
        return f"<RedisRateLimitGate {self._where}{org} on_unavailable={self._on_unavailable!r}>"

    def bind_client(self, settings: GateSettings) -> RateLimitGate:
        """The gate of one client: this gate's Redis and settings, that client's key."""
        self._clients += 1
        return _BoundGate(self, settings)

    async def acquire(self, group: str) -> object:
        """Refuse: the gate must know whose budget to use (see ``bind_client``)."""
        raise RuntimeError(
            "a RedisRateLimitGate serves a client's API key: pass it as "
            "CloseClient(rate_limit_gate=...), or call bind_client() first"
        )

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        """Refuse, as ``acquire`` does."""
        await self.acquire(group)

    async def aclose(self) -> None:
        """Close the Redis connections, if the gate opened them (not a client of yours)."""
        if self._owns_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisRateLimitGate:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- what the views share --------------------------------------------------------------

    def _hash(self, kind: str, value: bytes) -> str:
        return hmac.new(self._secret, kind.encode() + b"\0" + value, hashlib.sha256).hexdigest()[
            :32
        ]

    def _now_arg(self) -> str:
        return "" if self._clock is None else _us(self._clock())

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return await self._scripts[name](keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise _StoreDown(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # redis-py itself failing (a connection closed under it)
            raise _StoreDown(f"{type(exc).__name__} in redis-py: {exc}") from exc

    def _use_local(self) -> bool:
        return self._on_unavailable == "local" and time.monotonic() < self._down_until

    def _lost(self, exc: _StoreDown, *, raising: bool) -> None:
        """Redis failed: fall back (and say so once), or raise."""
        first = not self._outage
        self._outage = True
        if self._on_unavailable == "raise":
            if first:
                logger.error(
                    "Rate-limit gate: cannot reach Redis at %s (%s); requests fail with "
                    "GateUnavailableError until it answers (on_unavailable='raise')",
                    self._where,
                    exc,
                )
            if raising:
                raise GateUnavailableError(
                    f"the Redis rate-limit gate cannot reach Redis at {self._where} ({exc}); "
                    "the request was not sent. Check that Redis runs, or pass "
                    "on_unavailable='local' to fall back to a per-process gate"
                ) from exc
            return
        self._down_until = time.monotonic() + self._recheck
        if first:
            logger.warning(
                "Rate-limit gate: cannot reach Redis at %s (%s); falling back to the "
                "in-process gate (this process's requests only) and trying Redis again every "
                "%s s",
                self._where,
                exc,
                f"{self._recheck:g}",
            )

    def _answered(self) -> None:
        if self._outage:
            self._outage = False
            logger.info(
                "Rate-limit gate: Redis at %s answers again; back to the shared gate",
                self._where,
            )


class _BoundGate:
    """``RedisRateLimitGate.bind_client``'s gate: one client's key, the gate's Redis."""

    def __init__(self, gate: RedisRateLimitGate, settings: GateSettings) -> None:
        self._gate = gate
        self._max_wait = settings.max_wait
        self._local = gate._local.bind_client(settings)
        self._key_space = f"{gate._prefix}:key:{gate._hash('key', settings.credential_digest)}"
        self._org_space = (
            None
            if gate._organization is None
            else f"{gate._prefix}:org:{gate._hash('org', gate._organization.encode())}"
        )
        self._queues: dict[str, _Queue] = {}
        self._live: dict[str, set[str]] = {}  # leases to renew, by group
        self._renewer: asyncio.Task[None] | None = None
        self._renew_wake: asyncio.Event | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._unbound = False

    def __repr__(self) -> str:
        return f"<bound {self._gate!r}>"

    # -- the interface ---------------------------------------------------------------------

    async def acquire(self, group: str) -> object:
        """Wait for room in the endpoint's group, in every process's count."""
        if self._gate._use_local():
            return await self._acquire_local(group)
        try:
            lease = await self._acquire_shared(group)
        except _StoreDown as exc:
            self._gate._lost(exc, raising=True)
            return await self._acquire_local(group)
        self._gate._answered()
        return lease

    async def release(self, group: str, token: object, observation: Observation | None) -> None:
        """Free the lease and record what the answer said, for every process."""
        if not isinstance(token, _Lease):
            raise TypeError(f"not a token of this gate: {token!r}")
        if token.token is None:
            await self._local.release(group, None, observation)
            return
        self._untrack(token.group, [token.token])
        try:
            reply = await self._gate._run(
                "RELEASE", self._keys(token.group), self._release_args(token, observation)
            )
        except _StoreDown as exc:
            self._gate._lost(exc, raising=False)  # the lease will expire by itself
            return
        finally:
            queue = self._queues.get(token.group)
            if queue is not None:
                queue.wake.set()  # room may have freed up
        self._report(token.group, group, _text(reply[0]), _float(reply[1]))

    async def snapshot(self, group: str) -> GroupSnapshot:
        """What Redis holds of the endpoint's group now (for tests and debugging)."""
        keys = self._keys(self._gate._grouping(group))[:2]
        reply = await self._gate._run("SNAPSHOT", keys, [self._gate._now_arg()])
        now, limit, remaining, reset_at, paused, refused = (_float(v) for v in reply[:6])
        assert now is not None

        def left(until: float | None) -> float:
            return 0.0 if until is None else max(0.0, (until - now) / 1_000_000)

        return GroupSnapshot(
            limit=limit,
            remaining=remaining,
            reset_in=None if reset_at is None else (reset_at - now) / 1_000_000,
            inflight=int(_text(reply[6])),
            paused_for=left(paused),
            refused_for=left(refused),
        )

    async def unbind_client(self) -> None:
        """The client is closing. The last open client of the gate closes the connections
        the gate opened (in its event loop; the gate opens new ones if it is used again)."""
        if self._unbound:
            return
        self._unbound = True
        gate = self._gate
        gate._clients -= 1
        if gate._owns_redis and gate._clients == 0:
            # Not while other clients run: redis-py may hand out a connection being closed.
            await gate._redis.connection_pool.disconnect()

    # -- admitting -------------------------------------------------------------------------

    async def _acquire_local(self, endpoint: str) -> _Lease:
        await self._local.acquire(endpoint)
        return _Lease(self._gate._grouping(endpoint), None)

    async def _acquire_shared(self, endpoint: str) -> _Lease:
        group = self._gate._grouping(endpoint)
        queue = self._queues.get(group)
        if queue is None:
            queue = self._queues[group] = _Queue()
        if not queue.waiters:
            grant = await self._grant(group, 1)
            if grant.refused is not None:
                raise refused_error(endpoint, *grant.refused, self._max_wait)
            if grant.tokens:
                return _Lease(group, grant.tokens[0])
        future: asyncio.Future[_Lease] = asyncio.get_running_loop().create_future()
        queue.waiters.append((future, endpoint))
        if queue.pump is None:
            queue.pump = asyncio.create_task(self._pump(group, queue))
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self._drop_later(group, [future.result().token or ""])  # never sent
            queue.wake.set()  # the pump may have no one left to ask for
            raise

    async def _grant(self, group: str, wanted: int) -> _Grant:
        """Ask Redis for room for ``wanted`` requests."""
        gate = self._gate
        tokens = [secrets.token_hex(8) for _ in range(wanted)]
        args: list[str | int] = [
            gate._now_arg(),
            _us(gate._lease),
            gate._burst,
            _us(DEFAULT_WINDOW),
            _STATE_TTL_MS,
            self._factor_arg(),
            *tokens,
        ]
        try:
            reply = await gate._run("ACQUIRE", self._keys(group), args)
        except asyncio.CancelledError:
            self._drop_later(group, tokens)  # in case the script ran
            raise
        granted = tokens[: int(_text(reply[0]))]
        self._track(group, granted)
        asked = _float(reply[2])
        wait = (_float(reply[1]) or 0.0) / 1_000_000
        if asked is not None:
            left = (_float(reply[3]) or 0.0) / 1_000_000
            return _Grant(granted, wait, (asked, left))
        return _Grant(granted, wait, None)

    async def _pump(self, group: str, queue: _Queue) -> None:
        """Ask Redis for room for this process's queue of a group until it is empty."""
        try:
            await self._serve_queue(group, queue)
        except Exception as exc:  # a bug, ours or redis-py's: strand no waiter for ever
            logger.error("Rate-limit gate: the queue of %s failed", group, exc_info=True)
            for future, _ in queue.waiters:
                if not future.done():
                    future.set_exception(_StoreDown(f"{type(exc).__name__}: {exc}"))
        finally:
            queue.pump = None

    async def _serve_queue(self, group: str, queue: _Queue) -> None:
        while True:
            live = deque((f, e) for f, e in queue.waiters if not f.done())
            queue.waiters = live
            if not live:
                return
            queue.wake.clear()
            try:
                grant = await self._grant(group, len(live))
            except _StoreDown as exc:
                # Every waiter, those who came while Redis was asked too.
                for future, _ in queue.waiters:
                    if not future.done():
                        future.set_exception(_StoreDown(str(exc)))
                return
            if grant.refused is not None:
                for future, endpoint in queue.waiters:
                    if not future.done():
                        future.set_exception(
                            refused_error(endpoint, *grant.refused, self._max_wait)
                        )
                return
            tokens = list(grant.tokens)
            for future, _ in live:
                if tokens and not future.done():
                    future.set_result(_Lease(group, tokens.pop(0)))
            if tokens:  # their waiters left while Redis was asked
                self._drop_later(group, tokens)
            if all(future.done() for future, _ in live):
                continue  # all served: the top ends, or asks at once for newcomers
            # Until the window or pause ends (never spinning), else a poll.
            delay = max(grant.wait, _MIN_SLEEP) if grant.wait > 0 else self._gate._poll
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.wake.wait(), delay)

    # -- learning --------------------------------------------------------------------------

    def _release_args(self, token: _Lease, obs: Observation | None) -> list[str | int]:
        gate = self._gate
        info = obs.info if obs is not None else None

        def opt(value: float | None) -> str:
            return "" if value is None else repr(float(value))

        return [
            gate._now_arg(),
            token.token or "",
            "0" if obs is None else "1",
            0 if obs is None else obs.status,
            opt(info.limit if info else None),
            opt(info.remaining if info else None),
            opt(info.reset if info else None),
            opt(obs.wait if obs else None),
            repr(1.0 + gate._jitter * gate._rand()),
            _us(self._max_wait),
            _us(MIN_RATE_LIMIT_WAIT),
            _us(DEFAULT_WINDOW),
            _us(DEFAULT_429_WAIT),
            _STATE_TTL_MS,
            self._factor_arg(),
            repr(time.monotonic() - token.admitted),
        ]

    def _report(self, group: str, endpoint: str, event: str, value: float | None) -> None:
        """Log what a release changed; fail this process's waiters of a refused group."""
        seconds = (value or 0.0) / 1_000_000
        if event == "1":
            logger.info(
                "Rate limited on %s: pausing the group for %.2f s in every process (429)",
                group,
                seconds,
            )
        elif event == "3":
            logger.info(
                "Rate limited on %s by the organization's limit: pausing the group for "
                "%.2f s for every key of %r (429)",
                group,
                seconds,
                self._gate._organization,
            )
        elif event == "2":
            log_refusal(group, seconds, self._max_wait)
            queue = self._queues.get(group)
            for future, waiter in queue.waiters if queue is not None else ():
                if not future.done():
                    future.set_exception(
                        refused_error(waiter, seconds, self._max_wait, self._max_wait)
                    )

    # -- leases ----------------------------------------------------------------------------

    def _keys(self, group: str) -> list[str]:
        space = f"{self._key_space}:{group}"
        keys = [space, space + ":leases"]
        if self._org_space is not None:
            org = f"{self._org_space}:{group}"
            keys += [org, org + ":leases", org + ":done"]
        return keys

    def _lease_keys(self, group: str) -> list[str]:
        keys = self._keys(group)
        return [keys[1], keys[3]] if len(keys) > 2 else [keys[1]]  # the key's [, the org's]

    def _factor_arg(self) -> str:
        return "0" if self._org_space is None else repr(self._gate._factor)

    def _track(self, group: str, tokens: list[str]) -> None:
        if not tokens:
            return
        self._live.setdefault(group, set()).update(tokens)
        if self._renewer is None:
            self._renew_wake = asyncio.Event()
            self._renewer = asyncio.create_task(self._renew())

    def _untrack(self, group: str, tokens: list[str]) -> None:
        live = self._live.get(group)
        if live is not None:
            live.difference_update(tokens)
            if not live:
                del self._live[group]
        if not self._live and self._renew_wake is not None:
            self._renew_wake.set()  # nothing left to renew: let the renewer end

    async def _renew(self) -> None:
        """Renew this process's leases while their requests run."""
        interval = self._gate._lease / 3
        wake = self._renew_wake
        assert wake is not None
        try:
            while self._live:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), interval)
                    continue  # woken: see whether anything is left
                except asyncio.TimeoutError:
                    pass
                for group, tokens in list(self._live.items()):
                    args: list[str | int] = [
                        self._gate._now_arg(),
                        _us(self._gate._lease),
                        _STATE_TTL_MS,
                    ]
                    try:
                        await self._gate._run("RENEW", self._lease_keys(group), [*args, *tokens])
                    except _StoreDown as exc:
                        logger.debug("Rate-limit gate: could not renew leases (%s)", exc)
        finally:
            self._renewer = self._renew_wake = None

    def _drop_later(self, group: str, tokens: list[str]) -> None:
        """Give leases back in the background (their requests were never sent)."""
        self._untrack(group, tokens)

        async def drop() -> None:
            with contextlib.suppress(_StoreDown):  # if not, they expire by themselves
                await self._gate._run("DROP", self._lease_keys(group), tokens)

        task = asyncio.get_running_loop().create_task(drop())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
