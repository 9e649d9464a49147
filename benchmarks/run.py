"""Benchmark close_async against the official ``closeio`` client and bare aiohttp, in one run.

    python benchmarks/run.py                 # every case, full sizes (a few minutes)
    python benchmarks/run.py --quick         # about half the sizes
    python benchmarks/run.py --cases a,d     # some cases only
    python benchmarks/run.py --cases h       # many workers, one key (about 7 minutes)
    python benchmarks/run.py --smoke --out /tmp/bench   # tiny, to check the machinery

Cases: (a) fan-out over many leads, the three clients at equal concurrency; (b) the same
under a rate limit, against the ideal time; (c) one 60-page list, pages fetched ahead vs one
at a time; (d) client CPU per 1,000 listed subscriptions vs bare aiohttp; (e) peak memory of
a fan-out over 100,000 IDs vs 10,000; (f) the same leads read per ID, by sequence, auto and
list_all under a rate limit (the fewest requests); (g) bytes and client CPU per subscription
with ``fields=("id", "lead_id", "status")`` vs every field; (h), only when asked for, four
worker processes on one API key with in-process gates vs the Redis gate, and with one worker
killed. Every run starts a fresh fake Close in its own process and runs clients in others
(see benchmarks/README.md). The report is printed as markdown and written to OUT/latest.md
and OUT/latest.json (a run with case h: OUT/latest-h.md and .json, or latest-<its cases>).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from _cases import fan_out, long_list, rate_limited
from _cases_cost import cpu_per_subscription, memory
from _cases_fields import fields_saving
from _cases_strategy import strategies
from _cases_workers import many_workers
from _common import Json
from _procs import cpus
from _report import machine, render, update_readme, write
from _runs import Context
from _sizes import PROFILES

CASES: dict[str, Callable[[Context], Json]] = {
    "a": fan_out,
    "b": rate_limited,
    "c": long_list,
    "d": cpu_per_subscription,
    "e": memory,
    "f": strategies,
    "g": fields_saving,
    "h": many_workers,
}
# What runs without --cases: (h) takes minutes of rate-limited time and needs redis-server.
DEFAULT_CASES = ("a", "b", "c", "d", "e", "f", "g")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about half the sizes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes (for the test)")
    parser.add_argument(
        "--cases",
        default=",".join(DEFAULT_CASES),
        help=f"comma-separated cases of {','.join(CASES)} (default: {','.join(DEFAULT_CASES)})",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let the OS place the server and the client (default: one CPU each)",
    )
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="also write the headline numbers into benchmarks/README.md",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="directory for latest.json and latest.md"
    )
    args = parser.parse_args(argv)
    if args.smoke and args.update_readme:
        parser.error("--update-readme takes the numbers of a real run, not of --smoke")
    chosen = [name.strip().lower() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in CASES]
    if unknown or not chosen:
        parser.error(f"--cases takes some of {','.join(CASES)}, not {args.cases!r}")
    args.cases = [name for name in CASES if name in chosen]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen cases, print the report, write it to --out."""
    args = parse_args(argv)
    sizes = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    command = " ".join(["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    server_cpu, client_cpu = cpus(not args.no_pin)
    meta = {**machine(), "profile": sizes.name, "sizes": dataclasses.asdict(sizes)}
    meta["pinned"] = None if client_cpu is None else {"server": server_cpu, "client": client_cpu}
    results: Json = {"meta": {**meta, "command": command}}
    results["cases"] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="close-bench-") as workdir:
        ctx = Context(sizes, Path(workdir), pin=not args.no_pin)
        for name in args.cases:
            ctx.log(f"case ({name}) ...")
            results["cases"][name] = CASES[name](ctx)
    results["meta"]["total_s"] = time.perf_counter() - started
    report = render(results)
    print(report, end="")
    # A run of cases that are not run by default (h) keeps the default run's files intact.
    extra = [name for name in args.cases if name not in DEFAULT_CASES]
    stem = f"latest-{''.join(args.cases)}" if extra else "latest"
    json_path, md_path = write(results, report, args.out, stem)
    if args.update_readme:
        readme = Path(__file__).resolve().parent / "README.md"
        update_readme(results, readme, os.path.relpath(md_path, readme.parent))
    ctx.log(f"wrote {json_path} and {md_path} in {results['meta']['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
