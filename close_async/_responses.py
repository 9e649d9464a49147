"""What an answer means: status, headers and body bytes in; parsed JSON or one of our
exceptions out. Also what a failed send means: aiohttp's, asyncio's and the OS's exceptions
in; ours out.

Pure functions, no I/O: the transport sends, receives and hands the pieces over here, so
every decision about an answer can be tested without a server. aiohttp is imported only to
recognise its exception classes.

Nothing raised here is chained to a foreign exception: aiohttp's carry the request
(``ClientResponseError.request_info`` holds the headers, Authorization included), and a
JSON decoder's error holds the whole body. Messages name what happened instead.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Mapping
from typing import Any

import aiohttp

from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    APITLSError,
    RateLimitError,
    ResponseValidationError,
    error_class_for,
)
from ._json import loads
from ._ratelimit import parse_retry_after

__all__ = [
    "ACCEPT_ENCODING",
    "AnswerLost",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "connection_error",
    "decode_answer",
    "decode_content",
]

#: The largest answer we read, decoded, unless ``CloseClient(max_response_size=...)`` says
#: otherwise. A page of 100 subscriptions is about 60 KiB; this leaves room for any page
#: Close sends while bounding what a broken or hostile server can make us hold.
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024

#: The content codings we decode ourselves (aiohttp's decoding is turned off: before
#: aiohttp 3.13.3 it inflated a whole network read at once, so a small gzip bomb could
#: take gigabytes before any size check could run).
ACCEPT_ENCODING = "gzip, deflate"

#: An error body nested deeper than this is kept as text: Close's error bodies are two
#: levels deep, and rendering, comparing or pickling a deeper one recurses once per level.
_MAX_ERROR_BODY_DEPTH = 32


class AnswerLost(aiohttp.ClientConnectionError):
    """The connection was lost before the answer's status line came.

    Raised by the transport's response class in place of aiohttp's ``ClientOSError`` or
    ``ServerDisconnectedError``, which aiohttp would resend by itself; its text is theirs.
    """


class BodyError(Exception):
    """The body could not be read: too large, or its content coding does not decode.

    Internal: ``decode_answer`` turns it into the error the caller sees.
    """


def decode_content(raw: bytes, encoding: str | None, max_size: int) -> bytes:
    """Undo the ``Content-Encoding`` of a body, producing at most ``max_size`` bytes.

    Raises BodyError when the coding is unknown, the data does not decode, or the decoded
    body would be larger than ``max_size`` (decoding stops there: a gzip bomb is never
    inflated whole).
    """
    coding = encoding.strip().lower() if encoding else ""
    if coding in ("", "identity"):
        return raw
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        # RFC 9110 says zlib format; some servers send raw deflate (no zlib header).
        wbits = zlib.MAX_WBITS if raw[:1] and raw[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        raise BodyError(f"its Content-Encoding {encoding!r} is not one we asked for")
    out: list[bytes] = []
    size = 0
    data = raw
    try:
        while data:
            decoder = zlib.decompressobj(wbits)
            chunk = decoder.decompress(data, max_size - size + 1)
            size += len(chunk)
            if size > max_size:
                raise BodyError(_too_large(max_size, decoded=True))
            out.append(chunk)
            if not decoder.eof:
                raise BodyError(f"its {coding} data does not decode (it ends too soon)")
            data = decoder.unused_data  # another gzip member follows (rare, but valid)
    except zlib.error as exc:
        failure = f"its {coding} data does not decode ({exc})"
    else:
        return b"".join(out)
    raise BodyError(failure)


def _too_large(max_size: int, *, decoded: bool = False) -> str:
    what = "decoded, it is" if decoded else "it is"
    return (
        f"{what} larger than max_response_size ({max_size:,} bytes); raise "
        "CloseClient(max_response_size=...) if Close's answers really are that large"
    )


def decode_answer(
    method: str,
    path: str,
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    raw: bytes | None,
    *,
    wait: float | None,
    max_wait: float,
    max_size: int,
    now: float,
) -> Any:
    """Return an answer's parsed JSON (None for an empty body), or raise the error it means.

    ``raw`` is the body as it came over the wire (None: it was larger than ``max_size``
    and not read to the end); ``wait`` is what the rate-limit headers asked for;
    ``max_wait`` is the longest wait we honour; ``now`` is the POSIX time (for an HTTP-date
    ``Retry-After``).
    """
    problem = ""
    if raw is None:
        problem = _too_large(max_size)
    else:
        encoding = headers.get("Content-Encoding")
        if encoding is not None:
            try:
                raw = decode_content(raw, encoding, max_size)
            except BodyError as exc:
                problem = str(exc)
    if 200 <= status < 300:
        if problem:
            raise ResponseValidationError(
                f"{method} {path} -> {status}: Close's answer could not be read: {problem}",
                method=method,
                path=path,
            )
        assert raw is not None
        if status == 204 or not raw or raw.isspace():
            return None
        try:
            return loads(raw)
        except ValueError:  # not JSON, or nested too deeply to decode (see _json)
            pass  # raised below, outside this block: the decoder's error holds the body
        kind = headers.get("Content-Type", "no content type")
        raise ResponseValidationError(
            f"{method} {path} -> {status}: the body is not JSON that we can read ({kind}, "
            f"{len(raw)} bytes); is base_url pointing at Close's API?",
            method=method,
            path=path,
        )
    raise _api_error(
        method,
        path,
        status,
        reason,
        headers,
        None if problem else raw,
        wait=wait,
        max_wait=max_wait,
        now=now,
        problem=problem,
    )


def _api_error(
    method: str,
    path: str,
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    raw: bytes | None,
    *,
    wait: float | None,
    max_wait: float,
    now: float,
    problem: str,
) -> APIError:
    """Build the error for an error status; ``problem`` says why its body was not read."""
    cls = error_class_for(status)
    details: list[str] = []
    if cls is not RateLimitError:
        # RateLimit's reset is about the rate window, not about this failure: only an
        # explicit Retry-After (a 503 may carry one) says when to try again.
        wait = parse_retry_after(headers.get("Retry-After"), now=now)
        if status >= 500 and wait is not None and wait > max_wait:
            details.append(
                f"Close asked us to retry in {wait:.0f} s, longer than max_rate_limit_wait "
                f"({max_wait:.0f} s)"
            )
    elif wait is None:
        details.append("Close did not say how long to wait")
    elif wait > max_wait:
        details.append(
            f"Close asked us to wait {wait:.0f} s, longer than max_rate_limit_wait "
            f"({max_wait:.0f} s)"
        )
    if problem:
        details.append(f"its body was not read: {problem}")
    return cls.from_response(
        status=status,
        reason=reason,
        method=method,
        path=path,
        body=_error_body(raw),
        retry_after=wait,
        detail="; ".join(details),
    )


def _error_body(raw: bytes | None) -> object:
    """Close's error payload as JSON, or the text of a page that is not JSON, or None."""
    if raw is None or not raw or raw.isspace():
        return None
    try:
        body = loads(raw)
    except ValueError:
        body = None  # not JSON: kept as text below
    if body is None or _deeper_than(body, _MAX_ERROR_BODY_DEPTH):
        return raw.decode("utf-8", "replace")  # a proxy's HTML page, say
    return body


def _deeper_than(value: object, limit: int) -> bool:
    """Whether JSON ``value`` nests more than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def connection_error(exc: BaseException, method: str, path: str) -> APIConnectionError | None:
    """Translate an exception from sending a request and reading its answer; None when it
    is none of aiohttp's, asyncio's timeouts or the OS's (a bug: let it surface).

    ``sent`` is False only when the request surely never left: the connection (or its TLS
    handshake) could not be opened. That makes a POST safe to repeat, and tells a fan-out
    that the host is unreachable rather than failing on one request.
    """
    where = f"{method} {path}"
    tls = _tls_failure(exc)
    if tls is not None:
        return APITLSError(
            f"{where}: the TLS handshake failed ({tls}); check that base_url is Close's "
            "https:// address and that this machine trusts its certificate (a proxy that "
            "intercepts TLS needs its CA in the trust store); not retried",
            method=method,
            path=path,
            sent=not isinstance(exc, _CONNECTING),
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(
            f"{where}: timed out opening the connection; check the network or raise timeout=",
            method=method,
            path=path,
            sent=False,
        )
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's read/total timeouts too
        return APITimeoutError(
            f"{where}: no answer within the timeout; raise timeout= if Close is slow",
            method=method,
            path=path,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"{where}: could not connect ({_describe(exc)}); check the network and base_url",
            method=method,
            path=path,
            sent=False,
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return APIConnectionError(
            f"{where}: the connection failed before an answer came ({_describe(exc)})",
            method=method,
            path=path,
        )
    return None


#: Raised while opening the connection (TCP, then TLS): the request was not sent.
_CONNECTING = (aiohttp.ClientConnectorError, aiohttp.ServerFingerprintMismatch)


def _tls_failure(exc: BaseException) -> str | None:
    """Describe a TLS failure (certificate, protocol, fingerprint); None for anything else."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "the certificate's fingerprint does not match"
    if isinstance(exc, aiohttp.ClientSSLError):  # aiohttp's certificate and SSL errors
        # Their own text names the host and port; the OS-level reason is what helps.
        reason = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None)
        return _describe(reason if isinstance(reason, BaseException) else exc)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    """``Type: text`` of an exception, for a message (its text, never its attributes)."""
    if isinstance(exc, AnswerLost):
        return str(exc)  # already "Type: text" of aiohttp's exception
    text = str(exc) or "no detail"
    return f"{type(exc).__name__}: {text}"
