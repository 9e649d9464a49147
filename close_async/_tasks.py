"""Stopping tasks: cancel them, then wait until each has really ended.

A cancelled task ends only once it has run its clean-up (closing a connection, say); waiting
for that is what leaves no pending task, connection or warning behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait for them all to end, whatever they end with."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
