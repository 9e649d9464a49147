"""The commands that talk to Close: one ``asyncio.run`` per invocation, one client each."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs

from .._client import DEFAULT_BASE_URL, DEFAULT_MAX_CONCURRENCY, ENV_API_KEY, CloseClient
from .._convert import unstructure
from .._exceptions import AuthenticationError, PermissionDeniedError
from .._fanout import FanOut, Progress
from .._models import SequenceSubscription
from ._errors import EXIT_FAILED_IDS, EXIT_OK, UsageError, exit_code_for_signal
from ._export import ExportResult, ExportWriter, IdSource, summary
from ._formats import (
    SEQUENCE_COLUMNS,
    SUBSCRIPTION_TABLE_COLUMNS,
    encoder_for,
    export_format,
    json_text,
    jsonl_line,
    sequence_row,
    table,
)
from ._progress import ProgressBar, show_progress

__all__ = [
    "ENV_BASE_URL",
    "ExportJob",
    "client_from_args",
    "export",
    "report_export",
    "sequences_get",
    "sequences_list",
    "subscriptions_export",
    "subscriptions_get",
    "subscriptions_list",
    "subscriptions_pause",
    "subscriptions_resume",
]

ENV_BASE_URL = "CLOSE_BASE_URL"
ID_KINDS = ("lead", "contact", "sequence")
Handler = Callable[[argparse.Namespace], int]
# Errors of the credential, not of one ID: an export stops at the first (exit 3).
_FATAL = (AuthenticationError, PermissionDeniedError)


def client_from_args(args: argparse.Namespace, *, concurrency: int = 0) -> CloseClient:
    """Build the client from the global options and the environment.

    Raise ``UsageError`` when there is no API key or a setting is refused.
    """
    api_key = args.api_key or os.environ.get(ENV_API_KEY)
    if not api_key or not api_key.strip():
        raise UsageError(
            f"no API key: set {ENV_API_KEY} or pass --api-key "
            "(Close: Settings > Developer > API Keys)"
        )
    settings: dict[str, Any] = {
        "base_url": args.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    }
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if args.max_retries is not None:
        settings["max_retries"] = args.max_retries
    if concurrency > DEFAULT_MAX_CONCURRENCY:
        settings["max_concurrency"] = concurrency  # list_many never exceeds the client's
    try:
        return CloseClient(api_key, **settings)
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
    async with client_from_args(args) as close:
        subs = close.sequence_subscriptions.list(**filters, limit=args.limit)
        if args.format == "table":
            rows = [unstructure(sub) async for sub in subs]
            print(table(rows, SUBSCRIPTION_TABLE_COLUMNS))
            return EXIT_OK
        encoder = encoder_for(args.format)
        if encoder.header is not None:
            sys.stdout.write(encoder.header)
        async for sub in subs:
            sys.stdout.write(encoder.encode(sub))
    return EXIT_OK


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
        ids: the file of input IDs, or ``-`` for stdin.
        kind: what the IDs are: ``lead``, ``contact`` or ``sequence``.
        out: the output file; ``<out>.done`` and ``<out>.failed`` go beside it.
        format: ``jsonl`` or ``csv``.
        concurrency: the most requests in flight.
        resume: finish the export already in ``out`` rather than refuse to touch it.
        progress: show the bar (True), not (False), or when stderr is a terminal (None).
    """

    ids: str
    kind: str
    out: Path
    format: str
    concurrency: int = 10
    resume: bool = False
    progress: bool | None = None


async def export(close: CloseClient, job: ExportJob) -> ExportResult:
    """Export the subscriptions of the job's IDs into its output; stop cleanly on a signal.

    SIGINT (Ctrl-C) or SIGTERM cancels the export between two records, never inside a
    write: what is buffered is then flushed, so the output holds whole records only and the
    journal is up to date, and ``interrupted_by`` tells which signal stopped it.
    """
    field = f"{job.kind}_id"
    writer = ExportWriter(job.out, fmt=job.format, field=field, resume=job.resume)
    writer.prepare()  # first: it reads the journal, and refuses an existing output
    source = IdSource(job.ids, done=writer.done)
    try:
        enabled = show_progress(job.progress)
        with writer, ProgressBar(total=source.total, enabled=enabled) as bar:

            def on_progress(progress: Progress) -> None:
                bar(progress)
                # A bad credential fails every ID alike: stop at the first, not after all.
                if progress.ids_failed and isinstance(run.failures[-1].error, _FATAL):
                    raise run.failures[-1].error

            run = close.sequence_subscriptions.list_many(
                lead_ids=source if job.kind == "lead" else None,
                contact_ids=source if job.kind == "contact" else None,
                sequence_ids=source if job.kind == "sequence" else None,
                concurrency=job.concurrency,
                on_error="continue",
                on_progress=on_progress,
                on_id_done=writer.id_done,
            )
            signum = await _stop_on_signals(_drain(run, writer))
    finally:
        source.close()
    failures = [(failure.id, str(failure.error)) for failure in run.failures]
    ids_failed = writer.write_failures([*failures, *source.invalid])
    progress = run.progress
    return ExportResult(
        out=job.out,
        ids_done=writer.journaled,
        ids_failed=ids_failed,
        ids_total_done=len(writer.done) + writer.journaled,
        ids_skipped=source.skipped,
        written=writer.written,
        skipped=writer.skipped,
        kept=writer.kept,
        requests=progress.requests,
        retries=progress.retries,
        rate_limited=progress.rate_limited,
        rate_limit_wait=progress.rate_limit_wait,
        elapsed=progress.elapsed,
        interrupted_by=signum,
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


def report_export(result: ExportResult, *, resume_hint: bool = True) -> int:
    """Print the summary of an export on stderr and return the command's exit code."""
    for line in summary(result):
        print(line, file=sys.stderr)
    if result.interrupted_by is not None:
        hint = "; run again with --resume to finish" if resume_hint else ""
        print(f"interrupted: {result.ids_total_done:,} IDs done{hint}", file=sys.stderr)
        return exit_code_for_signal(result.interrupted_by)
    return EXIT_FAILED_IDS if result.ids_failed else EXIT_OK


@_runs
async def subscriptions_export(args: argparse.Namespace) -> int:
    """Export the subscriptions of many leads, contacts or sequences to a file."""
    kind, ids = next(
        (kind, getattr(args, f"{kind}_ids"))
        for kind in ID_KINDS
        if getattr(args, f"{kind}_ids") is not None
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
    )
    async with client_from_args(args, concurrency=job.concurrency) as close:
        result = await export(close, job)
    return report_export(result)
