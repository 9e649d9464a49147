"""Close-style rate limiting: a fixed window per (API key, endpoint group), and its headers.

Close reports `RateLimit: limit=L, remaining=R, reset=S` (S in seconds, may be decimal) and, on
a 429, `Retry-After` = S rounded up (https://developer.close.com/api/overview/rate-limits).
Live responses have been seen with `;` instead of `,` between the values.
"""

from __future__ import annotations

import math
from typing import Any

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


def rate_limited_body(limit: int, reset: float, window: float) -> dict[str, Any]:
    """Return Close's (deprecated, but still useful to old clients) 429 JSON body."""
    return {
        "error": {
            "rate_reset": round(reset, 3),
            "message": RATE_LIMIT_MESSAGE,
            "rate_limit": limit,
            "rate_window": int(window) if float(window).is_integer() else window,
        }
    }
