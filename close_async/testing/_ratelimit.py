"""Close-style rate limiting: a fixed window per (API key, endpoint group), and its headers.

Close reports `RateLimit: limit=L, remaining=R, reset=S` (S in seconds, may be decimal) and, on
a 429, `Retry-After` = S rounded up (https://developer.close.com/api/overview/rate-limits).
Live responses have been seen with `;` instead of `,` between the values.

Close also limits each endpoint group per organization, across all its API keys, at 3 times
the per-key limit; the header describes "the limit it's closest to hitting", and "the 429
response provides details to identify which limit and endpoint group was hit" (same page).
How Close measures "closest", and the shape of those details, are not documented by Close:
the fake reports the limit with the fewest requests left (the key's on a tie), and says which
limit was hit in its 429 body's `rate_limit_type` (`"api_key"` or `"organization"`),
`endpoint_group` and `message` — its own names, next to the legacy fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

# Reported as `limit=` when the fake runs without a limit, so clients still see a header.
UNLIMITED = 1_000_000
RATE_LIMIT_MESSAGE = "API call count exceeded for this period"


class Window:
    """Track one fixed window: when it ends and how many requests it has counted."""

    __slots__ = ("count", "end")

    def __init__(self, end: float) -> None:
        self.end = end
        self.count = 0

    def reset_in(self, now: float) -> float:
        """Return the seconds until the window ends (never below a millisecond)."""
        return max(self.end - now, 0.001)


class FixedWindowLimiter:
    """Count requests per key in fixed windows of `window` seconds, `limit` requests each.

    A window starts at the first request after the previous one ended. `limit=None` counts but
    never refuses (the header then reports `UNLIMITED`).
    """

    def __init__(self, limit: int | None, window: float) -> None:
        if limit is not None and limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")
        if window <= 0:
            raise ValueError("rate_window must be > 0")
        self.limit = limit
        self.window = window
        self.header_limit = UNLIMITED if limit is None else limit
        self._windows: dict[tuple[str, str], Window] = {}

    def current(self, key: tuple[str, str], now: float) -> Window:
        """Return the key's window at `now`, starting a new one if the last has ended."""
        window = self._windows.get(key)
        if window is None or now >= window.end:
            window = self._windows[key] = Window(now + self.window)
        return window

    def is_exhausted(self, window: Window) -> bool:
        """Return True if another request in this window must be refused with a 429."""
        return self.limit is not None and window.count >= self.limit

    def remaining(self, window: Window) -> int:
        """Return how many requests the window still allows, as the header reports it."""
        return max(self.header_limit - window.count, 0)


LimitType = Literal["api_key", "organization"]
#: The one organization the fake serves: its windows are keyed by this instead of a key.
_ORGANIZATION = "organization"


@dataclass(frozen=True)
class Windows:
    """The windows one request falls in: its key's, and its organization's if limited."""

    key: Window
    org: Window | None


@dataclass(frozen=True)
class Breach:
    """Which limit a refused request hit, and that limit's window."""

    limit_type: LimitType
    limiter: FixedWindowLimiter
    window: Window


class RateLimits:
    """The per-key limit and, if set, the organization's limit across all keys (per group)."""

    def __init__(self, limit: int | None, window: float, organization_limit: int | None) -> None:
        self.key = FixedWindowLimiter(limit, window)
        self.org = (
            None if organization_limit is None else FixedWindowLimiter(organization_limit, window)
        )

    def current(self, identity: str, group: str, now: float) -> Windows:
        """Return the windows of a request by `identity` to `group` at `now`."""
        org = None if self.org is None else self.org.current((_ORGANIZATION, group), now)
        return Windows(self.key.current((identity, group), now), org)

    def breach(self, windows: Windows) -> Breach | None:
        """Return the limit a request in these windows would exceed (the key's first)."""
        if self.key.is_exhausted(windows.key):
            return Breach("api_key", self.key, windows.key)
        if self.org is not None and windows.org is not None and self.org.is_exhausted(windows.org):
            return Breach("organization", self.org, windows.org)
        return None

    def count(self, windows: Windows) -> None:
        """Count one request in its windows."""
        windows.key.count += 1
        if windows.org is not None:
            windows.org.count += 1

    def closest(self, windows: Windows) -> tuple[FixedWindowLimiter, Window]:
        """The limit to report: the one with the fewest requests left (the key's on a tie)."""
        org, window = self.org, windows.org
        key_left = self.key.remaining(windows.key)
        if org is not None and window is not None and org.remaining(window) < key_left:
            return org, window
        return self.key, windows.key


def format_seconds(seconds: float) -> str:
    """Format a reset time with at most three decimals: `0.734`, `1.5`, `2`."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text if text != "0" else "0.001"


def ratelimit_header(limit: int, remaining: int, reset: float, separator: str = ",") -> str:
    """Build the `RateLimit` header value, e.g. `limit=20, remaining=3, reset=0.734`."""
    return (
        f"limit={limit}{separator} remaining={remaining}{separator} reset={format_seconds(reset)}"
    )


def retry_after(reset: float) -> str:
    """Return the `Retry-After` value: the reset rounded up to whole seconds (at least 1)."""
    return str(max(math.ceil(round(reset, 3)), 1))


def rate_limited_body(
    limit: int,
    reset: float,
    window: float,
    *,
    limit_type: LimitType = "api_key",
    group: str | None = None,
) -> dict[str, Any]:
    """Return the 429 JSON body: Close's legacy (deprecated) fields, plus which limit and
    endpoint group were hit (their names are the fake's own: see the module docstring)."""
    which = "organization" if limit_type == "organization" else "API key"
    where = f", endpoint group {group}" if group else ""
    return {
        "error": {
            "rate_reset": round(reset, 3),
            "message": f"{RATE_LIMIT_MESSAGE} ({which} limit{where})",
            "rate_limit": limit,
            "rate_window": int(window) if float(window).is_integer() else window,
            "rate_limit_type": limit_type,
            "endpoint_group": group,
        }
    }
