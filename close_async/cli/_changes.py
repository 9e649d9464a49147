"""``close-async subscriptions changes``, and the checkpoint ``export --checkpoint-out`` writes.

Changes go to stdout as JSON Lines, oldest first; the checkpoint to resume from goes to
stderr as ``CHECKPOINT=...`` (and to ``--checkpoint-out FILE``, replaced atomically) after
each read. ``--follow`` reads again every ``--interval`` seconds until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from .._changes import Checkpoint
from .._client import CloseClient
from .._convert import parse_datetime, unstructure
from .._event_models import SubscriptionChange
from ._errors import EXIT_OK, UsageError, exit_code_for_signal

__all__ = [
    "CHECKPOINT_LABEL",
    "change_line",
    "changes_exit_code",
    "check_checkpoint_out",
    "read_since",
    "read_time",
    "run_changes",
    "write_checkpoint",
    "write_export_checkpoint",
]

CHECKPOINT_LABEL = "CHECKPOINT="


def read_since(text: str) -> str | datetime:
    """Read ``--since``: an ISO 8601 time with a timezone, a checkpoint, or ``@FILE``
    holding a checkpoint (as written by ``--checkpoint-out``, or a ``CHECKPOINT=`` line)."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --since {text}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:  # not a file --checkpoint-out wrote (or a damaged one)
            raise UsageError(f"cannot read --since {text}: it is not UTF-8 text") from None
    text = text.strip()
    if text.startswith(CHECKPOINT_LABEL):
        text = text[len(CHECKPOINT_LABEL) :]
    if text[:4].isdigit():  # a time: checkpoints start with a letter
        return read_time(text, "--since")
    try:
        Checkpoint.decode(text, "--since")
    except (TypeError, ValueError):
        # The library's message tells a Python caller what to pass; say it in CLI terms.
        raise UsageError(
            "--since is not a checkpoint this release reads, nor an ISO 8601 time: pass the "
            f"value of a {CHECKPOINT_LABEL}... line printed by `subscriptions changes`, "
            "unchanged (or @FILE holding one), or a time such as 2024-05-01T00:00:00Z"
        ) from None
    return text


def read_time(text: str, option: str) -> datetime:
    """Read an ISO 8601 time that says its timezone (``Z`` or an offset)."""
    try:
        when = parse_datetime(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option} {text!r} is not an ISO 8601 time") from None
    if not any(mark in text[10:] for mark in ("Z", "z", "+", "-")):
        raise UsageError(
            f"{option} {text!r} has no timezone: add one, e.g. {text}Z (UTC) or {text}+02:00"
        )
    return when


def check_checkpoint_out(path: Path | None, *, resume: bool = False) -> bool:
    """Whether an export must write its ``--checkpoint-out``; refuse an existing one unless
    the export is resumed (which keeps the checkpoint of its first run, taken before any of
    its reads)."""
    if path is None:
        return False
    if path.exists():
        if resume:
            return False
        raise UsageError(
            f"{path} exists: it holds the checkpoint of an earlier export; remove it, or "
            "pass --resume to finish that export (its checkpoint is kept)"
        )
    return True


def write_checkpoint(path: Path, checkpoint: str) -> None:
    """Write a checkpoint to ``path`` atomically: a crash leaves the old one or the new one.

    Raise ``UsageError`` if it cannot be written (a missing folder, no permission).
    """
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(checkpoint + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write --checkpoint-out {path}: {exc.strerror or exc}") from None


async def write_export_checkpoint(close: CloseClient, path: Path) -> None:
    """Before an export reads anything: store where ``changes`` must start after it."""
    write_checkpoint(path, await close.sequence_subscriptions.changes_checkpoint())


def change_line(change: SubscriptionChange) -> str:
    """Return a change as one line of JSON, newline included."""
    record: dict[str, Any] = {
        "action": str(change.action),
        "subscription_id": change.subscription_id,
        "date": change.date.isoformat(),
        "event_id": change.event_id,
        "changed_fields": list(change.changed_fields),
        "subscription": None if change.subscription is None else unstructure(change.subscription),
        "before": None if change.before is None else dict(change.before),
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


async def run_changes(
    close: CloseClient,
    since: str | datetime,
    *,
    until: datetime | None,
    follow: bool,
    interval: float,
    checkpoint_out: Path | None,
) -> None:
    """Print the changes since ``since`` (once, or on and on with ``follow``).

    A cancellation (a signal) stops it between two changes; the checkpoint printed last is
    always the one right after the last change printed.
    """
    position: str | datetime = since
    while True:
        changes = close.sequence_subscriptions.changes(position, until=until)
        try:
            async for change in changes:
                sys.stdout.write(change_line(change))
        finally:
            await changes.aclose()
            # Whatever ended the loop: report where the printed changes end.
            position = changes.checkpoint
            sys.stdout.flush()
            _report(position, checkpoint_out)
        if not follow:
            return
        await asyncio.sleep(interval)


def _report(checkpoint: str, path: Path | None) -> None:
    print(f"{CHECKPOINT_LABEL}{checkpoint}", file=sys.stderr, flush=True)
    if path is not None:
        write_checkpoint(path, checkpoint)


def changes_exit_code(follow: bool, signum: int | None) -> int:
    """``--follow`` ends with Ctrl-C by design (0); a single read so stopped is interrupted."""
    if signum is None or follow:
        return EXIT_OK
    return exit_code_for_signal(signum)
