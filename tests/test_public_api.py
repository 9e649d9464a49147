"""The public surface: what ``close_async`` exports, and that it stays sorted and complete."""

from __future__ import annotations

import close_async


def test_all_is_sorted_and_importable() -> None:
    names = close_async.__all__
    assert names == sorted(names, key=lambda n: (n.startswith("_"), n))
    for name in names:
        assert hasattr(close_async, name), name


def test_contract_names_are_exported() -> None:
    # Names the design notes promise (other code and acceptance checks use them).
    for name in [
        "CloseClient",
        "CloseError",
        "APIError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "RateLimitError",
        "ServerError",
        "APIConnectionError",
        "APITimeoutError",
        "ResponseValidationError",
        "SequenceSubscription",
        "Sequence",
    ]:
        assert name in close_async.__all__


def test_exception_tree() -> None:
    assert issubclass(close_async.APITimeoutError, close_async.APIConnectionError)
    for cls in (
        close_async.BadRequestError,
        close_async.AuthenticationError,
        close_async.PermissionDeniedError,
        close_async.NotFoundError,
        close_async.RateLimitError,
        close_async.ServerError,
    ):
        assert issubclass(cls, close_async.APIError)
    for name in close_async.__all__:
        obj = getattr(close_async, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, close_async.CloseError), name


def test_version() -> None:
    assert close_async.__version__
