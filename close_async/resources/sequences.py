"""Sequences ("Workflows" in Close's UI): ``/sequence/``.

https://developer.close.com/api/resources/sequences
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._fields import check_fields
from .._models import Schedule, Sequence, SequenceStep
from .._pagination import Items
from .._params import (
    NOT_GIVEN,
    NotGiven,
    build_body,
    check_id,
    check_limit,
    check_page_size,
    check_text,
)
from ._base import Resource

__all__ = ["Sequences"]

_StepLike = SequenceStep | Mapping[str, Any]
_ScheduleLike = Schedule | Mapping[str, Any]


def _steps(steps: Iterable[_StepLike]) -> list[_StepLike]:
    if isinstance(steps, str | bytes | Mapping) or not isinstance(steps, Iterable):
        raise TypeError("steps must be a list of SequenceStep objects or dicts")
    out = list(steps)
    for step in out:
        if not isinstance(step, SequenceStep | Mapping):
            raise TypeError(f"each step must be a SequenceStep or a dict, not {step!r}")
    return out


def _schedule(schedule: _ScheduleLike | None) -> _ScheduleLike | None:
    if schedule is not None and not isinstance(schedule, Schedule | Mapping):
        raise TypeError(f"schedule must be a Schedule, a dict or None, not {schedule!r}")
    return schedule


class Sequences(Resource):
    """List, read, create, change and delete sequences."""

    collection = "sequence/"

    def list(
        self,
        *,
        page_size: int = 100,
        limit: int | None = None,
        fields: Iterable[str] | None = None,
    ) -> Items[Sequence]:
        """Iterate over the organization's sequences, across all pages.

        ``fields`` asks Close for those fields only (``id`` is always added): the models
        then hold only those, and reading another raises ``FieldNotLoadedError``.
        """
        size = check_page_size(page_size)
        cap = check_limit(limit)
        wanted = check_fields(fields, Sequence)
        return self._iterate(Sequence, {}, page_size=size, limit=cap, fields=wanted)

    async def get(self, id: str, *, fields: Iterable[str] | None = None) -> Sequence:
        """Fetch one sequence by ID (with its ``subscription_counts_by_status``); ``fields``
        as in ``list``."""
        return await self._get(Sequence, id, fields=check_fields(fields, Sequence))

    async def create(
        self,
        *,
        name: str,
        timezone: str | None = None,
        schedule: _ScheduleLike | None = None,
        steps: Iterable[_StepLike] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> Sequence:
        """Create a sequence.

        ``timezone`` is an IANA name (``"America/Los_Angeles"``); ``schedule`` a
        ``Schedule`` or ``{"ranges": [{"weekday": 1, "start": "09:00", "end": "16:59"}]}``
        (Close's example; its weekday numbering is not documented by Close); ``steps`` a
        list of ``SequenceStep`` or dicts, in order. A sequence's ``status`` comes back in
        its answers, but setting it is not documented by Close, so there is no argument for
        it: ``extra={"status": ...}`` sends it at your own risk.
        """
        fields: dict[str, object] = {"name": check_text(name, "name"), "steps": _steps(steps)}
        if timezone is not None:
            fields["timezone"] = check_text(timezone, "timezone")
        if schedule is not None:
            fields["schedule"] = _schedule(schedule)
        return await self._create(Sequence, build_body(fields, extra))

    async def update(
        self,
        id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        timezone: str | NotGiven = NOT_GIVEN,
        schedule: _ScheduleLike | NotGiven | None = NOT_GIVEN,
        steps: Iterable[_StepLike] | NotGiven = NOT_GIVEN,
        extra: Mapping[str, Any] | None = None,
    ) -> Sequence:
        """Change some fields of a sequence; only the arguments given are sent.

        Careful with ``steps``: Close deletes the existing steps the list leaves out. Keep
        a step by listing it as ``{"id": "seqstep_..."}``. Pausing a whole sequence with
        ``status`` is not documented by Close (see ``create``).
        """
        check_id(id)
        fields: dict[str, object] = {
            "name": name if name is NOT_GIVEN else check_text(name, "name"),
            "timezone": timezone if timezone is NOT_GIVEN else check_text(timezone, "timezone"),
            "schedule": schedule if schedule is NOT_GIVEN else _schedule(schedule),
            "steps": steps if steps is NOT_GIVEN else _steps(steps),
        }
        return await self._update(Sequence, id, build_body(fields, extra))

    async def delete(self, id: str) -> None:
        """Delete a sequence."""
        await self._delete(id)
