"""Sequences end to end against the fake Close."""

from __future__ import annotations

import inspect

import pytest

from close_async import (
    NOT_GIVEN,
    CloseClient,
    NotFoundError,
    Schedule,
    ScheduleRange,
    Sequence,
    SequenceStatus,
    SequenceStep,
    StepType,
)
from close_async.testing import FakeClose


async def test_list_all_sequences_across_pages(fake: FakeClose, close: CloseClient) -> None:
    for _ in range(6):
        fake.add_sequence()
    expected = [s["id"] for s in fake.state.sequences()]
    got = [s async for s in close.sequences.list(page_size=3)]
    assert [s.id for s in got] == expected
    assert all(isinstance(s, Sequence) for s in got)


async def test_create_with_models_get_update_delete(close: CloseClient) -> None:
    created = await close.sequences.create(
        name="Trial follow-up",
        timezone="America/Los_Angeles",
        schedule=Schedule(ranges=(ScheduleRange(weekday=1, start="09:00", end="16:59"),)),
        steps=[
            SequenceStep(step_type=StepType.CALL, delay=0, required=True),
            {"step_type": "email", "delay": 86400, "email_template_id": "tmpl_1"},
        ],
    )
    assert created.name == "Trial follow-up"
    assert created.timezone == "America/Los_Angeles"
    assert created.schedule is not None
    assert created.schedule.ranges[0].end == "16:59"
    assert [s.step_type for s in created.steps] == [StepType.CALL, StepType.EMAIL]
    assert all(s.id for s in created.steps)

    fetched = await close.sequences.get(created.id)
    assert fetched.id == created.id
    assert fetched.subscription_counts_by_status is not None

    kept = created.steps[1].id
    assert kept is not None
    renamed = await close.sequences.update(
        created.id, name="Renamed", steps=[{"id": kept}], timezone=NOT_GIVEN
    )
    assert renamed.name == "Renamed"
    assert renamed.timezone == "America/Los_Angeles"  # not sent, not changed
    assert [s.id for s in renamed.steps] == [kept]  # the step left out was deleted

    # Setting a sequence's status is not documented by Close: no argument, but extra= works.
    assert "status" not in inspect.signature(close.sequences.update).parameters
    assert "status" not in inspect.signature(close.sequences.create).parameters
    paused = await close.sequences.update(created.id, extra={"status": "paused"})
    assert paused.status is SequenceStatus.PAUSED

    await close.sequences.delete(created.id)
    with pytest.raises(NotFoundError):
        await close.sequences.get(created.id)


async def test_bad_arguments_send_nothing(fake: FakeClose, close: CloseClient) -> None:
    with pytest.raises(TypeError, match="name must be a string"):
        await close.sequences.create(name=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="steps must be a list"):
        await close.sequences.create(name="x", steps="email")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="schedule must be a Schedule"):
        await close.sequences.create(name="x", schedule=["mon"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nothing to update"):
        await close.sequences.update("seq_1")
    with pytest.raises(ValueError, match="page_size"):
        close.sequences.list(page_size=500)
    assert fake.stats.requests == 0
