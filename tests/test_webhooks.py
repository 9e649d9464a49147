"""Webhooks: ``close_async.webhooks.verify``, ``close.webhooks``, and the fake's deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from close_async import (
    CloseClient,
    Event,
    EventAction,
    SequenceSubscription,
    WebhookHeaderMissingError,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookSubscription,
    WebhookTimestampError,
    WebhookVerificationError,
    webhooks,
)
from close_async.testing import FakeClose

KEY = "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c"
OTHER_KEY = "aa" * 32
NOW = 1_700_000_000
README = Path(__file__).resolve().parents[1] / "docs" / "keeping-current.md"

DELIVERY = {
    "subscription_id": "whsub_1",
    "event": {
        "id": "ev_1",
        "object_type": "sequence_subscription",
        "object_id": "sub_1",
        "action": "updated",
        "date_updated": "2024-05-01T12:00:00.123000",
        "changed_fields": ["status"],
        "data": {"id": "sub_1", "status": "paused"},
        "previous_data": {"status": "active"},
    },
}


def signed(
    payload: Any = DELIVERY, *, key: str = KEY, timestamp: int = NOW
) -> tuple[bytes, dict[str, str]]:
    """A body and its headers, signed the way Close documents it (independently of the code
    under test): hex HMAC-SHA256 of timestamp + body, keyed with the hex-decoded key."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    digest = hmac.new(bytes.fromhex(key), str(timestamp).encode() + body, hashlib.sha256)
    return body, {"close-sig-hash": digest.hexdigest(), "close-sig-timestamp": str(timestamp)}


# verify ------------------------------------------------------------------------------------


def test_a_signed_delivery_verifies_into_an_event() -> None:
    body, headers = signed()
    event = webhooks.verify(body, headers, KEY, now=NOW + 10)
    assert isinstance(event, Event)
    assert event.id == "ev_1"
    assert event.action == EventAction.UPDATED
    assert isinstance(event.data, SequenceSubscription)
    assert event.data.status == "paused"
    assert event.previous_data == {"status": "active"}
    delivery = webhooks.verify_delivery(body, headers, KEY, now=NOW)
    assert delivery.subscription_id == "whsub_1"
    assert delivery.event == event


@pytest.mark.parametrize(
    "shape",
    [
        lambda h: {k.upper(): v for k, v in h.items()},
        lambda h: {k.title(): v for k, v in h.items()},
        lambda h: list(h.items()),
        lambda h: CIMultiDict({"Content-Type": "application/json", **h}),
        lambda h: {k.replace("-", "_").upper(): v for k, v in h.items()},
        # ASGI's raw headers (scope["headers"], Starlette's request.headers.raw): bytes pairs
        lambda h: [(k.encode(), v.encode()) for k, v in h.items()],
    ],
)
def test_any_headers_mapping_whatever_the_case(shape: Callable[[dict[str, str]], Any]) -> None:
    body, headers = signed()
    assert webhooks.verify(body, shape(headers), KEY, now=NOW).id == "ev_1"


def test_a_wrong_key_is_a_signature_error() -> None:
    body, headers = signed(key=OTHER_KEY)
    with pytest.raises(WebhookSignatureError) as caught:
        webhooks.verify(body, headers, KEY, now=NOW)
    for secret in (KEY, OTHER_KEY, headers["close-sig-hash"]):
        assert secret not in str(caught.value)


def test_an_altered_body_is_a_signature_error() -> None:
    body, headers = signed()
    changed = body.replace(b'"paused"', b'"active"')
    with pytest.raises(WebhookSignatureError):
        webhooks.verify(changed, headers, KEY, now=NOW)
    reserialised = json.dumps(json.loads(body), indent=1).encode()  # same JSON, other bytes
    with pytest.raises(WebhookSignatureError):
        webhooks.verify(reserialised, headers, KEY, now=NOW)


def test_a_stale_timestamp_is_refused_and_max_age_tunes_it() -> None:
    body, headers = signed(timestamp=NOW - 301)
    with pytest.raises(WebhookTimestampError, match="301 s ago"):
        webhooks.verify(body, headers, KEY, now=NOW)
    assert webhooks.verify(body, headers, KEY, now=NOW, max_age=600).id == "ev_1"
    assert webhooks.verify(body, headers, KEY, now=NOW, max_age=None).id == "ev_1"
    body, headers = signed(timestamp=NOW + 400)
    with pytest.raises(WebhookTimestampError, match="future"):
        webhooks.verify(body, headers, KEY, now=NOW)


def test_a_timestamp_cannot_be_changed_without_breaking_the_signature() -> None:
    body, headers = signed(timestamp=NOW - 3600)
    replayed = {**headers, "close-sig-timestamp": str(NOW)}  # a replay made to look fresh
    with pytest.raises(WebhookSignatureError):
        webhooks.verify(body, replayed, KEY, now=NOW)


@pytest.mark.parametrize("missing", ["close-sig-hash", "close-sig-timestamp"])
def test_a_missing_header_is_its_own_error(missing: str) -> None:
    body, headers = signed()
    del headers[missing]
    with pytest.raises(WebhookHeaderMissingError, match=missing):
        webhooks.verify(body, headers, KEY, now=NOW)
    with pytest.raises(WebhookHeaderMissingError):
        webhooks.verify(body, {**signed()[1], missing: " "}, KEY, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        {"subscription_id": "whsub_1"},
        {"event": {"id": 5}},
        b"[" * 100_000 + b"]" * 100_000,  # nested beyond every decoder's limit
    ],
    ids=["not json", "a list", "no event", "a bad event", "too deep"],
)
def test_a_signed_body_that_is_not_an_event_is_a_payload_error(payload: Any) -> None:
    body, headers = signed(payload)
    with pytest.raises(WebhookPayloadError):
        webhooks.verify(body, headers, KEY, now=NOW)


def test_a_body_too_deep_to_decode_is_refused_for_its_signature_first() -> None:
    _, headers = signed()
    with pytest.raises(WebhookSignatureError):  # not a RecursionError from the decoder
        webhooks.verify(b"[" * 100_000, headers, KEY, now=NOW)


def test_a_non_numeric_timestamp_is_a_timestamp_error() -> None:
    body = json.dumps(DELIVERY).encode()
    digest = hmac.new(bytes.fromhex(KEY), b"soon" + body, hashlib.sha256).hexdigest()
    headers = {"close-sig-hash": digest, "close-sig-timestamp": "soon"}
    with pytest.raises(WebhookTimestampError):
        webhooks.verify(body, headers, KEY, now=NOW)


@pytest.mark.parametrize(
    "forged", ["é" * 64, "\u0430bc", b"\xff" * 64], ids=["latin", "cyrillic", "bytes"]
)
def test_a_signature_header_that_is_not_ascii_is_a_signature_error(forged: str | bytes) -> None:
    # hmac.compare_digest raises TypeError for non-ASCII text: a forger's header must still
    # end as a WebhookVerificationError (a 4xx), not a foreign exception (a 500).
    body, headers = signed()
    with pytest.raises(WebhookSignatureError):
        webhooks.verify(body, {**headers, "close-sig-hash": forged}, KEY, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_a_timestamp_that_is_not_a_finite_number_is_refused(stamp: str) -> None:
    # float() reads these; a NaN age compares False both ways and slipped past max_age.
    body = json.dumps(DELIVERY).encode()
    digest = hmac.new(bytes.fromhex(KEY), stamp.encode() + body, hashlib.sha256).hexdigest()
    headers = {"close-sig-hash": digest, "close-sig-timestamp": stamp}
    with pytest.raises(WebhookTimestampError):
        webhooks.verify(body, headers, KEY, now=NOW)


@pytest.mark.parametrize("empty", ["", "  ", {"whsub_1": ""}])
def test_an_empty_signature_key_is_refused_not_used(empty: Any) -> None:
    # An unset setting (`os.environ.get("...", "")`) gave an empty HMAC key: anyone could
    # sign a delivery with it, and verify() accepted the forgery.
    body, headers = signed(key="")
    with pytest.raises(ValueError, match="empty"):
        webhooks.verify(body, headers, empty, now=NOW)


def test_keys_by_subscription_id() -> None:
    body, headers = signed()
    keys = {"whsub_0": OTHER_KEY, "whsub_1": KEY}
    assert webhooks.verify(body, headers, keys, now=NOW).id == "ev_1"
    with pytest.raises(WebhookSignatureError, match="whsub_1"):
        webhooks.verify(body, headers, {"whsub_0": KEY}, now=NOW)


def test_malformed_arguments_are_not_verification_errors() -> None:
    body, headers = signed()
    with pytest.raises(TypeError, match="raw bytes"):
        webhooks.verify(body.decode(), headers, KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a hex string") as caught:
        webhooks.verify(body, headers, "not-hex-secret")
    assert "not-hex-secret" not in str(caught.value)
    with pytest.raises(ValueError, match="max_age"):
        webhooks.verify(body, headers, KEY, max_age=-1)
    assert issubclass(WebhookSignatureError, WebhookVerificationError)


# close.webhooks ----------------------------------------------------------------------------


async def test_webhook_subscriptions_crud_and_the_key_stays_out_of_repr(
    fake: FakeClose, close: CloseClient
) -> None:
    sub = await close.webhooks.create(
        url="https://example.com/hook",
        events=[("sequence_subscription", "created"), {"object_type": "lead", "action": "x"}],
    )
    assert isinstance(sub, WebhookSubscription)
    assert sub.id.startswith("whsub_")
    assert sub.signature_key is not None
    assert re.fullmatch(r"[0-9a-f]{64}", sub.signature_key)
    assert sub.signature_key not in repr(sub)
    assert sub.signature_key not in str(sub)
    assert [(e.object_type, e.action) for e in sub.events] == [
        ("sequence_subscription", "created"),
        ("lead", "x"),
    ]
    assert sub.status == "active"
    assert [s.id async for s in close.webhooks.list()] == [sub.id]
    paused = await close.webhooks.update(sub.id, status="paused")
    assert paused.status == "paused"
    assert await close.webhooks.get(sub.id) == paused
    await close.webhooks.delete(sub.id)
    assert [s async for s in close.webhooks.list()] == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"url": "https://x", "events": []}, ValueError),
        ({"url": "https://x", "events": "sequence_subscription"}, TypeError),
        ({"url": "https://x", "events": [("sequence_subscription",)]}, TypeError),
        ({"url": "https://x", "events": [("", "created")]}, ValueError),
        ({"url": "", "events": [("lead", "created")]}, ValueError),
        ({"url": "https://x", "events": [("lead", "created")], "verify_ssl": "no"}, TypeError),
    ],
)
async def test_bad_webhook_arguments_fail_before_any_request(
    fake: FakeClose, close: CloseClient, arguments: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await close.webhooks.create(**arguments)
    assert fake.stats.requests == 0


# Deliveries from the fake, to the README's aiohttp receiver ---------------------------------


def readme_example(name: str) -> dict[str, Any]:
    """Run the README's code block marked ``<!-- example: name -->``; return its namespace."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"no example {name!r} in the README"
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(match.group(1), f"README:{name}", "exec"), namespace)
    return namespace


Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Serve aiohttp apps on 127.0.0.1; return each one's base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_the_readme_receiver_gets_each_change_signed_and_verified(
    serve: Serve,
) -> None:
    example = readme_example("webhook-aiohttp")
    async with (
        FakeClose(leads=5, sequences=2, seed=3, webhook_retry_delay=0.01) as fake,
        CloseClient(fake.api_key, base_url=fake.url) as close,
    ):
        sub = await close.webhooks.create(
            url="http://127.0.0.1:1/",  # set below, once the receiver knows its key
            events=[("sequence_subscription", "created")],
        )
        assert sub.signature_key is not None
        app = example["make_app"](sub.signature_key)
        url = await serve(app) + "/close/webhook"
        await close.webhooks.update(sub.id, url=url)
        (sub_id,) = fake.add_subscriptions(lead_id="lead_hook", count=1, status="active")
        event = await asyncio.wait_for(app[example["EVENTS"]].get(), 5)
    assert isinstance(event, Event)
    assert event.object_id == sub_id
    assert isinstance(event.data, SequenceSubscription)
    assert [a.status for a in fake.webhooks.attempts] == [204]


async def test_a_failed_delivery_is_retried_and_a_forgery_refused(serve: Serve) -> None:
    example = readme_example("webhook-aiohttp")
    answers = [500, None]  # the receiver fails once, then hands over to the README's code

    async with FakeClose(leads=5, sequences=2, seed=3, webhook_retry_delay=0.01) as fake:
        sub = fake.add_webhook("http://127.0.0.1:1/", [("sequence_subscription", "updated")])
        app = example["make_app"](sub["signature_key"])

        @web.middleware
        async def flaky(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            status = answers.pop(0) if answers else None
            if status is not None:
                return web.Response(status=status)
            return await handler(request)

        app.middlewares.append(flaky)
        url = await serve(app) + "/close/webhook"
        fake.call(fake.webhooks.update, sub["id"], {"url": url})
        (sub_id,) = fake.add_subscriptions(lead_id="lead_hook", count=1, status="active")
        async with CloseClient(fake.api_key, base_url=fake.url) as close:
            await close.sequence_subscriptions.pause(sub_id)
            event = await asyncio.wait_for(app[example["EVENTS"]].get(), 5)
            # A forged delivery: well-formed, signed with another key.
            body, headers = signed(key=OTHER_KEY, timestamp=int(time.time()))
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, data=body, headers=headers) as forged,
            ):
                assert forged.status == 401
    assert event.action == EventAction.UPDATED
    assert event.object_id == sub_id
    attempts = [(a.event_id, a.attempt, a.status) for a in fake.webhooks.attempts]
    assert attempts == [(event.id, 1, 500), (event.id, 2, 204)]
    assert app[example["EVENTS"]].empty()  # the event once, the forgery not at all


async def test_paused_subscriptions_get_nothing_and_a_dead_url_is_given_up(
    serve: Serve,
) -> None:
    async with FakeClose(
        leads=5, sequences=2, seed=3, webhook_retry_delay=0, webhook_max_attempts=3
    ) as fake:
        dead = fake.add_webhook("http://127.0.0.1:1/", [("sequence_subscription", "created")])
        paused = fake.add_webhook("http://127.0.0.1:1/", [("sequence_subscription", "created")])
        fake.call(fake.webhooks.update, paused["id"], {"status": "paused"})
        fake.add_subscriptions(lead_id="lead_hook", count=1, status="active")
        for _ in range(100):  # the three attempts run in the fake's loop: this one
            if len(fake.webhooks.attempts) == 3:
                break
            await asyncio.sleep(0.01)
    assert [(a.subscription_id, a.attempt, a.status) for a in fake.webhooks.attempts] == [
        (dead["id"], 1, None),
        (dead["id"], 2, None),
        (dead["id"], 3, None),
    ]


async def test_a_subscription_paused_during_its_retries_gets_no_more_attempts(
    serve: Serve,
) -> None:
    # Close delivers to active subscriptions only; the fake went on retrying the event it
    # was delivering when the subscription was paused.
    async with FakeClose(
        leads=2, sequences=1, seed=3, webhook_retry_delay=0, webhook_max_attempts=3
    ) as fake:
        hub = fake.webhooks
        sub = fake.add_webhook("http://127.0.0.1:1/", [("sequence_subscription", "created")])

        async def pause_and_fail(request: web.Request) -> web.Response:
            hub.update(sub["id"], {"status": "paused"})
            return web.Response(status=500)

        app = web.Application()
        app.router.add_post("/hook", pause_and_fail)
        hub.update(sub["id"], {"url": await serve(app) + "/hook"})
        event = {"id": "ev_1", "object_type": "sequence_subscription", "action": "created"}
        await hub._deliver(sub["id"], event)  # one event's delivery, retries included
    assert [(a.attempt, a.status) for a in hub.attempts] == [(1, 500)]


async def test_deliveries_from_a_fake_in_a_thread(
    serve: Serve, fake_close_factory: Callable[..., FakeClose]
) -> None:
    example = readme_example("webhook-aiohttp")
    fake = fake_close_factory(leads=3, sequences=2, seed=5, webhook_retry_delay=0.01)
    received: list[Event] = []
    sub = fake.add_webhook("http://127.0.0.1:1/", [("sequence_subscription", "created")])
    app = example["make_app"](sub["signature_key"])
    url = await serve(app) + "/close/webhook"
    fake.call(fake.webhooks.update, sub["id"], {"url": url})
    ids = fake.add_subscriptions(lead_id="lead_thread", count=2, status="active")
    for _ in ids:
        received.append(await asyncio.wait_for(app[example["EVENTS"]].get(), 5))
    assert [e.object_id for e in received] == ids
