"""The one module that talks HTTP: sends requests through aiohttp, retries them, and turns
every aiohttp and timeout exception into one of ours.

One call of ``Transport.request`` is one logical request: a fresh tenacity controller
retries its attempts (the decisions are the pure functions of ``_retry``). Each attempt
passes the rate-limit gate of its endpoint group, then takes one of the client's
``max_concurrency`` slots, sends, reads the whole body and releases the connection before
anything else happens, so no connection or slot is held while a retry sleeps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    CloseError,
    RateLimitError,
    ResponseValidationError,
    error_class_for,
)
from ._gate import Observation, RateLimitGate
from ._json import dumps, loads
from ._malloc import settle_read_buffers
from ._ratelimit import parse_retry_after, server_wait
from ._retry import RetryPolicy, retry_delay, should_retry
from ._stats import ClientStats, counters
from ._tasks import cancel_and_wait
from ._version import __version__

__all__ = ["DEFAULT_TIMEOUT", "Transport", "make_timeout", "user_agent"]

logger = logging.getLogger("close_async")

#: One attempt may take a minute in all, of which at most 10 s to open the connection.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60.0, connect=10.0)
_CONNECT_CAP = 10.0

Params = Mapping[str, str | int]


def make_timeout(timeout: float | aiohttp.ClientTimeout | None) -> aiohttp.ClientTimeout:
    """Turn the ``timeout`` argument into an aiohttp timeout for one attempt."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be seconds (a number) or an aiohttp.ClientTimeout, "
            f"not {type(timeout).__name__}"
        )
    if not timeout > 0:
        raise ValueError(f"timeout must be more than 0 seconds, not {timeout!r}")
    return aiohttp.ClientTimeout(total=float(timeout), connect=min(float(timeout), _CONNECT_CAP))


def user_agent() -> str:
    """Name us, our version and what we run on (Close's support can then tell us apart)."""
    python = "{}.{}.{}".format(*sys.version_info[:3])
    return f"close_async/{__version__} aiohttp/{aiohttp.__version__} Python/{python}"


def _connection_error(exc: BaseException, method: str, path: str) -> APIConnectionError | None:
    """Translate an aiohttp or timeout exception; None for anything else."""
    where = f"{method} {path}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(
            f"{where}: timed out opening the connection; check the network or raise timeout=",
            method=method,
            path=path,
            sent=False,
        )
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's read/total timeouts too
        return APITimeoutError(
            f"{where}: no answer within the timeout; raise timeout= if Close is slow",
            method=method,
            path=path,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"{where}: could not connect ({exc}); check the network and base_url",
            method=method,
            path=path,
            sent=False,
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        kind = type(exc).__name__
        detail = str(exc) or "no detail"
        return APIConnectionError(
            f"{where}: the connection failed before an answer came ({kind}: {detail})",
            method=method,
            path=path,
        )
    return None


class Transport:
    """Send requests for one client; see the module docstring."""

    def __init__(
        self,
        *,
        base_url: str,
        authorization: str,
        timeout: aiohttp.ClientTimeout,
        policy: RetryPolicy,
        max_concurrency: int,
        session: aiohttp.ClientSession | None,
        gate: RateLimitGate,
        stats: ClientStats,
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._policy = policy
        self._max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._owns_session = session is None
        self._gate = gate
        self.stats = stats
        self.closed = False
        self._tasks: set[asyncio.Future[Any]] = set()
        settle_read_buffers()  # see _malloc.py: a fifth of the CPU per request
        self._headers = {
            "Authorization": authorization,
            "User-Agent": user_agent(),
            "Accept": "application/json",
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    def __repr__(self) -> str:
        return f"<Transport {self._base_url} closed={self.closed}>"

    @property
    def max_concurrency(self) -> int:
        """The most requests in flight at once."""
        return self._max_concurrency

    def adopt(self, task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` when the client closes (the workers of a fan-out, say)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _get_session(self) -> aiohttp.ClientSession:
        if self.closed:
            raise ClientClosedError(
                "this CloseClient is closed; create a new one (or keep the 'async with' "
                "block open while you use it)"
            )
        if self._session is not None and self._session.closed:
            raise ClientClosedError(
                "the aiohttp.ClientSession given as session= is closed; keep it open for "
                "as long as the CloseClient is used"
            )
        if self._session is None:
            # Created on first use, inside the running loop, so that a client can be built
            # at import time or in synchronous set-up code.
            connector = aiohttp.TCPConnector(limit=self._max_concurrency)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def aclose(self) -> None:
        """Close the session if we made it; a caller's session stays open."""
        self.closed = True
        await cancel_and_wait(list(self._tasks))
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        group: str,
        params: Params | None = None,
        json_body: object = None,
    ) -> Any:
        """Send one logical request, with retries; return the parsed JSON (None if empty)."""
        self._get_session()  # fail fast, before any waiting, when closed
        body = None if json_body is None else dumps(json_body)
        policy = self._policy
        try:
            # Most requests succeed at once. Setting up tenacity for each of them costs more
            # CPU than the request itself (tens of microseconds), so the first attempt runs
            # bare; a failure worth retrying hands over to a fresh tenacity controller.
            try:
                return await self._attempt(method, path, group, params, body)
            except CloseError as exc:
                if policy.max_retries == 0 or not should_retry(method, exc, policy):
                    raise
                first_failure: CloseError | None = exc

            async def attempt() -> Any:
                nonlocal first_failure
                if first_failure is not None:
                    # Attempt 1 already happened: replay its failure, so that tenacity
                    # logs it, waits and counts attempts exactly as if it had made it.
                    failure, first_failure = first_failure, None
                    raise failure
                return await self._attempt(method, path, group, params, body)

            retrying = AsyncRetrying(
                stop=stop_after_attempt(policy.max_retries + 1),
                retry=retry_if_exception(lambda exc: should_retry(method, exc, policy)),
                wait=self._wait,
                before_sleep=functools.partial(self._before_sleep, method, path),
                reraise=True,
            )
            return await retrying(attempt)
        except CloseError:
            for c in counters(self.stats):
                c.errors += 1
            raise

    def _wait(self, state: RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert isinstance(error, CloseError)
        return retry_delay(error, state.attempt_number, self._policy)

    def _before_sleep(self, method: str, path: str, state: RetryCallState) -> None:
        assert state.outcome is not None
        assert state.next_action is not None
        error = state.outcome.exception()
        delay = state.next_action.sleep
        rate_limited = isinstance(error, RateLimitError)
        for c in counters(self.stats):
            c.retries += 1
            if rate_limited:
                c.rate_limit_wait += delay
        logger.info(
            "Retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
            method,
            path,
            delay,
            state.attempt_number,
            self._policy.max_retries + 1,
            _reason(error),
        )

    async def _attempt(
        self, method: str, path: str, group: str, params: Params | None, body: bytes | None
    ) -> Any:
        session = self._get_session()
        started = time.monotonic()
        token = await self._gate.acquire(group)
        held = time.monotonic() - started
        if held < 0.001:  # admitted at once: the microseconds of the call are not a wait
            held = 0.0
        observation: Observation | None = None
        try:
            async with self._slots:
                for c in counters(self.stats):
                    c.requests += 1
                    c.rate_limit_wait += held
                try:
                    async with session.request(
                        method,
                        self._base_url + path,
                        params=params,
                        data=body,
                        headers=self._json_headers if body is not None else self._headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                    ) as response:
                        raw = await response.read()
                        status, reason, headers = response.status, response.reason, response.headers
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = _connection_error(exc, method, path)
                    if error is None:
                        raise
                    raise error from exc
            info, wait = server_wait(headers, now=time.time())
            observation = Observation(status, info, wait)
        finally:
            await self._gate.release(group, token, observation)
        if status == 429:
            for c in counters(self.stats):
                c.rate_limited += 1
        return self._decode(method, path, status, reason, headers, raw, wait)

    def _decode(
        self,
        method: str,
        path: str,
        status: int,
        reason: str | None,
        headers: Mapping[str, str],
        raw: bytes,
        wait: float | None,
    ) -> Any:
        empty = not raw or raw.isspace()
        if 200 <= status < 300:
            if status == 204 or empty:
                return None
            try:
                return loads(raw)
            except ValueError:
                kind = headers.get("Content-Type", "no content type")
                raise ResponseValidationError(
                    f"{method} {path} -> {status}: the body is not JSON ({kind}, "
                    f"{len(raw)} bytes); is base_url pointing at Close's API?",
                    method=method,
                    path=path,
                ) from None
        body: object
        try:
            body = None if empty else loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")  # a proxy's HTML page, say
        cls = error_class_for(status)
        detail = ""
        if cls is not RateLimitError:
            # RateLimit's reset is about the rate window, not about this failure: only an
            # explicit Retry-After (a 503 may carry one) says when to try again.
            wait = parse_retry_after(headers.get("Retry-After"), now=time.time())
        else:
            cap = self._policy.max_rate_limit_wait
            if wait is not None and wait > cap:
                detail = (
                    f"Close asked us to wait {wait:.0f} s, longer than max_rate_limit_wait "
                    f"({cap:.0f} s)"
                )
            elif wait is None:
                detail = "Close did not say how long to wait"
        raise cls.from_response(
            status=status,
            reason=reason,
            method=method,
            path=path,
            body=body,
            retry_after=wait,
            detail=detail,
        )


def _reason(error: BaseException | None) -> str:
    """One short line saying why an attempt failed, for the retry log."""
    if isinstance(error, APIError):
        text = f"{error.status}"
        if isinstance(error, RateLimitError):
            text += " rate limited"
        return text
    if isinstance(error, APITimeoutError):
        return "timeout"
    if isinstance(error, APIConnectionError):
        return "connection error"
    return type(error).__name__
