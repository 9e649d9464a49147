"""Argument checks and request-body building. Pure: they raise before anything is sent.

Wrong arguments fail here with a TypeError (wrong kind of value) or ValueError (right kind,
wrong value) that names the argument, so a bad call never costs a request.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypeAlias, TypeVar

__all__ = [
    "NOT_GIVEN",
    "NotGiven",
    "build_body",
    "check_id",
    "check_limit",
    "check_number",
    "check_page_size",
    "check_positive",
    "check_seconds",
    "check_str_list",
    "check_text",
    "list_filters",
    "to_json",
]

T = TypeVar("T")

MAX_PAGE_SIZE: Final = 100


class _NotGivenType(enum.Enum):
    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


#: The default of every partial-update argument: "leave this field as it is" (the field is
#: not sent). Distinct from ``None``, which is sent as JSON ``null``; what Close then does
#: (clear the field, or refuse it) is not documented by Close.
NOT_GIVEN: Final = _NotGivenType.NOT_GIVEN
NotGiven: TypeAlias = Literal[_NotGivenType.NOT_GIVEN]

# Characters that would change the meaning of a URL path if an ID carried them.
_UNSAFE_ID = re.compile(r"[/?#%\s\\]")
# Path segments that URL resolution removes: `sequence/../` is `/api/v1/` itself, so a GET
# would read the API root and a DELETE of `sequence_subscription/./` would hit the collection.
_DOT_SEGMENTS = frozenset({".", ".."})


def check_id(value: object, name: str = "id") -> str:
    """Return ``value`` if it is a usable Close ID; raise TypeError/ValueError otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string ID, not {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if _UNSAFE_ID.search(value):
        raise ValueError(
            f"{name} {value!r} is not a Close ID: it contains a space, '/', '?', '#', '%' or '\\'"
        )
    if value in _DOT_SEGMENTS:
        raise ValueError(f"{name} {value!r} is not a Close ID: URLs drop it as a dot segment")
    return value


def check_page_size(value: object) -> int:
    """Check ``page_size``: an int from 1 to 100.

    100 is Close's default ``_limit`` on these endpoints, so it is known to work. Close's
    maximum varies per resource and is not documented for them (a larger one may be
    refused with a 400): the cap is ours, and safe.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"page_size must be an int, not {type(value).__name__}")
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValueError(
            f"page_size must be from 1 to {MAX_PAGE_SIZE} (this client's cap: Close's default "
            f"page size; its maximum is not documented), not {value}"
        )
    return value


def check_limit(value: object) -> int | None:
    """Check ``limit``, the most items a list yields: None (all of them) or an int >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"limit must be an int or None, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"limit must be 0 or more (or None for no limit), not {value}")
    return value


def check_positive(value: object, name: str) -> int:
    """Check an int argument that must be at least 1 (a concurrency, a window)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


def check_number(value: object, name: str, *, positive: bool = False, unit: str = "") -> float:
    """Check a real-number setting (a jitter, a factor): finite and >= 0 (> 0 when
    ``positive``), not a bool, not NaN; ``unit`` says what it counts (``" of seconds"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number{unit}, not {type(value).__name__}")
    if not 0 <= value < math.inf or (positive and value == 0):  # False for NaN too
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number{unit} {bound}, not {value!r}")
    return float(value)


def check_seconds(value: object, name: str, *, positive: bool = False) -> float:
    """Check a duration setting: a finite number of seconds >= 0 (> 0 when ``positive``)."""
    return check_number(value, name, positive=positive, unit=" of seconds")


def list_filters(**filters: object) -> dict[str, str]:
    """Check the filters of a subscription list: at least one, each a usable ID."""
    given = {name: check_id(value, name) for name, value in filters.items() if value is not None}
    if not given:
        names = ", ".join(filters)
        raise ValueError(
            f"give at least one of {names}: Close refuses to list all sequence "
            "subscriptions at once"
        )
    return given


def to_json(value: Any) -> Any:
    """Turn a request value into JSON: models lose their unset (None) fields, enums their
    class, tuples become lists; mappings and plain values pass through."""
    if hasattr(type(value), "__attrs_attrs__"):  # a model (what attrs.has checks)
        # Imported here, not at the top: `close-async --help` checks IDs with this module,
        # and should not load cattrs to do it.
        from ._convert import unstructure

        return _drop_none(unstructure(value))
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def build_body(fields: Mapping[str, object], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Build a JSON body from the arguments that were given (NOT_GIVEN ones are left out).

    ``extra`` carries fields this release does not know by name; a field given both ways is
    a mistake worth an error.
    """
    body = {name: to_json(value) for name, value in fields.items() if value is not NOT_GIVEN}
    if extra:
        if not isinstance(extra, Mapping):
            raise TypeError(f"extra must be a mapping of field names to values, not {extra!r}")
        clash = sorted(set(body) & set(extra))
        if clash:
            raise ValueError(f"{', '.join(clash)} given both as an argument and in extra")
        body.update({str(k): to_json(v) for k, v in extra.items()})
    return body


def check_text(value: object, name: str) -> str:
    """Check a required text argument: a non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def check_str_list(value: object, name: str) -> list[str]:
    """Check a list of IDs given as an argument (``calls_assigned_to``)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of IDs, not {type(value).__name__}")
    return [check_id(v, f"{name} item") for v in value]
