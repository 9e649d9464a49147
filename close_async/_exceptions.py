"""The exceptions close_async raises; nothing else escapes a call.

The tree::

    CloseError
     ├── APIError                      Close answered with an error status
     │    ├── BadRequestError          400 (.errors, .field_errors)
     │    │    └── MaxSkipError         400: a page past the list's maximum _skip
     │    ├── AuthenticationError      401
     │    ├── PermissionDeniedError    403
     │    ├── NotFoundError            404
     │    ├── RateLimitError           429 (.retry_after)
     │    └── ServerError              5xx
     ├── APIConnectionError            no answer: refused, reset, dropped connection
     │    ├── APITimeoutError          no answer in time
     │    └── APITLSError              the TLS handshake failed (certificate, protocol)
     ├── ResponseValidationError       an answer we could not read (names the field)
     ├── BulkActionError               a bulk action ended in status "error"
     │    ├── BulkActionTimeoutError   wait() gave up before the action finished
     │    └── BulkActionPausedError    wait() found the action paused
     ├── ClientClosedError             the client was used after aclose()
     ├── EventLoopError                the client's connections belong to another event loop
     ├── FieldNotLoadedError           a field left out of fields= was read (an AttributeError)
     └── GateUnavailableError          a shared rate-limit gate lost its store (Redis)

Every exception carries the request's method and path (never the host's credentials: the
Authorization header, API key and OAuth token are never part of any message or attribute,
and the transport raises them without chaining aiohttp's exceptions, whose ``request_info``
holds the request headers). Every one pickles with its attributes (``__reduce__`` below), so
that it can cross a process boundary (multiprocessing, concurrent.futures).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import BulkSequenceSubscriptionAction

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITLSError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BulkActionError",
    "BulkActionPausedError",
    "BulkActionTimeoutError",
    "ClientClosedError",
    "CloseError",
    "EventLoopError",
    "FieldNotLoadedError",
    "GateUnavailableError",
    "MaxSkipError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
]


class CloseError(Exception):
    """Root of every exception close_async raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling calls ``cls(*self.args)``, which fails for the keyword-only
        # arguments of our subclasses: rebuild without ``__init__`` and restore the
        # attributes as they were.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[CloseError], args: tuple[Any, ...], state: dict[str, Any]) -> CloseError:
    """Rebuild a pickled exception (see ``CloseError.__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    for name, value in state.items():
        setattr(error, name, value)  # not __dict__.update: some live in slots
    return error


class APIError(CloseError):
    """Close answered with an error status.

    Attributes:
        status: the HTTP status code.
        method: the HTTP method of the request (``"GET"``...).
        path: the request path relative to the API root (``"sequence_subscription/"``).
        body: Close's error payload as parsed JSON, or the raw text when it was not JSON
            (an HTML page from a proxy, say), or ``None`` for an empty body.
        error: Close's ``error`` message, when the payload had one.
        errors: Close's ``errors`` list (empty when absent).
        field_errors: Close's ``field-errors`` mapping (empty when absent).
        retry_after: the seconds the server asked us to wait (``RateLimit`` reset or
            ``Retry-After``), when it said; set on 429s and some 503s.
    """

    #: A sentence telling the caller what to do; subclasses set it.
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        body: object = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        self.retry_after = retry_after
        self.error, self.errors, self.field_errors = _close_error_payload(body)
        super().__init__(message)

    @classmethod
    def from_response(
        cls,
        *,
        status: int,
        reason: str | None,
        method: str,
        path: str,
        body: object,
        retry_after: float | None = None,
        detail: str = "",
    ) -> APIError:
        """Build the error for one answer, with a message naming the request and Close's words."""
        described = describe_payload(body)
        head = f"{method} {path} -> {status}{(' ' + reason) if reason else ''}"
        message = f"{head}: {described}" if described else head
        for extra in (detail, cls.hint):
            if extra:
                message = f"{message.rstrip('.')}. {extra}"
        return cls(
            message, status=status, method=method, path=path, body=body, retry_after=retry_after
        )


class BadRequestError(APIError):
    """Close rejected the request as invalid (400); see ``.errors`` and ``.field_errors``."""

    hint = "Fix the request: the message above is Close's own explanation"


class MaxSkipError(BadRequestError):
    """Close refused a page whose ``_skip`` is past the list's maximum (a 400).

    Close caps ``_skip`` per resource and does not publish the caps
    (https://developer.close.com/api/overview/pagination), so a list longer than the cap
    cannot be read to its end by offset: read it in smaller parts (the message says how).

    Attributes:
        skip: the offset refused (or that would have been, when the client knew the cap
            from an earlier answer and sent nothing).
        max_skip: the largest ``_skip`` Close accepts on this list, when known.
        filters: the list's filters (``{"sequence_id": "seq_..."}``): which list it was.
    """

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        skip: int = 0,
        max_skip: int | None = None,
        filters: Mapping[str, str | int] | None = None,
        **answer: Any,
    ) -> None:
        super().__init__(message, **answer)  # status, method, path, body (see APIError)
        self.skip = skip
        self.max_skip = max_skip
        self.filters = dict(filters or {})


class AuthenticationError(APIError):
    """The credential was missing, wrong or revoked (401)."""

    hint = (
        "Check the API key (api_key= or CLOSE_API_KEY) or the OAuth token (oauth_token=); "
        "an OAuth access token expires and must be refreshed"
    )


class PermissionDeniedError(APIError):
    """The credential is valid but not allowed to do this (403)."""

    hint = "The user behind this credential lacks the permission; ask an admin of the organization"


class NotFoundError(APIError):
    """The object does not exist, or is not visible to this credential (404)."""

    hint = "Check the ID; the object may have been deleted"


class RateLimitError(APIError):
    """Close kept answering 429, or asked us to wait longer than we are allowed to.

    ``retry_after`` holds the seconds Close asked us to wait, when it said.
    """

    hint = (
        "Slow down or retry later; raise max_rate_limit_wait= to honour longer waits, or "
        "max_retries= to try more often"
    )


class ServerError(APIError):
    """Close (or a proxy in front of it) failed with a 5xx status."""

    hint = "Close had a problem; retry later (idempotent requests were already retried)"


class APIConnectionError(CloseError):
    """No answer came back: the connection failed, was refused, reset or dropped.

    Attributes:
        method: the HTTP method.
        path: the request path relative to the API root.
        sent: ``False`` when we know the request never reached the server: the connection
            could not be opened (refused, unknown host, TLS handshake failed, connect
            timeout). That makes even a POST safe to repeat, and tells "the host cannot be
            reached" from a failure of one request. ``True`` otherwise.
    """

    def __init__(self, message: str, *, method: str, path: str, sent: bool = True) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """No answer came back within the timeout of one attempt."""


class APITLSError(APIConnectionError):
    """The TLS handshake failed: the certificate was not trusted or not for this host, or
    the server does not speak TLS on this port (an ``https://`` base URL pointing at a plain
    HTTP port, say).

    Never retried: trying again meets the same certificate. ``sent`` is ``False`` when the
    handshake failed before the request was sent (always, in practice).
    """


class ResponseValidationError(CloseError):
    """Close answered with a body we cannot read as the documented object.

    Attributes:
        method, path: the request.
        field: the JSON path of the offending field (``"$.data[3].date_created"``), when known.
    """

    def __init__(self, message: str, *, method: str, path: str, field: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.field = field


class BulkActionError(CloseError):
    """A bulk action ended in status ``error`` (or, for a subclass, cannot be waited for).

    Attributes:
        action: the last state of the bulk action as fetched from Close.
    """

    def __init__(self, message: str, *, action: BulkSequenceSubscriptionAction) -> None:
        super().__init__(message)
        self.action = action


class BulkActionTimeoutError(BulkActionError, TimeoutError):
    """``wait()`` ran out of time before the bulk action was done; it goes on at Close."""


class BulkActionPausedError(BulkActionError):
    """``wait()`` found the bulk action paused: it will not finish until someone resumes it
    (``resume(id)``, within 7 days of the pause, says Close)."""


class ClientClosedError(CloseError, RuntimeError):
    """The client was used after ``aclose()`` (or after its ``async with`` block ended)."""


class EventLoopError(CloseError, RuntimeError):
    """The client was used in an event loop while its connections belong to another one
    that is still running, or that ended without closing them.

    A client used in one ``asyncio.run()`` after another works: the first loop closes its
    connections as it ends. This is for the other cases: one client shared by threads that
    each run a loop, a session given as ``session=`` that belongs to another loop, or a loop
    closed with ``loop.close()`` alone (without ``shutdown_asyncgens()``).
    """


class FieldNotLoadedError(CloseError, AttributeError):
    """A field of a model listed or fetched with ``fields=`` that did not include it was read.

    Close did not send the field, so there is no value to give, not even ``None``. ``name``
    is the field (as on any AttributeError); ``hasattr(model, name)`` is False for it, and
    ``close_async.loaded_fields(model)`` names the fields the model holds.
    """

    def __init__(self, message: str, *, name: str, obj: object) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj

    def __reduce__(self) -> tuple[Any, ...]:
        # AttributeError keeps ``name`` and ``obj`` in slots of its own, not in __dict__.
        state = {**self.__dict__, "name": self.name, "obj": self.obj}
        return _restore, (type(self), self.args, state)


class GateUnavailableError(CloseError):
    """A shared rate-limit gate could not reach its store (Redis), and was told to fail
    rather than fall back to an in-process gate (``on_unavailable="raise"``).

    The request was not sent. The message names the store (never its password).
    """


def _close_error_payload(body: object) -> tuple[str | None, list[str], dict[str, Any]]:
    """Pick Close's ``error``, ``errors`` and ``field-errors`` out of an error body."""
    if not isinstance(body, Mapping):
        return None, [], {}
    raw_error = body.get("error")
    if isinstance(raw_error, Mapping):  # the deprecated 429 body nests {"message": ...}
        raw_error = raw_error.get("message")
    error = raw_error if isinstance(raw_error, str) else None
    raw_errors = body.get("errors")
    errors = [str(e) for e in raw_errors] if isinstance(raw_errors, list) else []
    raw_fields = body.get("field-errors")
    field_errors = dict(raw_fields) if isinstance(raw_fields, Mapping) else {}
    return error, errors, field_errors


def describe_payload(body: object, *, limit: int = 300) -> str:
    """Render an error body as one short line: Close's messages, or a hint of what came back."""
    if body is None:
        return ""
    if isinstance(body, str):
        text = " ".join(body.split())
        kind = "an HTML page" if text[:15].lower().startswith(("<!doctype", "<html")) else "text"
        snippet = text if len(text) <= 80 else text[:77] + "..."
        return f"non-JSON body ({kind}: {snippet!r})"
    error, errors, field_errors = _close_error_payload(body)
    parts: list[str] = []
    if error:
        parts.append(error)
    parts.extend(errors)
    parts.extend(f"{name}: {_flatten(msg)}" for name, msg in field_errors.items())
    text = "; ".join(parts) if parts else _flatten(body)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(value: object) -> str:
    """Render a field-error value (a string, a list, or a nested mapping) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_flatten(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    return repr(value)


STATUS_ERRORS: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIError]:
    """Map an error status to the exception class that represents it."""
    if status >= 500:
        return ServerError
    return STATUS_ERRORS.get(status, APIError)
