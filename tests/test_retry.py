"""Retry decisions and delays: pure functions, no server."""

from __future__ import annotations

import pytest

from close_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    APITLSError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from close_async._retry import (
    MIN_RATE_LIMIT_WAIT,
    RetryPolicy,
    answer_lost,
    done_after_lost_answer,
    retry_delay,
    should_retry,
)

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


def test_tls_failures_are_never_retried() -> None:
    for sent in (False, True):
        error = APITLSError("x", method="GET", path="p/", sent=sent)
        assert not should_retry("GET", error, POLICY)
        assert not should_retry("POST", error, POLICY)


def test_5xx_asking_for_more_than_the_cap_is_final() -> None:
    policy = RetryPolicy(max_rate_limit_wait=120)
    assert should_retry("GET", api_error(ServerError, 503, 120.0), policy)
    assert not should_retry("GET", api_error(ServerError, 503, 100_000.0), policy)
    assert not should_retry("DELETE", api_error(ServerError, 502, 121.0), policy)


@pytest.mark.parametrize("reset", [0.0, 0.01])
def test_a_429_waits_a_small_minimum_even_when_the_window_resets_now(reset: float) -> None:
    error = api_error(RateLimitError, 429, reset)
    assert retry_delay(error, 1, POLICY, rand=lambda: 0.0) == MIN_RATE_LIMIT_WAIT
    assert MIN_RATE_LIMIT_WAIT > 0


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (APIConnectionError("x", method="DELETE", path="p/", sent=True), True),
        (APITimeoutError("x", method="DELETE", path="p/"), True),
        (APIConnectionError("x", method="DELETE", path="p/", sent=False), False),
        (APITimeoutError("x", method="DELETE", path="p/", sent=False), False),
        (api_error(ServerError, 502), True),
        (api_error(ServerError, 504), True),
        (api_error(ServerError, 503), False),  # unavailable: Close did not act
        (api_error(RateLimitError, 429, 1.0), False),
    ],
)
def test_which_failures_may_have_lost_an_answer(error: Exception, lost: bool) -> None:
    assert answer_lost(error) is lost


def test_only_a_delete_is_done_by_a_404_after_a_lost_answer() -> None:
    not_found = api_error(NotFoundError, 404)
    assert done_after_lost_answer("DELETE", not_found)
    assert done_after_lost_answer("delete", not_found)
    for method in ("GET", "PUT", "POST"):
        assert not done_after_lost_answer(method, not_found)
    assert not done_after_lost_answer("DELETE", api_error(ServerError, 503))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_rate_limit_wait": float("nan")}, ValueError, "max_rate_limit_wait must be a finite"),
        ({"max_rate_limit_wait": float("inf")}, ValueError, "max_rate_limit_wait must be a finite"),
        ({"max_rate_limit_wait": True}, TypeError, "max_rate_limit_wait must be a number"),
        ({"backoff_base": float("nan")}, ValueError, "backoff_base must be a finite"),
        ({"backoff_cap": False}, TypeError, "backoff_cap must be a number"),
        ({"backoff_cap": "8"}, TypeError, "backoff_cap must be a number"),
        ({"max_retries": True}, TypeError, "max_retries must be an int"),
        ({"max_retries": 2.0}, TypeError, "max_retries must be an int"),
    ],
)
def test_policy_settings_are_checked(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
