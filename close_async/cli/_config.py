"""What the command line knows before any command runs: its choices, its defaults, and the
settings it reads from the environment.

Plain values only, so that building the parser (and ``close-async --help``) loads neither
the client nor aiohttp.
"""

from __future__ import annotations

import argparse
import os
from typing import Final

from .._defaults import DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEMO_LATENCY",
    "DEMO_LEADS",
    "DEMO_RATE_LIMIT",
    "DEMO_SEED",
    "EXPORT_FORMATS",
    "ID_KINDS",
    "PROG",
    "api_key",
    "base_url",
]

PROG: Final = "close-async"
ID_KINDS: Final = ("lead", "contact", "sequence")
EXPORT_FORMATS: Final = ("jsonl", "csv")
#: Requests in flight for a command that lists many IDs (list_many's own default).
DEFAULT_CONCURRENCY: Final = 10

DEMO_LEADS: Final = 1500
DEMO_SEED: Final = 1
DEMO_LATENCY: Final = 0.02
# Requests per second per endpoint group: low enough that the rate limit, not the machine,
# sets the pace of a read per lead (1,500 leads take about 1,560 requests: some 15 s, with
# --strategy per_id), so the demo shows the client keeping to the limit; read by sequence
# (the default, auto) the same export takes about 70 requests.
DEMO_RATE_LIMIT: Final = 100


def api_key(args: argparse.Namespace) -> str | None:
    """The API key: ``--api-key``, else ``CLOSE_API_KEY``; None when neither is set."""
    key: str | None = args.api_key or os.environ.get(ENV_API_KEY)
    return key if key and key.strip() else None


def base_url(args: argparse.Namespace) -> str:
    """The API root: ``--base-url``, else ``CLOSE_BASE_URL``, else Close's."""
    url: str = getattr(args, "base_url", None) or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return url
