"""JSON in and out: orjson when it is installed (the ``fast`` extra), else the standard library.

Decoding a page is a third of the client's CPU per listed subscription; orjson does it in
half the time. Both raise a ValueError subclass on bad input (a document nested too deeply
included: orjson stops at 1,024 levels, and the standard library's RecursionError is turned
into a ValueError here), and both give the same Python objects for what Close sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND", "dumps", "loads"]

#: The library in use: "orjson" or "json".
BACKEND: str


def _std_dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _std_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        pass  # raised below, outside this block, so that no RecursionError is chained
    raise ValueError("the JSON document is nested too deeply to decode")


loads: Callable[[bytes], Any]
dumps: Callable[[object], bytes]
try:
    import orjson
except ImportError:  # depends on what is installed
    BACKEND = "json"
    loads, dumps = _std_loads, _std_dumps
else:
    BACKEND = "orjson"
    loads, dumps = orjson.loads, orjson.dumps
