"""The ``close-async`` argument parser, its dispatch and its exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._client import DEFAULT_BASE_URL
from .._exceptions import CloseError
from .._params import check_id
from .._strategy import AUTO, STRATEGIES
from .._version import __version__
from ..testing._cli import add_arguments as add_fake_arguments
from . import _commands as commands
from ._demo import DEMO_LATENCY, DEMO_LEADS, DEMO_RATE_LIMIT, DEMO_SEED, demo
from ._errors import EXIT_API_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from ._formats import EXPORT_FORMATS

__all__ = ["build_parser", "main"]

PROG = "close-async"
EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE, what `yes | head` gives `yes`

EPILOG = f"""\
credentials: the API key comes from CLOSE_API_KEY (or --api-key, which other users of this
machine can see in the process list); the API root from CLOSE_BASE_URL (or --base-url),
else {DEFAULT_BASE_URL}.

exit codes:
  0    success
  1    the export finished, but some IDs failed (listed in <out>.failed)
  2    usage error: bad arguments, no API key, an output that exists, an unreadable file
  3    Close or the network refused: one line on stderr says why (any close_async.CloseError)
  130  interrupted by Ctrl-C (SIGINT); 143 for SIGTERM. An export can be finished with --resume
  141  stdout was closed early (piped into head, say)
"""


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _count(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def _close_id(text: str) -> str:
    try:
        return check_id(text, "ID")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_connection_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Add the options every command that calls Close takes.

    They are accepted before the command (``close-async --api-key K subscriptions ...``) and
    after it; after it, ``default`` is SUPPRESS so that an option not given there does not
    overwrite one given before.
    """
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--api-key", metavar="KEY", default=default, help="Close API key (default: $CLOSE_API_KEY)"
    )
    group.add_argument(
        "--base-url", metavar="URL", default=default, help="API root (default: $CLOSE_BASE_URL)"
    )
    group.add_argument(
        "--timeout", metavar="SECONDS", type=_seconds, default=default, help="per attempt"
    )
    group.add_argument(
        "--max-retries", metavar="N", type=_count, default=default, help="retries per request"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="log retries and rate-limit waits to stderr (-vv: debug)",
    )


def _add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )


def _add_format_option(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    parser.add_argument(
        "--format",
        choices=choices,
        default=choices[0],
        help=f"output format (default {choices[0]})",
    )


def _add_concurrency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency", metavar="N", type=_positive_int, default=10, help="requests in flight"
    )


def _add_limit_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", metavar="N", type=_count, help="print at most N")


class _Commands:
    """Add leaf commands to a group, each with its handler (and the connection options if
    it calls Close)."""

    def __init__(self, parent: argparse.ArgumentParser, name: str) -> None:
        self._group = parent.add_subparsers(
            title="commands", dest=name, required=True, metavar="COMMAND"
        )
        self._connection = argparse.ArgumentParser(add_help=False)
        _add_connection_options(self._connection, default=argparse.SUPPRESS)

    def group(self, name: str, help: str) -> argparse.ArgumentParser:
        """Add a command that has commands of its own."""
        return self._group.add_parser(name, help=help, description=help)

    def add(
        self,
        name: str,
        handler: commands.Handler,
        *,
        connects: bool = True,
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add a leaf command run by ``handler``."""
        summary = (handler.__doc__ or "").strip().splitlines()[0]
        parser = self._group.add_parser(
            name,
            help=summary,
            description=description or summary,
            parents=[self._connection] if connects else [],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(handler=handler, command_parser=parser)
        return parser


def _add_id(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("id", metavar="ID", type=_close_id, help=f"the {what}'s ID")


def _subscription_commands(parser: argparse.ArgumentParser) -> None:
    subs = _Commands(parser, "subscriptions_command")

    listing = subs.add("list", commands.subscriptions_list)
    filters = listing.add_mutually_exclusive_group(required=True)
    for kind in commands.ID_KINDS:
        filters.add_argument(f"--{kind}-id", metavar="ID", type=_close_id, help=f"of a {kind}")
    _add_format_option(listing, ("table", "jsonl", "csv"))
    _add_limit_option(listing)

    exporting = subs.add(
        "export",
        commands.subscriptions_export,
        description=(
            "Export the subscriptions of many leads, contacts or sequences to a file.\n\n"
            "The input has one ID a line (blank lines and # comments are skipped). The output\n"
            "is written in whole records; <out>.done journals the IDs whose records are all\n"
            "in, <out>.failed lists the IDs that failed (exit 1). After Ctrl-C (exit 130) or a\n"
            "crash, the same command with --resume finishes the job without repeating a\n"
            "record.\n\n"
            "--all exports the whole organisation, sequence by sequence. For leads and\n"
            "contacts, --strategy by_sequence reads every sequence and keeps the input's\n"
            "subscriptions (far fewer requests when most IDs have few; it cannot see the\n"
            "subscriptions of deleted sequences), and auto picks the cheaper way."
        ),
    )
    sources = exporting.add_mutually_exclusive_group(required=True)
    for kind in commands.ID_KINDS:
        sources.add_argument(
            f"--{kind}-ids", metavar="FILE", help=f"file of {kind} IDs, one a line (- for stdin)"
        )
    sources.add_argument(
        "--all", action="store_true", help="every subscription of the organisation"
    )
    exporting.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="for --lead-ids/--contact-ids: read per ID (the default), by sequence, or the "
        "cheaper (auto)",
    )
    exporting.add_argument("--out", metavar="FILE", type=Path, required=True, help="output file")
    exporting.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="output format (default: csv if FILE ends in .csv, else jsonl)",
    )
    _add_concurrency_option(exporting)
    exporting.add_argument(
        "--resume", action="store_true", help="finish the export already in --out"
    )
    _add_progress_option(exporting)

    for name, handler in (
        ("get", commands.subscriptions_get),
        ("pause", commands.subscriptions_pause),
        ("resume", commands.subscriptions_resume),
    ):
        _add_id(subs.add(name, handler), "subscription")


def _sequence_commands(parser: argparse.ArgumentParser) -> None:
    seqs = _Commands(parser, "sequences_command")
    listing = seqs.add("list", commands.sequences_list)
    _add_format_option(listing, ("table", "jsonl"))
    _add_limit_option(listing)
    _add_id(seqs.add("get", commands.sequences_get), "sequence")


def _fake_server(args: argparse.Namespace) -> int:
    """Run a fake Close API for local development, until Ctrl-C."""
    from ..testing._cli import fake_from_args, serve

    try:
        fake = fake_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        asyncio.run(serve(fake))
    except OSError as exc:  # typically: the port is in use
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every command and option."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Work with Close sequences and their subscriptions from the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_connection_options(parser, default=None)
    top = _Commands(parser, "command")
    _subscription_commands(top.group("subscriptions", "list, export, read, pause, resume"))
    _sequence_commands(top.group("sequences", "list and read sequences"))

    fake = top.add(
        "fake-server",
        _fake_server,
        connects=False,
        description="Run a fake Close API (sequences, subscriptions) for local development, "
        "until Ctrl-C.\nPoint a client at it with the URL=... and API_KEY=... it prints.",
    )
    add_fake_arguments(fake)

    demo_parser = top.add("demo", demo, connects=False)
    demo_parser.add_argument("--leads", metavar="N", type=_positive_int, default=DEMO_LEADS)
    demo_parser.add_argument("--seed", metavar="N", type=_int, default=DEMO_SEED)
    demo_parser.add_argument(
        "--rate-limit",
        metavar="N",
        type=_positive_int,
        default=DEMO_RATE_LIMIT,
        help=f"requests per second per endpoint group (default {DEMO_RATE_LIMIT})",
    )
    demo_parser.add_argument(
        "--latency",
        metavar="SECONDS",
        type=float,
        default=DEMO_LATENCY,
        help=f"per answer (default {DEMO_LATENCY})",
    )
    _add_concurrency_option(demo_parser)
    demo_parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=AUTO,
        help=f"how to read the leads' subscriptions (default {AUTO})",
    )
    demo_parser.add_argument(
        "--out", metavar="FILE", type=Path, help="output file (default: in a new temporary folder)"
    )
    demo_parser.add_argument("--format", choices=EXPORT_FORMATS, help="output format")
    _add_progress_option(demo_parser)
    return parser


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """Send the ``close_async`` logger to stderr while a command runs, if asked."""
    if not verbosity:
        yield
        return
    logger = logging.getLogger("close_async")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``close-async`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's usage error (2)
        return _exit_status(exc)
    command_parser: argparse.ArgumentParser = args.command_parser
    try:
        with _logging(args.verbose):
            code: int = args.handler(args)
            return code
    except UsageError as exc:
        command_parser.print_usage(sys.stderr)
        print(f"{command_parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CloseError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the server sent
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away: stop quietly, and keep Python from complaining again when
        # it flushes stdout on the way out.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_STDOUT_CLOSED
