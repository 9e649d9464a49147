"""Our exceptions are safe and portable: nothing reachable from one holds a credential, and
every one (and ``FailedID``) survives a pickle round trip with its attributes."""

from __future__ import annotations

import asyncio
import base64
import inspect
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web

import close_async
from close_async import (
    APIConnectionError,
    BulkSequenceSubscriptionAction,
    CloseClient,
    CloseError,
    FailedID,
    RateLimitError,
)
from close_async._convert import structure
from close_async.testing import FakeClose

SECRET = "api_key_SECRET_0123456789"
TOKEN = "oauth_SECRET_TOKEN_0123456789"
BASIC = base64.b64encode(f"{SECRET}:".encode()).decode()


def exported_exceptions() -> list[type[Any]]:
    classes = [getattr(close_async, name) for name in close_async.__all__]
    return [c for c in classes if isinstance(c, type) and issubclass(c, BaseException)]


def action() -> BulkSequenceSubscriptionAction:
    # An unknown field makes ``extra`` a plain dict; that models pickle whatever Close sent
    # is the models' concern (and their tests').
    data = {"id": "bulk_1", "action_type": "pause", "status": "error", "new_field": 1}
    return structure(data, BulkSequenceSubscriptionAction)


# A value for each keyword argument of our exceptions, by name, else by annotation.
BY_NAME: dict[str, Any] = {
    "status": 418,
    "method": "GET",
    "path": "p/",
    "body": {"error": "Nope", "errors": ["a"], "field-errors": {"x": "Bad."}},
    "retry_after": 2.5,
    "sent": False,
    "field": "$.data[1].id",
    "skip": 250_100,
    "max_skip": 250_000,
    "filters": {"sequence_id": "seq_1"},
}
BY_ANNOTATION: dict[str, Any] = {
    "datetime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "str": "text",
    "int": 7,
    "float": 1.5,
    "bool": True,
    "object": ("any", "object"),
}


def example(cls: type[Exception]) -> Exception:
    """An instance of ``cls`` with every keyword argument its constructor takes given."""
    kwargs: dict[str, Any] = {}
    try:
        params = list(inspect.signature(cls).parameters.values())
    except ValueError:  # Exception's own __init__: a message only
        params = []
    if any(param.kind is param.VAR_KEYWORD for param in params):
        # Keyword arguments passed on to a base class (MaxSkipError's to APIError's).
        base = next(c for c in cls.__mro__[1:] if "__init__" in vars(c))
        params += list(inspect.signature(base).parameters.values())
    for param in params:
        if param.kind is not param.KEYWORD_ONLY or param.name in kwargs:
            continue
        if param.name in BY_NAME:
            kwargs[param.name] = BY_NAME[param.name]
        elif "BulkSequenceSubscriptionAction" in str(param.annotation):
            kwargs[param.name] = action()
        else:
            kind = str(param.annotation).split("|")[0].strip()
            kwargs[param.name] = BY_ANNOTATION[kind]
    return cls("something happened", **kwargs)


def test_every_exported_exception_is_covered() -> None:
    names = {c.__name__ for c in exported_exceptions()}
    assert {"APIError", "APITLSError", "EventLoopError", "BulkActionTimeoutError"} <= names
    assert all(issubclass(c, CloseError) for c in exported_exceptions())
    given = vars(example(close_async.APIError))
    assert given["status"] == 418
    assert given["field_errors"] == {"x": "Bad."}
    assert vars(example(close_async.BulkActionError))["action"].id == "bulk_1"


@pytest.mark.parametrize("cls", exported_exceptions(), ids=lambda c: c.__name__)
def test_every_exception_survives_pickle(cls: type[Exception]) -> None:
    error = example(cls)
    if hasattr(error, "add_note"):  # Python 3.11+
        error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert copy.args == error.args
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_a_failed_id_survives_pickle() -> None:
    error = RateLimitError("429", status=429, method="GET", path="p/", retry_after=3.0)
    failed = FailedID("lead_1", error, 7)
    copy = pickle.loads(pickle.dumps(failed))
    assert (copy.id, copy.items_yielded) == ("lead_1", 7)
    assert type(copy.error) is RateLimitError
    assert vars(copy.error) == vars(error)


# -- no credential reachable ----------------------------------------------------------------


def reachable(root: object) -> Iterator[object]:
    """Everything reachable from ``root`` through attributes, exception chains and
    containers (not through tracebacks: frames hold whatever the code had in hand)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, str | bytes | int | float | type):
            continue
        if isinstance(obj, BaseException):
            stack += [obj.__cause__, obj.__context__, *obj.args]
        if isinstance(obj, Mapping):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            stack += list(obj)
        stack += list(getattr(obj, "__dict__", {}).values())
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                stack.append(getattr(obj, slot, None))


def leaks(error: BaseException) -> list[str]:
    found = []
    for obj in reachable(error):
        text = obj.decode("latin-1") if isinstance(obj, bytes) else obj
        if isinstance(text, str) and any(s in text for s in (SECRET, TOKEN, BASIC)):
            found.append(text[:120])
    return found


def test_the_walk_finds_a_credential_where_there_is_one() -> None:
    inner = ValueError({"headers": {"Authorization": f"Basic {BASIC}"}})
    outer = APIConnectionError("x", method="GET", path="p/")
    outer.__cause__ = inner
    assert leaks(outer)


async def malformed_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")  # aiohttp: ClientResponseError(request_info)
    writer.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[str]:
    server = await asyncio.start_server(malformed_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/api/v1/"
    server.close()
    await server.wait_closed()


async def failures(close: CloseClient) -> list[CloseError]:
    caught: list[CloseError] = []
    for call in (
        lambda: close.sequence_subscriptions.get("sub_1"),
        lambda: close.sequence_subscriptions.delete("sub_1"),
    ):
        try:
            await call()
        except CloseError as exc:
            caught.append(exc)
    return caught


@pytest.mark.parametrize("credential", ["api_key", "oauth_token"])
async def test_no_credential_is_reachable_from_our_exceptions(
    fake: FakeClose,
    raw_server: str,
    serve: Callable[..., Awaitable[str]],
    credential: str,
) -> None:
    secret = SECRET if credential == "api_key" else TOKEN

    async def not_json(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(status=200, text="<html>a login page</html>")

    targets = [
        raw_server,  # malformed HTTP
        "http://127.0.0.1:9/api/v1/",  # refused
        fake.url.replace("http://", "https://"),  # TLS
        fake.url,  # 401: the fake does not know this credential
        await serve(not_json),
    ]
    fake.inject("GET", "sequence_subscription", ["drop", "drop"])  # dropped, then 401
    caught: list[CloseError] = []
    for url in targets:
        if credential == "api_key":
            close = CloseClient(api_key=secret, base_url=url, max_retries=1, backoff_base=0)
        else:
            close = CloseClient(oauth_token=secret, base_url=url, max_retries=1, backoff_base=0)
        async with close:
            caught += await failures(close)
    kinds = {type(e).__name__ for e in caught}
    assert {"APIConnectionError", "APITLSError", "AuthenticationError"} <= kinds
    assert "ResponseValidationError" in kinds
    assert any("Bad status line" in str(e) or "ClientResponseError" in str(e) for e in caught)
    for error in caught:
        assert leaks(error) == [], error
        assert error.__cause__ is None
        assert error.__context__ is None
        copy: Any = pickle.loads(pickle.dumps(error))
        assert str(copy) == str(error)


def test_a_field_not_loaded_keeps_its_name_and_object_through_pickle() -> None:
    # AttributeError holds these in slots: a copy of __dict__ alone loses them.
    error = close_async.FieldNotLoadedError("status was not loaded", name="status", obj="sub")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.name, copy.obj, str(copy)) == ("status", "sub", "status was not loaded")
