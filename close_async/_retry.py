"""When to retry a failed attempt and how long to wait first. Pure functions, no I/O.

The rules (docs/errors-and-retries.md says the same for users):

- 429 is always retried, after the wait the server asked for (``RateLimit`` reset, else
  ``Retry-After``) plus a little jitter, unless that wait is longer than we may honour: then
  the 429 is final and surfaces as RateLimitError.
  A 429 is never retried sooner than ``MIN_RATE_LIMIT_WAIT``, even when Close says the
  window resets now (``reset=0``): at once would be a busy loop against a spent window.
- 502/503/504, timeouts and connection errors are retried for idempotent methods (GET, PUT,
  DELETE: Close's PUT sets fields, so repeating it is harmless), except a 5xx whose
  ``Retry-After`` asks for more than ``max_rate_limit_wait``: that one is final.
- A POST is retried only when it surely did not reach the server (the connection could not
  be opened), or on 429: repeating a subscribe that did arrive could subscribe twice.
- TLS failures (an untrusted certificate, a server that does not speak TLS) are never
  retried: the next attempt meets the same certificate.
- Other waits use capped exponential backoff with full jitter.
- A DELETE that gets 404 after an earlier attempt's answer was lost is done: that attempt
  most likely deleted the object (see ``done_after_lost_answer``).

``CancelledError`` is a BaseException, never one of ours: it is never retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._defaults import DEFAULT_MAX_RATE_LIMIT_WAIT, DEFAULT_MAX_RETRIES
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITLSError,
    CloseError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from ._params import check_number, check_seconds

__all__ = [
    "MIN_RATE_LIMIT_WAIT",
    "RetryPolicy",
    "answer_lost",
    "done_after_lost_answer",
    "is_idempotent",
    "retry_delay",
    "should_retry",
]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
#: Gateway answers that say the request may have reached Close and its answer was lost.
_GATEWAY_LOST = frozenset({502, 504})
#: The least wait after a 429, in seconds, even one that asks for none (``reset=0``): both
#: the retry of the request (``retry_delay``) and the gate's pause of its endpoint group
#: (``_gate``, ``redis``) wait at least this long. Asking again at once would be a busy loop
#: against a window that Close has just called spent.
MIN_RATE_LIMIT_WAIT = 0.1


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try: the number of retries after the first attempt, the backoff, and the
    longest server-requested wait we honour before giving up with RateLimitError."""

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT
    #: Extra wait after a rate-limit reset, as a fraction of it (spreads the retries).
    rate_limit_jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        # Checked here, at the client's construction, not at the first retry: a NaN
        # compares false with everything, so it would silently turn waits and caps off.
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int):
            raise TypeError(f"max_retries must be an int, not {type(retries).__name__}")
        if retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, not {retries!r}")
        for name in ("backoff_base", "backoff_cap", "max_rate_limit_wait"):
            check_seconds(getattr(self, name), name)
        check_number(self.rate_limit_jitter, "rate_limit_jitter")


def is_idempotent(method: str) -> bool:
    """Whether repeating the request cannot do more than doing it once."""
    return method.upper() in IDEMPOTENT


def should_retry(method: str, error: BaseException, policy: RetryPolicy) -> bool:
    """Decide whether an attempt that failed with ``error`` may be tried again."""
    if isinstance(error, APIError):
        if error.retry_after is not None and error.retry_after > policy.max_rate_limit_wait:
            return False  # the server wants more time than we may wait: final
        if isinstance(error, RateLimitError):
            return True
        return isinstance(error, ServerError) and (
            error.status in RETRYABLE_STATUS and is_idempotent(method)
        )
    if isinstance(error, APITLSError):
        return False
    if isinstance(error, APIConnectionError):
        return is_idempotent(method) or not error.sent
    return False


def answer_lost(error: BaseException) -> bool:
    """Whether an attempt that failed with ``error`` may have been carried out by Close
    without its answer reaching us: the connection dropped after sending, a timeout, or a
    gateway's 502/504 (it forwarded the request and lost, or gave up on, the answer)."""
    if isinstance(error, APIConnectionError):
        return error.sent
    return isinstance(error, ServerError) and error.status in _GATEWAY_LOST


def done_after_lost_answer(method: str, error: BaseException) -> bool:
    """Whether ``error``, met by a retry after an attempt whose answer was lost, means that
    the request is done.

    Only a DELETE's 404: the object is gone, which is what the DELETE was for, and the lost
    attempt most likely deleted it. For a PUT a 404 proves nothing (the PUT changes an
    object, it cannot make one disappear), so it is raised, as for every other method.
    """
    return method.upper() == "DELETE" and isinstance(error, NotFoundError)


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
        wait = max(error.retry_after, MIN_RATE_LIMIT_WAIT)
        return wait * (1.0 + policy.rate_limit_jitter * rand())
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0 ** (attempt - 1))
    delay = ceiling * rand()  # "full jitter"
    server_asked = error.retry_after if isinstance(error, APIError) else None
    if server_asked is not None and server_asked > delay:
        delay = min(server_asked, policy.max_rate_limit_wait)
    return delay
