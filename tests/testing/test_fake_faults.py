"""Fault decisions: rates, scripts, storms, overrides, determinism."""

from __future__ import annotations

import random

import pytest

from close_async.testing import Fault, FaultRates
from close_async.testing._faults import FaultPlan, as_fault, choose_fault

GROUP = "GET sequence_subscription"
OTHER = "GET sequence"


def plan(
    rates: FaultRates | None = None,
    overrides: dict[str, FaultRates] | None = None,
    seed: int = 0,
    storm_seconds: float = 1.0,
) -> FaultPlan:
    return FaultPlan(rates or FaultRates(), overrides or {}, random.Random(seed), storm_seconds)


def test_choose_fault_walks_the_cumulative_probabilities() -> None:
    rates = FaultRates(
        fail_503=0.1, fail_502_html=0.1, fail_429_storm=0.1, fail_drop=0.1, fail_stall=0.1
    )
    assert [choose_fault(rates, d) for d in (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.99)] == [
        "503",
        "502_html",
        "429_storm",
        "drop",
        "stall",
        None,
        None,
    ]
    assert choose_fault(FaultRates(), 0.0) is None
    assert choose_fault(FaultRates(fail_drop=1.0), 0.999) == "drop"


@pytest.mark.parametrize(
    "kwargs", [{"fail_503": -0.1}, {"fail_stall": 1.5}, {"fail_503": 0.6, "fail_drop": 0.6}]
)
def test_fault_rates_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"fail_|sum"):
        FaultRates(**kwargs)


def test_fault_constructors() -> None:
    assert as_fault("503") == Fault("503")
    assert as_fault(Fault.rate_limited(2.5)) == Fault("429", reset=2.5)
    assert Fault.rate_limited(1, ratelimit_header=False).ratelimit_header is False
    assert Fault.response(403).body == {"error": "Injected error 403"}
    assert Fault.response(500, {"error": "boom"}) == Fault(
        "response", status=500, body={"error": "boom"}
    )
    with pytest.raises(ValueError, match="unknown fault kind"):
        as_fault("504")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reset"):
        Fault.rate_limited(0)
    with pytest.raises(ValueError, match="status"):
        Fault.response(99)


def test_scripted_faults_come_in_order_for_their_group_only() -> None:
    faults = plan()
    faults.inject(GROUP, ["503", "drop", Fault.response(500)])
    assert faults.pending() == faults.pending(GROUP) == 3
    assert faults.next_fault(OTHER, 0.0) is None
    assert [faults.next_fault(GROUP, 0.0) for _ in range(4)] == [
        Fault("503"),
        Fault("drop"),
        Fault.response(500),
        None,
    ]
    assert faults.pending() == 0


def test_a_storm_answers_429_until_it_ends() -> None:
    faults = plan(storm_seconds=2.0)
    faults.inject(GROUP, ["429_storm"])
    first = faults.next_fault(GROUP, 10.0)
    assert first == Fault("429_storm", reset=2.0)
    during = faults.next_fault(GROUP, 11.5)
    assert during is not None
    assert (during.kind, during.reset) == ("429_storm", 0.5)
    assert faults.next_fault(OTHER, 11.5) is None
    assert faults.next_fault(GROUP, 12.0) is None


def test_clear_forgets_scripts_and_storms() -> None:
    faults = plan()
    faults.inject(GROUP, ["429_storm", "503"])
    faults.next_fault(GROUP, 0.0)
    faults.clear()
    assert faults.pending() == 0
    assert faults.next_fault(GROUP, 0.1) is None


def test_random_faults_use_the_group_override_before_the_default() -> None:
    faults = plan(FaultRates(fail_503=1.0), {OTHER: FaultRates()})
    assert faults.next_fault(GROUP, 0.0) == Fault("503")
    assert faults.next_fault(OTHER, 0.0) is None


def test_a_random_storm_starts_a_storm() -> None:
    faults = plan(overrides={GROUP: FaultRates(fail_429_storm=1.0)}, storm_seconds=1.0)
    assert faults.next_fault(GROUP, 0.0) == Fault("429_storm", reset=1.0)
    during = faults.next_fault(GROUP, 0.25)
    assert during is not None
    assert during.reset == 0.75


def test_random_faults_are_reproducible_from_the_seed() -> None:
    rates = FaultRates(fail_503=0.3, fail_drop=0.2)

    def kinds(seed: int) -> list[str | None]:
        faults = plan(rates, seed=seed)
        return [(f.kind if (f := faults.next_fault(GROUP, 0.0)) else None) for _ in range(200)]

    assert kinds(1) == kinds(1)
    assert kinds(1) != kinds(2)
    assert {"503", "drop", None} == set(kinds(1))


def test_storm_seconds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="storm_seconds"):
        plan(storm_seconds=0)
