"""The aiohttp transport: one lean handler that authenticates, rate-limits, injects faults and
latency, then hands the request to the API layer.

Per request, in order: count it; authenticate (401); check the (key, group) window, then the
organization's (429, not counted against either window); draw a fault (an injected 429 is not
counted either); count the request in its windows; sleep the latency; then answer, fail or
stall as decided. Headers are built at answer time, so `reset` is measured from when the
client gets the answer.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._api import (
    API_PREFIX,
    UNKNOWN_RESOURCE,
    ApiResponse,
    CloseApi,
    Route,
    endpoint_group,
    error_body,
    resolve,
)
from ._auth import Credentials
from ._bulk import complete_bulk_action
from ._faults import Fault, FaultPlan
from ._model import dumps
from ._ratelimit import (
    Breach,
    LimitType,
    RateLimits,
    Windows,
    rate_limited_body,
    ratelimit_header,
    retry_after,
)
from ._state import FakeState
from ._stats import FakeStats

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_UNAUTHORIZED = error_body("Invalid API key or OAuth token.")
_UNAVAILABLE = error_body("Service unavailable")
_UNKNOWN_PATH = error_body("Not found.")
_RATE_LIMIT_FAULTS = frozenset({"429", "429_storm"})
# Seconds aiohttp waits for handlers on shutdown before cancelling them; stalled handlers are
# woken first, so this only bounds a pathological case.
_SHUTDOWN_TIMEOUT = 1.0


@dataclass(frozen=True)
class ServerOptions:
    """Hold the transport's settings (the public knobs of `FakeClose`, whose defaults these
    are: no second set here to drift apart)."""

    latency: float
    endpoint_latency: Mapping[str, float] | None
    ratelimit_separator: str
    stall_seconds: float
    bulk_action_seconds: float
    max_skip: int | None = None


def _is_accepting(task: asyncio.Task[Any]) -> bool:
    """Whether a task is asyncio setting up a connection it has accepted."""
    return getattr(task.get_coro(), "__qualname__", "").endswith("_accept_connection2")


def _listen(host: str, port: int, *, backlog: int) -> socket.socket:
    """Open the server's listening socket on ``host``:``port`` (0: a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(backlog)
        listener.setblocking(False)
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"cannot listen on address {host}:{port}: {exc.strerror}") from exc
    except BaseException:
        listener.close()
        raise
    return listener


class FakeServer:
    """Serve a `CloseApi` over HTTP on loopback with rate limits, faults and latency."""

    def __init__(
        self,
        *,
        state: FakeState,
        credentials: Credentials,
        limits: RateLimits,
        plan: FaultPlan,
        stats: FakeStats,
        options: ServerOptions,
        rng: random.Random,
    ) -> None:
        self.api = CloseApi(
            state, self._schedule_bulk_action, self._stop_bulk_action, max_skip=options.max_skip
        )
        self.state = state
        self.credentials = credentials
        self.limits = limits
        self.plan = plan
        self.stats = stats
        self._options = options
        self._latency = dict(options.endpoint_latency or {})
        self._rng = rng
        self._runner: web.ServerRunner | None = None
        self._listener: socket.socket | None = None
        self._closing: asyncio.Event | None = None
        # Each bulk action in progress -> the timers that move it on.
        self._timers: dict[str, tuple[asyncio.TimerHandle, ...]] = {}

    async def start(self, host: str, port: int) -> int:
        """Start listening and return the bound port."""
        if self._runner is not None:
            raise RuntimeError("the fake server is already running")
        self._closing = asyncio.Event()
        runner = web.ServerRunner(
            web.Server(self.handle, access_log=None), shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            self._listener = _listen(host, port, backlog=1024)
            await web.SockSite(runner, self._listener).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop: wake stalled handlers (they drop their connection), cancel bulk timers."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        assert self._closing is not None
        self._closing.set()
        for bulk_id in list(self._timers):
            self._stop_bulk_action(bulk_id)
        await self._stop_accepting()
        await runner.cleanup()

    async def _stop_accepting(self) -> None:
        """Stop taking new connections, and let those just taken finish being set up.

        asyncio sets up an accepted connection in a task of its own; if the server closes
        before that task runs, it fails (an assertion in ``Server._attach``, Python 3.11)
        and leaks the socket, a ResourceWarning that a test run with ``filterwarnings =
        error`` turns into an error. So stop reading the listening socket first, let those
        tasks complete, and only then close.
        """
        listener, self._listener = self._listener, None
        if listener is None or listener.fileno() == -1:
            return
        asyncio.get_running_loop().remove_reader(listener.fileno())
        await asyncio.sleep(0)  # an accept callback already queued runs now
        setting_up = [t for t in asyncio.all_tasks() if _is_accepting(t)]
        if setting_up:
            await asyncio.wait(setting_up, timeout=_SHUTDOWN_TIMEOUT)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one HTTP request."""
        self.stats.enter()
        try:
            return await self._respond(request)
        finally:
            self.stats.leave()

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        stats, limits = self.stats, self.limits
        loop_time = asyncio.get_running_loop().time
        now = loop_time()
        method, path = request.method, request.path
        route = resolve(path)
        group = endpoint_group(method, route.resource if route else UNKNOWN_RESOURCE)
        stats.by_group[group] += 1
        stats.by_path[path] += 1
        identity = self.credentials.identify(request.headers.get("Authorization"))
        if identity is None:
            # Reported, never counted: a bad key must not use up anyone's window.
            windows = Windows(limits.key.current(("", group), now), None)
            await self._sleep_latency(group)
            return self._json(401, _UNAUTHORIZED, windows)
        stats.by_api_key[identity] += 1
        windows = limits.current(identity, group, now)
        breach = limits.breach(windows)
        if breach is not None:
            stats.rate_limited += 1
            stats.rate_limited_by[breach.limit_type] += 1
            await self._sleep_latency(group)
            return self._refused(breach, group)
        fault = self.plan.next_fault(group, now)
        if fault is None or fault.kind not in _RATE_LIMIT_FAULTS:
            limits.count(windows)
        if fault is not None:
            stats.faults[fault.kind] += 1
        await self._sleep_latency(group)
        if fault is not None:
            return await self._inject(request, fault, windows, route, group)
        return await self._answer(request, route, windows)

    async def _answer(
        self, request: web.BaseRequest, route: Route | None, windows: Windows
    ) -> web.StreamResponse:
        if route is None:
            return self._json(404, _UNKNOWN_PATH, windows)
        answer = await self._act(request, route)
        response = self._json(answer.status, answer.body, windows)
        if answer.location is not None:
            # Newer Close endpoints answer a create with 201 and the new object's URL.
            base = f"{request.scheme}://{request.host}{API_PREFIX}"
            response.headers["Location"] = base + answer.location
        return response

    async def _act(self, request: web.BaseRequest, route: Route) -> ApiResponse:
        """Carry the request out on the state and return the API's answer."""
        method = request.method
        body = await request.read() if method in ("POST", "PUT") else b""
        return self.api.handle(method, route, request.query, body)

    async def _inject(
        self,
        request: web.BaseRequest,
        fault: Fault,
        windows: Windows,
        route: Route | None,
        group: str,
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind in _RATE_LIMIT_FAULTS:
            limit = self.limits.key.header_limit
            return self._too_many_requests(
                fault.reset, limit, "api_key", group, fault.ratelimit_header
            )
        if kind == "503":
            return self._json(503, _UNAVAILABLE, windows)
        if kind == "502_html":
            return self._respond_with(502, BAD_GATEWAY_HTML, "text/html", windows)
        if kind == "response":
            return self._json(fault.status, dumps(fault.body), windows)
        if kind == "drop_after" and route is not None:
            await self._act(request, route)  # done at "Close"; the answer is lost below
        if kind == "stall":
            assert self._closing is not None
            try:
                await asyncio.wait_for(self._closing.wait(), self._options.stall_seconds)
            except asyncio.TimeoutError:
                return await self._answer(request, route, windows)
        # "drop", "drop_after", or a stall cut short by shutdown: close the connection
        # without an answer.
        return self._drop(request)

    def _drop(self, request: web.BaseRequest) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.close()
        # aiohttp fails to write this to the closed transport and ends the connection quietly.
        return web.Response(status=500)

    def _refused(self, breach: Breach, group: str) -> web.StreamResponse:
        """The 429 of a request over a limit: that limit's header and name."""
        reset = breach.window.reset_in(asyncio.get_running_loop().time())
        return self._too_many_requests(reset, breach.limiter.header_limit, breach.limit_type, group)

    def _too_many_requests(
        self,
        reset: float,
        limit: int,
        limit_type: LimitType,
        group: str,
        ratelimit: bool = True,
    ) -> web.StreamResponse:
        headers = {"Retry-After": retry_after(reset)}
        if ratelimit:
            headers["RateLimit"] = ratelimit_header(
                limit, 0, reset, self._options.ratelimit_separator
            )
        window = self.limits.key.window
        body = dumps(rate_limited_body(limit, reset, window, limit_type=limit_type, group=group))
        self.stats.responses[429] += 1
        self.stats.sent(body)
        return web.Response(status=429, text=body, content_type="application/json", headers=headers)

    def _json(self, status: int, body: str, windows: Windows) -> web.Response:
        return self._respond_with(status, body, "application/json", windows)

    def _respond_with(
        self, status: int, body: str, content_type: str, windows: Windows
    ) -> web.Response:
        now = asyncio.get_running_loop().time()
        limiter, window = self.limits.closest(windows)
        header = ratelimit_header(
            limiter.header_limit,
            limiter.remaining(window),
            window.reset_in(now),
            self._options.ratelimit_separator,
        )
        self.stats.responses[status] += 1
        self.stats.sent(body)
        return web.Response(
            status=status, text=body, content_type=content_type, headers={"RateLimit": header}
        )

    async def _sleep_latency(self, group: str) -> None:
        base = self._latency.get(group, self._options.latency)
        if base > 0:
            # Uniform jitter of +/-25% so concurrent requests do not finish in lockstep.
            await asyncio.sleep(base * self._rng.uniform(0.75, 1.25))

    def _schedule_bulk_action(self, bulk_id: str) -> None:
        # Close runs bulk actions in the background: created (or resuming) -> processing ->
        # done. A resumed action starts that course again.
        seconds = self._options.bulk_action_seconds
        loop = asyncio.get_running_loop()

        def processing() -> None:
            self.state.update_bulk_action(bulk_id, {"status": "processing"})

        def done() -> None:
            self._timers.pop(bulk_id, None)
            with self.api.scope(bulk_action_id=bulk_id):  # tags the events it causes
                complete_bulk_action(self.state, bulk_id)

        self._stop_bulk_action(bulk_id)
        self._timers[bulk_id] = (
            loop.call_later(seconds / 2, processing),
            loop.call_later(seconds, done),
        )

    def _stop_bulk_action(self, bulk_id: str) -> None:
        # A paused action stays as it is until resumed.
        for timer in self._timers.pop(bulk_id, ()):
            timer.cancel()
