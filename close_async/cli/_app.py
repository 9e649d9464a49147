"""The ``close-async`` argument parser, its dispatch and its exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from .._defaults import AUTO, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, STRATEGIES
from .._version import __version__
from ..testing._cli import add_arguments as add_fake_arguments
from ._config import (
    DEFAULT_CONCURRENCY,
    DEMO_LATENCY,
    DEMO_LEADS,
    DEMO_RATE_LIMIT,
    DEMO_SEED,
    EXPORT_FORMATS,
    ID_KINDS,
    PROG,
    base_url,
)
from ._errors import EXIT_API_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

__all__ = ["build_parser", "main"]

EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE, what `yes | head` gives `yes`

EPILOG = f"""\
credentials: the API key comes from CLOSE_API_KEY (or --api-key, which other users of this
machine can see in the process list); the API root from CLOSE_BASE_URL (or --base-url),
else {DEFAULT_BASE_URL}.

exit codes:
  0    success
  1    the export finished, but some IDs failed (listed in <out>.failed)
  2    usage error: bad arguments, no API key, an output that exists, an unreadable file
       or one without IDs
  3    Close or the network refused: one line on stderr says why (any close_async.CloseError)
  130  interrupted by Ctrl-C (SIGINT); 143 for SIGTERM. An export can be finished with --resume
  141  stdout was closed early (piped into head, say)
"""


Handler = Callable[[argparse.Namespace], int]


class _LazyHandler:
    """A command's handler, named by module and function and imported when the command runs:
    ``close-async --help`` then loads neither the client nor aiohttp."""

    def __init__(self, module: str, function: str) -> None:
        self.module = module
        self.function = function

    def load(self) -> Handler:
        handler: Handler = getattr(importlib.import_module(self.module, __package__), self.function)
        return handler

    def __call__(self, args: argparse.Namespace) -> int:
        return self.load()(args)


class _Handlers:
    """``commands.subscriptions_list`` names a handler of ``_commands`` without importing it."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, function: str) -> _LazyHandler:
        return _LazyHandler(self._module, function)


commands = _Handlers("._commands")
demo = _LazyHandler("._demo", "demo")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep descriptions as written, and show each option's default (when it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS)
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and a pointer to ``--help``, not
    the whole usage block (``close-async export: error: ...``)."""

    def error(self, message: str) -> NoReturn:
        usage_error(self.prog, message)
        sys.exit(EXIT_USAGE)


def usage_error(prog: str, message: str) -> None:
    """Print a usage error as ``close-async ...: error: <message>`` and how to get help."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    print(f"Try '{prog} --help' for more.", file=sys.stderr)


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
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, not {text}")
    return value


def _close_id(text: str) -> str:
    from .._params import check_id

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
        "--base-url",
        metavar="URL",
        default=default,
        help=f"API root (default: $CLOSE_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=default,
        help="per attempt (default: 60, of which 10 to connect)",
    )
    group.add_argument(
        "--max-retries",
        metavar="N",
        type=_count,
        default=default,
        help=f"retries per request (default: {DEFAULT_MAX_RETRIES})",
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
    parser.add_argument("--format", choices=choices, default=choices[0], help="output format")


def _field_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("give field names, comma-separated: id,lead_id,status")
    return names


def _add_fields_option(parser: argparse.ArgumentParser, also: str) -> None:
    parser.add_argument(
        "--fields",
        metavar="NAMES",
        type=_field_names,
        help="ask Close for these fields only, comma-separated (e.g. lead_id,status); "
        f"id{also} always come too",
    )


def _add_concurrency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help="requests in flight",
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
        handler: Handler,
        *,
        summary: str | None = None,
        connects: bool = True,
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add a leaf command run by ``handler``.

        ``summary`` is its line in the help; by default the first line of the handler's
        docstring, which for a ``_LazyHandler`` costs importing it: give it for those.
        """
        if summary is None:
            loaded = handler.load() if isinstance(handler, _LazyHandler) else handler
            summary = (loaded.__doc__ or "").strip().splitlines()[0]
        parser = self._group.add_parser(
            name,
            help=summary,
            description=description or summary,
            parents=[self._connection] if connects else [],
            formatter_class=_Formatter,
        )
        parser.set_defaults(handler=handler, command_parser=parser)
        return parser


def _add_id(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("id", metavar="ID", type=_close_id, help=f"the {what}'s ID")


def _add_changes_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``subscriptions changes``."""
    parser.add_argument(
        "--since",
        metavar="CHECKPOINT|TIME|@FILE",
        required=True,
        help="a checkpoint printed before (or @FILE holding one), or an ISO 8601 time with "
        "a timezone, e.g. 2024-05-01T00:00:00Z",
    )
    parser.add_argument(
        "--until", metavar="TIME", help="stop before this ISO 8601 time (default: now)"
    )
    parser.add_argument(
        "--follow", action="store_true", help="keep reading new changes until Ctrl-C"
    )
    parser.add_argument(
        "--interval",
        metavar="SECONDS",
        type=_seconds,
        default=10.0,
        help="with --follow: seconds between two reads",
    )
    parser.add_argument("--format", choices=("jsonl",), default="jsonl", help="output format")
    parser.add_argument(
        "--checkpoint-out",
        metavar="FILE",
        type=Path,
        help="also write the checkpoint to FILE after each read (replaced atomically)",
    )


def _subscription_commands(parser: argparse.ArgumentParser) -> None:
    subs = _Commands(parser, "subscriptions_command")

    listing = subs.add(
        "list",
        commands.subscriptions_list,
        summary="Print the subscriptions of one lead, contact or sequence.",
    )
    filters = listing.add_mutually_exclusive_group(required=True)
    for kind in ID_KINDS:
        filters.add_argument(f"--{kind}-id", metavar="ID", type=_close_id, help=f"of a {kind}")
    _add_format_option(listing, ("table", "jsonl", "csv"))
    _add_limit_option(listing)
    _add_fields_option(listing, "")

    exporting = subs.add(
        "export",
        commands.subscriptions_export,
        summary="Export the subscriptions of many leads, contacts or sequences to a file.",
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
    for kind in ID_KINDS:
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
    _add_fields_option(exporting, ", the input's ID and sequence_id (for resuming)")
    exporting.add_argument(
        "--resume", action="store_true", help="finish the export already in --out"
    )
    _add_progress_option(exporting)
    exporting.add_argument(
        "--checkpoint-out",
        metavar="FILE",
        type=Path,
        help="first write where `subscriptions changes --since @FILE` must start after "
        "this export, so that the two miss nothing",
    )
    _add_changes_options(
        subs.add(
            "changes",
            commands.subscriptions_changes,
            summary="Print the changes to subscriptions since a checkpoint or a time.",
            description=(
                "Print the changes to subscriptions since a checkpoint or a time, oldest\n"
                "first, each once, as JSON Lines on stdout; then CHECKPOINT=... on stderr, to\n"
                "pass as --since next time. --follow reads on until Ctrl-C (exit 0)."
            ),
        )
    )

    for name, handler, summary in (
        ("get", commands.subscriptions_get, "Print one subscription as JSON."),
        ("pause", commands.subscriptions_pause, "Pause a subscription and print it as JSON."),
        (
            "resume",
            commands.subscriptions_resume,
            "Restart a subscription (needs a Close plan with Workflow runs); print it as JSON.",
        ),
    ):
        _add_id(subs.add(name, handler, summary=summary), "subscription")


def _sequence_commands(parser: argparse.ArgumentParser) -> None:
    seqs = _Commands(parser, "sequences_command")
    listing = seqs.add(
        "list", commands.sequences_list, summary="Print the organization's sequences."
    )
    _add_format_option(listing, ("table", "jsonl"))
    _add_limit_option(listing)
    get = seqs.add("get", commands.sequences_get, summary="Print one sequence as JSON.")
    _add_id(get, "sequence")


def _fake_server(args: argparse.Namespace) -> int:
    """Run a fake Close API for local development, until Ctrl-C."""
    import asyncio

    from ..testing._cli import fake_from_args, serve

    try:
        fake = fake_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.write_ids is not None:
        ids = "".join(f"{lead.id}\n" for lead in fake.state.leads())
        try:
            args.write_ids.write_text(ids, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.write_ids}: {exc.strerror}") from None
    try:
        asyncio.run(serve(fake))
    except OSError as exc:  # typically: the port is in use
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    return EXIT_OK


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--leads", metavar="N", type=_positive_int, default=DEMO_LEADS, help="leads to export"
    )
    parser.add_argument(
        "--seed", metavar="N", type=_int, default=DEMO_SEED, help="seed of the fake's data"
    )
    parser.add_argument(
        "--rate-limit",
        metavar="N",
        type=_positive_int,
        default=DEMO_RATE_LIMIT,
        help="requests per second per endpoint group",
    )
    parser.add_argument(
        "--latency", metavar="SECONDS", type=float, default=DEMO_LATENCY, help="per answer"
    )
    _add_concurrency_option(parser)
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=AUTO,
        help="how to read the leads' subscriptions",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="output file, kept (default: a temporary folder, removed at the end)",
    )
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        help="output format (default: csv if FILE ends in .csv, else jsonl)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="finish the demo export already in --out"
    )
    _add_progress_option(parser)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every command and option."""
    parser = _Parser(
        prog=PROG,
        description="Work with Close sequences and their subscriptions from the command line.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_connection_options(parser, default=None)
    top = _Commands(parser, "command")
    _subscription_commands(top.group("subscriptions", "list, export, changes, get, pause, resume"))
    _sequence_commands(top.group("sequences", "list, get"))

    fake = top.add(
        "fake-server",
        _fake_server,
        connects=False,
        description="Run a fake Close API (sequences, subscriptions) for local development, "
        "until Ctrl-C.\nPoint a client at it with the URL=... and API_KEY=... it prints.",
    )
    add_fake_arguments(fake)
    fake.add_argument(
        "--write-ids",
        metavar="FILE",
        type=Path,
        help="write the fake's lead IDs to FILE, one a line (an input for export)",
    )

    demo_parser = top.add(
        "demo",
        demo,
        summary="Export every lead's subscriptions from an embedded fake Close and tell what "
        "happened.",
        connects=False,
    )
    _demo_options(demo_parser)
    return parser


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """Send the ``close_async`` logger to stderr while a command runs: everything asked for
    with ``-v``, and without it the first retry only (once)."""
    import logging

    from ._messages import FirstRetryNotice

    logger = logging.getLogger("close_async")
    handler: logging.Handler
    if verbosity:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    else:
        handler = FirstRetryNotice()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
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
    except SystemExit as exc:  # --help, --version, or a usage error (2)
        return _exit_status(exc)
    command_parser: argparse.ArgumentParser = args.command_parser
    # Here, not at the top: `close-async --help` needs none of this.
    from .._exceptions import CloseError
    from ._messages import error_line

    try:
        with _logging(args.verbose):
            code: int = args.handler(args)
            return code
    except UsageError as exc:
        usage_error(command_parser.prog, str(exc))
        return EXIT_USAGE
    except CloseError as exc:
        # A command with an ID argument acts on one object; the others list.
        line = error_line(exc, base_url=base_url(args), listing=not hasattr(args, "id"))
        print(f"{PROG}: error: {line}", file=sys.stderr)
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
