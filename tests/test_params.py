"""Argument checks: every wrong argument fails with a message naming it."""

from __future__ import annotations

from typing import Any

import pytest

from close_async import NOT_GIVEN, SequenceStep, StepType, SubscriptionStatus
from close_async._params import (
    build_body,
    check_id,
    check_limit,
    check_number,
    check_page_size,
    check_positive,
    check_seconds,
    check_str_list,
    list_filters,
    to_json,
)


@pytest.mark.parametrize("value", ["lead_abc", "sub_8Yx1", "x", "...", ".x", "x.."])
def test_check_id_accepts_ids(value: str) -> None:
    assert check_id(value, "lead_id") == value


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, TypeError, "lead_id must be a string ID, not NoneType"),
        (123, TypeError, "lead_id must be a string ID, not int"),
        (b"lead", TypeError, "not bytes"),
        ("", ValueError, "lead_id must not be empty"),
        ("lead/../x", ValueError, "is not a Close ID"),
        ("lead x", ValueError, "is not a Close ID"),
        ("lead?x=1", ValueError, "is not a Close ID"),
        (".", ValueError, "dot segment"),
        ("..", ValueError, "dot segment"),
    ],
)
def test_check_id_rejects(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_id(value, "lead_id")


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (101, ValueError), ("10", TypeError), (True, TypeError), (1.5, TypeError)],
)
def test_page_size_bounds(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="page_size"):
        check_page_size(value)


def test_page_size_and_limit_accept_good_values() -> None:
    assert check_page_size(1) == 1
    assert check_page_size(100) == 100
    assert check_limit(None) is None
    assert check_limit(0) == 0


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), ("5", TypeError), (False, TypeError)]
)
def test_limit_rejects(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="limit"):
        check_limit(value)


def test_check_positive() -> None:
    assert check_positive(3, "concurrency") == 3
    with pytest.raises(ValueError, match="concurrency must be at least 1, not 0"):
        check_positive(0, "concurrency")
    with pytest.raises(TypeError, match="concurrency must be an int"):
        check_positive(2.0, "concurrency")


@pytest.mark.parametrize(
    ("value", "positive", "error", "match"),
    [
        ("1", False, TypeError, "wait must be a number of seconds, not str"),
        (True, False, TypeError, "wait must be a number of seconds, not bool"),
        (-0.5, False, ValueError, "wait must be a finite number of seconds >= 0, not -0.5"),
        (float("nan"), False, ValueError, ">= 0, not nan"),
        (float("inf"), False, ValueError, ">= 0, not inf"),
        (0, True, ValueError, "wait must be a finite number of seconds > 0, not 0"),
    ],
)
def test_check_seconds_rejects(
    value: object, positive: bool, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        check_seconds(value, "wait", positive=positive)


def test_check_seconds_and_number_accept_good_values() -> None:
    assert check_seconds(0, "wait") == 0.0
    assert isinstance(check_seconds(2, "wait", positive=True), float)
    assert check_number(0.25, "jitter") == 0.25
    with pytest.raises(ValueError, match="jitter must be a finite number >= 0, not -1"):
        check_number(-1, "jitter")


def test_list_filters_need_one() -> None:
    with pytest.raises(ValueError, match="at least one of lead_id, contact_id, sequence_id"):
        list_filters(lead_id=None, contact_id=None, sequence_id=None)
    assert list_filters(lead_id="lead_1", contact_id=None, sequence_id="seq_1") == {
        "lead_id": "lead_1",
        "sequence_id": "seq_1",
    }
    with pytest.raises(ValueError, match="contact_id must not be empty"):
        list_filters(lead_id="lead_1", contact_id="")


def test_build_body_leaves_out_not_given_but_keeps_none() -> None:
    body = build_body(
        {"status": SubscriptionStatus.PAUSED, "sender_name": NOT_GIVEN, "x": None}, None
    )
    assert body == {"status": "paused", "x": None}


def test_build_body_extra_fields() -> None:
    assert build_body({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="a given both"):
        build_body({"a": 1}, {"a": 2})


def test_to_json_models_drop_unset_fields() -> None:
    step = SequenceStep(step_type=StepType.CALL, delay=0, required=True)
    assert to_json([step, {"id": "seqstep_1"}]) == [
        {"step_type": "call", "delay": 0, "required": True},
        {"id": "seqstep_1"},
    ]


def test_not_given_is_falsy_and_reads_well() -> None:
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


@pytest.mark.parametrize("value", ["user_1", 5, None])
def test_str_list_rejects_non_lists(value: Any) -> None:
    with pytest.raises(TypeError, match="calls_assigned_to must be a list of IDs"):
        check_str_list(value, "calls_assigned_to")


def test_str_list_checks_items() -> None:
    assert check_str_list(("user_1", "user_2"), "calls_assigned_to") == ["user_1", "user_2"]
    with pytest.raises(TypeError, match="calls_assigned_to item"):
        check_str_list(["user_1", 2], "calls_assigned_to")
