"""FanOut on its own: any model, any page fetcher, any host; no resource, no HTTP."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import attrs
import pytest

import close_async
from close_async._fanout import FanOut, Host, Job, Limiter
from close_async._pagination import FetchPage, PageOf


@attrs.frozen
class Note:
    """A model of another endpoint family: FanOut knows nothing about subscriptions."""

    id: str
    owner: str


class Notes:
    """An in-memory list per owner, fetched page by page, recording the requests."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.by_owner = {
            owner: [Note(f"{owner}-{i}", owner) for i in range(n)] for owner, n in sizes.items()
        }
        self.requests: list[tuple[str, int]] = []
        self.in_flight = self.peak = 0

    def fetcher_for(self, owner: str, limiter: Limiter) -> FetchPage[Note]:
        async def fetch(skip: int, size: int) -> PageOf[Note]:
            async with limiter:
                self.requests.append((owner, skip))
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                try:
                    await asyncio.sleep(0)
                    notes = self.by_owner.get(owner, [])
                    return PageOf(notes[skip : skip + size], skip + size < len(notes))
                finally:
                    self.in_flight -= 1

        return fetch


def host(max_concurrency: int = 8, adopted: list[Any] | None = None) -> Host:
    return Host(
        max_concurrency=max_concurrency,
        adopt=(adopted if adopted is not None else []).append,
        is_closed=lambda: False,
    )


async def test_a_fan_out_over_another_model() -> None:
    notes = Notes({"a": 3, "b": 0, "c": 250, "d": 1})
    adopted: list[Any] = []
    job = Job(ids=["a", "b", "c", "d"], name="owner_ids", fetcher_for=notes.fetcher_for)
    run: FanOut[Note] = FanOut(
        job, host(3, adopted), concurrency=10, page_size=100, prefetch=4, on_error="raise",
        on_progress=None,
    )  # fmt: skip
    assert run.concurrency == 3  # never more than the host allows
    got = [note async for note in run]
    assert sorted(n.id for n in got) == sorted(
        n.id for owner in notes.by_owner.values() for n in owner
    )
    assert len(adopted) == 3  # every worker handed to the host
    assert notes.peak <= 3
    assert run.progress.ids_done == 4
    assert run.progress.items == 254


def test_the_fan_out_imports_no_resource() -> None:
    """No ``_fanout`` <-> ``resources`` cycle: the fan-out depends on no endpoint family."""
    source = Path(close_async.__file__).with_name("_fanout.py").read_text(encoding="utf-8")
    imported = [
        node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    ]
    assert imported
    assert not [name for name in imported if "resources" in name or name == "_models"]


@pytest.mark.parametrize("bad", [0, -1])
def test_concurrency_is_checked_before_anything_runs(bad: int) -> None:
    notes = Notes({})
    job = Job(ids=["a"], name="owner_ids", fetcher_for=notes.fetcher_for)
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        FanOut(
            job, host(), concurrency=bad, page_size=100, prefetch=4, on_error="raise",
            on_progress=None,
        )  # fmt: skip
