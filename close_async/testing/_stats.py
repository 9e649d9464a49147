"""Counters of what the fake served, for assertions in tests and benchmark reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeStats:
    """Count requests, answers, 429s and faults; `reset()` zeroes everything but `in_flight`.

    - `requests`: requests received (every one, whatever the answer, dropped ones included);
    - `responses`: answers sent, by status code (a dropped connection sends none);
    - `rate_limited`: 429s from the rate limiter, of which `rate_limited_by["api_key"]` for
      a key's limit and `rate_limited_by["organization"]` for the organization's;
      `injected_429`: 429s from faults;
    - `faults`: injected faults by kind (`503`, `502_html`, `429`, `429_storm` per 429 sent
      during a storm, `drop`, `stall`, `response`);
    - `in_flight`, `peak_in_flight`: requests being handled now, and the most at once;
    - `body_bytes`: bytes of the answers' bodies (UTF-8), what a client downloads less the
      headers;
    - `by_group`: requests per endpoint group (`"GET sequence_subscription"`);
    - `by_path`: requests per URL path; `by_api_key`: authenticated requests per API key or
      OAuth token.
    """

    requests: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0
    rate_limited_by: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    body_bytes: int = 0
    by_group: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    by_api_key: Counter[str] = field(default_factory=Counter)

    @property
    def injected_429(self) -> int:
        """Return the number of 429s sent because of a fault (not the rate limiter)."""
        return self.faults["429"] + self.faults["429_storm"]

    def enter(self) -> None:
        """Record a request starting to be handled."""
        self.requests += 1
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def sent(self, body: str) -> None:
        """Record an answer's body (text, sent as UTF-8)."""
        self.body_bytes += len(body) if body.isascii() else len(body.encode())

    def leave(self) -> None:
        """Record a request finished (answered, dropped or cancelled)."""
        self.in_flight -= 1

    def reset(self) -> None:
        """Zero the counters; requests in flight stay counted as in flight."""
        self.requests = self.rate_limited = self.body_bytes = 0
        counters = (self.responses, self.rate_limited_by, self.faults, self.by_group)
        for counter in (*counters, self.by_path, self.by_api_key):
            counter.clear()
        self.peak_in_flight = self.in_flight

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as plain JSON-ready data."""
        return {
            "requests": self.requests,
            "responses": {str(status): n for status, n in sorted(self.responses.items())},
            "rate_limited": self.rate_limited,
            "rate_limited_by": dict(sorted(self.rate_limited_by.items())),
            "injected_429": self.injected_429,
            "faults": dict(sorted(self.faults.items())),
            "peak_in_flight": self.peak_in_flight,
            "body_bytes": self.body_bytes,
            "by_group": dict(sorted(self.by_group.items())),
            "by_path": dict(sorted(self.by_path.items())),
        }
