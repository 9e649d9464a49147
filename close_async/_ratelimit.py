"""Read Close's rate-limit headers. Pure functions: no I/O, no clock.

Close sends ``RateLimit: limit=L, remaining=R, reset=S`` on most answers, where ``reset`` is
the seconds until the window ends, possibly decimal
(https://developer.close.com/api/overview/rate-limits). Live answers have also used ``;`` as
the separator, and the case of the header and keys varies, so the parser accepts ``,`` or
``;``, any order, any case, and ignores what it does not understand. A 429 also carries
``Retry-After`` (whole seconds, the reset rounded up), our fallback when ``RateLimit`` is
missing or has no ``reset``. The 429 JSON body is deprecated and never read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime

import attrs

__all__ = ["RateLimitInfo", "parse_rate_limit", "parse_retry_after", "server_wait"]

_PAIR = re.compile(r"([A-Za-z_-]+)\s*=\s*\"?([^,;\"]*)\"?")
# Short keys from the IETF draft's structured form (``r=``, ``t=``) mean the same.
_KEYS = {"limit": "limit", "l": "limit", "remaining": "remaining", "r": "remaining"}
_KEYS |= {"reset": "reset", "t": "reset"}


@attrs.frozen
class RateLimitInfo:
    """What one ``RateLimit`` header said: requests allowed and left in the window, and the
    seconds until it resets. A field the header did not give (or gave garbled) is None."""

    limit: float | None
    remaining: float | None
    reset: float | None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _parse_one(value: str) -> RateLimitInfo | None:
    found: dict[str, float] = {}
    for key, raw in _PAIR.findall(value):
        name = _KEYS.get(key.lower())
        number = _number(raw.strip()) if name else None
        if name and number is not None and name not in found:
            found[name] = number
    if not found:
        return None
    return RateLimitInfo(found.get("limit"), found.get("remaining"), found.get("reset"))


# Close's usual form, read in one match (the general parser costs several microseconds on
# every answer); anything else goes the general way.
_USUAL = re.compile(
    r"\s*limit\s*=\s*(\d+(?:\.\d*)?)\s*[,;]\s*remaining\s*=\s*(\d+(?:\.\d*)?)\s*[,;]"
    r"\s*reset\s*=\s*(\d+(?:\.\d*)?)\s*",
    re.IGNORECASE,
)


def parse_rate_limit(values: str | Iterable[str] | None) -> RateLimitInfo | None:
    """Parse the value(s) of the ``RateLimit`` header; None when absent or unreadable.

    Several headers (or one header with several policies) describe several limits; the one
    that binds is the one with the fewest requests left (then the longest wait).
    """
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    if len(values) == 1:
        usual = _USUAL.fullmatch(values[0])
        if usual is not None:
            limit, remaining, reset = usual.groups()
            return RateLimitInfo(float(limit), float(remaining), float(reset))
    infos = [info for v in values for info in [_parse_one(v)] if info is not None]
    if not infos:
        return None

    def tightness(info: RateLimitInfo) -> tuple[float, float]:
        remaining = info.remaining if info.remaining is not None else math.inf
        return remaining, -(info.reset or 0.0)

    return min(infos, key=tightness)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse ``Retry-After``: delay-seconds, or an HTTP date (``now`` is the POSIX time)."""
    if value is None:
        return None
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return seconds
    if now is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def server_wait(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[RateLimitInfo | None, float | None]:
    """Read what an answer says about the rate limit: the ``RateLimit`` info and the seconds
    to wait before the next request to this group, from ``RateLimit``'s ``reset``, else
    ``RateLimit-Reset``, else ``Retry-After``.

    ``headers`` must look names up case-insensitively (aiohttp's and multidict's do).
    """
    getall = getattr(headers, "getall", None)
    raw = getall("RateLimit", None) if getall is not None else headers.get("RateLimit")
    info = parse_rate_limit(raw)
    wait = info.reset if info is not None else None
    if wait is None:
        reset_header = headers.get("RateLimit-Reset")
        wait = _number(reset_header.strip()) if reset_header is not None else None
    if wait is None:
        wait = parse_retry_after(headers.get("Retry-After"), now=now)
    return info, wait
