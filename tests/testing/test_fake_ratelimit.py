"""Fixed windows and the RateLimit / Retry-After headers."""

from __future__ import annotations

import pytest

from close_async.testing._ratelimit import (
    UNLIMITED,
    FixedWindowLimiter,
    RateLimits,
    format_seconds,
    rate_limited_body,
    ratelimit_header,
    retry_after,
)

KEY = ("key", "GET sequence_subscription")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.7344, "0.734"), (0.7346, "0.735"), (1.5, "1.5"), (2.0, "2"), (0.0001, "0.001")],
)
def test_format_seconds_keeps_at_most_three_decimals(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_ratelimit_header_uses_the_separator() -> None:
    assert ratelimit_header(20, 3, 0.734) == "limit=20, remaining=3, reset=0.734"
    assert ratelimit_header(100, 100, 1.0, ";") == "limit=100; remaining=100; reset=1"


@pytest.mark.parametrize(
    ("reset", "value"), [(0.2, "1"), (1.0, "1"), (1.0004, "1"), (1.001, "2"), (2.5, "3")]
)
def test_retry_after_rounds_the_reset_up(reset: float, value: str) -> None:
    assert retry_after(reset) == value


def test_rate_limited_body_is_the_legacy_shape_and_says_which_limit() -> None:
    assert rate_limited_body(20, 0.7346, 1.0) == {
        "error": {
            "rate_reset": 0.735,
            "message": "API call count exceeded for this period (API key limit)",
            "rate_limit": 20,
            "rate_window": 1,
            "rate_limit_type": "api_key",
            "endpoint_group": None,
        }
    }
    org = rate_limited_body(60, 1, 1, limit_type="organization", group="GET sequence")
    assert org["error"]["message"] == (
        "API call count exceeded for this period (organization limit, endpoint group GET sequence)"
    )
    assert (org["error"]["rate_limit_type"], org["error"]["endpoint_group"]) == (
        "organization",
        "GET sequence",
    )
    assert rate_limited_body(20, 1, 0.5)["error"]["rate_window"] == 0.5


def test_window_starts_at_the_first_request_and_counts() -> None:
    limiter = FixedWindowLimiter(limit=2, window=1.0)
    window = limiter.current(KEY, now=10.0)
    assert window.end == 11.0
    assert window.reset_in(10.25) == 0.75
    assert not limiter.is_exhausted(window)
    window.count += 1
    window.count += 1
    assert limiter.is_exhausted(window)
    assert limiter.remaining(window) == 0
    # Still the same window until it ends; a refused request is not counted by the limiter.
    assert limiter.current(KEY, now=10.99) is window
    assert window.count == 2


def test_a_new_window_starts_at_the_first_request_after_the_last_ended() -> None:
    limiter = FixedWindowLimiter(limit=2, window=1.0)
    first = limiter.current(KEY, now=10.0)
    first.count = 2
    second = limiter.current(KEY, now=12.5)
    assert second is not first
    assert (second.end, second.count) == (13.5, 0)


def test_windows_are_per_key_and_group() -> None:
    limiter = FixedWindowLimiter(limit=1, window=1.0)
    limiter.current(KEY, 0.0).count = 1
    assert limiter.current(("other-key", KEY[1]), 0.0).count == 0
    assert limiter.current((KEY[0], "POST sequence_subscription"), 0.0).count == 0


def test_no_limit_never_refuses_but_reports_a_big_limit() -> None:
    limiter = FixedWindowLimiter(limit=None, window=1.0)
    window = limiter.current(KEY, 0.0)
    window.count = 5_000
    assert not limiter.is_exhausted(window)
    assert limiter.header_limit == UNLIMITED
    assert limiter.remaining(window) == UNLIMITED - 5_000


def test_reset_is_never_zero() -> None:
    window = FixedWindowLimiter(limit=1, window=1.0).current(KEY, 0.0)
    assert window.reset_in(5.0) == 0.001


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (-1, 1.0), (5, 0.0), (5, -1.0)])
def test_bad_settings_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate_"):
        FixedWindowLimiter(limit, window)


def test_organization_windows_count_every_key_and_report_the_closest_limit() -> None:
    limits = RateLimits(2, 1.0, organization_limit=3)
    a, b = limits.current("a", "GET x", 0.0), limits.current("b", "GET x", 0.0)
    assert a.org is b.org  # one organization window per group, whatever the key
    limits.count(a)
    assert limits.closest(a) == (limits.key, a.key)  # key: 1 left, organization: 2
    limits.count(b)
    limits.count(b)
    assert limits.closest(a) == (limits.org, a.org)  # organization: 0 left, key a: 1
    breach = limits.breach(a)
    assert breach is not None
    assert breach.limit_type == "organization"
    over_key = limits.breach(b)
    assert over_key is not None
    assert over_key.limit_type == "api_key"  # b is over its own limit too: said first


def test_without_an_organization_limit_only_keys_count() -> None:
    limits = RateLimits(1, 1.0, organization_limit=None)
    windows = limits.current("a", "GET x", 0.0)
    assert windows.org is None
    limits.count(windows)
    breach = limits.breach(windows)
    assert breach is not None
    assert breach.limit_type == "api_key"
