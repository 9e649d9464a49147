"""Keep asyncio's socket reads off ``mmap`` (glibc), once per process.

asyncio's selector transport reads with ``sock.recv(256 KiB)``, which allocates a 256 KiB
buffer for every read and shrinks it to what arrived. glibc serves an allocation that large
with ``mmap`` until the process has freed a block at least that large; only then does it
raise its threshold and serve such blocks from the heap. Whether that has happened depends
on what the process did before (https://github.com/python/cpython/issues/85451), and when it
has not, every read of every answer costs an ``mmap``, an ``mremap`` and a ``munmap``: about
a fifth of this client's CPU per request, measured on small answers (130 against 103 µs).

Freeing one larger block up front is glibc's own signal to raise the threshold, and costs
nothing elsewhere: other allocators ignore it. It does change the process's allocator
settings for everything else in it, so it can be turned off: set the environment variable
``CLOSE_ASYNC_MALLOC_TWEAK=0`` before the first client sends a request (the README
says so too).
"""

from __future__ import annotations

import os

__all__ = ["ENV_SWITCH", "settle_read_buffers"]

#: ``0`` (or ``false``, ``no``, ``off``) in this environment variable turns the tweak off.
ENV_SWITCH = "CLOSE_ASYNC_MALLOC_TWEAK"
_OFF = frozenset({"0", "false", "no", "off"})

# Above the 256 KiB asyncio reads with, plus the allocator's own overhead.
_BLOCK = 512 * 1024

_done = False


def settle_read_buffers() -> None:
    """Allocate and free one block larger than asyncio's read buffer (once per process),
    unless ``CLOSE_ASYNC_MALLOC_TWEAK=0`` turns it off."""
    global _done
    if not _done:
        _done = True
        if os.environ.get(ENV_SWITCH, "").strip().lower() in _OFF:
            return
        block = bytes(_BLOCK)
        del block
