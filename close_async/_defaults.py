"""The client's defaults and the environment variables it reads, in a module of their own.

They are plain constants, so the command line can show them in ``--help`` without loading
the client (and with it aiohttp).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "AUTO",
    "BY_SEQUENCE",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_RATE_LIMIT_WAIT",
    "DEFAULT_MAX_RETRIES",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "PER_ID",
    "STRATEGIES",
    "Strategy",
]

DEFAULT_BASE_URL = "https://api.close.com/api/v1/"
#: Requests in flight at once for the whole client, unless ``max_concurrency`` says otherwise.
DEFAULT_MAX_CONCURRENCY = 32
#: Retries after the first attempt of a request, unless ``max_retries`` says otherwise.
DEFAULT_MAX_RETRIES = 5
#: The longest server-requested wait honoured (a 429's, a 5xx's ``Retry-After``, a spent
#: window's), in seconds, unless ``max_rate_limit_wait`` says otherwise.
DEFAULT_MAX_RATE_LIMIT_WAIT = 120.0
ENV_API_KEY = "CLOSE_API_KEY"
ENV_BASE_URL = "CLOSE_BASE_URL"

# The ways list_many can read (see _strategy.py): plain names, for the command line's help.
PER_ID: Final = "per_id"
BY_SEQUENCE: Final = "by_sequence"
AUTO: Final = "auto"
Strategy = Literal["per_id", "by_sequence", "auto"]
STRATEGIES: tuple[Strategy, ...] = (PER_ID, BY_SEQUENCE, AUTO)
