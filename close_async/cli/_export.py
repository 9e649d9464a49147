"""The files of a resumable export: the input IDs, the output, its journal and its failures.

``<out>`` holds whole records only: records are written in batches of whole lines (a JSONL
line or a CSV row), and the command stops only between batches (Ctrl-C cancels the export
at an ``await``, never inside a write). ``<out>.done`` is the journal: an ID is appended to
it, with its number of records (``ID<TAB>count``), once all its records are in ``<out>``.
Each batch of records is flushed and fsynced before the journal names their IDs, so even
after an OS crash or a power cut the journal does not claim records the disk lacks (an
fsync per batch, at most about two a second, keeps the throughput). ``<out>.failed`` lists
the IDs that failed in the last run (``ID<TAB>error``).

The journal's IDs are the units the export read: the input IDs when it read per ID, the
sequences when it read by sequence. An export of leads or contacts read by sequence says so,
and for which kind of input, in the journal's first line (``JOURNAL_BY_SEQUENCE``), so that a
resume reads the same way, and is refused if given another kind of input.

Resuming (``--resume``) reads the journal and skips those IDs; drops a partial last record
(only a crash in the middle of a write could leave one); remembers the subscription ids
already in ``<out>`` whose ID is not in the journal (an ID cut off mid-way is listed again,
and its records already written must not be written twice); and appends. A journaled ID
with fewer records in ``<out>`` than its count (a journal ahead of its output: a file
system that lost the end of ``<out>`` but not of the journal) is treated as cut off
mid-way: listed again, never dropped.

Nothing here does network I/O; the command that drives an export is in ``_commands.py``.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import attrs

from .._json import loads
from .._models import SequenceSubscription
from .._params import check_id
from ._errors import UsageError
from ._formats import SUBSCRIPTION_COLUMNS, RecordEncoder, encoder_for

__all__ = [
    "ExportResult",
    "ExportWriter",
    "IdSource",
    "journal_path",
    "failed_path",
    "read_ids",
    "summary",
]

FLUSH_RECORDS: Final = 1000
FLUSH_SECONDS: Final = 0.5
_FORMAT_NAMES: Final = {"jsonl": "JSON Lines", "csv": "CSV"}
#: The first line of the journal of a lead or contact export that read by sequence (its
#: other lines are then sequence IDs). A ``#`` cannot be part of a Close ID.
JOURNAL_BY_SEQUENCE: Final = "# read by sequence: the IDs below are sequences\n"
#: What follows it on that line: the kind of the input IDs (lead_id or contact_id), so that
#: a resume with another kind is refused rather than mixing two exports in one file.
_JOURNAL_INPUT: Final = "; input: "


#: The option of each kind of input, by the field that names it in a record.
_KIND_OPTIONS: Final = {
    "lead_id": "--lead-ids",
    "contact_id": "--contact-ids",
    "sequence_id": "--sequence-ids or --all",
}


def journal_path(out: Path) -> Path:
    """Return the journal of an output: ``<out>.done``."""
    return out.with_name(out.name + ".done")


def failed_path(out: Path) -> Path:
    """Return the failures file of an output: ``<out>.failed``."""
    return out.with_name(out.name + ".failed")


def read_ids(lines: Iterable[str]) -> Iterator[str]:
    """Yield the IDs of an input: one per line, whitespace stripped, blanks and ``#`` comments
    skipped (a ``#`` cannot be part of a Close ID, so a comment may follow an ID)."""
    for line in lines:
        value = line.split("#", 1)[0].strip()
        if value:
            yield value


def _id_problem(value: str) -> str | None:
    try:
        check_id(value, "ID")
    except ValueError as exc:
        return str(exc)
    return None


class IdSource:
    """The IDs to export, read lazily from a file (or ``-`` for stdin), minus those done.

    A file is read twice: once now to count (the progress bar's total), then lazily while
    the export runs. Stdin is read once, so its total is unknown. IDs that are not Close IDs
    are set aside in ``invalid`` (they would fail anyway) instead of being sent.
    """

    def __init__(self, path: str, *, done: Collection[str] = frozenset()) -> None:
        self.path = path
        self._done = done
        self.seen = 0  # IDs read so far, done or not
        self.skipped = 0  # IDs in the journal already
        self.invalid: list[tuple[str, str]] = []
        self.total: int | None = None
        if path != "-":
            values = 0
            self.total = 0
            for value in self._read():
                values += 1
                if value not in done and _id_problem(value) is None:
                    self.total += 1
            if not values:
                raise UsageError(self.no_ids())
        self._iterator = self._ids()

    def no_ids(self) -> str:
        """Say that the input holds no ID at all."""
        where = "stdin" if self.path == "-" else self.path
        return f"{where} holds no IDs: give one ID a line (blank lines and # comments are skipped)"

    def _read(self) -> Iterator[str]:
        if self.path == "-":
            yield from read_ids(sys.stdin)
            return
        try:
            with open(self.path, encoding="utf-8") as lines:
                yield from read_ids(lines)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read IDs from {self.path}: {exc}") from None

    def _ids(self) -> Generator[str, None, None]:
        for value in self._read():
            self.seen += 1
            if value in self._done:
                self.skipped += 1
            elif (problem := _id_problem(value)) is not None:
                self.invalid.append((value, problem))
            else:
                yield value

    def __iter__(self) -> Iterator[str]:
        return self._iterator

    def close(self) -> None:
        """Close the input file, if the export stopped before reading all of it."""
        self._iterator.close()


def _whole_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield each newline-terminated line of a file, with the offset just past it.

    A last line without its newline is a partial write: it is not yielded.
    """
    offset = 0
    with open(path, "rb") as file:
        for line in file:
            if not line.endswith(b"\n"):
                return
            offset += len(line)
            yield offset, line


@attrs.define
class _Scan:
    """What a resumed export finds in an existing output."""

    length: int = 0  # bytes of whole records (and header) to keep
    records: int = 0
    written: set[str] = attrs.field(factory=set)  # ids of subscriptions of unfinished IDs
    counts: Counter[str] = attrs.field(factory=Counter)  # records of each journaled ID


def _not_resumable(path: Path, where: str, what: str) -> UsageError:
    return UsageError(f"cannot resume {path}: {where} is not {what}; was it written by an export?")


def _other_fields(path: Path, found: Collection[str], columns: tuple[str, ...]) -> None:
    """Refuse to resume an output whose records hold other fields than ``columns`` (the
    fields this run asks for): appending would mix records of two shapes in one file."""
    held = [column for column in SUBSCRIPTION_COLUMNS if column in found]
    if columns == SUBSCRIPTION_COLUMNS:
        fits = len(held) == len(SUBSCRIPTION_COLUMNS)
    else:  # what Close leaves out of a record read with fields= is not documented: a subset
        fits = set(held) <= set(columns)
    if fits:
        return
    if len(held) == len(SUBSCRIPTION_COLUMNS):
        advice = "resume without --fields"
    else:
        advice = f"resume with --fields {','.join(c for c in held if c != 'id')}"
    raise UsageError(
        f"cannot resume {path}: its records hold other fields than this run asks for; {advice}"
    )


def _scan_jsonl(path: Path, field: str, done: Collection[str], columns: tuple[str, ...]) -> _Scan:
    scan = _Scan()
    for number, (offset, line) in enumerate(_whole_lines(path), start=1):
        try:
            record = loads(line)  # a ValueError for a line nested too deeply, too
            sub_id = record["id"]
        except (ValueError, TypeError, KeyError):
            raise _not_resumable(path, f"line {number}", "a subscription in JSON") from None
        if number == 1:
            _other_fields(path, record, columns)
        owner = record.get(field)
        if owner in done:
            scan.counts[owner] += 1
        else:
            scan.written.add(sub_id)
        scan.records += 1
        scan.length = offset
    return scan


def _scan_csv(path: Path, field: str, done: Collection[str], columns: tuple[str, ...]) -> _Scan:
    scan = _Scan()
    consumed = 0  # bytes read by the csv reader so far: it never reads ahead of a row
    exhausted = False

    def texts() -> Iterator[str]:
        nonlocal consumed, exhausted
        for offset, line in _whole_lines(path):
            consumed = offset
            yield line.decode("utf-8")
        exhausted = True

    rows = csv.reader(texts(), strict=True)
    id_at, field_at = columns.index("id"), columns.index(field)
    try:
        for number, row in enumerate(rows, start=1):
            if number == 1:
                if tuple(row) != columns:
                    if "id" in row and set(row) <= set(SUBSCRIPTION_COLUMNS):
                        _other_fields(path, row, columns)  # an export with other --fields
                    raise _not_resumable(path, "its header", "the subscription columns")
            elif len(row) != len(columns):
                raise _not_resumable(path, f"row {number}", "a subscription")
            else:
                if row[field_at] in done:
                    scan.counts[row[field_at]] += 1
                else:
                    scan.written.add(row[id_at])
                scan.records += 1
            scan.length = consumed
    except csv.Error:
        if not exhausted:
            raise _not_resumable(path, "its content", "valid CSV") from None
        # A quoted cell cut off by the end of the file: a partial last record, dropped.
    except UnicodeDecodeError:
        raise _not_resumable(path, "its content", "UTF-8 text") from None
    return scan


def _journal_header(kind: str) -> str:
    """The journal's first line for a ``kind`` (lead_id, contact_id) export read by
    sequence: its IDs are sequences, and only the input's kind tells what was kept."""
    return f"{JOURNAL_BY_SEQUENCE.rstrip()}{_JOURNAL_INPUT}{kind}\n"


def _scan_journal(path: Path) -> tuple[int, dict[str, int | None], bool, str | None]:
    """Read a journal: its whole lines' length, each ID with its count of records (None for
    a line without one), whether it read by sequence, and then for which kind of input (None
    when its header does not say)."""
    done: dict[str, int | None] = {}
    length = 0
    by_sequence = False
    kind: str | None = None
    for length, line in _whole_lines(path):  # noqa: B007 - length: the last whole line's end
        value, _, count = line.decode("utf-8", errors="replace").strip().partition("\t")
        if value.startswith(JOURNAL_BY_SEQUENCE.rstrip()):
            by_sequence = True
            kind = value.partition(_JOURNAL_INPUT)[2] or kind
        elif value and not value.startswith("#"):
            done[value] = int(count) if count.isdecimal() else None
    return length, done, by_sequence, kind


def _other_kind(out: Path, kind: str, field: str) -> UsageError:
    """The error for a resume whose input is of another kind than the export's."""
    return UsageError(
        f"cannot resume {out}: it was begun with {_KIND_OPTIONS[kind]} ({kind[:-3]} IDs), and "
        f"this run reads {field[:-3]}s; resume it with {_KIND_OPTIONS[kind]}, as it was begun"
    )


def _sniff(path: Path) -> str | None:
    """Tell the format of an output by its first line: ``jsonl``, ``csv``, or None."""
    for _, line in _whole_lines(path):
        if line.startswith(b"{"):
            return "jsonl"
        return "csv" if b"id" in line.rstrip(b"\r\n").split(b",") else None
    return None


def _truncate(path: Path, length: int) -> bool:
    """Cut a file to ``length`` bytes; return whether there was anything to cut."""
    if path.stat().st_size <= length:
        return False
    with open(path, "r+b") as file:
        file.truncate(length)
    return True


class ExportWriter:
    """Write an export's records, journal and failures so that a stop leaves them consistent.

    ``prepare()`` checks the output (and reads it, with ``resume``); entering the context
    opens the files; leaving it flushes what is buffered and closes them, whatever happened.
    ``write(sub)`` buffers a record (or skips it when a resumed export has it already);
    ``id_done(id)`` (``list_many``'s ``on_id_done``) journals an ID with the next flush. A
    flush happens every ``flush_records`` records or ``flush_seconds``.
    """

    def __init__(
        self,
        out: Path,
        *,
        fmt: str,
        field: str,
        resume: bool,
        columns: Sequence[str] = SUBSCRIPTION_COLUMNS,
        flush_records: int = FLUSH_RECORDS,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.field = field  # the input's kind: lead_id, contact_id or sequence_id
        self.kind = field  # the same, kept when ``field`` becomes a resumed read's sequence_id
        self.resume = resume
        self.format = fmt
        self.columns = tuple(columns)
        self.encoder: RecordEncoder = encoder_for(fmt, columns)
        self.done: set[str] = set()  # IDs journaled by an earlier run
        self.journal_ahead = 0  # journaled IDs found short of records, listed again
        # Whether the earlier run of a lead or contact export read by sequence (its journal
        # lists sequences); None when there was no earlier run's journal to tell.
        self.read_by_sequence: bool | None = None
        self._journal_header = ""
        self.kept = 0  # records found in the output when resuming
        self.dropped_partial = False
        self.written = 0
        self.skipped = 0
        self.journaled = 0  # IDs journaled by this run
        self._written_before: set[str] = set()
        self._records: list[str] = []
        self._ids: list[tuple[str, int]] = []
        self._flush_records = flush_records
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._last_flush = clock()
        self._out: IO[str] | None = None
        self._journal: IO[str] | None = None
        self._prepared = False

    def prepare(self) -> None:
        """Check the output and, when resuming, read what it holds; create nothing yet.

        Called by ``__enter__`` if not before; call it first to learn ``done`` (the IDs to
        skip) before anything else can fail and leave a new, empty output behind.
        """
        if self._prepared:
            return
        out = self.out
        if not self.resume and out.exists() and out.stat().st_size > 0:
            raise UsageError(
                f"{out} exists: pass --resume to finish that export, or choose another --out"
            )
        try:
            if self.resume and out.exists():
                self._read_existing()
        except OSError as exc:
            raise UsageError(f"cannot resume {out}: {exc.strerror}") from None
        self._prepared = True

    def __enter__(self) -> ExportWriter:
        self.prepare()
        out, journal = self.out, journal_path(self.out)
        try:
            if not self.resume or not out.exists():
                journal.unlink(missing_ok=True)  # it belonged to another output
            # newline="": records carry their own "\n", written as is on every platform.
            self._out = open(out, "a", encoding="utf-8", newline="")
            self._journal = open(journal, "a", encoding="utf-8", newline="")
            if self._out.tell() == 0 and self.encoder.header is not None:
                self._out.write(self.encoder.header)
        except OSError as exc:
            self._close_files()
            raise UsageError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.flush()
        finally:
            self._close_files()

    def _read_existing(self) -> None:
        out, journal = self.out, journal_path(self.out)
        found = _sniff(out)
        if found is not None and found != self.format:
            raise UsageError(
                f"cannot resume {out}: it holds {_FORMAT_NAMES[found]}, not "
                f"{_FORMAT_NAMES[self.format]}; pass --format {found}"
            )
        counts: dict[str, int | None] = {}
        if journal.exists():
            length, counts, self.read_by_sequence, kind = _scan_journal(journal)
            _truncate(journal, length)
            if self.read_by_sequence:
                if kind is not None and kind != self.field:
                    raise _other_kind(out, kind, self.field)
                self.field = "sequence_id"  # the journal's IDs are the records' sequences
        self.done = set(counts)
        scan = self._scan()
        short = {i for i in self.done if (counts[i] or 0) > scan.counts[i]}
        if short:  # the journal is ahead of the output: list those IDs again
            self._check_kind(short)  # ... unless they are of another kind than this run's
            self.done -= short
            self.journal_ahead = len(short)
            scan = self._scan()
        self.dropped_partial = _truncate(out, scan.length)
        self.kept = scan.records
        self._written_before = scan.written

    def _check_kind(self, short: Collection[str]) -> None:
        """Refuse a resume whose input is of another kind than the export's (contacts into
        an export of leads, say): its journaled IDs, short of records by this kind, are
        the records' leads (contacts, sequences). Listing them again would mix two exports."""
        others = [kind for kind in _KIND_OPTIONS if kind != self.field]
        for record in self._output_records():
            for kind in others:
                if record.get(kind) in short:
                    raise _other_kind(self.out, kind, self.field)

    def _output_records(self) -> Iterator[Mapping[str, object]]:
        """The whole records of the output, as mappings (to look at, not to check)."""
        if self.format == "jsonl":
            for _, raw in _whole_lines(self.out):
                with contextlib.suppress(ValueError):
                    record = loads(raw)
                    if isinstance(record, dict):
                        yield record
            return
        lines = (line.decode("utf-8", errors="replace") for _, line in _whole_lines(self.out))
        with contextlib.suppress(csv.Error):  # a cut-off last row
            yield from csv.DictReader(lines, strict=True)

    def _scan(self) -> _Scan:
        if self.format == "jsonl":
            return _scan_jsonl(self.out, self.field, self.done, self.columns)
        return _scan_csv(self.out, self.field, self.done, self.columns)

    def write(self, sub: SequenceSubscription) -> None:
        """Buffer one subscription, unless a resumed export has written it already."""
        if sub.id in self._written_before:
            self._written_before.discard(sub.id)  # it comes once per run: free the memory
            self.skipped += 1
            return
        self._records.append(self.encoder.encode(sub))
        self.written += 1
        self._maybe_flush()

    def journal_by_sequence(self) -> None:
        """Say in the journal, at once, that this export reads by sequence: a resume must
        read so too, even if the run stops before it journals a sequence."""
        if not self._journal_header:
            self._journal_header = _journal_header(self.kind)
            self.flush()

    def id_done(self, id_: str, count: int = 0) -> None:
        """Journal an ID and its ``count`` of records (with the next flush, after its
        records): all its records are in."""
        self._ids.append((id_, count))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (
            len(self._records) >= self._flush_records
            or self._clock() - self._last_flush >= self._flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered records and get them to disk, then journal their IDs: in that
        order, so that no crash (of the process or of the machine) leaves the journal ahead."""
        self._last_flush = self._clock()
        if self._out is None or self._journal is None:
            return
        if self._records:
            self._out.write("".join(self._records))
            self._records.clear()
            self._out.flush()
            os.fsync(self._out.fileno())
        if self._journal_header and self._journal.tell() == 0:
            self._journal.write(self._journal_header)
            self._journal.flush()
        if self._ids:
            self._journal.write("".join(f"{id_}\t{count}\n" for id_, count in self._ids))
            self.journaled += len(self._ids)
            self._ids.clear()
            self._journal.flush()

    def _close_files(self) -> None:
        for file in (self._out, self._journal):
            if file is not None:
                file.close()
        self._out = self._journal = None

    def write_failures(self, failures: Iterable[tuple[str, str]]) -> int:
        """Write ``<out>.failed`` (or remove a stale one when nothing failed); return the count."""
        lines = [f"{id_}\t{' '.join(error.split())}\n" for id_, error in failures]
        path = failed_path(self.out)
        if not lines:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            return 0
        with open(path, "w", encoding="utf-8", newline="") as file:
            file.writelines(lines)
        return len(lines)


@attrs.frozen(kw_only=True)
class ExportResult:
    """What an export did, for its summary."""

    out: Path
    ids_done: int  # finished by this run, all their records written
    ids_failed: int
    ids_total_done: int  # journaled, this run and earlier ones
    ids_skipped: int  # journaled by an earlier run, so not listed again
    written: int
    skipped: int  # already in the output (a resumed ID cut off mid-way)
    kept: int  # records found in the output when resuming
    requests: int
    retries: int
    rate_limited: int
    rate_limit_wait: float
    elapsed: float
    interrupted_by: int | None = None  # the signal that stopped the export
    relisted: int = 0  # journaled IDs whose records were not all in the output, listed again
    units: str = "IDs"  # what ids_* count: "IDs", or "sequences" when read by sequence
    strategy_reason: str = ""  # how the export read, and why
    estimates: Mapping[str, int] = attrs.field(factory=dict)  # requests, per strategy


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def summary(result: ExportResult) -> list[str]:
    """Return the lines that tell what an export did."""
    ids = f"{result.units}: {result.ids_done:,} done, {result.ids_failed:,} failed"
    if result.ids_skipped:
        ids += f", {result.ids_skipped:,} skipped (done by an earlier run)"
    if result.relisted:
        ids += (
            f", {result.relisted:,} listed again (journaled, but their records were not all "
            "in the output)"
        )
    subs = f"subscriptions: {result.written:,} written"
    if result.kept or result.skipped:
        subs += (
            f" ({result.kept:,} kept from the earlier run, "
            f"{result.skipped:,} skipped as already written)"
        )
    rate = result.written / result.elapsed if result.elapsed > 0 else 0.0
    lines = [
        ids,
        *([f"read {result.strategy_reason}"] if result.strategy_reason else []),
        subs,
        f"requests: {result.requests:,}, retries: {result.retries:,}, "
        f"429s: {result.rate_limited:,}, waits for the rate limit: "
        f"{result.rate_limit_wait:.1f} s summed over requests",
        f"elapsed: {result.elapsed:.1f} s, {rate:,.0f} subscriptions/s",
        f"output: {result.out}",
    ]
    if result.ids_failed:
        lines.append(
            f"failed: {_count(result.ids_failed, result.units[:-1])} listed in "
            f"{failed_path(result.out)}"
        )
    return lines
