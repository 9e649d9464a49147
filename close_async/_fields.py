"""``fields=``: which of a model's fields to ask Close for (Close's ``_fields`` parameter).

Close answers with only the fields named in ``_fields=a,b,c``, on "most endpoints"
(https://developer.close.com/api/overview/fields); fewer bytes to send, decode and
structure. The models built from such an answer hold only those fields (see _models.py).

Names are checked against the model before any request: a misspelt name would otherwise
cost a silent loss (Close's docs do not say what it does with a name it does not know, and
a field that never comes back looks like a field not asked for). Fields this release does
not declare cannot be asked for: Close's docs say undocumented non-custom fields may change
without warning and should not be relied on; leave ``fields=`` out to receive them in
``extra``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._models import field_names

__all__ = ["check_fields", "fields_param"]


def check_fields(fields: Iterable[str] | None, model: type[Any]) -> frozenset[str] | None:
    """Check ``fields=`` for ``model``: None (every field), or the names with ``id`` added.

    Raises TypeError for something that is not a list of strings, ValueError for a name
    the model does not have.
    """
    if fields is None:
        return None
    if isinstance(fields, str | bytes) or not isinstance(fields, Iterable):
        raise TypeError(
            "fields must be a list or tuple of field names, such as ('id', 'status'), "
            f"not {type(fields).__name__}"
        )
    names = list(fields)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"fields must hold field names (strings), not {name!r}")
    known = field_names(model)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"fields: {model.__name__} has no field {', '.join(map(repr, unknown))}; its "
            f"fields are {', '.join(known)}"
        )
    return frozenset(names) | {"id"}  # always: items are told apart by their id


def fields_param(fields: frozenset[str], model: type[Any]) -> str:
    """Return the ``_fields`` value: the names in the model's order, comma-separated."""
    return ",".join(name for name in field_names(model) if name in fields)
