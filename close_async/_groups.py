"""Endpoint groups: which requests Close counts against one rate limit. Pure, no I/O.

Close limits requests per endpoint group, "grouping endpoint URL paths and methods (e.g.
GET, PUT, etc.) together. For instance, GETs to /api/v1/lead/ and POSTs/PUTs to
/api/v1/activity/ may be counted as two different API groups"
(https://developer.close.com/api/overview/rate-limits). Which groups exist is not published.

So by default the reads (GET) of one resource are one group and its writes (POST, PUT,
DELETE) another: the docs' example counts POSTs and PUTs to one resource together. A guess
coarser than Close's grouping only costs throughput (two groups share one budget), while a
finer one would earn 429s, so when in doubt, group more. ``EndpointGroups`` takes overrides
for what you learn about your account.

The transport hands a gate each request's *endpoint*, ``"METHOD resource/"`` (``"GET
sequence_subscription/"``); the gate maps it to its group with an ``EndpointGroups``, so that
every gate (in-process or shared through Redis) applies the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["EndpointGroups", "READ_METHODS", "WRITE_METHODS"]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_METHODS = READ_METHODS | WRITE_METHODS


def _split(endpoint: str) -> tuple[str, str] | None:
    """``"GET sequence/"`` -> ``("GET", "sequence/")``; None if it is not an endpoint."""
    method, sep, resource = endpoint.strip().partition(" ")
    method, resource = method.upper(), resource.strip()
    if not sep or method not in _METHODS or not resource:
        return None
    return method, resource if resource.endswith("/") else resource + "/"


class EndpointGroups:
    """Map a request's endpoint (``"GET sequence_subscription/"``) to its rate-limit group.

    By default ``"read <resource>/"`` for GET (and HEAD, OPTIONS) and ``"write <resource>/"``
    for POST, PUT, PATCH and DELETE. ``overrides`` changes that: its keys are an endpoint
    (``"POST sequence_subscription/"``) or a resource alone (``"sequence/"``: every method),
    its values the group to count them in; requests mapped to one name share one budget::

        EndpointGroups({"sequence/": "sequences", "sequence_subscription/": "sequences"})

    Anything that is not ``"METHOD resource"`` is taken as a group name already.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        if overrides is not None and not isinstance(overrides, Mapping):
            raise TypeError(
                f"endpoint_groups must be a mapping or an EndpointGroups, not "
                f"{type(overrides).__name__}"
            )
        self._overrides: dict[str, str] = {}
        for key, group in (overrides or {}).items():
            if not isinstance(key, str) or not isinstance(group, str) or not group.strip():
                raise TypeError(
                    f"endpoint_groups maps endpoint strings to group names (non-empty "
                    f"strings), not {key!r}: {group!r}"
                )
            self._overrides[_normalise_key(key)] = group.strip()
        self._cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"EndpointGroups({self._overrides!r})"

    def __call__(self, endpoint: str) -> str:
        """Return the group of ``endpoint``."""
        group = self._cache.get(endpoint)
        if group is None:
            group = self._cache[endpoint] = self._group_of(endpoint)
        return group

    def _group_of(self, endpoint: str) -> str:
        parts = _split(endpoint)
        if parts is None:
            return endpoint
        method, resource = parts
        named = self._overrides.get(f"{method} {resource}") or self._overrides.get(resource)
        if named is not None:
            return named
        return f"{'read' if method in READ_METHODS else 'write'} {resource}"

    @classmethod
    def of(cls, value: EndpointGroups | Mapping[str, str] | None) -> EndpointGroups:
        """Accept what a gate's ``endpoint_groups=`` argument may be."""
        return value if isinstance(value, EndpointGroups) else cls(value)


def _normalise_key(key: str) -> str:
    parts = _split(key)
    if parts is not None:
        return f"{parts[0]} {parts[1]}"
    resource = key.strip()
    if not resource or " " in resource:
        raise ValueError(
            f"endpoint_groups key {key!r} is neither 'METHOD resource/' (METHOD one of "
            f"{', '.join(sorted(_METHODS))}) nor a resource such as 'sequence/'"
        )
    return resource if resource.endswith("/") else resource + "/"
