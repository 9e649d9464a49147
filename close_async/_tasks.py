"""Stopping tasks: cancel them, then wait until each has really ended.

A cancelled task ends only once it has run its clean-up (closing a connection, say); waiting
for that is what leaves no pending task, connection or warning behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine
from typing import Any, TypeVar

__all__ = ["cancel_and_wait", "gather_or_cancel"]

T = TypeVar("T")


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait for them all to end, whatever they end with."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def gather_or_cancel(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await all the calls; on the first failure, stop the others before raising (a bare
    ``asyncio.gather`` leaves them running, sending requests after their caller has ended)."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        await cancel_and_wait(tasks)
        raise
