"""Fixtures for the command line's tests: a fake Close in a thread, and ways to run the CLI.

The commands call ``asyncio.run``, so in-process tests are plain (sync) test functions and the
fake serves from its own thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from close_async.cli import main
from close_async.testing import FakeClose

REPO = Path(__file__).resolve().parents[2]

StartFake = Callable[..., FakeClose]


class Ran(NamedTuple):
    """What a command did: its exit code and what it printed."""

    code: int
    out: str
    err: str


@pytest.fixture
def fake(fake_close_factory: StartFake) -> FakeClose:
    """A small seeded fake Close (no latency, no rate limit), serving from a thread."""
    return fake_close_factory(leads=40, sequences=4, seed=11)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fake: FakeClose) -> FakeClose:
    """Point the command line at ``fake`` through CLOSE_API_KEY and CLOSE_BASE_URL."""
    point_at(monkeypatch, fake)
    return fake


@pytest.fixture
def big(fake_close_factory: StartFake, monkeypatch: pytest.MonkeyPatch) -> FakeClose:
    """60 leads in 5 sequences, the first lead with 250 more subscriptions (three pages), the
    CLI pointed at it."""
    fake = fake_close_factory(leads=60, sequences=5, seed=4)
    fake.add_subscriptions(lead_id=fake.state.leads()[0].id, count=250)
    point_at(monkeypatch, fake)
    return fake


def point_at(monkeypatch: pytest.MonkeyPatch, fake: FakeClose) -> None:
    """Set CLOSE_API_KEY and CLOSE_BASE_URL for ``fake``."""
    monkeypatch.setenv("CLOSE_API_KEY", fake.api_key)
    monkeypatch.setenv("CLOSE_BASE_URL", fake.url)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run ``close-async`` in this process: ``cli("subscriptions", "get", "sub_1")``."""

    def run(*args: str | Path) -> Ran:
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def subprocess_env(fake: FakeClose | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``close-async`` subprocess, pointed at ``fake`` if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOSE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if fake is not None:
        env.update(CLOSE_API_KEY=fake.api_key, CLOSE_BASE_URL=fake.url)
    env.update(extra)
    return env


def cli_command(*args: str | Path) -> list[str]:
    """The command line that runs ``close-async`` with ``args`` as a subprocess."""
    return [sys.executable, "-m", "close_async.cli", *(str(arg) for arg in args)]


def run_subprocess(
    *args: str | Path, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> Ran:
    """Run ``close-async`` as a subprocess to its end."""
    done = subprocess.run(
        cli_command(*args), env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def lead_ids(fake: FakeClose) -> list[str]:
    """Every lead of ``fake``, in creation order."""
    return [lead.id for lead in fake.state.leads()]


def write_ids(path: Path, ids: Sequence[str]) -> Path:
    """Write an input file of IDs, one a line; return its path."""
    path.write_text("".join(f"{id_}\n" for id_ in ids), encoding="utf-8")
    return path


def journal_ids(path: Path) -> list[str]:
    """The IDs of a journal (``ID<TAB>records`` a line, or just ``ID``)."""
    return [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()]


def expected_ids(fake: FakeClose, leads: Sequence[str]) -> set[str]:
    """The ids of every subscription of ``leads`` in ``fake``."""
    return {sub["id"] for lead in leads for sub in fake.state.subscriptions(lead_id=lead)}


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, checking that every line is whole and is one JSON object."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the last record is cut off"
    records = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(record, dict) for record in records)
    return records
