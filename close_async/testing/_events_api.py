"""The fake's `event/` and `webhook/` endpoints: routes for `CloseApi` (no I/O here).

- `GET event/` (a page of the log, see `_events.EventLog.page`), `GET event/{id}/`;
- `GET webhook/` (`{"data": [...], "has_more": ...}` with `_skip`/`_limit`), `POST webhook/`
  (201), `GET`/`PUT`/`DELETE webhook/{id}/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ._api import ApiResponse, list_body, parse_paging
from ._api import _json_object as json_object
from ._api import _not_found as not_found
from ._events import EventLog
from ._model import dumps
from ._state import page
from ._webhooks import WebhookHub

__all__ = ["event_routes"]

Handler = Callable[[str, Mapping[str, str], bytes], ApiResponse]


def event_routes(events: EventLog, webhooks: WebhookHub) -> dict[tuple[str, bool, str], Handler]:
    """Return the routes (resource, is one object, method) -> handler of both resources."""

    def list_events(_: str, query: Mapping[str, str], __: bytes) -> ApiResponse:
        return ApiResponse(200, events.page(query))

    def get_event(event_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        text = events.event_json(event_id)
        return not_found() if text is None else ApiResponse(200, text)

    def list_webhooks(_: str, query: Mapping[str, str], __: bytes) -> ApiResponse:
        texts = [dumps(dict(sub)) for sub in webhooks.subscriptions()]
        chunk, has_more = page(texts, *parse_paging(query))
        return ApiResponse(200, list_body(list(chunk), has_more))

    def create_webhook(_: str, __: Mapping[str, str], body: bytes) -> ApiResponse:
        sub = webhooks.create(json_object(body))
        return ApiResponse(201, dumps(sub), f"webhook/{sub['id']}/")

    def get_webhook(sub_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        sub = webhooks.subscription(sub_id)
        return not_found() if sub is None else ApiResponse(200, dumps(dict(sub)))

    def update_webhook(sub_id: str, _: Mapping[str, str], body: bytes) -> ApiResponse:
        sub = webhooks.update(sub_id, json_object(body))
        return not_found() if sub is None else ApiResponse(200, dumps(sub))

    def delete_webhook(sub_id: str, _: Mapping[str, str], __: bytes) -> ApiResponse:
        return ApiResponse(200, "{}") if webhooks.delete(sub_id) else not_found()

    return {
        ("event", False, "GET"): list_events,
        ("event", True, "GET"): get_event,
        ("webhook", False, "GET"): list_webhooks,
        ("webhook", False, "POST"): create_webhook,
        ("webhook", True, "GET"): get_webhook,
        ("webhook", True, "PUT"): update_webhook,
        ("webhook", True, "DELETE"): delete_webhook,
    }
