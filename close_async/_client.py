"""``CloseClient``: credentials, settings and lifecycle; the endpoints hang off it."""

from __future__ import annotations

import base64
import ipaddress
import os
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RATE_LIMIT_WAIT,
    DEFAULT_MAX_RETRIES,
    ENV_API_KEY,
    ENV_BASE_URL,
)
from ._gate import RateLimitGate, client_gate, unbind_client
from ._pagination import DEFAULT_PREFETCH
from ._params import check_positive
from ._responses import DEFAULT_MAX_RESPONSE_SIZE
from ._retry import RetryPolicy
from ._stats import ClientStats
from ._transport import Transport, make_timeout
from .resources.bulk_actions import BulkActions
from .resources.events import Events
from .resources.sequences import Sequences
from .resources.subscriptions import SequenceSubscriptions
from .resources.webhooks import Webhooks

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "CloseClient"]


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: object) -> str:
    """Check the API root URL and give it its trailing slash.

    Plain ``http://`` is refused except for loopback hosts (tests, the fake Close): the
    credential travels in every request's headers.
    """
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string, not {type(base_url).__name__}")
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"base_url must be an https:// URL, not {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"base_url {base_url!r} is plain http: the API key would travel unencrypted; "
            "use https:// (http:// is accepted only for 127.0.0.1, ::1 and localhost)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("base_url must not carry a query, a fragment or credentials")
    return base_url if base_url.endswith("/") else base_url + "/"


def authorization_header(api_key: str | None, oauth_token: str | None) -> tuple[str, str]:
    """Build the Authorization header and name its kind; the secret lives only in it."""
    if api_key is not None and oauth_token is not None:
        raise ValueError("give api_key or oauth_token, not both")
    if oauth_token is None and api_key is None:
        api_key = os.environ.get(ENV_API_KEY) or None
        if api_key is None:
            raise ValueError(
                "no credential: pass api_key=... or oauth_token=..., or set the "
                f"{ENV_API_KEY} environment variable (Close: Settings > Developer > API Keys)"
            )
    for value, name in ((api_key, "api_key"), (oauth_token, "oauth_token")):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{name} must be a non-empty string")
        if value is not None and not value.strip().isprintable():
            # A line break would also be header injection. Never echo the value.
            raise ValueError(
                f"{name} contains control or non-printable characters (a pasted line break?)"
            )
    if oauth_token is not None:
        return f"Bearer {oauth_token.strip()}", "oauth_token"
    assert api_key is not None
    # HTTP Basic with the key as user name and an empty password.
    token = base64.b64encode(f"{api_key.strip()}:".encode()).decode("ascii")
    return f"Basic {token}", "api_key"


class CloseClient:
    """An asyncio client for the Close API, one per application (or job).

    Use it as ``async with CloseClient(...) as close:``, or call ``await close.aclose()``
    when done. The credential is ``api_key`` (HTTP Basic), ``oauth_token`` (Bearer), or
    the ``CLOSE_API_KEY`` environment variable. It never appears in ``repr``, logs or
    exception messages.

    Args:
        api_key: a Close API key.
        oauth_token: an OAuth 2 access token, instead of an API key.
        base_url: the API root; ``https://`` (``http://`` only for loopback hosts). By
            default the ``CLOSE_BASE_URL`` environment variable, else Close's API.
        timeout: for one attempt: seconds (a finite float), or an ``aiohttp.ClientTimeout``.
            The default allows 60 s in all, of which 10 s to connect.
        max_retries: retries after the first attempt (429, 502/503/504, timeouts and
            connection errors; see docs/errors-and-retries.md).
        max_concurrency: requests in flight at once, for the whole client.
        session: an ``aiohttp.ClientSession`` of yours to send requests with; it is never
            closed by this client. By default the client makes (and closes) its own.
        max_rate_limit_wait: the longest wait, in seconds, that a 429, a 5xx's ``Retry-After``
            or a spent rate-limit window may ask of us; a longer one raises at once.
        backoff_base, backoff_cap: the exponential backoff between retries of 5xx answers
            and connection errors: a random wait of up to ``backoff_base * 2**(n-1)``
            seconds before retry n, never more than ``backoff_cap``.
        prefetch: the most pages of one list fetched ahead (1 turns fetching ahead off).
        rate_limit_gate: the gate shared by this client's requests (see ``RateLimitGate``);
            by default an in-process one; ``close_async.redis.RedisRateLimitGate`` shares
            one budget among processes.
        max_response_size: the largest answer read, in bytes, once decoded (32 MiB by
            default); a larger one raises ResponseValidationError (or, for an error status,
            its error without the body) instead of filling the memory.

    Settings are checked here, before any request: ``ValueError`` or ``TypeError``
    names the argument.

    One client serves one event loop at a time. Used in a second ``asyncio.run()`` after
    the first ended, it opens new connections there (the first loop closed its own as it
    ended, even if the client was not closed); used from a loop while its connections
    belong to another still open, it raises ``EventLoopError``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        oauth_token: str | None = None,
        base_url: str | None = None,
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        session: aiohttp.ClientSession | None = None,
        max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        prefetch: int = DEFAULT_PREFETCH,
        rate_limit_gate: RateLimitGate | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        authorization, self._auth_kind = authorization_header(api_key, oauth_token)
        if base_url is None:
            base_url = os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        self._base_url = check_base_url(base_url)
        # RetryPolicy checks its settings (types, NaN, infinity, negatives).
        policy = RetryPolicy(
            max_retries=max_retries,
            max_rate_limit_wait=max_rate_limit_wait,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        self._max_concurrency = check_positive(max_concurrency, "max_concurrency")
        self._prefetch = check_positive(prefetch, "prefetch")
        if session is not None and not hasattr(session, "request"):
            raise TypeError(f"session must be an aiohttp.ClientSession, not {session!r}")
        if rate_limit_gate is not None and not isinstance(rate_limit_gate, RateLimitGate):
            raise TypeError(
                "rate_limit_gate must be a RateLimitGate (async acquire() and release()), "
                f"not {type(rate_limit_gate).__name__}"
            )
        self._stats = ClientStats()
        self._gate = client_gate(rate_limit_gate, authorization, float(max_rate_limit_wait))
        self._transport = Transport(
            base_url=self._base_url,
            authorization=authorization,
            timeout=make_timeout(timeout),
            policy=policy,
            max_concurrency=self._max_concurrency,
            session=session,
            gate=self._gate,
            stats=self._stats,
            max_response_size=check_positive(max_response_size, "max_response_size"),
        )
        self.sequences = Sequences(self._transport, prefetch=self._prefetch)
        self.sequence_subscriptions = SequenceSubscriptions(
            self._transport, prefetch=self._prefetch
        )
        self.bulk_actions = BulkActions(self._transport, prefetch=self._prefetch)
        self.events = Events(self._transport, prefetch=self._prefetch)
        self.webhooks = Webhooks(self._transport, prefetch=self._prefetch)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<CloseClient {self._base_url} auth={self._auth_kind} {state}>"

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    @property
    def max_concurrency(self) -> int:
        """The most requests this client has in flight at once."""
        return self._max_concurrency

    @property
    def stats(self) -> ClientStats:
        """Counters of everything this client did: requests, retries, 429s, waits."""
        return self._stats

    @property
    def closed(self) -> bool:
        """Whether ``aclose()`` was called; a closed client refuses new requests."""
        return self._transport.closed

    async def aclose(self) -> None:
        """Close the HTTP session (unless it is the caller's). Safe to call twice."""
        await self._transport.aclose()
        await unbind_client(self._gate)

    async def __aenter__(self) -> CloseClient:
        if self.closed:
            raise RuntimeError("this CloseClient is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
