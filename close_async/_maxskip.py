"""Close's maximum ``_skip``: recognising its 400, and the error that says what to do.

Close caps ``_skip`` per resource, publishes no cap and documents no message for it
(https://developer.close.com/api/overview/pagination). A 400 to a page request with a
``_skip`` above 0 whose message speaks of "skip" is taken for it; the cap is read from the
message when it has the form Close's API framework uses for its other cap
("... (max_limit = 100)"), that is ``max_skip = N``. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._exceptions import BadRequestError, MaxSkipError

__all__ = ["as_max_skip_error", "known_max_skip", "last_skip", "max_skip_error", "past_max_skip"]

_MAX_SKIP = re.compile(r"max_skip\s*=\s*(\d+)", re.IGNORECASE)


def last_skip(size: int, page_size: int) -> int:
    """The ``_skip`` of the last page of a list of ``size`` items (0 for an empty list)."""
    return (size - 1) // page_size * page_size if size > 0 else 0


def past_max_skip(size: int, page_size: int, max_skip: int | None) -> bool:
    """Whether reading a list of ``size`` items would ask for a ``_skip`` Close refuses."""
    return max_skip is not None and last_skip(size, page_size) > max_skip


def known_max_skip(error: MaxSkipError) -> int:
    """The largest ``_skip`` to plan with after ``error``: Close's cap when its message gave
    it, else one less than the offset refused (all that is known then)."""
    return error.max_skip if error.max_skip is not None else error.skip - 1


def _describe(path: str, filters: Mapping[str, str | int]) -> str:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return f"{path}?{query}" if query else path


def max_skip_error(
    *,
    path: str,
    filters: Mapping[str, str | int],
    skip: int,
    max_skip: int | None,
    hint: str,
    refused: BadRequestError | None = None,
) -> MaxSkipError:
    """Build the error for a page past the maximum ``_skip`` (refused by Close, or known to
    be refused and so not sent)."""
    where = _describe(path, filters)
    cap = f" (max_skip = {max_skip})" if max_skip is not None else ""
    if refused is not None:
        head = f"GET {where} -> 400: Close refuses _skip={skip} on this list{cap}"
    else:
        head = (
            f"GET {where}: not sent, as Close refuses a _skip this deep on this list{cap} "
            f"(the list needs _skip={skip})"
        )
    message = f"{head}: it is longer than Close lets a client page through by offset. {hint}"
    return MaxSkipError(
        message.rstrip(),
        status=400,
        method="GET",
        path=path,
        body=None if refused is None else refused.body,
        skip=skip,
        max_skip=max_skip,
        filters=filters,
    )


def as_max_skip_error(
    error: BadRequestError,
    *,
    path: str,
    filters: Mapping[str, str | int],
    skip: int,
    hint: str,
) -> MaxSkipError | None:
    """The ``MaxSkipError`` a 400 to a page request stands for, or None if it is another 400."""
    if skip <= 0 or isinstance(error, MaxSkipError):
        return None
    text = " ".join([error.error or "", *error.errors])
    if "skip" not in text.lower():
        return None
    found = _MAX_SKIP.search(text)
    max_skip = int(found.group(1)) if found else None
    return max_skip_error(
        path=path, filters=filters, skip=skip, max_skip=max_skip, hint=hint, refused=error
    )
