"""The pure parts: input IDs, the export's files, formats and summary, the signal stop."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from close_async import Progress, SequenceSubscription
from close_async._convert import structure
from close_async.cli._commands import _stop_on_signals, report_export
from close_async.cli._errors import UsageError, exit_code_for_signal
from close_async.cli._export import ExportResult, ExportWriter, IdSource, read_ids, summary
from close_async.cli._formats import SUBSCRIPTION_COLUMNS, CsvEncoder, jsonl_line, table
from close_async.cli._progress import postfix


def sub(id_: str, lead: str = "lead_1", **fields: object) -> SequenceSubscription:
    return structure({"id": id_, "lead_id": lead, **fields}, SequenceSubscription)


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_read_ids_strips_and_skips_blanks_and_comments() -> None:
    lines = ["# header\n", "lead_a\n", "  lead_b  \n", "\n", "lead_c # why\n", "   # x\n", "d"]
    assert list(read_ids(lines)) == ["lead_a", "lead_b", "lead_c", "d"]


def test_id_source_counts_skips_done_and_sets_aside_bad_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("lead_a\nlead_b\nbad id?\nlead_c\n..\n", encoding="utf-8")
    source = IdSource(str(path), done={"lead_b"})
    assert source.total == 2
    assert list(source) == ["lead_a", "lead_c"]
    assert source.skipped == 1
    assert [value for value, _ in source.invalid] == ["bad id?", ".."]


def test_an_input_without_ids_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"ids\.txt holds no IDs: give one ID a line"):
        IdSource(str(path))


def test_id_source_from_stdin_has_no_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("lead_a\nlead_b\n"))
    source = IdSource("-")
    assert source.total is None
    assert list(source) == ["lead_a", "lead_b"]


def test_the_journal_follows_the_records_it_vouches_for(tmp_path: Path) -> None:
    clock = Clock()
    out = tmp_path / "out.jsonl"
    writer = ExportWriter(
        out, fmt="jsonl", field="lead_id", resume=False, flush_records=3, clock=clock
    )
    with writer:
        writer.write(sub("sub_1"))
        writer.id_done("lead_1", 1)
        assert out.read_text() == ""  # buffered: neither records nor the journal yet
        assert (tmp_path / "out.jsonl.done").read_text() == ""
        writer.write(sub("sub_2", "lead_2"))
        writer.write(sub("sub_3", "lead_2"))  # the third record: a flush
        assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [
            "sub_1",
            "sub_2",
            "sub_3",
        ]
        assert (tmp_path / "out.jsonl.done").read_text() == "lead_1\t1\n"  # ID<TAB>records
        writer.id_done("lead_2", 2)
        clock.now += 1.0  # time, too, makes a flush
        writer.id_done("lead_3", 0)
        assert (tmp_path / "out.jsonl.done").read_text() == "lead_1\t1\nlead_2\t2\nlead_3\t0\n"
        writer.write(sub("sub_4", "lead_4"))
    assert out.read_text().count("\n") == 4  # leaving flushes


def test_records_reach_the_disk_before_the_journal_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OS crash keeps what was fsynced: the output must be, before the journal is written.
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.done"
    synced: list[tuple[int, str]] = []

    def fsync(fd: int) -> None:
        synced.append((len(out.read_text()), journal.read_text()))

    monkeypatch.setattr(os, "fsync", fsync)
    with ExportWriter(out, fmt="jsonl", field="lead_id", resume=False) as writer:
        writer.write(sub("sub_1"))
        writer.id_done("lead_1", 1)
        writer.flush()
        writer.id_done("lead_2", 0)  # no records: nothing to sync
        writer.flush()
    assert synced == [(len(jsonl_line(sub("sub_1"))), "")]  # synced before the journal
    assert journal.read_text() == "lead_1\t1\nlead_2\t0\n"


def test_resume_lists_again_an_id_the_journal_claims_ahead_of_the_output(
    tmp_path: Path,
) -> None:
    # The journal says lead_2 has 2 records, but the output lost one (an OS crash on a file
    # system that kept the journal's end and not the output's).
    out = tmp_path / "out.jsonl"
    out.write_text(
        jsonl_line(sub("sub_1", "lead_1")) + jsonl_line(sub("sub_2", "lead_2")), encoding="utf-8"
    )
    (tmp_path / "out.jsonl.done").write_text("lead_1\t1\nlead_2\t2\nlead_0\n", encoding="utf-8")
    with ExportWriter(out, fmt="jsonl", field="lead_id", resume=True) as writer:
        assert writer.done == {"lead_0", "lead_1"}  # lead_0: no count, trusted
        assert writer.journal_ahead == 1
        writer.write(sub("sub_2", "lead_2"))  # listed again: already there
        writer.write(sub("sub_3", "lead_2"))  # the lost one
        writer.id_done("lead_2", 2)
    assert (writer.written, writer.skipped) == (1, 1)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["sub_1", "sub_2", "sub_3"]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "found"),
    [
        ("out.csv", '{"id": "sub_1", "lead_id": "lead_1"}\n', "csv", "JSON Lines"),
        ("out.jsonl", ",".join(SUBSCRIPTION_COLUMNS) + "\n", "jsonl", "CSV"),
    ],
)
def test_resume_in_the_wrong_format_names_the_right_one(
    tmp_path: Path, name: str, content: str, fmt: str, found: str
) -> None:
    out = tmp_path / name
    out.write_text(content, encoding="utf-8")
    other = "jsonl" if fmt == "csv" else "csv"
    with pytest.raises(UsageError, match=f"holds {found}, not .*; pass --format {other}"):
        ExportWriter(out, fmt=fmt, field="lead_id", resume=True).prepare()


def test_resume_drops_a_partial_record_and_skips_written_ones(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        jsonl_line(sub("sub_1", "lead_1"))
        + jsonl_line(sub("sub_2", "lead_2"))
        + jsonl_line(sub("sub_3", "lead_2"))[:20],
        encoding="utf-8",
    )
    (tmp_path / "out.jsonl.done").write_text("lead_1\nlea", encoding="utf-8")
    with ExportWriter(out, fmt="jsonl", field="lead_id", resume=True) as writer:
        assert writer.done == {"lead_1"}
        assert (writer.kept, writer.dropped_partial) == (2, True)
        writer.write(sub("sub_2", "lead_2"))  # lead_2 was cut off: listed again
        writer.write(sub("sub_3", "lead_2"))
        writer.id_done("lead_2", 2)
    assert (writer.written, writer.skipped) == (1, 1)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [
        "sub_1",
        "sub_2",
        "sub_3",
    ]
    assert (tmp_path / "out.jsonl.done").read_text() == "lead_1\nlead_2\t2\n"


def test_csv_resume_drops_a_row_cut_inside_a_quoted_cell(tmp_path: Path) -> None:
    encoder = CsvEncoder()
    row = encoder.encode(sub("sub_2", sender_name="Ann\nLee"))
    assert row.count("\n") == 2  # a newline in a cell is quoted, and part of the row
    out = tmp_path / "out.csv"
    whole = encoder.header + encoder.encode(sub("sub_1")) + row  # type: ignore[operator]
    out.write_text(whole + row[: row.index("\n") + 1], encoding="utf-8")
    with ExportWriter(out, fmt="csv", field="lead_id", resume=True) as writer:
        assert (writer.kept, writer.dropped_partial) == (2, True)
    assert out.read_text(encoding="utf-8") == whole
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file, strict=True))
    assert rows[1]["sender_name"] == "Ann\nLee"


def test_csv_resume_of_a_cut_header_writes_the_header_again(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("id,seq", encoding="utf-8")
    with ExportWriter(out, fmt="csv", field="lead_id", resume=True) as writer:
        writer.write(sub("sub_1"))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(SUBSCRIPTION_COLUMNS)
    assert len(lines) == 2


def test_csv_resume_refuses_other_columns(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(UsageError, match="header"):
        ExportWriter(out, fmt="csv", field="lead_id", resume=True).prepare()


def test_failures_file_is_written_or_removed(tmp_path: Path) -> None:
    writer = ExportWriter(tmp_path / "out.jsonl", fmt="jsonl", field="lead_id", resume=False)
    assert writer.write_failures([("lead_1", "GET x -> 404\nNot found")]) == 1
    failed = tmp_path / "out.jsonl.failed"
    assert failed.read_text() == "lead_1\tGET x -> 404 Not found\n"
    assert writer.write_failures([]) == 0
    assert not failed.exists()


def test_jsonl_keeps_fields_this_release_does_not_know() -> None:
    line = jsonl_line(sub("sub_1", status="snoozed", new_field={"a": 1}))
    assert line.endswith("}\n")
    assert line.count("\n") == 1
    data = json.loads(line)
    assert (data["status"], data["new_field"]) == ("snoozed", {"a": 1})


def test_csv_joins_lists_and_leaves_nulls_empty() -> None:
    encoder = CsvEncoder()
    row = encoder.encode(sub("sub_1", calls_assigned_to=["user_1", "user_2"]))
    cells = dict(zip(SUBSCRIPTION_COLUMNS, next(csv.reader([row])), strict=True))
    assert cells["calls_assigned_to"] == "user_1;user_2"
    assert cells["status"] == ""


def test_table_aligns_columns_and_shortens_datetimes() -> None:
    rows: list[dict[str, str | None]] = [
        {"id": "sub_1", "date_created": "2024-05-01T10:11:12.123456+00:00"},
        {"id": "sub_long", "date_created": None},
    ]
    assert table(rows, ["id", "date_created"]).splitlines() == [
        "id        date_created",
        "sub_1     2024-05-01 10:11:12",
        "sub_long",
    ]


def test_table_cuts_wide_columns_in_the_middle_to_fit() -> None:
    rows = [{"id": "sub_" + "x" * 40 + "END", "status": "active"}]
    lines = table(rows, ["id", "status"], width=30).splitlines()
    assert max(len(line) for line in lines) <= 30
    assert lines[1] == "sub_xxxxxxx…xxxxxxxEND  active"


def requests_made(requests: int, elapsed: float) -> Progress:
    """A run's progress: ``requests`` made in ``elapsed`` seconds."""
    return Progress(
        ids_done=0,
        ids_failed=0,
        ids_total=None,
        items=0,
        requests=requests,
        retries=0,
        rate_limited=0,
        rate_limit_wait=0.0,
        elapsed=elapsed,
    )


@pytest.mark.parametrize(("requests", "elapsed"), [(100, 0.02), (200, 1.01), (1500, 14.5)])
def test_the_bar_never_reads_above_a_limit_that_was_kept(requests: int, elapsed: float) -> None:
    # Under 100 requests/s, a window's requests go as it opens: 200 by 1.01 s is within the
    # limit, yet 200 / 1.01 s would read as 198 req/s.
    progress = requests_made(requests, elapsed)
    rate = int(postfix(progress).split(" req/s")[0].rsplit(" ", 1)[1])
    assert 0 < rate <= 100


def export_result(**changes: Any) -> ExportResult:
    """What an export that resumed an earlier one did: some IDs failed, some skipped."""
    result = ExportResult(
        out=Path("subs.jsonl"),
        ids_done=10,
        ids_failed=2,
        ids_total_done=15,
        ids_skipped=5,
        written=1000,
        skipped=3,
        kept=7,
        requests=20,
        retries=1,
        rate_limited=1,
        rate_limit_wait=0.5,
        elapsed=2.0,
    )
    return attrs.evolve(result, **changes)


def test_summary_says_what_happened() -> None:
    text = "\n".join(summary(export_result()))
    for part in (
        "IDs: 10 done, 2 failed, 5 skipped",
        "1,000 written (7 kept from the earlier run, 3 skipped as already written)",
        "requests: 20, retries: 1, 429s: 1, waits for the rate limit: 0.5 s summed over requests",
        "500 subscriptions/s",
        "2 IDs listed in subs.jsonl.failed",
    ):
        assert part in text


def test_a_read_by_sequence_counts_sequences_when_interrupted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = export_result(units="sequences", interrupted_by=signal.SIGTERM)
    assert report_export(result) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "interrupted: 15 sequences done; run again with --resume" in err
    assert "failed: 2 sequences listed in subs.jsonl.failed" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_cancels_the_work_and_is_reported() -> None:
    cleaned: list[bool] = []

    async def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            cleaned.append(True)

    async def main() -> int | None:
        return await _stop_on_signals(work())

    assert asyncio.run(main()) == signal.SIGTERM
    assert cleaned == [True]
    assert exit_code_for_signal(signal.SIGTERM) == 143
    assert exit_code_for_signal(signal.SIGINT) == 130


@pytest.mark.parametrize(("requests", "elapsed"), [(100, 0.99), (200, 1.5), (1000, 9.99)])
def test_the_bar_reads_the_limit_for_a_run_at_the_limit(requests: int, elapsed: float) -> None:
    # 100 requests/s: a window's 100 requests as each opens, every window so far used.
    progress = requests_made(requests, elapsed)
    assert " 100 req/s" in postfix(progress)  # not 50 (100 / 1.99 s), nor 91 (1000 / 10.99)
