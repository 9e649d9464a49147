"""The one module that talks HTTP: sends requests through aiohttp and retries them.

What an answer means (JSON or which error) and what a failed send means are decided by the
pure functions of ``_responses``; when to retry, by those of ``_retry``. This module only
sends and receives.

One call of ``Transport.request`` is one logical request: a fresh tenacity controller
retries its attempts. Each attempt passes the rate-limit gate of its endpoint group, then
takes one of the client's ``max_concurrency`` slots, sends, reads the whole body (at most
``max_response_size`` bytes) and releases the connection before anything else happens, so
no connection or slot is held while a retry sleeps.

Every request that reaches the wire is one of our attempts: aiohttp resends a GET, PUT or
DELETE once by itself when the connection drops before the answer, which would bypass the
gate, the counters and the lost-answer rule of ``_retry``; the session we make turns that
off (``_Response``) and our retry does it instead. A session given by the caller keeps
aiohttp's behaviour (it is theirs; see "Bring your own session" in docs/client.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import sys
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
from aiohttp.connector import Connection
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    CloseError,
    EventLoopError,
    RateLimitError,
)
from ._gate import Observation, RateLimitGate
from ._json import dumps
from ._malloc import settle_read_buffers
from ._ratelimit import server_wait
from ._responses import ACCEPT_ENCODING, AnswerLost, connection_error, decode_answer
from ._retry import RetryPolicy, answer_lost, done_after_lost_answer, retry_delay, should_retry
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
        for name in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, name)
            if value is not None and not math.isfinite(value):  # aiohttp fails on inf
                raise ValueError(f"timeout.{name} must be a finite number or None, not {value!r}")
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(
            f"timeout must be seconds (a number) or an aiohttp.ClientTimeout, "
            f"not {type(timeout).__name__}"
        )
    if not 0 < timeout < math.inf:  # False for NaN too
        raise ValueError(
            f"timeout must be more than 0 seconds and finite, not {timeout!r} (an "
            "aiohttp.ClientTimeout(total=None) turns the timeout off, if you really mean it)"
        )
    return aiohttp.ClientTimeout(total=float(timeout), connect=min(float(timeout), _CONNECT_CAP))


def user_agent() -> str:
    """Name us, our version and what we run on (Close's support can then tell us apart)."""
    python = "{}.{}.{}".format(*sys.version_info[:3])
    return f"close_async/{__version__} aiohttp/{aiohttp.__version__} Python/{python}"


class _Response(aiohttp.ClientResponse):
    """aiohttp's response, except that a connection lost before the status line is not
    resent by aiohttp itself.

    aiohttp resends an idempotent request once when reading the answer's start fails with
    ``ClientOSError`` or ``ServerDisconnectedError`` (``ClientSession._request``, from 3.10
    on; only a private attribute turns it off, from 3.11). Raising ``AnswerLost`` instead, a
    ``ClientConnectionError`` it does not resend, leaves the decision to our retry. A
    response class is a documented ``ClientSession`` argument in every version we support.
    """

    async def start(self, connection: Connection) -> aiohttp.ClientResponse:
        try:
            return await super().start(connection)
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            lost = AnswerLost(f"{type(exc).__name__}: {str(exc) or 'no detail'}")
        raise lost  # outside the except block: nothing of aiohttp's is chained


async def _close_at_loop_end(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Hold ``session`` open until this generator is closed, then close it.

    An open async generator is finalised by its event loop's ``shutdown_asyncgens()``,
    which ``asyncio.run()`` and ``asyncio.Runner`` call before closing the loop: the session
    is then closed in its own loop, while that loop still runs, even when the client was
    never closed. Without that a client used in two ``asyncio.run()`` calls would leave the
    first loop's session unclosed (aiohttp's warning) and fail in the second ("Event loop
    is closed").
    """
    try:
        yield
    finally:
        await session.close()


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
        max_response_size: int,
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._policy = policy
        self._max_concurrency = max_concurrency
        self._max_response_size = max_response_size
        self._slots = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._owns_session = session is None
        # The event loop the session belongs to, and (for a session we made) what closes it
        # when that loop ends; see _open_session.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self._gate = gate
        self.stats = stats
        self.closed = False
        self._tasks: set[asyncio.Future[Any]] = set()
        settle_read_buffers()  # see _malloc.py: a fifth of the CPU per request
        self._headers = {
            "Authorization": authorization,
            "User-Agent": user_agent(),
            "Accept": "application/json",
            # We decode bodies ourselves, within max_response_size (see _responses).
            "Accept-Encoding": ACCEPT_ENCODING,
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

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError(
                "this CloseClient is closed; create a new one (or keep the 'async with' "
                "block open while you use it)"
            )

    async def _open_session(self) -> aiohttp.ClientSession:
        """Return the session for the running event loop, making it when needed.

        Our own session is made on first use, inside the running loop, so that a client
        can be built at import time or in synchronous set-up code. A client used in a new
        event loop (a second ``asyncio.run()``) gets a new session there: the previous
        one was closed when its loop shut down (``_close_at_loop_end``). A session that
        still belongs to another loop cannot be closed or used from this one: that is
        an EventLoopError.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and session.closed and not self._owns_session:
            raise ClientClosedError(
                "the aiohttp.ClientSession given as session= is closed; keep it open for "
                "as long as the CloseClient is used"
            )
        if session is not None and self._loop is not None and self._loop is not loop:
            if not self._owns_session:
                raise EventLoopError(
                    "the aiohttp.ClientSession given as session= belongs to another event "
                    "loop; use the CloseClient in the loop that made the session"
                )
            if not session.closed:
                raise _still_open_elsewhere(self._loop)
        if session is None or session.closed or self._loop is not loop:
            # A semaphore binds to the loop that first waits on it: a new one per loop.
            self._slots = asyncio.Semaphore(self._max_concurrency)
            self._loop = loop
            if self._owns_session:
                connector = aiohttp.TCPConnector(limit=self._max_concurrency)
                session = aiohttp.ClientSession(connector=connector, response_class=_Response)
                self._session = session
                self._keeper = _close_at_loop_end(session)
                await self._keeper.__anext__()  # registers it with this loop's shutdown
        assert session is not None
        return session

    async def aclose(self) -> None:
        """Close the session if we made it; a caller's session stays open."""
        keeper, session = self._keeper, self._session
        ours_open = keeper is not None and session is not None and not session.closed
        if ours_open and self._loop is not asyncio.get_running_loop():
            raise _still_open_elsewhere(self._loop)
        self.closed = True
        self._keeper = self._session = None
        await cancel_and_wait(list(self._tasks))
        if ours_open:
            assert keeper is not None
            await keeper.aclose()  # closes the session

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
        self._check_open()  # fail fast, before any waiting
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
                lost = answer_lost(exc)  # it may have been done, and its answer lost

            async def attempt() -> Any:
                nonlocal first_failure, lost
                if first_failure is not None:
                    # Attempt 1 already happened: replay its failure, so that tenacity
                    # logs it, waits and counts attempts exactly as if it had made it.
                    failure, first_failure = first_failure, None
                    raise failure
                try:
                    return await self._attempt(method, path, group, params, body)
                except CloseError as exc:
                    if lost and done_after_lost_answer(method, exc):
                        logger.info(
                            "%s %s -> 404 after an attempt whose answer was lost: that "
                            "attempt did it; done",
                            method,
                            path,
                        )
                        return None
                    lost = lost or answer_lost(exc)
                    raise

            retrying = AsyncRetrying(
                stop=stop_after_attempt(policy.max_retries + 1),
                retry=retry_if_exception(lambda exc: should_retry(method, exc, policy)),
                wait=self._wait,
                before_sleep=functools.partial(self._before_sleep, method, path),
                reraise=True,
            )
            return await retrying(attempt)
        except CloseError as exc:
            for c in counters(self.stats):
                c.errors += 1
            # Ours are raised outside except blocks, yet Python may still chain whatever
            # exception a frame up the stack is handling (on 3.10 even an aiohttp parser
            # error, left as the task's current exception): nothing foreign rides along.
            exc.__context__ = None
            raise  # a bare raise chains nothing new

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
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop() or session.closed:
            session = await self._open_session()  # also where a closed client stops
        started = time.monotonic()
        token = await self._gate.acquire(group)
        held = time.monotonic() - started
        if held < 0.001:  # admitted at once: the microseconds of the call are not a wait
            held = 0.0
        observation: Observation | None = None
        failure: APIConnectionError | None = None
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
                        auto_decompress=False,  # see _responses.decode_content
                    ) as response:
                        status, reason, headers = response.status, response.reason, response.headers
                        length = response.content_length
                        if length is not None and length <= self._max_response_size:
                            raw: bytes | None = await response.read()  # the usual case
                        else:
                            raw = await _read_capped(response, self._max_response_size)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failure = connection_error(exc, method, path)
                    if failure is None:
                        raise
            if failure is None:
                now = time.time()
                info, wait = server_wait(headers, now=now)
                observation = Observation(status, info, wait)
        finally:
            await self._gate.release(group, token, observation)
        if failure is not None:
            raise failure  # outside the except block: aiohttp's exception is not chained
        if status == 429:
            for c in counters(self.stats):
                c.rate_limited += 1
        return decode_answer(
            method,
            path,
            status,
            reason,
            headers,
            raw,
            wait=wait,
            max_wait=self._policy.max_rate_limit_wait,
            max_size=self._max_response_size,
            now=now,
        )


async def _read_capped(response: aiohttp.ClientResponse, max_size: int) -> bytes | None:
    """Read a body of unknown (or too large) length as it came (still encoded); None once it
    is larger than ``max_size``: the rest is left unread, and the connection is closed
    rather than reused."""
    length = response.content_length
    if length is not None and length > max_size:
        return None
    chunks: list[bytes] = []
    size = 0
    content = response.content
    while chunk := await content.readany():
        size += len(chunk)
        if size > max_size:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _still_open_elsewhere(loop: asyncio.AbstractEventLoop | None) -> EventLoopError:
    state = "is still running" if loop is not None and loop.is_running() else "was not shut down"
    return EventLoopError(
        f"this CloseClient's connections belong to another event loop, which {state}; "
        "use one client per event loop (thread), or close it (await close.aclose()) in the "
        "loop that used it. A loop run by asyncio.run() or asyncio.Runner closes them by "
        "itself when it ends"
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
