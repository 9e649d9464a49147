"""Retry decisions and delays: pure functions, no server."""

from __future__ import annotations

import pytest

from close_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from close_async._retry import RetryPolicy, retry_delay, should_retry

POLICY = RetryPolicy()


def api_error(cls: type[APIError], status: int, retry_after: float | None = None) -> APIError:
    return cls("x", status=status, method="GET", path="p/", retry_after=retry_after)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
def test_429_is_always_retried(method: str) -> None:
    assert should_retry(method, api_error(RateLimitError, 429, 1.0), POLICY)
    assert should_retry(method, api_error(RateLimitError, 429, None), POLICY)


def test_429_beyond_the_cap_is_final() -> None:
    policy = RetryPolicy(max_rate_limit_wait=120)
    assert should_retry("GET", api_error(RateLimitError, 429, 120.0), policy)
    assert not should_retry("GET", api_error(RateLimitError, 429, 120.5), policy)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_retried_for_idempotent_methods_only(status: int) -> None:
    error = api_error(ServerError, status)
    assert should_retry("GET", error, POLICY)
    assert should_retry("PUT", error, POLICY)
    assert should_retry("DELETE", error, POLICY)
    assert not should_retry("POST", error, POLICY)  # a blind re-POST could subscribe twice


@pytest.mark.parametrize(
    "error",
    [
        api_error(ServerError, 500),
        api_error(BadRequestError, 400),
        api_error(NotFoundError, 404),
        ValueError("a bug"),
    ],
)
def test_other_failures_are_final(error: Exception) -> None:
    assert not should_retry("GET", error, POLICY)


def test_connection_errors_and_timeouts() -> None:
    dropped = APIConnectionError("x", method="POST", path="p/", sent=True)
    refused = APIConnectionError("x", method="POST", path="p/", sent=False)
    timeout = APITimeoutError("x", method="POST", path="p/")
    assert should_retry("GET", dropped, POLICY)
    assert should_retry("GET", timeout, POLICY)
    assert not should_retry("POST", dropped, POLICY)  # it may have arrived
    assert not should_retry("POST", timeout, POLICY)
    assert should_retry("POST", refused, POLICY)  # surely never arrived


def test_cancellation_is_never_retried() -> None:
    import asyncio

    assert not should_retry("GET", asyncio.CancelledError(), POLICY)


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4.0)
    error = api_error(ServerError, 503)
    ceilings = [retry_delay(error, n, policy, rand=lambda: 1.0) for n in range(1, 7)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert retry_delay(error, 3, policy, rand=lambda: 0.0) == 0.0
    assert retry_delay(error, 3, policy, rand=lambda: 0.5) == 1.0


def test_rate_limit_waits_for_the_reset_plus_a_little_jitter() -> None:
    policy = RetryPolicy(rate_limit_jitter=0.1)
    error = api_error(RateLimitError, 429, 2.0)
    assert retry_delay(error, 1, policy, rand=lambda: 0.0) == 2.0
    assert retry_delay(error, 1, policy, rand=lambda: 1.0) == pytest.approx(2.2)


def test_rate_limit_without_a_wait_backs_off() -> None:
    error = api_error(RateLimitError, 429, None)
    assert retry_delay(error, 2, POLICY, rand=lambda: 1.0) == 1.0


def test_503_with_retry_after_waits_at_least_that_long() -> None:
    error = api_error(ServerError, 503, 3.0)
    assert retry_delay(error, 1, POLICY, rand=lambda: 0.1) == 3.0
    capped = RetryPolicy(max_rate_limit_wait=1.0)
    assert retry_delay(error, 1, capped, rand=lambda: 0.1) == 1.0
