"""``subscriptions export``, in-process: output validity, failures, resuming, the bar."""

from __future__ import annotations

import csv
import io
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from close_async.cli._formats import SUBSCRIPTION_COLUMNS
from close_async.testing import FakeClose, Fault

from .conftest import (
    Ran,
    expected_ids,
    journal_ids,
    jsonl_records,
    lead_ids,
    write_ids,
)

CLI = Callable[..., Ran]


def export(cli: CLI, ids: Path, out: Path, *args: str) -> Ran:
    return cli("subscriptions", "export", "--lead-ids", ids, "--out", out, "--no-progress", *args)


def test_jsonl_export_has_every_subscription_once(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    leads = lead_ids(big)
    out = tmp_path / "subs.jsonl"
    ran = export(cli, write_ids(tmp_path / "ids.txt", leads), out)
    assert ran.code == 0, ran.err
    records = jsonl_records(out)
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids(big, leads)
    for record in records:  # Close's fields, as the fake stored them (datetimes aside)
        stored = big.state.subscription(record["id"])
        assert stored is not None
        assert {k: record[k] for k in stored if "date" not in k} == {
            k: v for k, v in stored.items() if "date" not in k
        }
    assert set(journal(out)) == set(leads)
    assert not (tmp_path / "subs.jsonl.failed").exists()
    assert f"subscriptions: {len(ids):,} written" in ran.err
    assert "IDs: 60 done, 0 failed" in ran.err


def test_csv_export_reads_back_with_the_csv_module(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    leads = lead_ids(big)
    out = tmp_path / "subs.csv"  # the format follows the suffix
    ran = export(cli, write_ids(tmp_path / "ids.txt", leads), out)
    assert ran.code == 0, ran.err
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file, strict=True))
    assert tuple(rows[0]) == SUBSCRIPTION_COLUMNS
    assert all(len(row) == len(SUBSCRIPTION_COLUMNS) for row in rows)
    ids = [row[0] for row in rows[1:]]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids(big, leads)


def test_ids_from_stdin_with_comments_and_blank_lines(
    cli: CLI, big: FakeClose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leads = lead_ids(big)[:10]
    text = "# leads to export\n\n" + "".join(f"  {lead}  # a note\n" for lead in leads) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    out = tmp_path / "subs.jsonl"
    ran = cli("subscriptions", "export", "--lead-ids", "-", "--out", out, "--format", "jsonl")
    assert ran.code == 0, ran.err
    assert {r["id"] for r in jsonl_records(out)} == expected_ids(big, leads)


def test_contact_ids(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    contacts = [c.id for lead in big.state.leads()[1:8] for c in lead.contacts]
    ids = write_ids(tmp_path / "contacts.txt", contacts)
    out = tmp_path / "subs.jsonl"
    ran = cli("subscriptions", "export", "--contact-ids", ids, "--out", out, "--no-progress")
    assert ran.code == 0, ran.err
    expected = {s["id"] for c in contacts for s in big.state.subscriptions(contact_id=c)}
    assert {r["id"] for r in jsonl_records(out)} == expected


def test_failed_ids_are_listed_beside_the_output_and_exit_1(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    leads = lead_ids(big)[1:20]
    ids = write_ids(tmp_path / "ids.txt", [*leads, "not/an/id"])
    big.inject("GET", "sequence_subscription", [Fault.response(404)])
    out = tmp_path / "subs.jsonl"
    ran = export(cli, ids, out, "--concurrency", "1")  # one at a time: the first lead fails
    assert ran.code == 1
    failed = (tmp_path / "subs.jsonl.failed").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in failed] == [leads[0], "not/an/id"]
    assert "404" in failed[0]
    assert "not a Close ID" in failed[1]
    assert "IDs: 18 done, 2 failed" in ran.err
    assert str(tmp_path / "subs.jsonl.failed") in ran.err
    assert {r["id"] for r in jsonl_records(out)} == expected_ids(big, leads[1:])

    # Resuming lists the failed lead again, and nothing twice.
    ids.write_text("".join(f"{lead}\n" for lead in leads), encoding="utf-8")
    again = export(cli, ids, out, "--resume")
    assert again.code == 0, again.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))
    assert set(records) == expected_ids(big, leads)
    assert not (tmp_path / "subs.jsonl.failed").exists()


def test_an_existing_output_is_refused_without_resume(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    out = tmp_path / "subs.jsonl"
    out.write_text('{"id": "sub_1"}\n', encoding="utf-8")
    ran = export(cli, write_ids(tmp_path / "ids.txt", lead_ids(big)), out)
    assert ran.code == 2
    assert "--resume" in ran.err
    assert out.read_text(encoding="utf-8") == '{"id": "sub_1"}\n'
    assert big.stats.requests == 0


def test_an_unreadable_input_is_a_usage_error(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    ran = export(cli, tmp_path / "missing.txt", tmp_path / "subs.jsonl")
    assert ran.code == 2
    assert "missing.txt" in ran.err
    assert not (tmp_path / "subs.jsonl").exists()


def test_a_wrong_key_stops_the_export_at_once(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    # One request at a time: with more, the requests cut short by the stop leave connections
    # that the fake, stopped right after, may not have accepted yet, and the fake's loop then
    # ends without closing them (a ResourceWarning, an error here).
    ran = export(cli, ids, tmp_path / "subs.jsonl", "--api-key", "wrong", "--concurrency", "1")
    assert ran.code == 3
    assert ran.err.startswith("close-async: error: GET sequence_subscription/ -> 401")
    assert big.stats.requests == 1  # not one 401 per lead


def resume_setup(
    cli: CLI, big: FakeClose, tmp_path: Path, fmt: str
) -> tuple[Path, Path, list[str], int]:
    """Export everything, then cut the output back to what an interrupted run leaves.

    Kept: the records of the leads in the first half of the journal, and 120 of the 250
    records of the first lead (cut off mid-way, so not journaled), then half a record.
    """
    leads = lead_ids(big)
    ids = write_ids(tmp_path / "ids.txt", leads)
    full = tmp_path / f"full.{fmt}"
    assert export(cli, ids, full).code == 0
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    header, records = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    finished = set(leads[len(leads) // 2 :])
    first = [r for r in records if leads[0] in r]
    others = [r for r in records if leads[0] not in r and any(lead in r for lead in finished)]
    out = tmp_path / f"subs.{fmt}"
    out.write_text("".join([*header, *first[:120], *others, records[-1][:40]]), encoding="utf-8")
    (tmp_path / f"subs.{fmt}.done").write_text(
        "".join(f"{lead}\n" for lead in finished) + leads[1][:10], encoding="utf-8"
    )
    return ids, out, leads, len(first[:120]) + len(others)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_finishes_without_repeating_a_record(
    cli: CLI, big: FakeClose, tmp_path: Path, fmt: str
) -> None:
    ids, out, leads, kept = resume_setup(cli, big, tmp_path, fmt)
    ran = export(cli, ids, out, "--resume")
    assert ran.code == 0, ran.err
    if fmt == "jsonl":
        records = [r["id"] for r in jsonl_records(out)]
    else:
        with open(out, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file, strict=True))
        assert tuple(rows[0]) == SUBSCRIPTION_COLUMNS
        assert all(tuple(row) != SUBSCRIPTION_COLUMNS for row in rows[1:])  # one header
        records = [row[0] for row in rows[1:]]
    assert len(records) == len(set(records))
    assert set(records) == expected_ids(big, leads)
    assert f"{kept:,} kept from the earlier run, 120 skipped as already written" in ran.err
    assert sorted(journal(out)) == sorted(leads)


def test_resume_of_a_finished_export_changes_nothing(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    out = tmp_path / "subs.jsonl"
    assert export(cli, ids, out).code == 0
    before = out.read_bytes()
    ran = export(cli, ids, out, "--resume")
    assert ran.code == 0
    assert out.read_bytes() == before
    # The client's count: the fake's may still grow with pages the first run fetched ahead.
    assert "requests: 0," in ran.err
    assert "60 skipped (done by an earlier run)" in ran.err


def test_resume_lists_again_what_the_output_lost_behind_the_journal(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    # What an OS crash could leave if the file system kept the journal and not the
    # output's last records: the journal ahead of the output.
    leads = lead_ids(big)
    ids = write_ids(tmp_path / "ids.txt", leads)
    out = tmp_path / "subs.jsonl"
    assert export(cli, ids, out).code == 0
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    lost = {json.loads(line)["lead_id"] for line in lines[-30:]}
    out.write_text("".join(lines[:-30]), encoding="utf-8")
    assert set(journal(out)) == set(leads)  # the journal still claims every lead
    ran = export(cli, ids, out, "--resume")
    assert ran.code == 0, ran.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))  # nothing twice
    assert set(records) == expected_ids(big, leads)  # nothing dropped
    assert f"{len(lost):,} listed again" in ran.err


def test_an_empty_input_says_so(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    out = tmp_path / "subs.jsonl"
    ran = export(cli, write_ids(tmp_path / "ids.txt", []), out)
    assert ran.code == 2
    assert "ids.txt holds no IDs" in ran.err
    assert not out.exists()


def test_an_empty_stdin_says_so(
    cli: CLI, big: FakeClose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n# nothing\n"))
    ran = cli("subscriptions", "export", "--lead-ids", "-", "--out", tmp_path / "s.jsonl")
    assert ran.code == 2
    assert "stdin holds no IDs" in ran.err


def test_resume_without_an_output_starts_one(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    leads = lead_ids(big)
    out = tmp_path / "subs.jsonl"
    ran = export(cli, write_ids(tmp_path / "ids.txt", leads), out, "--resume")
    assert ran.code == 0
    assert {r["id"] for r in jsonl_records(out)} == expected_ids(big, leads)


def test_resume_refuses_a_file_that_is_not_an_export(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    out = tmp_path / "notes.jsonl"
    out.write_text("dear diary\nnothing happened\n", encoding="utf-8")
    ran = export(cli, write_ids(tmp_path / "ids.txt", lead_ids(big)), out, "--resume")
    assert ran.code == 2
    assert "cannot resume" in ran.err
    assert out.read_text(encoding="utf-8") == "dear diary\nnothing happened\n"


@pytest.mark.parametrize("line", [1, 2])
def test_resume_refuses_a_record_nested_too_deeply_to_read(
    cli: CLI, big: FakeClose, tmp_path: Path, line: int
) -> None:
    out = tmp_path / "subs.jsonl"
    deep = '{"id": "sub_x", "d": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    plain = json.dumps(dict.fromkeys(SUBSCRIPTION_COLUMNS, "sub_y")) + "\n"
    text = deep + plain if line == 1 else plain + deep
    out.write_text(text, encoding="utf-8")
    ran = export(cli, write_ids(tmp_path / "ids.txt", lead_ids(big)), out, "--resume")
    assert ran.code == 2, ran.err  # a usage error, not a RecursionError's traceback
    assert f"cannot resume {out}: line {line}" in ran.err
    assert out.read_text(encoding="utf-8") == text


def test_the_progress_bar_shows_ids_subscriptions_and_429s(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    ran = cli(
        "subscriptions", "export", "--lead-ids", ids, "--out", tmp_path / "s.jsonl", "--progress"
    )
    assert ran.code == 0, ran.err
    assert "60/60 IDs" in ran.err
    assert " subs, " in ran.err
    assert " 429s" in ran.err


def test_with_the_bar_the_first_retry_alone_is_reported(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    big.inject("GET", "sequence_subscription", ["503", "503", "503"])
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big)[:5])
    ran = cli(
        "subscriptions", "export", "--lead-ids", ids, "--out", tmp_path / "s.jsonl", "--progress"
    )
    assert ran.code == 0, ran.err
    assert ran.err.count("Retrying ") == 1, ran.err
    big.inject("GET", "sequence_subscription", ["503", "503"])
    verbose = cli(
        "-v",
        "subscriptions",
        "export",
        "--lead-ids",
        ids,
        "--out",
        tmp_path / "v.jsonl",
        "--progress",
    )
    assert verbose.code == 0, verbose.err
    assert verbose.err.count("close-async: INFO: Retrying ") == 2, verbose.err


def test_without_tqdm_the_bar_is_a_clear_usage_error(
    cli: CLI, big: FakeClose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    out = tmp_path / "s.csv"
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    ran = cli("subscriptions", "export", "--lead-ids", ids, "--out", out, "--progress")
    assert ran.code == 2
    assert "close-async[cli]" in ran.err
    assert not out.exists()  # nothing started: the same command with --no-progress works
    assert export(cli, ids, out).code == 0


def journal(out: Path) -> list[str]:
    """The IDs of an export's journal (``ID<TAB>records`` a line)."""
    return journal_ids(out.with_name(out.name + ".done"))


def test_an_export_against_a_refused_port_stops_at_once(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing answers: the export stops after a few IDs (exit 3), not after all of them."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("CLOSE_API_KEY", "key")
    monkeypatch.setenv("CLOSE_BASE_URL", f"http://127.0.0.1:{port}/api/v1/")
    ids = write_ids(tmp_path / "ids.txt", [f"lead_{i}" for i in range(500)])
    ran = export(cli, ids, tmp_path / "subs.jsonl", "--max-retries", "0", "--concurrency", "2")
    assert ran.code == 3, ran.err
    assert "failed to connect" in ran.err
    assert "base URL" in ran.err


@pytest.mark.parametrize("strategy", ["per_id", "auto"])
def test_fields_export_csv_has_only_those_columns_and_resumes(
    cli: CLI, big: FakeClose, tmp_path: Path, strategy: str
) -> None:
    leads = lead_ids(big)
    ids, out = write_ids(tmp_path / "ids.txt", leads), tmp_path / "subs.csv"
    args = ("--fields", "status", "--strategy", strategy)
    ran = export(cli, ids, out, *args)
    assert ran.code == 0, ran.err
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file, strict=True))
    # What was asked for, plus what the journal needs; no empty column posing as null.
    assert tuple(rows[0]) == ("id", "sequence_id", "lead_id", "status")
    assert {row[0] for row in rows[1:]} == expected_ids(big, leads)
    assert all(row[3] for row in rows[1:])
    again = export(cli, ids, out, *args, "--resume")  # nothing left: the same file
    assert again.code == 0, again.err
    with open(out, newline="", encoding="utf-8") as file:
        assert list(csv.reader(file, strict=True)) == rows


def test_fields_export_jsonl_records_hold_only_those_fields(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    leads = lead_ids(big)[:10]
    out = tmp_path / "subs.jsonl"
    ran = export(cli, write_ids(tmp_path / "ids.txt", leads), out, "--fields", "status")
    assert ran.code == 0, ran.err
    records = jsonl_records(out)
    assert records
    assert {frozenset(r) for r in records} == {
        frozenset({"id", "sequence_id", "lead_id", "status"})
    }


def test_an_unknown_field_is_a_usage_error(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    ran = export(
        cli, write_ids(tmp_path / "ids.txt", ["lead_1"]), tmp_path / "o.jsonl", "--fields", "nope"
    )
    assert ran.code == 2
    assert "--fields: SequenceSubscription has no field 'nope'" in ran.err
    assert big.stats.requests == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(
    ("first", "then", "advice"),
    [
        (("--fields", "status"), (), "resume with --fields sequence_id,lead_id,status"),
        ((), ("--fields", "status"), "resume without --fields"),
        (("--fields", "status"), ("--fields", "start_date"), "--fields sequence_id,lead_id,status"),
    ],
)
def test_resume_with_other_fields_is_refused_not_mixed(
    cli: CLI, big: FakeClose, tmp_path: Path, fmt: str, first: tuple[str, ...],
    then: tuple[str, ...], advice: str,
) -> None:  # fmt: skip
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big)[:10])
    out = tmp_path / f"subs.{fmt}"
    assert export(cli, ids, out, *first).code == 0
    # Cut off after its first record (and the header), as if stopped there.
    kept = "".join(out.read_text(encoding="utf-8").splitlines(keepends=True)[:2])
    out.write_text(kept, encoding="utf-8")
    (tmp_path / f"{out.name}.done").write_text("")
    requests = big.stats.requests
    ran = export(cli, ids, out, *then, "--resume")
    assert ran.code == 2, ran.err
    assert advice in ran.err
    assert out.read_text(encoding="utf-8") == kept  # nothing of another shape appended
    assert big.stats.requests == requests


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize(
    ("then", "was"),
    [
        (("--contact-ids",), "--lead-ids"),  # then a file of contact IDs
        (("--all",), "--lead-ids"),
    ],
)
def test_resume_with_another_kind_of_input_is_refused_not_mixed(
    cli: CLI, big: FakeClose, tmp_path: Path, fmt: str, then: tuple[str, ...], was: str
) -> None:
    leads = lead_ids(big)[1:6]
    ids = write_ids(tmp_path / "ids.txt", leads)
    out = tmp_path / f"subs.{fmt}"
    assert export(cli, ids, out).code == 0  # every lead journaled
    kept = out.read_text(encoding="utf-8")
    contacts = sorted({s["contact_id"] for s in big.state.subscriptions() if s["contact_id"]})
    source = (
        [*then, write_ids(tmp_path / "contacts.txt", contacts[:3])]
        if then[0] != "--all"
        else [*then]
    )
    requests = big.stats.requests
    ran = cli("subscriptions", "export", *source, "--out", out, "--no-progress", "--resume")
    # Its journal lists leads: reading contacts (or sequences) into it would mix two exports.
    assert ran.code == 2, ran.err
    assert was in ran.err
    assert out.read_text(encoding="utf-8") == kept
    assert big.stats.requests == requests
