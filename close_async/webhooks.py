"""Verify Close's webhook deliveries and read them as ``Event`` models.

Close POSTs each event a webhook subscription matches as ``{"subscription_id": ...,
"event": {...}}``, signed with the subscription's ``signature_key`` (returned when the
subscription is created): the ``close-sig-hash`` header is the hex HMAC-SHA256 of the
``close-sig-timestamp`` header followed by the raw body, keyed with the hex-decoded
signature key (https://developer.close.com/api/resources/webhooks, "Webhook signatures").

``verify(body, headers, signature_key)`` checks all of that on the raw bytes the framework
received (never re-serialised JSON: one space of difference breaks the signature), in
constant time, then checks the timestamp's age against replays, and returns the event.
Each failure is its own exception (all ``WebhookVerificationError``): answer it with a 4xx
and act on nothing. It works with any mapping of headers, whatever the case of their names
(aiohttp, Starlette/FastAPI, Django's ``request.headers``, a plain dict).

Not documented by Close, and so decided here: the timestamp is read as Unix seconds; a
delivery more than ``max_age`` (5 minutes) old or ahead is refused as a possible replay.
Whether Close signs each retry of a failed delivery afresh is not documented either: if your
receiver refuses retries as stale, raise ``max_age`` (or pass ``None``) and rely on
deduplicating by ``event.id`` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._convert import StructureError, structure
from ._event_errors import (
    WebhookHeaderMissingError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)
from ._event_models import Event
from ._json import loads
from .resources.events import typed_event

__all__ = [
    "DEFAULT_MAX_AGE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDelivery",
    "WebhookHeaderMissingError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "verify",
    "verify_delivery",
]

SIGNATURE_HEADER: Final = "close-sig-hash"
TIMESTAMP_HEADER: Final = "close-sig-timestamp"
#: Seconds a delivery's timestamp may be off from this machine's clock (either way).
DEFAULT_MAX_AGE: Final = 300.0

SignatureKeys = str | Mapping[str, str]


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """A verified delivery: the webhook subscription it is for, and its event."""

    subscription_id: str | None
    event: Event


def verify(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    signature_key: SignatureKeys,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> Event:
    """Verify a webhook delivery and return its event; raise if it must not be trusted.

    Args:
        body: the raw request body, as received (``await request.read()`` in aiohttp,
            ``await request.body()`` in Starlette/FastAPI, ``request.body`` in Django).
        headers: the request's headers: any mapping (or pairs); names in any case.
        signature_key: the subscription's ``signature_key`` (hex), or a mapping of
            subscription IDs to keys when one endpoint receives several subscriptions (the
            key is then picked by the body's ``subscription_id``).
        max_age: the most seconds the signed timestamp may be off from ``now``; ``None``
            turns the check off.
        now: the current Unix time (default: ``time.time()``).

    Raises:
        WebhookHeaderMissingError, WebhookSignatureError, WebhookTimestampError,
        WebhookPayloadError (all ``WebhookVerificationError``); ValueError/TypeError for a
        malformed argument (a key that is not hex, a body that is text).
    """
    return verify_delivery(body, headers, signature_key, max_age=max_age, now=now).event


def verify_delivery(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    signature_key: SignatureKeys,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    now: float | None = None,
) -> WebhookDelivery:
    """Like ``verify``, but return the subscription ID along with the event."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(
            f"body must be the raw bytes of the request, not {type(body).__name__} (a "
            "decoded or re-serialised body no longer matches its signature)"
        )
    if max_age is not None and (isinstance(max_age, bool) or not max_age >= 0):
        raise ValueError(f"max_age must be seconds >= 0 (or None), not {max_age!r}")
    raw = bytes(body)
    signature, stamp = _signature_headers(headers)
    payload = _json_payload(raw)  # untrusted until checked below; only to pick the key
    subscription_id = payload.get("subscription_id") if payload is not None else None
    key = _key_for(signature_key, subscription_id)
    expected = hmac.new(key, stamp.encode("ascii", "replace") + raw, hashlib.sha256).hexdigest()
    # Compared as bytes: compare_digest raises TypeError for text that is not ASCII, and
    # the header is whatever the sender put there.
    given = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise WebhookSignatureError(
            f"the {SIGNATURE_HEADER} signature does not match the body: a different "
            "signature_key signed it (another subscription's?), or the body was changed on "
            "the way (verify the raw bytes, not re-serialised JSON)"
        )
    _check_age(stamp, max_age, time.time() if now is None else now)
    return WebhookDelivery(
        subscription_id=subscription_id if isinstance(subscription_id, str) else None,
        event=_event(payload),
    )


def _signature_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[str, str]:
    """Find both signature headers, whatever the case of the names."""
    wanted = {SIGNATURE_HEADER: "", TIMESTAMP_HEADER: ""}
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        # Bytes names and values too: ASGI's raw headers are pairs of bytes.
        text = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        lower = text.lower().replace("_", "-")
        if lower in wanted and not wanted[lower]:
            wanted[lower] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    missing = [name for name, value in wanted.items() if not value.strip()]
    if missing:
        raise WebhookHeaderMissingError(
            f"the {' and '.join(missing)} header{'s are' if len(missing) > 1 else ' is'} "
            "missing: this request was not signed by Close"
        )
    return wanted[SIGNATURE_HEADER], wanted[TIMESTAMP_HEADER].strip()


def _key_for(signature_key: SignatureKeys, subscription_id: object) -> bytes:
    """Decode the (hex) key to use for this delivery."""
    if isinstance(signature_key, Mapping):
        key = signature_key.get(subscription_id) if isinstance(subscription_id, str) else None
        if key is None:
            raise WebhookSignatureError(
                f"no signature key for webhook subscription {subscription_id!r}: the "
                "delivery is for a subscription this endpoint does not know"
            )
        name = f"signature_key[{subscription_id!r}]"
    else:
        key, name = signature_key, "signature_key"
    if not isinstance(key, str):
        raise TypeError(f"{name} must be the hex string Close gave, not {type(key).__name__}")
    try:
        secret = bytes.fromhex(key.strip())
    except ValueError:
        # The message never shows the key: it is a secret even when it is malformed.
        raise ValueError(
            f"{name} is not a hex string: pass the signature_key of the webhook subscription "
            "as Close returned it"
        ) from None
    if not secret:
        # An empty HMAC key is one anyone can sign with (an unset setting, typically).
        raise ValueError(
            f"{name} is empty: pass the signature_key of the webhook subscription as Close "
            "returned it"
        )
    return secret


def _check_age(stamp: str, max_age: float | None, now: float) -> None:
    try:
        signed_at = float(stamp)
        if not math.isfinite(signed_at):  # "nan" would compare False both ways below
            raise ValueError(stamp)
    except ValueError:
        raise WebhookTimestampError(
            f"the {TIMESTAMP_HEADER} header is not a Unix timestamp: {stamp[:40]!r}"
        ) from None
    if max_age is None:
        return
    age = now - signed_at
    if age > max_age:
        raise WebhookTimestampError(
            f"the delivery was signed {age:.0f} s ago, more than max_age={max_age:g} s: a "
            "replay, or a retry signed long ago (raise max_age if Close's retries are "
            "refused, and deduplicate by event id)"
        )
    if -age > max_age:
        raise WebhookTimestampError(
            f"the delivery is signed {-age:.0f} s in the future, more than max_age="
            f"{max_age:g} s: check this machine's clock"
        )


def _json_payload(raw: bytes) -> dict[str, Any] | None:
    try:
        payload = loads(raw)
    except ValueError:  # bad UTF-8 and a document nested too deeply too (see _json.py)
        return None
    return payload if isinstance(payload, dict) else None


def _event(payload: dict[str, Any] | None) -> Event:
    if payload is None:
        raise WebhookPayloadError("the body is not a JSON object: not a Close webhook delivery")
    data = payload.get("event")
    if not isinstance(data, dict):
        raise WebhookPayloadError('the body has no "event" object: not a Close webhook delivery')
    try:
        return typed_event(structure(data, Event))
    except StructureError as exc:
        raise WebhookPayloadError(
            f"the delivery's event does not fit Close's event shape: {exc.under('$.event')}"
        ) from None
