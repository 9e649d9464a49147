"""``subscriptions list|get|pause|resume`` and ``sequences list|get``, in-process."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest

from close_async.cli._formats import SUBSCRIPTION_COLUMNS, SUBSCRIPTION_TABLE_COLUMNS
from close_async.testing import FakeClose

from .conftest import Ran

CLI = Callable[..., Ran]


@pytest.fixture
def busy_lead(env: FakeClose) -> str:
    """A lead with 230 subscriptions: three pages."""
    lead = env.add_lead(contacts=1)
    env.add_subscriptions(lead_id=lead.id, count=230)
    return lead.id


def test_list_jsonl_gives_close_json_for_each_subscription(
    cli: CLI, env: FakeClose, busy_lead: str
) -> None:
    ran = cli("subscriptions", "list", "--lead-id", busy_lead, "--format", "jsonl")
    assert ran.code == 0
    records = [json.loads(line) for line in ran.out.splitlines()]
    expected = env.state.subscriptions(lead_id=busy_lead)
    assert [r["id"] for r in records] == [s["id"] for s in expected]
    for record, sub in zip(records, expected, strict=True):
        assert record["status"] == sub["status"]
        assert record["lead_id"] == busy_lead
        assert record["calls_assigned_to"] == sub["calls_assigned_to"]


def test_list_csv_has_a_header_and_a_row_per_subscription(
    cli: CLI, env: FakeClose, busy_lead: str
) -> None:
    ran = cli("subscriptions", "list", "--lead-id", busy_lead, "--format", "csv")
    assert ran.code == 0
    rows = list(csv.reader(io.StringIO(ran.out)))
    assert tuple(rows[0]) == SUBSCRIPTION_COLUMNS
    expected = env.state.subscriptions(lead_id=busy_lead)
    assert len(rows) == 1 + len(expected)
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    for sub in expected:
        assert by_id[sub["id"]]["calls_assigned_to"] == ";".join(sub["calls_assigned_to"])
        assert by_id[sub["id"]]["status_reason"] == (sub["status_reason"] or "")


def test_list_table_fits_120_columns(cli: CLI, env: FakeClose) -> None:
    contact = env.state.subscriptions()[0]["contact_id"]
    first = env.state.subscriptions(contact_id=contact)[0]
    ran = cli("subscriptions", "list", "--contact-id", contact)
    assert ran.code == 0
    header, *lines = ran.out.splitlines()
    # No contact_id column: it would repeat the argument on every row.
    assert header.split() == [c for c in SUBSCRIPTION_TABLE_COLUMNS if c != "contact_id"]
    assert len(lines) == len(env.state.subscriptions(contact_id=contact))
    assert max(len(line) for line in ran.out.splitlines()) <= 120
    # Close's IDs (47 characters here) are cut in the middle, in their own column.
    cell = lines[0][header.index("lead_id") :].split()[0]
    assert "…" in cell
    start, end = cell.split("…")
    assert first["lead_id"].startswith(start)
    assert first["lead_id"].endswith(end)


def test_list_limit(cli: CLI, busy_lead: str) -> None:
    ran = cli("subscriptions", "list", "--lead-id", busy_lead, "--format", "jsonl", "--limit", "7")
    assert ran.code == 0
    assert len(ran.out.splitlines()) == 7


def test_list_by_sequence(cli: CLI, env: FakeClose) -> None:
    seq = env.state.sequences()[0]
    ran = cli("subscriptions", "list", "--sequence-id", seq["id"], "--format", "jsonl")
    assert ran.code == 0
    ids = [json.loads(line)["id"] for line in ran.out.splitlines()]
    assert ids == [s["id"] for s in env.state.subscriptions(sequence_id=seq["id"])]


def test_get_prints_the_subscription_as_json(cli: CLI, env: FakeClose) -> None:
    sub = env.state.subscriptions()[3]
    ran = cli("subscriptions", "get", sub["id"])
    assert ran.code == 0
    assert ran.out.startswith("{\n  ")
    assert json.loads(ran.out)["id"] == sub["id"]


def test_get_of_an_unknown_id_is_exit_3(cli: CLI, env: FakeClose) -> None:
    ran = cli("subscriptions", "get", "sub_missing")
    assert ran.code == 3
    assert ran.err.startswith("close-async: error: GET sequence_subscription/sub_missing/ -> 404")
    assert ran.err.count("\n") == 1


def test_pause_then_resume(cli: CLI, env: FakeClose) -> None:
    sub = next(s for s in env.state.subscriptions() if s["status"] == "active")
    paused = cli("subscriptions", "pause", sub["id"])
    assert paused.code == 0
    assert json.loads(paused.out)["status"] == "paused"
    assert env.state.subscription(sub["id"])["status"] == "paused"  # type: ignore[index]
    resumed = cli("subscriptions", "resume", sub["id"])
    assert resumed.code == 0
    assert json.loads(resumed.out)["status"] == "active"


def test_sequences_list_table_and_jsonl(cli: CLI, env: FakeClose) -> None:
    sequences = env.state.sequences()
    table = cli("sequences", "list")
    assert table.code == 0
    header, *lines = table.out.splitlines()
    assert header.split() == ["id", "name", "status", "timezone", "steps", "date_created"]
    assert len(lines) == len(sequences)
    jsonl = cli("sequences", "list", "--format", "jsonl", "--limit", "2")
    assert [json.loads(line)["id"] for line in jsonl.out.splitlines()] == [
        s["id"] for s in sequences[:2]
    ]


def test_sequences_get(cli: CLI, env: FakeClose) -> None:
    seq = env.state.sequences()[1]
    ran = cli("sequences", "get", seq["id"])
    assert ran.code == 0
    data = json.loads(ran.out)
    assert (data["id"], data["name"]) == (seq["id"], seq["name"])
    assert "subscription_counts_by_status" in data


def test_list_with_fields_shows_only_those(cli: CLI, env: FakeClose, busy_lead: str) -> None:
    args = ("--lead-id", busy_lead, "--fields", "status")
    ran = cli("subscriptions", "list", *args, "--format", "csv")
    assert ran.code == 0, ran.err
    header, *rows = ran.out.splitlines()
    assert header == "id,status"
    assert len(rows) == 230
    ran = cli("subscriptions", "list", *args)  # the table: only the columns loaded
    assert ran.code == 0, ran.err
    assert ran.out.split("\n", 1)[0].split() == ["id", "status"]
