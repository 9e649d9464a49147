"""What ``close-async`` tells the user when something goes wrong, in command-line terms.

The library's messages end with advice for Python callers (``api_key=``, ``base_url``,
``timeout=``); on the command line the same advice names options and environment variables
(``--api-key`` or ``CLOSE_API_KEY``). ``error_line`` swaps the one for the other.
``FirstRetryNotice`` tells, once per run and without ``-v``, that a request is being retried.
"""

from __future__ import annotations

import logging
import re
import sys

from .._event_errors import CheckpointExpiredError
from .._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    CloseError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
)
from ._config import PROG

__all__ = ["FirstRetryNotice", "error_line"]

# Advice that names a Python argument, as the library's messages end ("...; check base_url").
_PYTHON_ADVICE = re.compile(r"\b(?:api_key|oauth_token|base_url)\b|\b[a-z_]+=")


def _hint(exc: CloseError, *, base_url: str, listing: bool) -> str | None:
    root = f"--base-url or CLOSE_BASE_URL (now {base_url})"
    if isinstance(exc, AuthenticationError):
        return (
            "Check the API key: --api-key or CLOSE_API_KEY (Close: Settings > Developer > API Keys)"
        )
    if isinstance(exc, NotFoundError) and listing:
        # A list is never missing at Close: the URL itself is wrong.
        return f"Check that the API root ends in /api/v1/: {root}"
    if isinstance(exc, RateLimitError):
        return "Close kept asking to slow down: retry later, or pass a larger --max-retries"
    if isinstance(exc, APITimeoutError):
        return f"Raise --timeout if Close is slow, or check the API root: {root}"
    if isinstance(exc, APIConnectionError):
        return f"Check the network and the API root: {root}"
    if isinstance(exc, ResponseValidationError):
        return f"Check that the API root is Close's: {root}"
    if isinstance(exc, CheckpointExpiredError):
        return (
            "Export everything again with `subscriptions export ... --checkpoint-out FILE`, "
            "then read the changes with --since @FILE"
        )
    return None


def _without_library_advice(exc: CloseError, message: str) -> str:
    if isinstance(exc, CheckpointExpiredError):
        # Its first sentence says what cannot be read; the rest tells a Python caller what to
        # call (list_all(), changes_checkpoint()).
        return message.partition(". ")[0]
    hint = " ".join(getattr(type(exc), "hint", "").split()) if isinstance(exc, APIError) else ""
    if hint and message.endswith(hint):
        return message[: -len(hint)].rstrip(" .")
    head, separator, advice = message.rpartition("; ")
    if separator and _PYTHON_ADVICE.search(advice):
        return head
    return message


def error_line(exc: CloseError, *, base_url: str, listing: bool) -> str:
    """Return the one line to print for ``exc`` (without the ``close-async: error:`` prefix).

    ``base_url`` is the API root the command used; ``listing`` tells whether the command
    lists (a 404 then means a wrong URL, not a missing object).
    """
    message = " ".join(str(exc).split())  # one line, whatever the server sent
    hint = _hint(exc, base_url=base_url, listing=listing)
    if hint is None:
        return message
    return f"{_without_library_advice(exc, message).rstrip('.')}. {hint}"


class FirstRetryNotice(logging.Handler):
    """Print the first retry of a run on stderr, once: what failed and that it is retried.

    Without ``-v`` nothing else of the ``close_async`` logger is shown, so a run that
    retries (a flaky network, a wrong host) would otherwise look stuck.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.shown or not message.startswith("Retrying "):
            return
        self.shown = True
        _write(f"{PROG}: {message}; retrying quietly from now on (-v shows every retry)")


def _write(line: str) -> None:
    # Above the progress bar, if one is shown (tqdm redraws it below the line).
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        tqdm.tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
