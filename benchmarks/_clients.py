"""Run one benchmark client in this process and print its ``RESULT`` line.

    python benchmarks/_clients.py ours --url URL --api-key KEY --ids-file ids.txt -c 16
    python benchmarks/_clients.py official ...      # closeio + ThreadPoolExecutor
    python benchmarks/_clients.py bare ...          # aiohttp + json
    python benchmarks/_clients.py ours --list LEAD_ID --prefetch 1
    python benchmarks/_clients.py ours --ids-file known.txt --generate 100000
    python benchmarks/_clients.py ours --ids-file ids.txt --each --fields id,lead_id,status
    python benchmarks/_clients.py ours --ids-file ids.txt --strategy auto
    python benchmarks/_clients.py ours --all     # list_all: every sequence of the org

One process per client and run, so that CPU time and peak memory are the client's alone.
Only the chosen client's modules are imported (the official client's process never loads
aiohttp). ``--generate N`` feeds N lead IDs from a generator, with the IDs of the file
spread evenly among made-up ones the fake does not know (it answers those with an empty
page): the input itself then takes no memory, and the peak memory is the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import Json, emit, pin, process_cpu_s

CLIENTS = ("ours", "official", "bare")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("--url", required=True, help="the fake's API root")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--ids-file", type=Path, help="lead IDs, one per line")
    parser.add_argument("--generate", type=int, help="feed this many IDs from a generator")
    parser.add_argument("--list", metavar="LEAD_ID", help="list one lead (ours only)")
    parser.add_argument("--all", action="store_true", help="list_all (ours only)")
    parser.add_argument(
        "--strategy",
        choices=("per_id", "by_sequence", "auto"),
        default=None,
        help="ours: list_many's strategy (default: its own)",
    )
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("--prefetch", type=int, default=None, help="ours: pages fetched ahead")
    parser.add_argument(
        "--each", action="store_true", help="ours: one list() per lead instead of list_many"
    )
    parser.add_argument(
        "--fields", default=None, help="ours with --each: fields= of each list(), comma-separated"
    )
    parser.add_argument(
        "--json",
        choices=("auto", "json", "orjson"),
        default="auto",
        help="JSON decoder: ours uses orjson when installed (auto), 'json' hides it; "
        "bare uses json.loads unless 'orjson'",
    )
    parser.add_argument("--cpu", type=int, default=None, help="run on this CPU only")
    args = parser.parse_args(argv)
    if [args.list is not None, args.ids_file is not None, args.all].count(True) != 1:
        parser.error("give --ids-file, --list or --all")
    if (args.list is not None or args.all or args.strategy) and args.client != "ours":
        parser.error("--list, --all and --strategy are for ours only")
    if (args.each or args.fields is not None) and (args.client != "ours" or args.list):
        parser.error("--each and --fields are for ours with --ids-file")
    if args.fields is not None and not args.each:
        parser.error("--fields needs --each")
    return args


def spread(known: Sequence[str], total: int) -> Iterator[str]:
    """Yield ``total`` IDs: ``known`` spread evenly among made-up ones, made on the fly."""
    step = max(total // max(len(known), 1), 1)
    known_left = iter(known)
    for n in range(total):
        real = next(known_left, None) if n % step == 0 else None
        yield real if real is not None else f"lead_unknown{n:040d}"


def lead_ids(args: argparse.Namespace) -> Iterable[str]:
    """The input: the file's IDs as a list, or a generator with ``--generate``."""
    assert args.ids_file is not None
    known = args.ids_file.read_text(encoding="utf-8").split()
    return known if args.generate is None else spread(known, args.generate)


def json_backend() -> str:
    """The JSON decoder this process loaded: orjson, or the standard library's."""
    return "orjson" if sys.modules.get("orjson") is not None else "json"


def run(args: argparse.Namespace) -> Json:
    """Run the chosen client; imports happen here, before its timers start."""
    if args.json == "json":
        # As if orjson were not installed (the library's default install): its import fails.
        sys.modules["orjson"] = None  # type: ignore[assignment]
    if args.client == "ours":
        import _client_ours

        if args.list is not None:
            return asyncio.run(
                _client_ours.list_one(args.url, args.api_key, args.list, prefetch=args.prefetch)
            )
        if args.all:
            return asyncio.run(
                _client_ours.list_all(args.url, args.api_key, concurrency=args.concurrency)
            )
        if args.each:
            fields = None if args.fields is None else args.fields.split(",")
            return asyncio.run(
                _client_ours.list_each(
                    args.url,
                    args.api_key,
                    lead_ids(args),
                    concurrency=args.concurrency,
                    fields=fields,
                )
            )
        return asyncio.run(
            _client_ours.fan_out(
                args.url,
                args.api_key,
                lead_ids(args),
                concurrency=args.concurrency,
                prefetch=args.prefetch,
                strategy=args.strategy,
            )
        )
    if args.client == "official":
        import _client_official

        return _client_official.fan_out(
            args.url, args.api_key, lead_ids(args), concurrency=args.concurrency
        )
    import _client_bare

    if args.json == "orjson":
        import orjson

        loads: Callable[[bytes], Any] = orjson.loads
    else:
        loads = json.loads
    return asyncio.run(
        _client_bare.fan_out(
            args.url, args.api_key, lead_ids(args), concurrency=args.concurrency, loads=loads
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run, then print the result with the whole process's CPU."""
    args = parse_args(argv)
    pin(args.cpu)
    result = run(args)
    result["client"] = args.client
    result["json"] = json_backend()
    result["process_cpu_s"] = process_cpu_s()
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
