"""Fault injection: seeded random faults per endpoint group, scripted faults, 429 storms.

Decisions only: this module says which fault a request gets; the server carries it out.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

FaultKind = Literal["503", "502_html", "429", "429_storm", "drop", "drop_after", "stall"]
"""A fault by name: `503` JSON error; `502_html` nginx-style HTML 502; `429` one injected 429;
`429_storm` a run of 429s on the endpoint group for `storm_seconds`; `drop` the connection
closed without an answer (and without acting); `drop_after` the request carried out (a
subscription created, changed or deleted), then the connection closed before the answer
left, as when a network fails on the way back (scripted only, not a random rate); `stall`
an answer only after `stall_seconds`."""

FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
DEFAULT_429_RESET = 0.1


@dataclass(frozen=True)
class Fault:
    """Describe one injected fault; plain kind names (`"503"`, `"drop"`...) work as well.

    Use `Fault.rate_limited(...)` for a 429 with a chosen reset, or with `Retry-After` only,
    and `Fault.response(status, body)` for any status with a JSON body (a 500, a 403...).
    """

    kind: FaultKind | Literal["response"]
    reset: float = DEFAULT_429_RESET
    ratelimit_header: bool = True
    status: int = 500
    body: Any = None

    @classmethod
    def rate_limited(
        cls, reset: float = DEFAULT_429_RESET, *, ratelimit_header: bool = True
    ) -> Fault:
        """Return a 429 fault; `ratelimit_header=False` sends `Retry-After` without `RateLimit`."""
        if reset <= 0:
            raise ValueError("reset must be > 0")
        return cls("429", reset=reset, ratelimit_header=ratelimit_header)

    @classmethod
    def response(cls, status: int, body: Any = None) -> Fault:
        """Return a fault answering `status` with `body` as JSON (default `{"error": ...}`)."""
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if body is None:
            body = {"error": f"Injected error {status}"}
        return cls("response", status=status, body=body)


def as_fault(value: FaultKind | Fault) -> Fault:
    """Return `value` as a `Fault`, checking a kind name."""
    if isinstance(value, Fault):
        return value
    if value not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {value!r}; expected one of {FAULT_KINDS}")
    return Fault(value)


@dataclass(frozen=True)
class FaultRates:
    """Give the probability (0..1, at most 1 in total) that a request gets each random fault."""

    fail_503: float = 0.0
    fail_502_html: float = 0.0
    fail_429_storm: float = 0.0
    fail_drop: float = 0.0
    fail_stall: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if not 0.0 <= getattr(self, field.name) <= 1.0:
                raise ValueError(f"{field.name} must be between 0 and 1")
        if self.total > 1.0 + 1e-9:
            raise ValueError("fault probabilities must sum to at most 1")

    @property
    def total(self) -> float:
        """Return the probability that a request gets any fault."""
        return float(sum(getattr(self, field.name) for field in fields(self)))


# FaultRates field -> the fault it draws, in the order the cumulative draw checks them.
_RATE_KINDS: tuple[tuple[str, FaultKind], ...] = (
    ("fail_503", "503"),
    ("fail_502_html", "502_html"),
    ("fail_429_storm", "429_storm"),
    ("fail_drop", "drop"),
    ("fail_stall", "stall"),
)


def choose_fault(rates: FaultRates, draw: float) -> FaultKind | None:
    """Map a uniform draw in [0, 1) to a fault kind (or None) according to `rates`."""
    threshold = 0.0
    for name, kind in _RATE_KINDS:
        threshold += getattr(rates, name)
        if draw < threshold:
            return kind
    return None


class FaultPlan:
    """Decide, request by request, which fault (if any) an endpoint group gets.

    Order of precedence: the group's scripted faults (first in, first out), then a running
    429 storm, then a seeded random draw with the group's rates (or the default rates).
    """

    def __init__(
        self,
        rates: FaultRates,
        overrides: Mapping[str, FaultRates],
        rng: random.Random,
        storm_seconds: float,
    ) -> None:
        if storm_seconds <= 0:
            raise ValueError("storm_seconds must be > 0")
        # None stands for "no random faults", checked per request without summing the rates.
        self._rates = rates if rates.total else None
        self._overrides = {group: (r if r.total else None) for group, r in overrides.items()}
        self._rng = rng
        self._storm_seconds = storm_seconds
        self._scripts: dict[str, deque[Fault]] = {}
        self._storms: dict[str, float] = {}
        self._plain = {kind: Fault(kind) for kind in FAULT_KINDS}

    def inject(self, group: str, faults: Iterable[FaultKind | Fault]) -> None:
        """Queue faults for the next requests of `group`, after any already queued."""
        queued = [as_fault(f) for f in faults]
        self._scripts.setdefault(group, deque()).extend(queued)

    def pending(self, group: str | None = None) -> int:
        """Return how many scripted faults are still queued (for one group, or all)."""
        if group is not None:
            return len(self._scripts.get(group, ()))
        return sum(len(script) for script in self._scripts.values())

    def clear(self) -> None:
        """Drop queued faults and stop running storms."""
        self._scripts.clear()
        self._storms.clear()

    def next_fault(self, group: str, now: float) -> Fault | None:
        """Return the fault for a request of `group` arriving at `now`, or None."""
        script = self._scripts.get(group)
        if script:
            fault = script.popleft()
            return self._start_storm(group, now) if fault.kind == "429_storm" else fault
        storm_end = self._storms.get(group)
        if storm_end is not None:
            if now < storm_end:
                return Fault("429_storm", reset=storm_end - now)
            del self._storms[group]
        rates = self._overrides.get(group, self._rates)
        if rates is None:  # The common case: no draw, so no RNG state consumed.
            return None
        kind = choose_fault(rates, self._rng.random())
        if kind is None:
            return None
        return self._start_storm(group, now) if kind == "429_storm" else self._plain[kind]

    def _start_storm(self, group: str, now: float) -> Fault:
        self._storms[group] = now + self._storm_seconds
        return Fault("429_storm", reset=self._storm_seconds)
