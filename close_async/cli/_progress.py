"""The export's progress bar on stderr, fed by ``list_many``'s ``on_progress``.

tqdm comes with the ``cli`` extra and is imported only when a bar is shown, so that the
rest of the command line works without it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import sys
import time
from collections.abc import Callable
from types import ModuleType, TracebackType
from typing import Any

from .._fanout import Progress
from ._errors import UsageError

__all__ = ["ProgressBar", "show_progress"]

# Redrawing costs more than an export's work per ID: at most this often.
REFRESH_SECONDS = 0.1


def show_progress(choice: bool | None) -> bool:
    """Decide whether to show the bar: as asked, else when stderr is a terminal.

    Raise ``UsageError`` if it is to be shown and tqdm (the ``cli`` extra) is missing: now,
    before the command has started anything.
    """
    show = sys.stderr.isatty() if choice is None else choice
    if show:
        _tqdm()
    return show


def postfix(progress: Progress) -> str:
    """Return the bar's tail: subscriptions, requests per second and 429s so far.

    The rate counts the second under way as a whole one. A rate limit lets a window's
    requests go at its start, so requests / elapsed reads up to twice the limit just after
    a window opens (200 requests at 1.01 s under 100/s), as if the client broke it; counted
    this way, requests that keep to a limit of L per second never read above L.
    """
    rate = progress.requests / (math.floor(progress.elapsed) + 1.0)  # the seconds begun
    return f"{progress.items:,} subs, {rate:.0f} req/s, {progress.rate_limited} 429s"


class ProgressBar:
    """A bar of IDs done (out of the total, when known), updated from ``Progress`` snapshots.

    Disabled, it does nothing, so callers need not check. Use it as a context manager: while
    it is shown, the ``close_async`` logger's messages are printed above the bar instead of
    through it.
    """

    def __init__(
        self,
        *,
        total: int | None,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar: Any = None  # a tqdm bar (tqdm ships no type hints of its own)
        self._clock = clock
        self._last = float("-inf")
        self._latest: Progress | None = None
        self._logging = contextlib.ExitStack()
        if enabled:
            self._bar = _make_bar(total)

    def __enter__(self) -> ProgressBar:
        logger = logging.getLogger("close_async")
        # Only when -v sends the logger to the console: tqdm's redirect adds a handler of
        # its own either way, which would print every retry (the logger runs at INFO, for
        # the first-retry notice, which already writes above the bar).
        shown = any(type(h) is logging.StreamHandler for h in logger.handlers)
        if self._bar is not None and shown:
            redirect = _tqdm("tqdm.contrib.logging").logging_redirect_tqdm
            self._logging.enter_context(redirect(loggers=[logger]))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, progress: Progress) -> None:
        """Take a snapshot (``on_progress``); redraw if the last redraw is old enough."""
        self._latest = progress
        if self._bar is not None and self._clock() - self._last >= REFRESH_SECONDS:
            self._draw()

    def _draw(self) -> None:
        bar, progress = self._bar, self._latest
        if bar is None or progress is None:
            return
        self._last = self._clock()
        if progress.strategy == "by_sequence" and bar.unit != " sequences":
            # Read by sequence, the run's IDs are the sequences, counted once it has listed
            # them: the bar counts those from then on.
            bar.unit = " sequences"
            bar.total = progress.ids_total
        bar.set_postfix_str(postfix(progress), refresh=False)
        bar.update(progress.ids_done - bar.n)

    def close(self) -> None:
        """Draw the final state and leave the bar on its line. Safe to call twice."""
        if self._bar is not None:
            self._draw()
            self._bar.close()
            self._bar = None
        self._logging.close()


def _tqdm(module: str = "tqdm") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            "the progress bar needs tqdm: pip install 'close-async[cli]' (or pass --no-progress)"
        ) from None


def _make_bar(total: int | None) -> Any:
    return _tqdm().tqdm(
        total=total,
        unit=" IDs",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=REFRESH_SECONDS,
        bar_format=(
            "{l_bar}{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
            if total is not None
            else "{n_fmt}{unit} [{elapsed}, {rate_fmt}{postfix}]"
        ),
    )
