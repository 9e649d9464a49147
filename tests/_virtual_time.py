"""An event loop whose clock jumps ahead instead of waiting: timing logic without sleeping.

``run_virtual(main())`` runs a coroutine on a ``VirtualTimeLoop``: whenever the loop would
block waiting for its next timer, its clock jumps to that timer at once. ``asyncio.sleep``,
``call_later``, ``wait_for`` and anything that reads ``loop.time()`` (the rate-limit gate's
default clock) then see time pass exactly as scheduled, and a test of a 10-second window
takes microseconds. Only for code that does no real I/O: a real socket would see the clock
run ahead while it waits for its bytes.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# Nothing ready and no timer: the code under test waits for something that will never come.
_DEADLOCK_SECONDS = 10.0


class _JumpingSelector(selectors.BaseSelector):
    """A real selector that, instead of blocking for ``timeout``, asks the loop to jump."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            ready = self._real.select(_DEADLOCK_SECONDS)
            if not ready:
                raise RuntimeError("deadlock: nothing is ready and no timer is scheduled")
            return ready
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock that starts at 0 (see the module docstring)."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock ahead (the loop does it by itself when it would wait)."""
        self._now += seconds


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh ``VirtualTimeLoop``, then close the loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
