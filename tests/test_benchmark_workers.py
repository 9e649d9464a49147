"""Case (h)'s arithmetic: when were the survivors back at the limit, and who did what share.

The case itself runs minutes of rate-limited time with worker processes and a redis-server
(``python benchmarks/run.py --cases g``); its analysis is pure and checked here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from _cases_workers import back_at_limit, shares


def test_back_at_the_limit_is_the_end_of_the_first_full_span_after_the_kill() -> None:
    # 20 per second before the kill at t=10, 4 per second until t=15, then 20 again.
    before = [n / 20 for n in range(200)]
    squeezed = [10 + n / 4 for n in range(1, 20)]
    after = [15 + n / 20 for n in range(1, 41)]
    found = back_at_limit(before + squeezed + after, after=10.0, limit=20, window=1.0)
    # 90% of 20 is 18: the first second-long span holding 18 ends at the 18th fast one,
    # 15.9 (the squeezed ones are too sparse to help): 5.9 s after the kill.
    assert found == pytest.approx(5.9)


def test_successes_before_the_kill_do_not_count() -> None:
    burst = [9.5 + n / 100 for n in range(30)]  # a full span, but before the kill
    assert back_at_limit(burst, after=10.0, limit=20, window=1.0) is None


def test_a_fleet_that_never_gets_back_says_so() -> None:
    slow = [10 + n / 4 for n in range(1, 100)]
    assert back_at_limit(slow, after=10.0, limit=20, window=1.0) is None


def test_shares_of_the_successes() -> None:
    assert shares([25, 25, 30, 20]) == "25/25/30/20%"
    assert shares([0, 0]) == "-"
