"""``close-async demo``: the export, end to end, against an embedded fake Close.

No API key and no network: a seeded ``FakeClose`` with latency and a rate limit runs in the
same event loop, and the export runs the same code as ``subscriptions export``. Without
``--out`` everything goes to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from pathlib import Path

from .._client import CloseClient
from .._strategy import PER_ID
from ._commands import ExportJob, export, report_export
from ._errors import EXIT_OK, UsageError
from ._export import ExportResult, failed_path, journal_path
from ._formats import export_format

__all__ = ["demo", "ids_path"]


def demo(args: argparse.Namespace) -> int:
    """Export every lead's subscriptions from an embedded fake Close and tell what happened."""
    out: Path | None = args.out
    if out is None:
        if args.resume:
            raise UsageError("--resume finishes a demo export kept with --out: pass that --out")
        with tempfile.TemporaryDirectory(prefix="close-async-demo-") as folder:
            return asyncio.run(_demo(args, Path(folder) / "subscriptions.jsonl", kept=False))
    if not args.resume:
        for path in (out, ids_path(out)):
            if path.exists():
                raise UsageError(f"{path} exists: choose another --out, or pass --resume")
    return asyncio.run(_demo(args, out, kept=True))


def ids_path(out: Path) -> Path:
    """Return where the demo writes its input, the fake's lead IDs: ``<out>.ids``."""
    return out.with_name(out.name + ".ids")


async def _demo(args: argparse.Namespace, out: Path, *, kept: bool) -> int:
    from ..testing import FakeClose

    try:
        fake = FakeClose(
            leads=args.leads, seed=args.seed, latency=args.latency, rate_limit=args.rate_limit
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    ids = ids_path(out)
    print(
        f"Exporting the sequence subscriptions of {args.leads:,} leads from a fake Close "
        f"(seed {args.seed}, {args.latency * 1000:.0f} ms per answer, at most "
        f"{args.rate_limit} requests/s per endpoint group)...",
        flush=True,
    )
    async with fake:
        ids.write_text("".join(f"{lead.id}\n" for lead in fake.state.leads()), encoding="utf-8")
        job = ExportJob(
            ids=str(ids),
            kind="lead",
            out=out,
            format=export_format(out, args.format),
            concurrency=args.concurrency,
            resume=args.resume,
            progress=args.progress,
            strategy=args.strategy,
        )
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            result = await export(close, job)
        served = fake.stats.requests
    if result.interrupted_by is not None:
        hint = (
            "run the same command with --resume to finish"
            if kept
            else "the temporary output is removed; pass --out FILE to keep one that "
            "--resume can finish"
        )
        return report_export(result, resume_hint=hint)
    for line in _report(result, args=args, served=served, ids=ids if kept else None):
        print(line)
    return EXIT_OK


def _units(result: ExportResult) -> str:
    return "sequences" if result.units == "sequences" else "leads"


def _read(result: ExportResult, leads: int) -> str:
    """What the export went through: leads, or the sequences read for them."""
    if result.units == "sequences":
        return f"{leads:,} leads (read through {result.ids_done:,} sequences)"
    return f"{result.ids_done:,} leads"


def _strategy_lines(result: ExportResult) -> list[str]:
    """Which read the export took, why, and the requests it saved against reading per ID."""
    if not result.strategy_reason:
        return []
    lines = [f"Strategy: {result.strategy_reason}."]
    per_id = result.estimates.get(PER_ID)
    if result.units == "sequences" and per_id is not None and per_id > result.requests:
        saved = per_id - result.requests
        lines.append(
            f"Saved: {saved:,} requests against reading per lead (at least {per_id:,}), "
            f"{per_id / max(result.requests, 1):.0f}x fewer."
        )
    return lines


def _report(
    result: ExportResult, *, args: argparse.Namespace, served: int, ids: Path | None
) -> list[str]:
    elapsed = result.elapsed
    rate = result.written / elapsed if elapsed > 0 else 0.0
    lines = [
        f"Exported {result.written:,} subscriptions of {_read(result, args.leads)} in "
        f"{elapsed:.1f} s: {rate:,.0f} subscriptions/s.",
        f"Requests: {result.requests:,} ({served:,} served by the fake), {result.retries:,} "
        f"retries, {result.rate_limited:,} 429s.",
        *_strategy_lines(result),
    ]
    # The fake's windows last one second: n requests take ceil(n / limit) windows, and the
    # last window's requests can go as soon as it opens.
    floor = max(math.ceil(result.requests / args.rate_limit) - 1, 0)
    if floor:
        lines.append(
            f"Rate limit: {args.rate_limit} requests/s, so those requests needed at least "
            f"{floor} s; the client waits for the next window instead of drawing 429s."
        )
    else:
        lines.append(
            f"Rate limit: {args.rate_limit} requests/s per endpoint group, which these "
            f"{result.requests:,} requests fit in without waiting (pass --strategy per_id to "
            "see the client keep to it)."
        )
    serves = f"close-async fake-server --leads {args.leads} --seed {args.seed}"
    if ids is None:
        lines.append(
            "Output: removed with its temporary folder (pass --out FILE to keep it). "
            f"`{serves} --write-ids FILE` serves the same leads, to try "
            "`close-async subscriptions export` against it."
        )
        return lines
    if result.ids_failed:
        lines.append(f"Failed: {result.ids_failed:,} leads, listed in {failed_path(result.out)}.")
    lines += [
        f"Output: {result.out} (journal of finished {_units(result)}: {journal_path(result.out)}).",
        f"Lead IDs: {ids} (what `{serves}` serves, to try `close-async subscriptions export` "
        "against it).",
    ]
    return lines
