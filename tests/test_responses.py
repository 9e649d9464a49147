"""What Close may answer, over the wire: unknown fields and values, odd but valid answers,
and malformed ones that must fail with the field named (aioresponses); hostile answers from
small servers of our own (nested too deeply, undecodable, too large); and the pure decoding
of ``_responses``."""

from __future__ import annotations

import asyncio
import gzip
import json
import pickle
import re
import ssl
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from close_async import (
    APIConnectionError,
    APITimeoutError,
    APITLSError,
    BadRequestError,
    CloseClient,
    NotFoundError,
    ResponseValidationError,
    ServerError,
    StatusReason,
    SubscriptionStatus,
    _json,
    _responses,
)
from close_async._responses import (
    AnswerLost,
    BodyError,
    connection_error,
    decode_answer,
    decode_content,
)

URL = "http://127.0.0.1:9/api/v1/"
SUBS = re.compile(r"^http://127\.0\.0\.1:9/api/v1/sequence_subscription/.*$")
SUB = {"id": "sub_1", "lead_id": "lead_1", "status": "active", "status_reason": None}


@pytest.fixture
async def close() -> AsyncIterator[CloseClient]:
    async with CloseClient("k", base_url=URL, max_retries=0) as client:
        yield client


async def test_unknown_fields_and_statuses_do_not_break_a_list(close: CloseClient) -> None:
    page = {
        "data": [
            {**SUB, "status": "snoozed", "status_reason": "new-reason", "brand_new": [1, 2]},
            {**SUB, "id": "sub_2"},
        ],
        "has_more": False,
        "total_results": 2,  # an envelope field we do not know either
    }
    with aioresponses() as mocked:
        mocked.get(SUBS, payload=page)
        got = [s async for s in close.sequence_subscriptions.list(lead_id="lead_1")]
    assert [s.id for s in got] == ["sub_1", "sub_2"]
    assert got[0].status is not None
    assert str(got[0].status) == "snoozed"
    assert not got[0].status.is_known
    assert got[0].status_reason is not None
    assert got[0].status_reason.value == "new-reason"
    assert got[0].extra == {"brand_new": (1, 2)}  # frozen: JSON arrays are tuples
    assert got[1].status is SubscriptionStatus.ACTIVE


async def test_a_known_reason_is_its_member(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={**SUB, "status": "paused", "status_reason": "reply-received"})
        sub = await close.sequence_subscriptions.get("sub_1")
    assert sub.status_reason is StatusReason.REPLY_RECEIVED


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"data": [SUB, {**SUB, "date_created": "soon"}], "has_more": False},
            "$.data[1].date_created",
        ),
        ({"data": [SUB]}, "$.has_more"),
        ({"data": [SUB], "has_more": "no"}, "$.has_more"),
        ({"data": {"id": "sub_1"}, "has_more": False}, "$.data"),
        ([SUB], "$"),
    ],
)
async def test_malformed_list_names_the_field(
    close: CloseClient, payload: object, field: str
) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload=payload)
        with pytest.raises(ResponseValidationError) as info:
            async for _ in close.sequence_subscriptions.list(lead_id="lead_1"):
                pass
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.method == "GET"
    assert info.value.path == "sequence_subscription/"


async def test_malformed_object_names_the_field(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"lead_id": "lead_1"})
        with pytest.raises(ResponseValidationError, match=r"\$\.id: required field missing"):
            await close.sequence_subscriptions.get("sub_1")


async def test_success_that_is_not_json(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, body="<html>login</html>", content_type="text/html")
        with pytest.raises(ResponseValidationError, match=r"not JSON.*text/html"):
            await close.sequence_subscriptions.get("sub_1")


@pytest.mark.parametrize(("status", "body"), [(200, "{}"), (200, ""), (204, "")])
async def test_delete_accepts_every_empty_answer(
    close: CloseClient, status: int, body: str
) -> None:
    with aioresponses() as mocked:
        mocked.delete(SUBS, status=status, body=body)
        await close.sequence_subscriptions.delete("sub_1")  # no error: deleted
        assert mocked.requests is not None
        ((method, url),) = mocked.requests
    assert method == "DELETE"
    assert url.path == "/api/v1/sequence_subscription/sub_1/"
    assert close.stats.requests == 1
    assert close.stats.errors == 0


@pytest.mark.parametrize("status", [200, 201])
async def test_create_accepts_200_and_201(close: CloseClient, status: int) -> None:
    with aioresponses() as mocked:
        mocked.post(SUBS, status=status, payload=SUB)
        sub = await close.sequence_subscriptions.create(
            sequence_id="seq_1",
            contact_id="cont_1",
            sender_account_id="emailacct_1",
            sender_name="Jo",
            sender_email="jo@example.com",
        )
        ((_, calls),) = mocked.requests.items() if mocked.requests else []
    assert sub.id == "sub_1"
    assert calls[0].kwargs["headers"]["Content-Type"] == "application/json"


async def test_list_always_sends_skip_and_limit(close: CloseClient) -> None:
    with aioresponses() as mocked:
        mocked.get(SUBS, payload={"data": [SUB], "has_more": False})
        [s async for s in close.sequence_subscriptions.list(lead_id="lead_1", page_size=7)]
        assert mocked.requests is not None
        ((_, url),) = mocked.requests
    assert url.query["_skip"] == "0"
    assert url.query["_limit"] == "7"
    assert url.query["lead_id"] == "lead_1"


# -- hostile answers over a real connection ---------------------------------------------------

Serve = Callable[..., Awaitable[str]]
DEEP = 5000
# Deeper than any decoder accepts on any Python: orjson stops at 1,024 levels, the standard
# library at the interpreter's C recursion limit (about 1,000 before Python 3.12, 10,000 on
# 3.13). Shallower documents that a decoder accepts are ordinary values.
DEEPEST = 100_000


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


def answering(
    body: bytes, *, status: int = 200, headers: dict[str, str] | None = None, seen: list[Any]
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        seen.append(request.headers.copy())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(body=body, status=status, headers=all_headers)

    return handler


@pytest.fixture(params=["json", "orjson"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each JSON decoder (the standard library's, and orjson's)."""
    if request.param == "json":
        monkeypatch.setattr(_responses, "loads", _json._std_loads)
    else:
        orjson = pytest.importorskip("orjson")
        monkeypatch.setattr(_responses, "loads", orjson.loads)
    return str(request.param)


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize("depth", [DEEP, DEEPEST])
async def test_deeply_nested_json_in_an_answer_is_a_validation_error(
    serve: Serve, depth: int
) -> None:
    seen: list[Any] = []
    url = await serve(answering(nested(depth), seen=seen))
    async with CloseClient("k", base_url=url) as close:
        with pytest.raises(ResponseValidationError):  # never a RecursionError
            await close.sequence_subscriptions.get("sub_1")
    assert len(seen) == 1  # not retried


@pytest.mark.usefixtures("decoder")
async def test_json_nested_too_deeply_to_decode_in_an_item_is_a_validation_error(
    serve: Serve,
) -> None:
    item = b'{"id": "sub_2", "lead_id": "lead_1", "deep": ' + nested(DEEPEST) + b"}"
    page = b'{"data": [' + json.dumps(SUB).encode() + b", " + item + b'], "has_more": false}'
    url = await serve(answering(page, seen=[]))
    async with CloseClient("k", base_url=url) as close:
        with pytest.raises(ResponseValidationError, match="not JSON that we can read"):
            [s async for s in close.sequence_subscriptions.list(lead_id="lead_1")]


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize("depth", [500, 900])
async def test_a_deep_but_decodable_unknown_field_is_kept_frozen(serve: Serve, depth: int) -> None:
    # Decoders accept about 1,000 levels (10,000 on Python 3.13): freezing the unknown field
    # for `extra` must not hit Python's recursion limit on what they accept.
    item = b'{"id": "sub_1", "lead_id": "lead_1", "deep": ' + nested(depth) + b"}"
    url = await serve(answering(item, seen=[]))
    async with CloseClient("k", base_url=url) as close:
        sub = await close.sequence_subscriptions.get("sub_1")
    value, levels = sub.extra["deep"], 0
    while value:
        assert isinstance(value, tuple)
        value, levels = value[0], levels + 1
    assert (value, levels) == ((), depth - 1)


@pytest.mark.usefixtures("decoder")
@pytest.mark.parametrize("depth", [DEEPEST, DEEP, 900])
async def test_deeply_nested_error_body_keeps_its_status(serve: Serve, depth: int) -> None:
    body = b'{"errors": ' + nested(depth) + b"}"
    url = await serve(answering(body, status=400, seen=[]))
    async with CloseClient("k", base_url=url) as close:
        with pytest.raises(BadRequestError) as info:
            await close.sequence_subscriptions.get("sub_1")
    error = info.value
    assert error.status == 400
    # Kept as text (it is too deep to render, compare or pickle as JSON), and still usable:
    assert isinstance(error.body, str)
    assert error.body.startswith('{"errors": [[[')
    assert "non-JSON body" in str(error)
    assert pickle.loads(pickle.dumps(error)).body == error.body


async def test_a_body_whose_encoding_does_not_decode_is_a_response_error(serve: Serve) -> None:
    seen: list[Any] = []
    broken = gzipped(json.dumps(SUB).encode())[:-12] + b"garbage!garbage!"
    url = await serve(answering(broken, headers={"Content-Encoding": "gzip"}, seen=seen))
    async with CloseClient("k", base_url=url, backoff_base=0) as close:
        with pytest.raises(ResponseValidationError, match="gzip data does not decode"):
            await close.sequence_subscriptions.get("sub_1")
    assert len(seen) == 1  # a response error: not retried
    assert close.stats.retries == 0


async def test_an_encoding_we_did_not_ask_for_is_a_response_error(serve: Serve) -> None:
    seen: list[Any] = []
    url = await serve(answering(b"\x1b\x00\x00", headers={"Content-Encoding": "br"}, seen=seen))
    async with CloseClient("k", base_url=url) as close:
        with pytest.raises(ResponseValidationError, match="Content-Encoding 'br' is not one"):
            await close.sequence_subscriptions.get("sub_1")
    assert seen[0]["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_answers_are_decoded(serve: Serve, coding: str) -> None:
    data = json.dumps(SUB).encode()
    body = gzipped(data) if coding == "gzip" else zlib.compress(data)
    url = await serve(answering(body, headers={"Content-Encoding": coding}, seen=[]))
    async with CloseClient("k", base_url=url) as close:
        assert (await close.sequence_subscriptions.get("sub_1")).id == "sub_1"


async def test_a_gzip_bomb_is_never_inflated_whole(serve: Serve) -> None:
    bomb = gzipped(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 100_000
    url = await serve(answering(bomb, headers={"Content-Encoding": "gzip"}, seen=[]))
    async with CloseClient("k", base_url=url, max_response_size=1 << 20) as close:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseValidationError, match="decoded, it is larger than"):
                await close.sequence_subscriptions.get("sub_1")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 << 20  # about the 1 MiB cap, far from 64 MiB


async def test_an_answer_over_the_size_cap_is_not_read(serve: Serve) -> None:
    big = b'{"id": "sub_1", "pad": "' + b"x" * (2 << 20) + b'"}'
    url = await serve(answering(big, seen=[]))
    async with CloseClient("k", base_url=url, max_response_size=1 << 20) as close:
        with pytest.raises(ResponseValidationError, match="larger than max_response_size"):
            await close.sequence_subscriptions.get("sub_1")


async def test_a_streamed_answer_over_the_size_cap_stops_being_read(serve: Serve) -> None:
    sent: list[int] = []

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()  # no Content-Length: read until over the cap
        await response.prepare(request)
        try:
            for _ in range(1000):  # 64 MiB, if anyone read it all
                await response.write(b" " * 65536)
                sent.append(1)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    url = await serve(handler)
    async with CloseClient("k", base_url=url, max_response_size=1 << 20) as close:
        with pytest.raises(ResponseValidationError, match="larger than max_response_size"):
            await close.sequence_subscriptions.get("sub_1")
    assert close.stats.retries == 0


async def test_an_error_answer_over_the_cap_keeps_its_status(serve: Serve) -> None:
    page = b"<html>" + b"x" * (2 << 20) + b"</html>"
    url = await serve(answering(page, status=404, seen=[]))
    async with CloseClient("k", base_url=url, max_response_size=1 << 20) as close:
        with pytest.raises(NotFoundError, match="its body was not read: it is larger") as info:
            await close.sequence_subscriptions.get("sub_1")
    assert info.value.body is None


def test_the_size_cap_is_checked() -> None:
    assert CloseClient("k")._transport._max_response_size == 32 << 20
    with pytest.raises(ValueError, match="max_response_size must be at least 1"):
        CloseClient("k", max_response_size=0)
    with pytest.raises(TypeError, match="max_response_size must be an int"):
        CloseClient("k", max_response_size=1.5)  # type: ignore[arg-type]


# -- the pure decoding --------------------------------------------------------------------


def test_decode_content_undoes_each_coding() -> None:
    data = b'{"id": "sub_1"}'
    assert decode_content(data, None, 100) == data
    assert decode_content(data, "identity", 100) == data
    assert decode_content(gzipped(data), "gzip", 100) == data
    assert decode_content(gzipped(data), " GZIP ", 100) == data
    assert decode_content(zlib.compress(data), "deflate", 100) == data
    raw_deflate = zlib.compressobj(wbits=-15)
    assert decode_content(raw_deflate.compress(data) + raw_deflate.flush(), "deflate", 100) == data
    assert decode_content(gzipped(data[:5]) + gzipped(data[5:]), "gzip", 100) == data  # members


@pytest.mark.parametrize(
    ("raw", "coding", "match"),
    [
        (b"not gzip at all", "gzip", "gzip data does not decode"),
        (gzipped(bytes(range(256)))[:40], "gzip", r"gzip data does not decode \(it ends too soon"),
        (gzipped(b"x" * 101), "gzip", "decoded, it is larger than max_response_size"),
        (b"...", "compress", "Content-Encoding 'compress' is not one we asked for"),
        (b"...", "gzip, br", "is not one we asked for"),
    ],
)
def test_decode_content_refuses_what_it_cannot_read(raw: bytes, coding: str, match: str) -> None:
    with pytest.raises(BodyError, match=match):
        decode_content(raw, coding, 100)


def test_decode_answer_maps_an_unread_body() -> None:
    common: dict[str, Any] = {"wait": None, "max_wait": 120.0, "max_size": 10, "now": 0.0}
    with pytest.raises(ResponseValidationError, match="-> 200: Close's answer could not be read"):
        decode_answer("GET", "p/", 200, "OK", {}, None, **common)
    with pytest.raises(ServerError, match="its body was not read") as info:
        decode_answer("GET", "p/", 503, "Unavailable", {}, None, **common)
    assert info.value.body is None
    assert decode_answer("DELETE", "p/", 204, None, {}, b"", **common) is None
    assert decode_answer("GET", "p/", 200, None, {}, b'{"a": 1}', **common) == {"a": 1}


def test_decode_answer_chains_nothing() -> None:
    common: dict[str, Any] = {"wait": None, "max_wait": 120.0, "max_size": 100, "now": 0.0}
    with pytest.raises(ResponseValidationError) as info:
        decode_answer("GET", "p/", 200, None, {}, b"{not json", **common)
    # The decoder's own error holds the whole body: nothing of it is kept.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


# -- what a failed send means ---------------------------------------------------------------

KEY: Any = SimpleNamespace(host="api.close.com", port=443, ssl=True, is_ssl=True)
REFUSED = ConnectionRefusedError(111, "Connect call failed")
CERT = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
WRONG_VERSION = ssl.SSLError(1, "WRONG_VERSION_NUMBER")


@pytest.mark.parametrize(
    ("exc", "kind", "sent", "text"),
    [
        (REFUSED, APIConnectionError, True, "failed"),  # an OS error aiohttp did not wrap
        (aiohttp.ClientConnectorError(KEY, REFUSED), APIConnectionError, False, "could not"),
        (aiohttp.ClientConnectorCertificateError(KEY, CERT), APITLSError, False, "self-signed"),
        (aiohttp.ClientConnectorSSLError(KEY, WRONG_VERSION), APITLSError, False, "WRONG_VER"),
        (aiohttp.ServerFingerprintMismatch(b"a", b"b", "h", 443), APITLSError, False, "finger"),
        (ssl.SSLError(1, "DECRYPTION_FAILED"), APITLSError, True, "DECRYPTION_FAILED"),
        (aiohttp.ConnectionTimeoutError(), APITimeoutError, False, "opening the connection"),
        (asyncio.TimeoutError(), APITimeoutError, True, "no answer within the timeout"),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True, "ServerDisconnectedError"),
        (AnswerLost("ServerDisconnectedError: gone"), APIConnectionError, True, "(ServerDisc"),
        (aiohttp.ClientPayloadError("payload is not completed"), APIConnectionError, True, "pay"),
    ],
)
def test_each_failed_send_becomes_ours(
    exc: BaseException, kind: type[Exception], sent: bool, text: str
) -> None:
    error = connection_error(exc, "GET", "p/")
    assert error is not None
    assert type(error) is kind
    assert error.sent is sent
    assert text in str(error)
    assert (error.method, error.path) == ("GET", "p/")


def test_anything_else_is_not_a_failed_send() -> None:
    assert connection_error(ValueError("a bug"), "GET", "p/") is None
