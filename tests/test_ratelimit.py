"""The RateLimit / Retry-After parsers: every format seen in the docs and live."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from close_async._ratelimit import (
    RateLimitInfo,
    _parse_one,
    parse_rate_limit,
    parse_retry_after,
    server_wait,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("limit=100, remaining=50, reset=5", RateLimitInfo(100, 50, 5)),  # as documented
        ("limit=100; remaining=100; reset=1", RateLimitInfo(100, 100, 1)),  # as seen live
        ("limit=20, remaining=0, reset=0.734", RateLimitInfo(20, 0, 0.734)),  # decimal reset
        ("reset=2.5, limit=10, remaining=3", RateLimitInfo(10, 3, 2.5)),  # any order
        ("LIMIT=10;Remaining=3 ;  RESET = 2", RateLimitInfo(10, 3, 2)),  # any case, spaces
        ("limit=10, remaining=3", RateLimitInfo(10, 3, None)),  # no reset
        ('"default";r=7;t=3', RateLimitInfo(None, 7, 3)),  # the IETF draft's short keys
        ("limit=10, remaining=abc, reset=-1", RateLimitInfo(10, None, None)),  # garbage dropped
        ("limit=10, remaining=nan, reset=inf", RateLimitInfo(10, None, None)),
    ],
)
def test_parse_rate_limit_formats(header: str, expected: RateLimitInfo) -> None:
    assert parse_rate_limit(header) == expected
    assert parse_rate_limit([header]) == expected  # as aiohttp's getall() gives it
    assert _parse_one(header) == expected  # the general parser agrees with the usual form's


@pytest.mark.parametrize(
    "header",
    [
        "limit=1., remaining=0, reset=0",
        "limit=100,remaining=99,reset=0.000001",
        " limit = 7 ; remaining = 7 ; reset = 60 ",
        "limit=100, remaining=50, reset=5, extra=1",  # not the usual form: the general way
        "limit=100, remaining=50",
    ],
)
def test_the_usual_form_and_the_general_parser_agree(header: str) -> None:
    assert parse_rate_limit([header]) == _parse_one(header)


@pytest.mark.parametrize("header", [None, "", "garbage", "foo=1, bar=2", []])
def test_parse_rate_limit_unreadable_is_none(header: str | list[str] | None) -> None:
    assert parse_rate_limit(header) is None


def test_several_limits_the_tightest_binds() -> None:
    info = parse_rate_limit(["limit=100, remaining=90, reset=1", "limit=10, remaining=2, reset=4"])
    assert info == RateLimitInfo(10, 2, 4)


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), (" 2 ", 2.0), ("0", 0.0), ("-1", None), ("x", None)]
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None  # no clock given


def test_server_wait_prefers_ratelimit_reset_over_retry_after() -> None:
    headers = CIMultiDict({"ratelimit": "limit=5, remaining=0, reset=0.25", "Retry-After": "1"})
    info, wait = server_wait(headers)
    assert info == RateLimitInfo(5, 0, 0.25)
    assert wait == 0.25


def test_server_wait_falls_back_to_ratelimit_reset_then_retry_after() -> None:
    assert server_wait(CIMultiDict({"RateLimit-Reset": "3"})) == (None, 3.0)
    assert server_wait(CIMultiDict({"Retry-After": "2"})) == (None, 2.0)
    info, wait = server_wait(CIMultiDict({"RateLimit": "limit=5, remaining=1", "Retry-After": "2"}))
    assert info == RateLimitInfo(5, 1, None)
    assert wait == 2.0
    assert server_wait(CIMultiDict()) == (None, None)


def test_server_wait_accepts_a_plain_mapping() -> None:
    assert server_wait({"RateLimit": "limit=1, remaining=0, reset=1"})[1] == 1.0
