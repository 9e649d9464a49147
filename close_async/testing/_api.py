"""Close's endpoints as plain functions: (method, route, query, body) -> status and JSON text.

No I/O here: authentication, rate limits, faults and latency belong to the server; this module
routes, validates the request the way Close does and reads or writes the store.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from ._errors import (
    DOES_NOT_EXIST,
    REQUIRED,
    RejectedError,
    field_errors,
    flat_error,
    invalid_choice,
)
from ._model import BULK_ACTION_TYPES, CONTACT_PREFERENCES, dumps
from ._state import FakeState

API_PREFIX = "/api/v1/"
RESOURCES = (
    "sequence",
    "sequence_subscription",
    "bulk_action/sequence_subscription",
    "event",
    "webhook",
)
METHODS = ("GET", "POST", "PUT", "DELETE")
# The resource name used for requests to paths the fake does not serve.
UNKNOWN_RESOURCE = "<unknown>"
DEFAULT_LIMIT = 100
MAX_LIMIT = 100
SUBSCRIPTION_FILTERS = ("lead_id", "contact_id", "sequence_id")

_NOT_A_STRING = "Not a valid string."
_NOT_A_LIST = "Not a valid list."
_EMPTY_PAGE = '{"data":[],"has_more":false}'


class Route(NamedTuple):
    """Name a resolved path: the resource and, for a single object, its id."""

    resource: str
    object_id: str | None


class ApiResponse(NamedTuple):
    """Carry an answer: status, JSON text and, for a 201, the created object's path."""

    status: int
    body: str
    location: str | None = None


def resolve(path: str) -> Route | None:
    """Map a URL path (trailing slash optional) to a route, or None if the fake has none."""
    if not path.startswith(API_PREFIX):
        return None
    parts = [part for part in path[len(API_PREFIX) :].split("/") if part]
    if parts[:1] == ["bulk_action"]:
        parts = ["/".join(parts[:2]), *parts[2:]]
    if not parts or parts[0] not in RESOURCES or len(parts) > 2:
        return None
    return Route(parts[0], parts[1] if len(parts) == 2 else None)


def endpoint_group(method: str, resource: str) -> str:
    """Return the name of an endpoint group, e.g. `GET sequence_subscription`."""
    return f"{method} {resource}"


def parse_group(group: str) -> str:
    """Normalize and check a group name such as `get sequence_subscription/`."""
    method, _, resource = group.strip().partition(" ")
    method, resource = method.upper(), resource.strip().strip("/")
    if method not in METHODS or resource not in RESOURCES:
        raise ValueError(
            f"unknown endpoint group {group!r}: expected '<{'|'.join(METHODS)}> <resource>' "
            f"with resource one of {RESOURCES}"
        )
    return endpoint_group(method, resource)


def error_body(message: str) -> str:
    """Return Close's simple error body `{"error": message}` as JSON text."""
    return dumps({"error": message})


def parse_paging(query: Mapping[str, str], max_skip: int | None = None) -> tuple[int, int]:
    """Return `(_skip, _limit)` from the query, or raise a 400 for bad values.

    Close's maximum `_limit` and `_skip` vary per resource and are not published
    (https://developer.close.com/api/overview/pagination). An over-large `_limit` gets the
    message of Close's API framework; the message for an over-large `_skip` is not
    documented, and this fake words it the same way.
    """
    skip = _non_negative_int(query, "_skip", 0)
    limit = _non_negative_int(query, "_limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise flat_error(
            "The limit you set is larger than the maximum limit for this resource "
            f"(max_limit = {MAX_LIMIT})."
        )
    if max_skip is not None and skip > max_skip:
        raise flat_error(
            "The skip you set is larger than the maximum skip for this resource "
            f"(max_skip = {max_skip})."
        )
    return skip, limit


def requested_fields(query: Mapping[str, str]) -> frozenset[str] | None:
    """Return the field names of `_fields=a,b,c`, or None when it is absent or empty."""
    names = frozenset(name.strip() for name in query.get("_fields", "").split(","))
    names -= {""}
    return names or None


def only_fields(body: str, fields: frozenset[str], *, listing: bool) -> str:
    """Keep only `fields` in an answer: in each item of a list's `data`, or in the object.

    Close documents `_fields` on "most endpoints" (api/overview/fields) but not what it does
    with a name the object does not have; the fake leniently ignores such names. Only
    top-level fields are selected (nested objects such as a sequence's steps come whole).
    """
    data = json.loads(body)
    if listing:
        data["data"] = [_pick(item, fields) for item in data["data"]]
    else:
        data = _pick(data, fields)
    return dumps(data)


def _pick(record: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name in fields}


def list_body(items: list[str], has_more: bool) -> str:
    """Assemble a list envelope from records already serialized to JSON."""
    if not items and not has_more:
        return _EMPTY_PAGE
    # One f-string: chained + would copy the whole page once per piece.
    return f'{{"data":[{",".join(items)}],"has_more":{"true" if has_more else "false"}}}'


def _non_negative_int(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdecimal()):
        raise flat_error(f"{name} must be a non-negative integer.")
    return int(text)


_Handler = Callable[[str, Mapping[str, str], bytes], ApiResponse]


class CloseApi:
    """Serve the Sequences, Sequence Subscriptions and bulk subscription endpoints.

    `on_bulk_action` is called with the id of each bulk action created or resumed; the server
    uses it to move the action through `processing` to `done` over time. `on_bulk_pause` is
    called with the id of an action paused: the server stops moving it on. `max_skip`, when
    given, is the largest `_skip` any list accepts (a 400 beyond it).
    """

    def __init__(
        self,
        state: FakeState,
        on_bulk_action: Callable[[str], None],
        on_bulk_pause: Callable[[str], None] = lambda _: None,
        *,
        max_skip: int | None = None,
    ) -> None:
        self.state = state
        self._on_bulk_action = on_bulk_action
        self._on_bulk_pause = on_bulk_pause
        self._max_skip = max_skip
        # (resource, is_one_object, method) -> handler(object_id, query, body)
        self._routes: dict[tuple[str, bool, str], _Handler] = {
            ("sequence", False, "GET"): self._list_sequences,
            ("sequence", False, "POST"): self._create_sequence,
            ("sequence", True, "GET"): self._get_sequence,
            ("sequence", True, "PUT"): self._update_sequence,
            ("sequence", True, "DELETE"): self._delete_sequence,
            ("sequence_subscription", False, "GET"): self._list_subscriptions,
            ("sequence_subscription", False, "POST"): self._create_subscription,
            ("sequence_subscription", True, "GET"): self._get_subscription,
            ("sequence_subscription", True, "PUT"): self._update_subscription,
            ("sequence_subscription", True, "DELETE"): self._delete_subscription,
            ("bulk_action/sequence_subscription", False, "GET"): self._list_bulk_actions,
            ("bulk_action/sequence_subscription", False, "POST"): self._create_bulk_action,
            ("bulk_action/sequence_subscription", True, "GET"): self._get_bulk_action,
            ("bulk_action/sequence_subscription", True, "PUT"): self._update_bulk_action,
        }
        #: Wraps each request's handling, with its `request_method` and `request_path` (the
        #: event log dates and tags the events recorded inside; see `FakeClose`).
        self.scope: Callable[..., AbstractContextManager[None]] = lambda **_: (
            contextlib.nullcontext()
        )

    def add_routes(self, routes: Mapping[tuple[str, bool, str], _Handler]) -> None:
        """Serve more routes: (resource, is one object, method) -> handler."""
        self._routes.update(routes)

    def handle(
        self, method: str, route: Route, query: Mapping[str, str], body: bytes
    ) -> ApiResponse:
        """Answer one request to a resolved route."""
        handler = self._routes.get((route.resource, route.object_id is not None, method))
        if handler is None:
            return ApiResponse(405, error_body(f"Method {method} not allowed."))
        object_id = route.object_id or ""
        try:
            if method == "GET":  # changes nothing: no scope to open (the hot path)
                answer = handler(object_id, query, body)
            else:
                path = f"{API_PREFIX}{route.resource}/" + (f"{object_id}/" if object_id else "")
                with self.scope(request_method=method, request_path=path):
                    answer = handler(object_id, query, body)
        except RejectedError as exc:
            return ApiResponse(400, dumps(exc.body))
        fields = requested_fields(query) if method == "GET" else None
        if fields is not None and answer.status == 200:
            listing = route.object_id is None
            answer = answer._replace(body=only_fields(answer.body, fields, listing=listing))
        return answer

    # Sequences ----------------------------------------------------------------------------

    def _list_sequences(self, _: str, query: Mapping[str, str], __: bytes) -> ApiResponse:
        paging = parse_paging(query, self._max_skip)
        return ApiResponse(200, list_body(*self.state.page_sequences(*paging)))

    def _get_sequence(self, seq_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        return _found(self.state.sequence_json(seq_id))

    def _create_sequence(self, _: str, __: Mapping[str, str], body: bytes) -> ApiResponse:
        fields = _sequence_fields(_json_object(body))
        missing = {f: REQUIRED for f in ("name", "timezone") if not fields.get(f)}
        if missing:
            raise field_errors(missing)
        seq_id = self.state.create_sequence(**fields)
        return ApiResponse(200, self.state.sequence_json(seq_id) or "")

    def _update_sequence(self, seq_id: str, _: Mapping[str, str], body: bytes) -> ApiResponse:
        if self.state.sequence(seq_id) is None:
            return _not_found()
        self.state.update_sequence(seq_id, _sequence_fields(_json_object(body)))
        return _found(self.state.sequence_json(seq_id))

    def _delete_sequence(self, seq_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        if self.state.sequence(seq_id) is None:
            return _not_found()
        self.state.delete_sequence(seq_id)
        return ApiResponse(200, "{}")

    # Subscriptions ------------------------------------------------------------------------

    def _list_subscriptions(self, _: str, query: Mapping[str, str], __: bytes) -> ApiResponse:
        filters = {name: query.get(name) or None for name in SUBSCRIPTION_FILTERS}
        if not any(filters.values()):
            # Required since Close's changelog of 2021-03-31.
            raise flat_error("At least one of sequence_id, contact_id or lead_id is required.")
        skip, limit = parse_paging(query, self._max_skip)
        items, has_more = self.state.page_subscriptions(skip, limit, **filters)
        return ApiResponse(200, list_body(items, has_more))

    def _get_subscription(self, sub_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        return _found(self.state.subscription_json(sub_id))

    def _create_subscription(self, _: str, __: Mapping[str, str], body: bytes) -> ApiResponse:
        data = _json_object(body)
        # Close's docs mark no field of this body required. Without a sequence and a contact
        # there is nothing to subscribe; the sender fields, when left out, are the default
        # user's here (what Close does then is not documented).
        required = ("sequence_id", "contact_id")
        senders = ("sender_account_id", "sender_email", "sender_name")
        errors = {f: REQUIRED for f in required if not data.get(f)}
        errors.update(
            _type_errors(data, (*required, *senders, "contact_email"), ("calls_assigned_to",))
        )
        if errors:
            raise field_errors(errors)
        sub_id = self.state.create_subscription(
            sequence_id=data["sequence_id"],
            contact_id=data["contact_id"],
            contact_email=data.get("contact_email"),
            sender_account_id=data.get("sender_account_id"),
            sender_email=data.get("sender_email"),
            sender_name=data.get("sender_name"),
            calls_assigned_to=data.get("calls_assigned_to") or (),
        )
        return ApiResponse(
            201, self.state.subscription_json(sub_id) or "", f"sequence_subscription/{sub_id}/"
        )

    def _update_subscription(self, sub_id: str, _: Mapping[str, str], body: bytes) -> ApiResponse:
        if self.state.subscription(sub_id) is None:
            return _not_found()
        data = _json_object(body)
        strings = ("contact_email", "sender_account_id", "sender_email", "sender_name")
        errors = _type_errors(data, strings, ("calls_assigned_to",))
        changes: dict[str, Any] = {f: data[f] for f in (*strings, "calls_assigned_to") if f in data}
        if "status" in data:
            # Pausing records a manual pause; resuming clears the reason (Close's examples).
            status = data["status"]
            if status == "paused":
                changes.update(status="paused", status_reason="manual")
            elif status == "active":
                changes.update(status="active", status_reason=None)
            else:
                errors["status"] = invalid_choice(status)
        if errors:
            raise field_errors(errors)
        self.state.update_subscription(sub_id, changes)
        return _found(self.state.subscription_json(sub_id))

    def _delete_subscription(self, sub_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        if self.state.subscription(sub_id) is None:
            return _not_found()
        self.state.delete_subscription(sub_id)
        return ApiResponse(200, "{}")

    # Bulk actions -------------------------------------------------------------------------

    def _list_bulk_actions(self, _: str, query: Mapping[str, str], __: bytes) -> ApiResponse:
        paging = parse_paging(query, self._max_skip)
        return ApiResponse(200, list_body(*self.state.page_bulk_actions(*paging)))

    def _get_bulk_action(self, bulk_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        return _found(self.state.bulk_action_json(bulk_id))

    def _create_bulk_action(self, _: str, __: Mapping[str, str], body: bytes) -> ApiResponse:
        data = _json_object(body)
        action_type = data.get("action_type")
        errors: dict[str, str] = {}
        if not action_type:
            errors["action_type"] = REQUIRED
        elif action_type not in BULK_ACTION_TYPES:
            errors["action_type"] = invalid_choice(action_type)
        if action_type == "subscribe":
            required = ("sequence_id", "sender_account_id", "sender_name", "sender_email")
            errors.update(
                {f: REQUIRED for f in (*required, "contact_preference") if not data.get(f)}
            )
        preference = data.get("contact_preference")
        if preference is not None and preference not in CONTACT_PREFERENCES:
            errors["contact_preference"] = invalid_choice(preference)
        sequence_id = data.get("sequence_id")
        if sequence_id and (
            not isinstance(sequence_id, str) or not self.state.sequence(sequence_id)
        ):
            errors["sequence_id"] = DOES_NOT_EXIST
        limit = data.get("results_limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            errors["results_limit"] = "A valid integer is required."
        errors.update(
            _type_errors(
                data, ("sender_account_id", "sender_email", "sender_name"), ("calls_assigned_to",)
            )
        )
        if errors:
            raise field_errors(errors)
        bulk_id = self.state.create_bulk_action(data)
        self._on_bulk_action(bulk_id)
        return ApiResponse(200, self.state.bulk_action_json(bulk_id) or "")

    def _update_bulk_action(self, bulk_id: str, _: Mapping[str, str], body: bytes) -> ApiResponse:
        # Close documents pausing ({"status": "paused"}) and resuming ({"status": "resuming"},
        # within 7 days: not modelled) an action in progress, nothing else. What Close answers
        # for other changes is not documented: the fake refuses them with a 400.
        action = self.state.bulk_action(bulk_id)
        if action is None:
            return _not_found()
        status = _json_object(body).get("status")
        if status not in _BULK_TRANSITIONS:
            raise field_errors({"status": invalid_choice(status)})
        if action["status"] not in _BULK_TRANSITIONS[status]:
            raise flat_error(f"A bulk action in status {action['status']} cannot be {status}.")
        self.state.update_bulk_action(bulk_id, {"status": status})
        notify = self._on_bulk_pause if status == "paused" else self._on_bulk_action
        notify(bulk_id)
        return _found(self.state.bulk_action_json(bulk_id))


# The status a bulk action may be set to -> the statuses it may have before.
_BULK_TRANSITIONS = {
    "paused": frozenset({"created", "loading", "processing", "resuming"}),
    "resuming": frozenset({"paused"}),
}


def _found(body: str | None) -> ApiResponse:
    return _not_found() if body is None else ApiResponse(200, body)


def _not_found() -> ApiResponse:
    return ApiResponse(404, error_body("Not found."))


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise flat_error("Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise flat_error("Request body must be a JSON object.")
    return data


def _type_errors(
    data: Mapping[str, Any], strings: tuple[str, ...], string_lists: tuple[str, ...]
) -> dict[str, str]:
    errors = {f: _NOT_A_STRING for f in strings if f in data and not isinstance(data[f], str)}
    for f in string_lists:
        value = data.get(f)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            errors[f] = _NOT_A_LIST
    return errors


def _sequence_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    # The writable fields of a sequence, type-checked; values are checked by the store.
    fields = {f: data[f] for f in ("name", "timezone", "status", "schedule", "steps") if f in data}
    errors = _type_errors(fields, ("name", "timezone", "status"), ())
    schedule = fields.get("schedule")
    if schedule is not None and not _is_schedule(schedule):
        errors["schedule"] = 'Invalid schedule: expected {"ranges": [{weekday, start, end}]}.'
    if errors:
        raise field_errors(errors)
    steps = fields.get("steps")
    if steps is not None and not (
        isinstance(steps, list) and all(isinstance(s, dict) for s in steps)
    ):
        raise flat_error("steps must be a list of step objects.")
    if steps is None:
        fields.pop("steps", None)
    return fields


def _is_schedule(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("ranges"), list):
        return False
    return all(
        isinstance(r, dict)
        and isinstance(r.get("weekday"), int)
        and 1 <= r["weekday"] <= 7
        and isinstance(r.get("start"), str)
        and isinstance(r.get("end"), str)
        for r in value["ranges"]
    )
