"""``python -m close_async.cli`` as a real process: Ctrl-C then --resume, errors, the demo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from close_async.testing import FakeClose

from .conftest import (
    StartFake,
    cli_command,
    expected_ids,
    journal_ids,
    jsonl_records,
    lead_ids,
    run_subprocess,
    subprocess_env,
    write_ids,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def wait_for_records(path: Path, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait until the export has flushed some records (it is under way by then)."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export wrote nothing"
        time.sleep(0.05)


def test_ctrl_c_leaves_whole_records_and_resume_finishes_the_job(
    fake_close_factory: StartFake, tmp_path: Path
) -> None:
    # With latency and two requests at a time the export takes some 10 s: Ctrl-C lands
    # mid-way. A lead with 450 subscriptions (five pages) may well be cut off mid-way.
    fake = fake_close_factory(leads=400, sequences=5, seed=8, latency=0.05)
    fake.add_subscriptions(lead_id=fake.state.leads()[5].id, count=450)
    leads = lead_ids(fake)
    ids = write_ids(tmp_path / "ids.txt", leads)
    out = tmp_path / "subs.jsonl"
    args: list[str | Path] = ["subscriptions", "export", "--lead-ids", ids, "--out", out]
    env = subprocess_env(fake)

    process = subprocess.Popen(
        cli_command(*args, "--concurrency", "2"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_records(out, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: " in stderr
    assert "run again with --resume" in stderr
    first = jsonl_records(out)  # whole records only
    journaled = journal_ids(tmp_path / "subs.jsonl.done")
    assert set(journaled) < set(leads)
    assert {r["id"] for r in first} >= expected_ids(fake, journaled)
    assert len(first) < len(expected_ids(fake, leads))

    resumed = run_subprocess(*args, "--resume", "--concurrency", "16", env=env)
    assert resumed.code == 0, resumed.err
    assert f"{len(journaled):,} skipped (done by an earlier run)" in resumed.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))  # every record exactly once
    assert set(records) == expected_ids(fake, leads)


def test_list_as_a_subprocess(fake_close_factory: StartFake) -> None:
    fake = fake_close_factory(leads=20, seed=2)
    lead = next(lead for lead in lead_ids(fake) if fake.state.subscriptions(lead_id=lead))
    ran = run_subprocess(
        "subscriptions", "list", "--lead-id", lead, "--format", "jsonl", env=subprocess_env(fake)
    )
    assert ran.code == 0, ran.err
    ids = [json.loads(line)["id"] for line in ran.out.splitlines()]
    assert ids == [s["id"] for s in fake.state.subscriptions(lead_id=lead)]


def test_ids_piped_on_stdin(fake_close_factory: StartFake, tmp_path: Path) -> None:
    fake = fake_close_factory(leads=30, seed=6)
    leads = lead_ids(fake)
    out = tmp_path / "subs.csv"
    ran = run_subprocess(
        "subscriptions",
        "export",
        "--lead-ids",
        "-",
        "--out",
        out,
        env=subprocess_env(fake),
        stdin="\n".join(leads),
    )
    assert ran.code == 0, ran.err
    assert "IDs: 30 done, 0 failed" in ran.err
    assert "\r" not in ran.err  # no progress bar when stderr is not a terminal


def test_api_errors_are_one_line_without_a_traceback(fake: FakeClose) -> None:
    env = subprocess_env(fake, CLOSE_API_KEY="secret-but-wrong")
    ran = run_subprocess("sequences", "list", env=env)
    assert ran.code == 3
    assert ran.err.startswith("close-async: error: GET sequence/ -> 401")
    assert ran.err.count("\n") == 1
    assert "secret-but-wrong" not in ran.err
    missing = run_subprocess("subscriptions", "get", "sub_nope", env=subprocess_env(fake))
    assert missing.code == 3
    assert "404" in missing.err
    assert "Traceback" not in missing.err


def test_no_credential_as_a_subprocess(tmp_path: Path) -> None:
    ran = run_subprocess("sequences", "list", env=subprocess_env())
    assert ran.code == 2
    assert "CLOSE_API_KEY" in ran.err


def test_demo_runs_on_its_own(tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    ran = run_subprocess(
        "demo",
        "--leads",
        "200",
        "--rate-limit",
        "1000",
        "--latency",
        "0.001",
        "--out",
        out,
        env=subprocess_env(),
    )
    assert ran.code == 0, ran.err
    assert "of 200 leads" in ran.out
    assert "429s" in ran.out
    assert str(out) in ran.out
    assert (tmp_path / "demo.jsonl.ids").read_text(encoding="utf-8").count("\n") == 200
    records = jsonl_records(out)
    assert records
    assert len({r["id"] for r in records}) == len(records)
    expected = FakeClose(leads=200, seed=1).state.subscriptions()
    assert {r["id"] for r in records} == {s["id"] for s in expected}
