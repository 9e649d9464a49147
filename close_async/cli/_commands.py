"""The commands that talk to Close: one ``asyncio.run`` per invocation, one client each."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable
from pathlib import Path
from typing import Any

import attrs

from .. import unstructure
from .._client import CloseClient
from .._defaults import DEFAULT_MAX_CONCURRENCY, ENV_API_KEY
from .._exceptions import AuthenticationError, PermissionDeniedError
from .._fanout import FailedID, FanOut, Progress
from .._fields import check_fields
from .._models import SequenceSubscription
from .._strategy import AUTO, BY_SEQUENCE, PER_ID, Strategy
from ._changes import (
    changes_exit_code,
    check_checkpoint_out,
    read_since,
    read_time,
    run_changes,
    write_export_checkpoint,
)
from ._config import DEFAULT_CONCURRENCY, ID_KINDS, api_key, base_url
from ._errors import EXIT_FAILED_IDS, EXIT_OK, UsageError, exit_code_for_signal
from ._export import ExportResult, ExportWriter, IdSource, journal_path, summary
from ._formats import (
    SEQUENCE_COLUMNS,
    SUBSCRIPTION_TABLE_COLUMNS,
    encoder_for,
    export_format,
    json_text,
    jsonl_line,
    sequence_row,
    subscription_columns,
    table,
)
from ._progress import ProgressBar, show_progress

__all__ = [
    "ExportJob",
    "client_from_args",
    "export",
    "report_export",
    "sequences_get",
    "sequences_list",
    "subscriptions_changes",
    "subscriptions_export",
    "subscriptions_get",
    "subscriptions_list",
    "subscriptions_pause",
    "subscriptions_resume",
]

Handler = Callable[[argparse.Namespace], int]
# Errors of the credential, not of one ID: an export stops at the first (exit 3).
_FATAL = (AuthenticationError, PermissionDeniedError)


def client_from_args(args: argparse.Namespace, *, concurrency: int = 0) -> CloseClient:
    """Build the client from the global options and the environment.

    Raise ``UsageError`` when there is no API key or a setting is refused.
    """
    key = api_key(args)
    if key is None:
        raise UsageError(
            f"no API key: set {ENV_API_KEY} or pass --api-key "
            "(Close: Settings > Developer > API Keys)"
        )
    settings: dict[str, Any] = {"base_url": base_url(args)}
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if args.max_retries is not None:
        settings["max_retries"] = args.max_retries
    if concurrency > DEFAULT_MAX_CONCURRENCY:
        settings["max_concurrency"] = concurrency  # list_many never exceeds the client's
    try:
        return CloseClient(key, **settings)
    except ValueError as exc:  # a base URL that is not https, say; never names the key
        raise UsageError(str(exc)) from None


def _runs(body: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> Handler:
    """Make a command's async body its handler: one event loop per invocation."""

    def handler(args: argparse.Namespace) -> int:
        return asyncio.run(body(args))

    handler.__doc__ = body.__doc__
    return handler


# Reading --------------------------------------------------------------------------------


@_runs
async def subscriptions_list(args: argparse.Namespace) -> int:
    """Print the subscriptions of one lead, contact or sequence."""
    filters = {f"{kind}_id": getattr(args, f"{kind}_id") for kind in ID_KINDS}
    filters = {name: value for name, value in filters.items() if value is not None}
    fields = _fields(args)
    async with client_from_args(args) as close:
        subs = close.sequence_subscriptions.list(**filters, limit=args.limit, fields=fields)
        if args.format == "table":
            rows = [unstructure(sub) async for sub in subs]
            # The filter's column would repeat the argument on every row.
            columns = [
                c
                for c in SUBSCRIPTION_TABLE_COLUMNS
                if c not in filters and (fields is None or c in fields)
            ]
            print(table(rows, columns))
            return EXIT_OK
        encoder = encoder_for(args.format, subscription_columns(fields))
        if encoder.header is not None:
            sys.stdout.write(encoder.header)
        async for sub in subs:
            sys.stdout.write(encoder.encode(sub))
    return EXIT_OK


def _fields(args: argparse.Namespace) -> frozenset[str] | None:
    """The ``--fields`` asked for, checked (with ``id``), or None for every field."""
    names: tuple[str, ...] | None = getattr(args, "fields", None)
    try:
        return check_fields(names, SequenceSubscription)
    except ValueError as exc:
        # The library's message starts "fields: ", naming its argument: name the option.
        raise UsageError(f"--fields: {str(exc).removeprefix('fields: ')}") from None


@_runs
async def sequences_list(args: argparse.Namespace) -> int:
    """Print the organization's sequences."""
    async with client_from_args(args) as close:
        sequences = close.sequences.list(limit=args.limit)
        if args.format == "table":
            print(table([sequence_row(seq) async for seq in sequences], SEQUENCE_COLUMNS))
        else:
            async for seq in sequences:
                sys.stdout.write(jsonl_line(seq))
    return EXIT_OK


async def _print_one(
    args: argparse.Namespace, call: Callable[[CloseClient], Awaitable[object]]
) -> int:
    async with client_from_args(args) as close:
        model = await call(close)
    print(json_text(model))
    return EXIT_OK


@_runs
async def subscriptions_get(args: argparse.Namespace) -> int:
    """Print one subscription as JSON."""
    return await _print_one(args, lambda close: close.sequence_subscriptions.get(args.id))


@_runs
async def subscriptions_pause(args: argparse.Namespace) -> int:
    """Pause a subscription and print it as JSON."""
    return await _print_one(args, lambda close: close.sequence_subscriptions.pause(args.id))


@_runs
async def subscriptions_resume(args: argparse.Namespace) -> int:
    """Resume a subscription and print it as JSON."""
    return await _print_one(args, lambda close: close.sequence_subscriptions.resume(args.id))


@_runs
async def sequences_get(args: argparse.Namespace) -> int:
    """Print one sequence as JSON."""
    return await _print_one(args, lambda close: close.sequences.get(args.id))


# Exporting ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ExportJob:
    """What to export, and how.

    Attributes:
        ids: the file of input IDs, ``-`` for stdin, or None for every sequence of the
            organisation (``--all``).
        kind: what the IDs are: ``lead``, ``contact`` or ``sequence``.
        out: the output file; ``<out>.done`` and ``<out>.failed`` go beside it.
        format: ``jsonl`` or ``csv``.
        concurrency: the most requests in flight.
        resume: finish the export already in ``out`` rather than refuse to touch it.
        progress: show the bar (True), not (False), or when stderr is a terminal (None).
        strategy: how to read leads or contacts (``per_id``, ``by_sequence``, ``auto``);
            None: per ID, or as the export being resumed did. Sequences are always read by
            sequence (``list_all``).
        fields: the fields to ask Close for (checked, with ``id``); None for all. The
            export adds what its journal needs: the input's ID and ``sequence_id``.
    """

    ids: str | None
    kind: str
    out: Path
    format: str
    concurrency: int = DEFAULT_CONCURRENCY
    resume: bool = False
    progress: bool | None = None
    strategy: Strategy | None = None
    fields: frozenset[str] | None = None


_WAYS: dict[str, str] = {PER_ID: "per ID", BY_SEQUENCE: "by sequence"}


def _journaled_strategy(writer: ExportWriter) -> Strategy | None:
    """How the export being resumed read, as its journal says: by sequence if its first
    line says so (written before any sequence is done), per ID if it lists IDs; None when
    it journaled nothing, so that a resume may read either way."""
    if writer.read_by_sequence:
        return BY_SEQUENCE
    return PER_ID if writer.done else None


def _strategy(job: ExportJob, resumed: Strategy | None) -> Strategy:
    """The strategy of a lead or contact export: as asked, else as the run it resumes did.

    Raise ``UsageError`` if it was asked to read otherwise than the run it resumes: the
    journal lists sequences for a read by sequence, IDs for a read per ID.
    """
    asked = job.strategy
    if resumed is None:
        return asked or PER_ID
    if asked in (None, AUTO, resumed):
        return resumed
    raise UsageError(
        f"{job.out} was exported {_WAYS[resumed]} (see its journal); "
        f"resume it with --strategy {resumed} or auto"
    )


async def _live_sequences_left(close: CloseClient, done: Collection[str]) -> list[str]:
    """The organisation's sequences not journaled yet (resuming ``--all``)."""
    return [seq.id async for seq in close.sequences.list() if seq.id not in done]


async def _start(
    close: CloseClient,
    job: ExportJob,
    strategy: Strategy | None,
    source: IdSource | None,
    writer: ExportWriter,
    **options: Any,
) -> FanOut[SequenceSubscription]:
    """Start the run that reads what the job asks for: sequences with ``list_all``, leads
    or contacts with ``list_many`` and ``strategy``."""
    subs = close.sequence_subscriptions
    if job.kind == "sequence":
        if source is not None:
            return subs.list_all(source, **options)
        if not writer.done:
            return subs.list_all(**options)
        return subs.list_all(await _live_sequences_left(close, writer.done), **options)
    assert strategy is not None
    assert source is not None
    ids: Iterable[str] = source
    skip: Collection[str] = ()
    if strategy != PER_ID:
        ids = list(source)  # read whole: a read by sequence keeps these IDs' subscriptions
        if strategy == BY_SEQUENCE:
            skip = writer.done  # resuming: the sequences in the journal are done
    return subs.list_many(
        lead_ids=ids if job.kind == "lead" else None,
        contact_ids=ids if job.kind == "contact" else None,
        strategy=strategy,
        skip_sequences=skip,
        **options,
    )


async def export(
    close: CloseClient,
    job: ExportJob,
    *,
    before_reading: Callable[[], Awaitable[None]] | None = None,
) -> ExportResult:
    """Export the subscriptions of the job's IDs into its output; stop cleanly on a signal.

    ``before_reading`` is awaited once the output and input are checked, before any read.

    SIGINT (Ctrl-C) or SIGTERM cancels the export between two records, never inside a
    write: what is buffered is then flushed, so the output holds whole records only and the
    journal is up to date, and ``interrupted_by`` tells which signal stopped it.
    """
    field = f"{job.kind}_id"
    fields = None if job.fields is None else job.fields | {field, "sequence_id"}
    columns = subscription_columns(fields)
    writer = ExportWriter(job.out, fmt=job.format, field=field, resume=job.resume, columns=columns)
    writer.prepare()  # first: it reads the journal, and refuses an existing output
    resumed = strategy = None
    if job.kind != "sequence":
        resumed = _journaled_strategy(writer)
        strategy = _strategy(job, resumed)  # a resume that would read otherwise fails now
    source = None if job.ids is None else IdSource(job.ids, done=writer.done)
    run: FanOut[SequenceSubscription] | None = None
    try:
        if before_reading is not None:
            await before_reading()
        enabled = show_progress(job.progress)
        total = None if source is None else source.total
        with writer, ProgressBar(total=total, enabled=enabled) as bar:

            def on_progress(progress: Progress) -> None:
                bar(progress)
                # Reported once the run has decided, before any ID is done: the journal's
                # IDs will be sequences, say so.
                if job.kind != "sequence" and progress.strategy == BY_SEQUENCE:
                    writer.journal_by_sequence()
                # A bad credential fails every ID alike: stop at the first, not after all.
                if progress.ids_failed and isinstance(run_failures()[-1].error, _FATAL):
                    raise run_failures()[-1].error

            def run_failures() -> list[FailedID]:
                assert run is not None
                return run.failures

            run = await _start(
                close,
                job,
                strategy,
                source,
                writer,
                concurrency=job.concurrency,
                on_error="continue",
                on_progress=on_progress,
                on_id_done=writer.id_done,
                fields=fields,
            )
            signum = await _stop_on_signals(_drain(run, writer))
    finally:
        if source is not None:
            source.close()
    assert run is not None
    if source is not None and source.path == "-" and not source.seen and signum is None:
        raise UsageError(source.no_ids())
    failures = [(failure.id, str(failure.error)) for failure in run.failures]
    invalid = [] if source is None else source.invalid
    ids_failed = writer.write_failures([*failures, *invalid])
    progress = run.progress
    by_sequence = progress.strategy == BY_SEQUENCE
    reason = progress.strategy_reason
    if resumed is not None and job.strategy != resumed:  # not asked: taken from the journal
        reason = f"{_WAYS[resumed]}, as the export being resumed did (see its journal)"
    skipped = source.skipped if source is not None and not by_sequence else len(writer.done)
    return ExportResult(
        out=job.out,
        ids_done=writer.journaled,
        ids_failed=ids_failed,
        ids_total_done=len(writer.done) + writer.journaled,
        ids_skipped=skipped,
        written=writer.written,
        skipped=writer.skipped,
        kept=writer.kept,
        requests=progress.requests,
        retries=progress.retries,
        rate_limited=progress.rate_limited,
        rate_limit_wait=progress.rate_limit_wait,
        elapsed=progress.elapsed,
        interrupted_by=signum,
        relisted=writer.journal_ahead,
        units="sequences" if by_sequence else "IDs",
        strategy_reason=reason,
        estimates={} if run.plan is None else dict(run.plan.estimates),
    )


async def _drain(run: FanOut[SequenceSubscription], writer: ExportWriter) -> None:
    # `async with`: a cancellation (a signal) stops the run's requests before going on.
    async with run:
        async for sub in run:
            writer.write(sub)


async def _stop_on_signals(work: Coroutine[Any, Any, None]) -> int | None:
    """Run ``work``; on SIGINT or SIGTERM cancel it, and return the signal's number.

    A handler on the event loop, rather than Python's default KeyboardInterrupt, which could
    fly out of any line, a write included.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received:  # a second Ctrl-C must not cut the clean-up short
            received.append(signum)
            task.cancel()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored on purpose (a background job of a script): keep it so
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            continue
        installed.append(signum)
    try:
        await task
    except asyncio.CancelledError:
        if not received:
            raise  # we were cancelled, not stopped by a signal
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    return received[0] if received else None


def report_export(
    result: ExportResult, *, resume_hint: str = "run again with --resume to finish"
) -> int:
    """Print the summary of an export on stderr and return the command's exit code."""
    for line in summary(result):
        print(line, file=sys.stderr)
    if result.interrupted_by is not None:
        done = f"interrupted: {result.ids_total_done:,} {result.units} done"
        print(f"{done}; {resume_hint}", file=sys.stderr)
        return exit_code_for_signal(result.interrupted_by)
    return EXIT_FAILED_IDS if result.ids_failed else EXIT_OK


def _begun(out: Path) -> bool:
    """Whether an earlier run of an export has read anything into ``out`` (or its journal)."""
    return any(path.exists() and path.stat().st_size > 0 for path in (out, journal_path(out)))


@_runs
async def subscriptions_export(args: argparse.Namespace) -> int:
    """Export the subscriptions of many leads, contacts or sequences to a file."""
    if args.all:
        kind, ids = "sequence", None
    else:
        kind, ids = next(
            (kind, getattr(args, f"{kind}_ids"))
            for kind in ID_KINDS
            if getattr(args, f"{kind}_ids") is not None
        )
    if args.strategy is not None and kind == "sequence":
        raise UsageError(
            "--strategy is for --lead-ids and --contact-ids: sequences are read by sequence"
        )
    out: Path = args.out
    job = ExportJob(
        ids=ids,
        kind=kind,
        out=out,
        format=export_format(out, args.format),
        concurrency=args.concurrency,
        resume=args.resume,
        progress=args.progress,
        strategy=args.strategy,
        fields=_fields(args),
    )
    checkpoint_out: Path | None = getattr(args, "checkpoint_out", None)
    new_checkpoint = check_checkpoint_out(checkpoint_out, resume=args.resume)
    if new_checkpoint and args.resume and _begun(out):
        # Taken now, it would miss what changed after the earlier run read it.
        raise UsageError(
            f"--checkpoint-out {checkpoint_out} does not exist, but {out} was begun before "
            "without it: a checkpoint taken now would miss the changes since that run read "
            "its first records; export again into a new --out with --checkpoint-out"
        )
    async with client_from_args(args, concurrency=job.concurrency) as close:

        async def write_checkpoint() -> None:
            # Before any read: the changes since it then miss nothing of the export's time.
            if new_checkpoint and checkpoint_out is not None:
                await write_export_checkpoint(close, checkpoint_out)

        result = await export(close, job, before_reading=write_checkpoint)
    return report_export(result)


@_runs
async def subscriptions_changes(args: argparse.Namespace) -> int:
    """Print the changes to subscriptions since a checkpoint or a time, oldest first."""
    since = read_since(args.since)
    until = None if args.until is None else read_time(args.until, "--until")
    async with client_from_args(args) as close:
        signum = await _stop_on_signals(
            run_changes(
                close,
                since,
                until=until,
                follow=args.follow,
                interval=args.interval,
                checkpoint_out=args.checkpoint_out,
            )
        )
    return changes_exit_code(args.follow, signum)
