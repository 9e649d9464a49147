"""``close-async demo`` in-process: its temporary folder, --out and --resume, Ctrl-C."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from close_async.cli import _demo
from close_async.cli._export import ExportResult

from .conftest import Ran, jsonl_records

CLI = Callable[..., Ran]
SMALL = ("demo", "--leads", "30", "--rate-limit", "1000", "--latency", "0", "--no-progress")


def test_without_out_the_temporary_folder_is_removed(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ran = cli(*SMALL)
    assert ran.code == 0, ran.err
    assert "of 30 leads" in ran.out
    assert "removed with its temporary folder (pass --out FILE to keep it)" in ran.out
    assert list(tmp_path.iterdir()) == []


def test_with_out_the_output_is_kept_and_resume_finishes_it(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    ran = cli(*SMALL, "--out", out)
    assert ran.code == 0, ran.err
    assert str(out) in ran.out
    records = jsonl_records(out)
    again = cli(*SMALL, "--out", out)
    assert again.code == 2
    assert "pass --resume" in again.err
    resumed = cli(*SMALL, "--out", out, "--resume")
    assert resumed.code == 0, resumed.err
    assert jsonl_records(out) == records  # all done already: nothing repeated
    assert cli(*SMALL, "--resume").code == 2  # nothing to resume without --out


@pytest.mark.parametrize(
    ("out", "hint"),
    [
        (True, "run the same command with --resume to finish"),
        (False, "pass --out FILE to keep one that --resume can finish"),
    ],
)
def test_ctrl_c_says_how_to_finish(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: bool, hint: str
) -> None:
    async def interrupted(close: Any, job: Any) -> ExportResult:
        result = ExportResult(
            out=job.out,
            ids_done=3,
            ids_failed=0,
            ids_total_done=3,
            ids_skipped=0,
            written=9,
            skipped=0,
            kept=0,
            requests=3,
            retries=0,
            rate_limited=0,
            rate_limit_wait=0.0,
            elapsed=0.1,
        )
        return attrs.evolve(result, interrupted_by=signal.SIGINT)

    monkeypatch.setattr(_demo, "export", interrupted)
    ran = cli(*SMALL, *(["--out", str(tmp_path / "d.jsonl")] if out else []))
    assert ran.code == 130
    assert "interrupted: 3 IDs done; " in ran.err
    assert hint in ran.err
