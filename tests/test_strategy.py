"""The cost model of ``strategy="auto"`` and Close's maximum ``_skip``, as plain functions."""

from __future__ import annotations

import copy
import pickle

import pytest

from close_async import BadRequestError, MaxSkipError
from close_async._maxskip import (
    as_max_skip_error,
    known_max_skip,
    last_skip,
    max_skip_error,
    past_max_skip,
)
from close_async._strategy import (
    BY_SEQUENCE,
    PER_ID,
    by_sequence_requests,
    choose,
    pages,
    plan_after_listing,
    plan_before_lookups,
)


def test_pages_and_last_skip() -> None:
    assert [pages(n, 100) for n in (0, 1, 100, 101, 350)] == [0, 1, 1, 2, 4]
    assert [last_skip(n, 100) for n in (0, 1, 100, 101, 350)] == [0, 0, 0, 100, 300]
    assert not past_max_skip(350, 100, None)
    assert not past_max_skip(350, 100, 300)
    assert past_max_skip(350, 100, 299)


def test_by_sequence_requests_are_the_look_ups_and_the_pages_the_counts_imply() -> None:
    sizes = {"seq_a": 0, "seq_b": 100, "seq_c": 101, "seq_d": 3500}
    assert by_sequence_requests(sizes, page_size=100, lookups=5) == 5 + 1 + 1 + 2 + 35


def test_no_look_up_for_an_input_without_length_or_a_single_id() -> None:
    plan = plan_before_lookups(None)
    assert plan is not None
    assert plan.strategy == PER_ID
    assert "no length" in plan.reason
    for n in (0, 1):
        plan = plan_before_lookups(n)
        assert plan is not None
        assert plan.strategy == PER_ID
        assert plan.estimates == {PER_ID: n}
    assert plan_before_lookups(2) is None


def test_few_ids_go_per_id_before_any_count_is_fetched() -> None:
    # 20 sequences listed in 1 request: reading them costs at least 41 requests (each its
    # count and at least its first page, even when the count says 0).
    plan = plan_after_listing(41, 20, 1)
    assert plan is not None
    assert plan.strategy == PER_ID
    assert plan.estimates == {PER_ID: 41, BY_SEQUENCE: 41}
    assert "at least 41" in plan.reason
    assert plan_after_listing(42, 20, 1) is None
    # The floor is what choose() would find with every count at 0: never more.
    sizes: dict[str, int | None] = {f"seq_{i}": 0 for i in range(20)}
    assert choose(42, sizes, page_size=100, list_requests=1, max_skip=None).estimates == {
        PER_ID: 42,
        BY_SEQUENCE: 41,
    }


def test_auto_takes_the_cheaper_read() -> None:
    sizes: dict[str, int | None] = {f"seq_{i}": 300 for i in range(20)}  # 3 pages each
    # By sequence: 1 list + 20 counts + 60 pages = 81 requests.
    plan = choose(5000, sizes, page_size=100, list_requests=1, max_skip=None)
    assert plan.strategy == BY_SEQUENCE
    assert plan.estimates == {PER_ID: 5000, BY_SEQUENCE: 81}
    assert "81 requests (21 look-ups, 60 pages of 20 sequences)" in plan.reason
    plan = choose(81, sizes, page_size=100, list_requests=1, max_skip=None)
    assert plan.strategy == PER_ID  # a tie goes per ID: it needs no look-up
    assert plan.estimates == {PER_ID: 81, BY_SEQUENCE: 81}


def test_a_plan_is_a_value_like_the_models() -> None:
    sizes: dict[str, int | None] = {f"seq_{i}": 300 for i in range(20)}
    plan = choose(5000, sizes, page_size=100, list_requests=1, max_skip=None)
    for clone in (pickle.loads(pickle.dumps(plan)), copy.deepcopy(plan)):
        assert clone == plan
        assert hash(clone) == hash(plan)
    with pytest.raises(TypeError):
        plan.estimates[PER_ID] = 0  # type: ignore[index]


def test_an_unknown_count_rules_reading_by_sequence_out() -> None:
    sizes = {"seq_a": 10, "seq_b": None}
    plan = choose(5000, sizes, page_size=100, list_requests=1, max_skip=None)
    assert plan.strategy == PER_ID
    assert "seq_b" in plan.reason


def test_auto_never_plans_a_read_past_a_known_max_skip() -> None:
    sizes: dict[str, int | None] = {"seq_small": 10, "seq_big": 30_001}
    plan = choose(50_000, sizes, page_size=100, list_requests=1, max_skip=None)
    assert plan.strategy == BY_SEQUENCE
    plan = choose(50_000, sizes, page_size=100, list_requests=1, max_skip=29_999)
    assert plan.strategy == PER_ID
    assert "seq_big has 30,001 subscriptions" in plan.reason
    assert "_skip=30,000, past the 29,999 Close accepts" in plan.reason
    plan = choose(50_000, sizes, page_size=100, list_requests=1, max_skip=30_000)
    assert plan.strategy == BY_SEQUENCE  # 30,000 itself is accepted


def bad_request(message: str) -> BadRequestError:
    return BadRequestError(
        message, status=400, method="GET", path="sequence_subscription/", body={"error": message}
    )


def test_a_400_about_skip_on_a_later_page_is_a_max_skip_error() -> None:
    refused = bad_request(
        "The skip you set is larger than the maximum skip for this resource (max_skip = 200)."
    )
    error = as_max_skip_error(
        refused,
        path="sequence_subscription/",
        filters={"sequence_id": "seq_1"},
        skip=300,
        hint="Read it per lead.",
    )
    assert isinstance(error, MaxSkipError)
    assert isinstance(error, BadRequestError)
    assert (error.status, error.skip, error.max_skip) == (400, 300, 200)
    assert error.filters == {"sequence_id": "seq_1"}
    assert error.body == refused.body
    message = str(error)
    assert "sequence_subscription/?sequence_id=seq_1" in message  # which list
    assert "_skip=300" in message
    assert "max_skip = 200" in message
    assert message.endswith("Read it per lead.")  # what to do
    assert known_max_skip(error) == 200


def test_a_skip_message_without_a_number_still_says_what_is_known() -> None:
    error = as_max_skip_error(
        bad_request("Skip too large."), path="p/", filters={}, skip=500, hint=""
    )
    assert error is not None
    assert error.max_skip is None
    assert known_max_skip(error) == 499


@pytest.mark.parametrize(
    ("message", "skip"),
    [("The skip you set is too large.", 0), ("lead_id: not a valid id", 300)],
    ids=["first page", "another 400"],
)
def test_other_400s_stay_what_they_are(message: str, skip: int) -> None:
    assert (
        as_max_skip_error(bad_request(message), path="p/", filters={}, skip=skip, hint="") is None
    )


def test_a_read_known_to_be_refused_is_not_sent() -> None:
    error = max_skip_error(
        path="sequence_subscription/",
        filters={"sequence_id": "seq_1"},
        skip=29_900,
        max_skip=10_000,
        hint="Read it per lead.",
    )
    assert "not sent" in str(error)
    assert error.body is None
    assert (error.skip, error.max_skip) == (29_900, 10_000)
