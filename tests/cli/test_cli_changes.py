"""``subscriptions changes`` and ``subscriptions export --checkpoint-out``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from close_async.cli import _commands as commands
from close_async.cli._changes import write_export_checkpoint
from close_async.cli._export import ExportWriter
from close_async.testing import FakeClose

from .conftest import Ran, cli_command, jsonl_records, lead_ids, subprocess_env, write_ids

CLI = Callable[..., Ran]


def changes_of(ran: Ran) -> list[dict[str, Any]]:
    assert ran.code == 0, ran.err
    return [json.loads(line) for line in ran.out.splitlines()]


def checkpoint_of(ran: Ran) -> str:
    lines = [line for line in ran.err.splitlines() if line.startswith("CHECKPOINT=")]
    assert lines, ran.err
    return lines[-1].removeprefix("CHECKPOINT=")


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def test_changes_since_a_time_then_since_the_checkpoint(
    cli: CLI, env: FakeClose, tmp_path: Path
) -> None:
    start = datetime.now(timezone.utc)
    ids = env.add_subscriptions(lead_id="lead_cli", count=3, status="active")
    first = cli("subscriptions", "changes", "--since", iso(start))
    records = changes_of(first)
    assert [(r["action"], r["subscription_id"]) for r in records] == [
        ("created", sub_id) for sub_id in ids
    ]
    assert records[0]["subscription"]["id"] == ids[0]
    assert records[0]["event_id"].startswith("ev_")
    checkpoint = checkpoint_of(first)

    env.call(env.state.update_subscription, ids[1], {"status": "paused"})
    second = cli("subscriptions", "changes", "--since", checkpoint)
    (paused,) = changes_of(second)
    assert paused["action"] == "updated"
    assert paused["subscription"]["status"] == "paused"
    assert paused["before"]["status"] == "active"

    # The checkpoint from a file (--checkpoint-out), and a file holding the stderr line.
    saved = tmp_path / "checkpoint.txt"
    third = cli("subscriptions", "changes", "--since", checkpoint, "--checkpoint-out", saved)
    assert len(changes_of(third)) == 1
    assert saved.read_text().strip() == checkpoint_of(third)
    assert changes_of(cli("subscriptions", "changes", "--since", f"@{saved}")) == []
    line = tmp_path / "line.txt"
    line.write_text(f"CHECKPOINT={checkpoint_of(third)}\n")
    assert changes_of(cli("subscriptions", "changes", "--since", f"@{line}")) == []


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("2024-05-01T00:00:00", "no timezone"),
        ("2024-13-01T00:00:00Z", "not an ISO 8601 time"),
        ("not-a-checkpoint", "not a checkpoint"),
        ("cac1.damaged", "not a checkpoint"),
        ("@/nonexistent/checkpoint", "cannot read"),
    ],
)
def test_a_bad_since_is_a_usage_error(cli: CLI, env: FakeClose, since: str, message: str) -> None:
    ran = cli("subscriptions", "changes", "--since", since)
    assert ran.code == 2
    assert message in ran.err
    assert "changes()" not in ran.err  # advice for Python callers, not on the command line
    assert env.stats.requests == 0


def test_an_expired_checkpoint_says_to_read_everything_again(cli: CLI, env: FakeClose) -> None:
    since = datetime.now(timezone.utc) - timedelta(days=40)
    ran = cli("subscriptions", "changes", "--since", iso(since))
    assert ran.code == 3
    assert "30 days" in ran.err
    assert "--checkpoint-out FILE`, then read the changes with --since @FILE" in ran.err
    assert "Read everything again" not in ran.err  # the library's advice, for Python callers
    assert ran.err.count("\n") == 1
    assert "Traceback" not in ran.err


def test_export_then_changes_misses_nothing_changed_during_the_export(
    cli: CLI, env: FakeClose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leads = lead_ids(env)
    ids = write_ids(tmp_path / "ids.txt", leads)
    out = tmp_path / "subs.jsonl"
    checkpoint = tmp_path / "subs.checkpoint"
    first_sub = next(s["id"] for lead in leads for s in env.state.subscriptions(lead_id=lead))
    made: list[str] = []
    write = ExportWriter.write

    def write_and_change(self: ExportWriter, sub: Any) -> None:
        write(self, sub)
        if not made:  # mid-export, while records are being written: three changes
            made.append("paused")
            env.call(env.state.update_subscription, first_sub, {"status": "paused"})
            made.extend(env.add_subscriptions(lead_id=leads[-1], count=2, status="active"))

    monkeypatch.setattr(ExportWriter, "write", write_and_change)
    reads_before_checkpoint: list[int] = []
    take_checkpoint = write_export_checkpoint

    async def checkpoint_first(close: Any, path: Path) -> None:
        reads_before_checkpoint.append(env.stats.by_group["GET sequence_subscription"])
        await take_checkpoint(close, path)

    monkeypatch.setattr(commands, "write_export_checkpoint", checkpoint_first)
    ran = cli(
        "subscriptions", "export", "--lead-ids", ids, "--out", out, "--no-progress",
        "--checkpoint-out", checkpoint,
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert reads_before_checkpoint == [0]  # taken before the export read anything
    assert len(made) == 3
    exported = {record["id"] for record in jsonl_records(out)}
    changes = changes_of(cli("subscriptions", "changes", "--since", f"@{checkpoint}"))
    changed = {(c["action"], c["subscription_id"]) for c in changes}
    assert ("updated", first_sub) in changed
    assert {("created", made[1]), ("created", made[2])} <= changed
    # Together they hold every subscription there is now.
    assert exported | {c["subscription_id"] for c in changes} >= {
        s["id"] for lead in leads for s in env.state.subscriptions(lead_id=lead)
    }


def test_export_refuses_an_existing_checkpoint_unless_resumed(
    cli: CLI, env: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(env)[:3])
    checkpoint = tmp_path / "subs.checkpoint"
    checkpoint.write_text("cac1.earlier\n")
    args = ["subscriptions", "export", "--lead-ids", ids, "--no-progress"]
    ran = cli(*args, "--out", tmp_path / "a.jsonl", "--checkpoint-out", checkpoint)
    assert ran.code == 2
    assert "exists" in ran.err
    assert env.stats.requests == 0
    ran = cli(*args, "--out", tmp_path / "b.jsonl", "--checkpoint-out", checkpoint, "--resume")
    assert ran.code == 0, ran.err
    assert checkpoint.read_text() == "cac1.earlier\n"  # a resumed export keeps its first one


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_follow_prints_new_changes_until_ctrl_c(fake: FakeClose) -> None:
    since = iso(datetime.now(timezone.utc))
    process = subprocess.Popen(
        cli_command("subscriptions", "changes", "--since", since, "--follow", "--interval", "0.05"),
        env=subprocess_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stdout is not None
        assert process.stderr.readline().startswith("CHECKPOINT=")  # the first read is done
        (sub_id,) = fake.add_subscriptions(lead_id="lead_follow", count=1, status="active")
        record = json.loads(process.stdout.readline())  # blocks until the next read finds it
        assert record["subscription_id"] == sub_id
        time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == ""  # nothing else happened
    assert err.strip().splitlines()[-1].startswith("CHECKPOINT=")


def test_a_since_file_that_is_not_text_is_a_usage_error(
    cli: CLI, env: FakeClose, tmp_path: Path
) -> None:
    damaged = tmp_path / "checkpoint"
    damaged.write_bytes(b"\xff\xfe\x00cac1")  # a checkpoint file overwritten with bytes
    ran = cli("subscriptions", "changes", "--since", f"@{damaged}")
    assert ran.code == 2
    assert "cannot read --since" in ran.err
    assert "Traceback" not in ran.err
    assert env.stats.requests == 0


def test_a_checkpoint_out_that_cannot_be_written_is_a_usage_error(
    cli: CLI, env: FakeClose, tmp_path: Path
) -> None:
    nowhere = tmp_path / "missing-folder" / "checkpoint"
    since = iso(datetime.now(timezone.utc))
    ran = cli("subscriptions", "changes", "--since", since, "--checkpoint-out", nowhere)
    assert ran.code == 2, ran.err
    assert f"cannot write --checkpoint-out {nowhere}" in ran.err
    ids = write_ids(tmp_path / "ids.txt", lead_ids(env)[:3])
    out = tmp_path / "subs.jsonl"
    ran = cli(
        "subscriptions", "export", "--lead-ids", ids, "--out", out, "--no-progress",
        "--checkpoint-out", nowhere,
    )  # fmt: skip
    assert ran.code == 2, ran.err
    assert f"cannot write --checkpoint-out {nowhere}" in ran.err
    assert not out.exists()  # nothing read, nothing written


def test_a_resume_refuses_to_take_a_checkpoint_after_the_export_began(
    cli: CLI, env: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(env))
    out = tmp_path / "subs.jsonl"
    args = ["subscriptions", "export", "--lead-ids", ids, "--no-progress", "--out"]
    # A first run without --checkpoint-out, cut off after its first ID.
    first = cli(*args, out)
    assert first.code == 0, first.err
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0])
    (out.parent / f"{out.name}.done").write_text("")
    checkpoint = tmp_path / "subs.checkpoint"
    requests = env.stats.requests
    ran = cli(*args, out, "--resume", "--checkpoint-out", checkpoint)
    # A checkpoint taken now would miss what changed since the first run read: refused.
    assert ran.code == 2, ran.err
    assert "--checkpoint-out" in ran.err
    assert not checkpoint.exists()
    assert env.stats.requests == requests
    assert out.read_text() == lines[0]
    # A resume of an output that does not exist yet starts the export: it may take one.
    ran = cli(*args, tmp_path / "new.jsonl", "--resume", "--checkpoint-out", checkpoint)
    assert ran.code == 0, ran.err
    assert checkpoint.exists()
