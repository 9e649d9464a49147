"""Counters of what a client did: requests, retries, 429s and time held by the rate limit.

The transport counts into the client's own counters and into those of every run (a
``list_many``, say) that is active in the current context. Runs register through a
context variable, so counting needs no plumbing through the call stack, and tasks a run
starts inherit it.
"""

from __future__ import annotations

from contextvars import ContextVar

import attrs

__all__ = ["ClientStats", "count_in_this_task", "counters"]


@attrs.define
class ClientStats:
    """Live counters; ``snapshot()`` gives a frozen copy.

    Attributes:
        requests: HTTP requests sent (every attempt counts).
        retries: attempts that were repeated after a failure.
        rate_limited: answers with status 429.
        rate_limit_wait: seconds requests spent held by the rate-limit gate or waiting out a
            429 (summed over requests, so it can exceed the wall time).
        errors: requests that failed for good (after retries).
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    rate_limit_wait: float = 0.0
    errors: int = 0

    def snapshot(self) -> ClientStats:
        """A copy that no longer changes."""
        return attrs.evolve(self)


_ACTIVE: ContextVar[tuple[ClientStats, ...]] = ContextVar("close_async_run_stats", default=())


def counters(own: ClientStats) -> tuple[ClientStats, ...]:
    """The counters one event should go to: the client's and the current runs'."""
    return (own, *_ACTIVE.get())


def count_in_this_task(stats: ClientStats) -> None:
    """Count the requests made by the current task (and tasks it starts) into ``stats``.

    Call it at the top of a task the caller owns: each task has its own copy of the
    context, so the setting ends with the task. (Setting it in an async generator instead
    would leak into whoever iterates it.)
    """
    _ACTIVE.set((*_ACTIVE.get(), stats))
