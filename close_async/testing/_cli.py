"""The command line server: `python -m close_async.testing --port 8080 --leads 1000 ...`.

`add_arguments`, `fake_from_args` and `serve` are separate so that another command line (a
`close-async fake-server` subcommand) can reuse them:
`asyncio.run(serve(fake_from_args(args)))`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._defaults import DEFAULT_API_KEY, DEFAULT_OAUTH_TOKEN, RATELIMIT_SEPARATORS

# The server (aiohttp.web), its faults and asyncio load when a fake is built or served, not
# for `--help` (`close-async --help` adds the options below to its own parser).
if TYPE_CHECKING:
    from ._fake import FakeClose


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fake server's options to `parser`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free port)")
    parser.add_argument("--leads", type=int, default=100, help="generated leads (default 100)")
    parser.add_argument("--sequences", type=int, default=10, help="generated sequences")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="accepted API key")
    parser.add_argument(
        "--extra-api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="another accepted API key of the organization (repeatable)",
    )
    parser.add_argument("--oauth-token", default=DEFAULT_OAUTH_TOKEN, help="accepted Bearer token")
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per window per key and group"
    )
    parser.add_argument("--rate-window", type=float, default=1.0, help="window in seconds")
    parser.add_argument(
        "--organization-rate-limit",
        type=int,
        default=None,
        help="requests per window per group across all keys (Close's: 3x --rate-limit)",
    )
    parser.add_argument(
        "--ratelimit-separator",
        choices=RATELIMIT_SEPARATORS,
        default=",",
        help="separator in the RateLimit header (',' documented, ';' seen live)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer (+/-25%%)")
    for name, kind in (
        ("503", "a 503 JSON error"),
        ("502-html", "an nginx HTML 502"),
        ("429-storm", "a 429 storm on the group"),
        ("drop", "a dropped connection"),
        ("stall", "a stalled answer"),
    ):
        parser.add_argument(
            f"--fail-{name}", type=float, default=0.0, help=f"probability of {kind} per request"
        )
    parser.add_argument("--storm-seconds", type=float, default=0.5, help="length of a 429 storm")
    parser.add_argument("--stall-seconds", type=float, default=30.0, help="length of a stall")
    parser.add_argument(
        "--bulk-action-seconds", type=float, default=0.2, help="time for a bulk action to finish"
    )
    parser.add_argument(
        "--max-skip", type=int, default=None, help="largest _skip a list accepts (default: none)"
    )


def fake_from_args(args: argparse.Namespace) -> FakeClose:
    """Build a `FakeClose` from parsed arguments (raises ValueError for bad values)."""
    from ._fake import FakeClose
    from ._faults import FaultRates

    return FakeClose(
        leads=args.leads,
        sequences=args.sequences,
        seed=args.seed,
        api_key=args.api_key,
        api_keys=args.extra_api_key,
        oauth_token=args.oauth_token,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        organization_rate_limit=args.organization_rate_limit,
        ratelimit_separator=args.ratelimit_separator,
        latency=args.latency,
        faults=FaultRates(
            fail_503=args.fail_503,
            fail_502_html=args.fail_502_html,
            fail_429_storm=args.fail_429_storm,
            fail_drop=args.fail_drop,
            fail_stall=args.fail_stall,
        ),
        storm_seconds=args.storm_seconds,
        stall_seconds=args.stall_seconds,
        bulk_action_seconds=args.bulk_action_seconds,
        max_skip=args.max_skip,
    )


async def serve(fake: FakeClose) -> None:
    """Run `fake` until SIGINT or SIGTERM, printing `URL=...` and `API_KEY=...` lines first.

    On exit, prints the counters as one `STATS=<json>` line to stderr.
    """
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with fake:
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Not available on Windows: there Ctrl+C raises KeyboardInterrupt instead.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        print(f"URL={fake.url}", flush=True)
        print(f"API_KEY={fake.api_key}", flush=True)
        if fake.oauth_token is not None:
            print(f"OAUTH_TOKEN={fake.oauth_token}", flush=True)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signum)
    print(f"STATS={json.dumps(fake.stats.as_dict())}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, serve until interrupted and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m close_async.testing",
        description="Serve a fake Close API (sequences, subscriptions) for tests and demos.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        fake = fake_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))  # Exits with status 2.
    try:
        import asyncio

        asyncio.run(serve(fake))
    except OSError as exc:  # Typically: the port is already in use.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Where signal handlers are unavailable (Windows).
        pass
    return 0
