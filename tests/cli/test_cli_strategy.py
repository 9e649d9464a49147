"""``subscriptions export --all``, ``--sequence-ids``, ``--strategy``, their resume, the demo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from close_async.cli._export import JOURNAL_BY_SEQUENCE
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


def export(cli: CLI, out: Path, *args: str | Path) -> Ran:
    return cli("subscriptions", "export", "--out", out, "--no-progress", *args)


def journal(out: Path) -> list[str]:
    """The lines of an export's journal, without their counts (its header line as is)."""
    return journal_ids(out.with_name(out.name + ".done"))


def sequence_ids(fake: FakeClose) -> list[str]:
    return [s["id"] for s in fake.state.sequences()]


def every_subscription(fake: FakeClose) -> set[str]:
    return {s["id"] for s in fake.state.subscriptions()}


def list_requests(fake: FakeClose) -> int:
    return fake.stats.by_path["/api/v1/sequence_subscription/"]


def test_export_all_reads_the_organisation_by_sequence(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    out = tmp_path / "all.jsonl"
    ran = export(cli, out, "--all")
    assert ran.code == 0, ran.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))
    assert set(records) == every_subscription(big)
    assert sorted(journal(out)) == sorted(sequence_ids(big))  # sequences, no header needed
    assert "sequences: 5 done, 0 failed" in ran.err
    assert "read by sequence: every sequence of the organisation (5)" in ran.err


def test_export_sequence_ids_reads_each_at_known_offsets(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    sequences = sequence_ids(big)[:2]
    out = tmp_path / "two.csv"
    ran = export(cli, out, "--sequence-ids", write_ids(tmp_path / "seqs.txt", sequences))
    assert ran.code == 0, ran.err
    sizes = [sum(big.state.subscription_counts(s).values()) for s in sequences]
    # A count for each, then exactly the pages the counts imply.
    assert big.stats.requests == 2 + sum(-(-size // 100) for size in sizes)
    assert sorted(journal(out)) == sorted(sequences)


@pytest.mark.parametrize("strategy", ["by_sequence", "auto"])
def test_leads_by_sequence_give_the_same_records_as_per_id(
    cli: CLI, big: FakeClose, tmp_path: Path, strategy: str
) -> None:
    leads = lead_ids(big)[:40]
    ids = write_ids(tmp_path / "ids.txt", leads)
    out = tmp_path / f"{strategy}.jsonl"
    ran = export(cli, out, "--lead-ids", ids, "--strategy", strategy)
    assert ran.code == 0, ran.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))
    assert set(records) == expected_ids(big, leads)
    # A resume must read by sequence, and for leads.
    assert journal(out)[0] == f"{JOURNAL_BY_SEQUENCE.strip()}; input: lead_id"
    assert sorted(journal(out)[1:]) == sorted(sequence_ids(big))
    assert "sequences: 5 done" in ran.err
    assert "read by sequence" in ran.err
    assert list_requests(big) < len(leads)


def by_sequence_cut(
    cli: CLI, big: FakeClose, tmp_path: Path, *args: str | Path
) -> tuple[Path, list[str], int]:
    """Export by sequence, then cut the output back to what an interrupted run leaves: the
    records of the first two sequences (journaled), and 30 of the third's (not journaled)."""
    full = tmp_path / "full.jsonl"
    assert export(cli, full, *args).code == 0
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    done, cut = sequence_ids(big)[:2], sequence_ids(big)[2]
    kept = [line for line in lines if any(seq in line for seq in done)]
    kept += [line for line in lines if cut in line][:30]
    out = tmp_path / "subs.jsonl"
    out.write_text("".join(kept), encoding="utf-8")
    header = [JOURNAL_BY_SEQUENCE] if "--lead-ids" in args else []
    (tmp_path / "subs.jsonl.done").write_text(
        "".join([*header, *(f"{seq}\n" for seq in done)]), encoding="utf-8"
    )
    return out, done, len(kept)


@pytest.mark.parametrize("source", ["--all", "--lead-ids"])
def test_resume_of_a_read_by_sequence_reads_only_the_sequences_left(
    cli: CLI, big: FakeClose, tmp_path: Path, source: str
) -> None:
    leads = lead_ids(big)
    args: list[str | Path] = ["--all"]
    if source == "--lead-ids":
        args = ["--lead-ids", write_ids(tmp_path / "ids.txt", leads), "--strategy", "auto"]
    out, done, kept = by_sequence_cut(cli, big, tmp_path, *args)
    big.reset_stats()
    # Resumed without --strategy: the journal says how the export read.
    ran = export(cli, out, *args[:2], "--resume")
    assert ran.code == 0, ran.err
    records = [r["id"] for r in jsonl_records(out)]
    assert len(records) == len(set(records))
    assert set(records) == every_subscription(big)
    assert f"{kept:,} kept from the earlier run, 30 skipped as already written" in ran.err
    assert "2 skipped (done by an earlier run)" in ran.err
    listed = {s for s in sequence_ids(big) if s not in done}
    sizes = [sum(big.state.subscription_counts(s).values()) for s in listed]
    assert list_requests(big) == sum(-(-size // 100) for size in sizes)  # none for `done`
    assert sorted(line for line in journal(out) if not line.startswith("#")) == sorted(
        sequence_ids(big)
    )


def test_a_read_by_sequence_that_journaled_no_sequence_resumes_by_sequence(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    out = tmp_path / "subs.jsonl"
    big.inject("GET", "sequence_subscription", [Fault.response(404)] * 100)
    first = export(cli, out, "--lead-ids", ids, "--strategy", "by_sequence")
    assert first.code == 1, first.err  # every sequence failed: none journaled
    assert journal(out) == [f"{JOURNAL_BY_SEQUENCE.strip()}; input: lead_id"]  # how it read is
    big.clear_faults()
    big.reset_stats()
    # Resumed without --strategy, as the summary says to: by sequence again, not per lead.
    ran = export(cli, out, "--lead-ids", ids, "--resume")
    assert ran.code == 0, ran.err
    assert {r["id"] for r in jsonl_records(out)} == expected_ids(big, lead_ids(big))
    assert "sequences: 5 done, 0 failed" in ran.err
    assert "read by sequence, as the export being resumed did" in ran.err
    assert list_requests(big) < len(lead_ids(big))


def test_resume_refuses_to_read_otherwise_than_the_export_it_finishes(
    cli: CLI, big: FakeClose, tmp_path: Path
) -> None:
    ids = write_ids(tmp_path / "ids.txt", lead_ids(big))
    out, _, _ = by_sequence_cut(cli, big, tmp_path, "--lead-ids", ids, "--strategy", "by_sequence")
    ran = export(cli, out, "--lead-ids", ids, "--resume", "--strategy", "per_id")
    assert ran.code == 2
    assert "exported by sequence" in ran.err
    assert "--strategy by_sequence or auto" in ran.err
    per_id = tmp_path / "per_id.jsonl"
    per_id.with_name("per_id.jsonl.done").write_text(f"{lead_ids(big)[0]}\n", encoding="utf-8")
    per_id.write_text("", encoding="utf-8")
    ran = export(cli, per_id, "--lead-ids", ids, "--resume", "--strategy", "by_sequence")
    assert ran.code == 2
    assert "exported per ID" in ran.err


def test_strategy_is_for_leads_and_contacts(cli: CLI, big: FakeClose, tmp_path: Path) -> None:
    ran = export(cli, tmp_path / "x.jsonl", "--all", "--strategy", "auto")
    assert ran.code == 2
    assert "--strategy is for --lead-ids and --contact-ids" in ran.err
    assert big.stats.requests == 0


def test_the_demo_picks_a_strategy_and_says_what_it_saved(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    ran = cli("demo", "--leads", "300", "--latency", "0", "--out", out, "--no-progress")
    assert ran.code == 0, ran.err
    assert "Strategy: by sequence: " in ran.out
    assert "instead of at least 300 per ID" in ran.out
    assert "Saved: " in ran.out
    assert "requests against reading per lead (at least 300)" in ran.out
    assert "fit in without waiting" in ran.out  # not "needed at least 0 s"
    ran = cli(
        "demo", "--leads", "20", "--latency", "0", "--strategy", "per_id",
        "--out", tmp_path / "per_id.jsonl", "--no-progress",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert "Strategy: per ID, as asked." in ran.out
    assert "Saved" not in ran.out


@pytest.mark.parametrize(
    ("then", "was"),
    [(("--contact-ids",), "--lead-ids"), (("--all",), "--lead-ids")],
)
def test_a_resume_of_a_read_by_sequence_with_another_kind_of_input_is_refused(
    cli: CLI, big: FakeClose, tmp_path: Path, then: tuple[str, ...], was: str
) -> None:
    leads = lead_ids(big)[:40]
    out = tmp_path / "subs.jsonl"
    ids = write_ids(tmp_path / "ids.txt", leads)
    assert export(cli, out, "--lead-ids", ids, "--strategy", "by_sequence").code == 0
    kept = out.read_text(encoding="utf-8")
    contacts = sorted({s["contact_id"] for s in big.state.subscriptions() if s["contact_id"]})
    source = [*then, write_ids(tmp_path / "c.txt", contacts[:3])] if then[0] != "--all" else then
    big.reset_stats()
    # Its journal lists sequences read for leads: reading them for contacts (or every
    # subscription) into the same file would mix two exports.
    ran = export(cli, out, *source, "--resume")
    assert ran.code == 2, ran.err
    assert was in ran.err
    assert out.read_text(encoding="utf-8") == kept
    assert big.stats.requests == 0
