"""When to retry a failed attempt and how long to wait first. Pure functions, no I/O.

The rules (see the design notes):

- 429 is always retried, after the wait the server asked for (``RateLimit`` reset, else
  ``Retry-After``) plus a little jitter, unless that wait is longer than we may honour: then
  the 429 is final and surfaces as RateLimitError.
- 502/503/504, timeouts and connection errors are retried for idempotent methods (GET, PUT,
  DELETE: Close's PUT sets fields, so repeating it is harmless).
- A POST is retried only when it surely did not reach the server (the connection could not
  be opened), or on 429: repeating a subscribe that did arrive could subscribe twice.
- Other waits use capped exponential backoff with full jitter.

``CancelledError`` is a BaseException, never one of ours: it is never retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._exceptions import (
    APIConnectionError,
    APIError,
    CloseError,
    RateLimitError,
    ServerError,
)

__all__ = ["RetryPolicy", "is_idempotent", "retry_delay", "should_retry"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({502, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try: the number of retries after the first attempt, the backoff, and the
    longest server-requested wait we honour before giving up with RateLimitError."""

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_rate_limit_wait: float = 120.0
    #: Extra wait after a rate-limit reset, as a fraction of it (spreads the retries).
    rate_limit_jitter: float = 0.1


def is_idempotent(method: str) -> bool:
    """Whether repeating the request cannot do more than doing it once."""
    return method.upper() in IDEMPOTENT


def should_retry(method: str, error: BaseException, policy: RetryPolicy) -> bool:
    """Decide whether an attempt that failed with ``error`` may be tried again."""
    if isinstance(error, RateLimitError):
        return error.retry_after is None or error.retry_after <= policy.max_rate_limit_wait
    if isinstance(error, ServerError):
        return error.status in RETRYABLE_STATUS and is_idempotent(method)
    if isinstance(error, APIConnectionError):
        return is_idempotent(method) or not error.sent
    return False


def retry_delay(
    error: CloseError,
    attempt: int,
    policy: RetryPolicy,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the next attempt, after ``attempt`` attempts (1-based) failed."""
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        # Waiting for the reset is the point; the jitter only spreads the tasks out.
        return error.retry_after * (1.0 + policy.rate_limit_jitter * rand())
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0 ** (attempt - 1))
    delay = ceiling * rand()  # "full jitter"
    server_asked = error.retry_after if isinstance(error, APIError) else None
    if server_asked is not None and server_asked > delay:
        delay = min(server_asked, policy.max_rate_limit_wait)
    return delay
