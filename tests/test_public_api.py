"""The public surface: what ``close_async`` exports, and that it stays sorted and complete."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import close_async
from close_async import CloseClient, SyncCloseClient

INIT = Path(close_async.__file__)
# Modules whose every name is public: the models, their enums, the exceptions.
PUBLIC_MODULES = ("close_async._enums", "close_async._exceptions", "close_async._models")


def test_all_is_sorted_and_importable() -> None:
    names = close_async.__all__
    assert names == sorted(names, key=lambda n: (n.startswith("_"), n))
    for name in names:
        assert hasattr(close_async, name), name


def test_exports_come_from_the_module_the_table_names() -> None:
    # One table (name -> module) serves the lazy imports; the TYPE_CHECKING imports serve type
    # checkers. All three lists must agree, and each name must be the module's own.
    table: dict[str, str] = close_async._MODULES
    assert sorted(table) == sorted(n for n in close_async.__all__ if n != "__version__")
    checked: dict[str, str] = {}
    for node in ast.walk(ast.parse(INIT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                if imp.level:  # from .module import ... (not typing)
                    for alias in imp.names:
                        # `from . import webhooks`: a public submodule is its own entry.
                        module = f".{imp.module}" if imp.module else f".{alias.name}"
                        checked[alias.name] = module
    assert checked == table
    for name, module in table.items():
        owner = importlib.import_module(module, "close_async")
        if module == f".{name}":
            assert getattr(close_async, name) is owner  # the submodule itself
            continue
        assert name in owner.__all__, f"{name} is not in {module}.__all__"
        assert getattr(close_async, name) is getattr(owner, name)


def _names_in_signatures(cls: type, *, init: bool = True) -> set[str]:
    """The identifiers in the annotations of a class's public methods (and of __init__,
    unless only the client builds its instances)."""
    names: set[str] = set()
    for attr, member in vars(cls).items():
        function = getattr(member, "_method", member)  # a sync wrapper: the async method
        public = not attr.startswith("_") or (init and attr == "__init__")
        if not public or not callable(function):
            continue
        for annotation in inspect.get_annotations(function).values():
            names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(annotation)))
    return names


def _resource_classes() -> list[type]:
    close = CloseClient("key")
    resources = [close.sequences, close.sequence_subscriptions, close.events, close.webhooks]
    resources.append(close.bulk_actions.sequence_subscriptions)
    return [type(r) for r in resources]


def _public_classes() -> list[type]:
    exported = [getattr(close_async, n) for n in close_async.__all__]
    return [*_resource_classes(), *(c for c in exported if isinstance(c, type))]


def test_every_public_name_is_exported() -> None:
    # Every name of the public modules, and every close_async name that a public signature
    # uses (a type a caller may want to name), can be imported from close_async.
    defined: dict[str, str] = {}  # each name a private module declares -> that module
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("close_async.") and "._" in module_name:
            defined.update((n, module_name) for n in getattr(module, "__all__", ()))
    wanted: set[str] = set()
    for module_name in PUBLIC_MODULES:
        wanted.update(importlib.import_module(module_name).__all__)
    built_by_the_client = {*_resource_classes(), close_async.FanOut}
    for cls in _public_classes():
        init = cls not in built_by_the_client  # their constructors are not for callers
        wanted.update(n for n in _names_in_signatures(cls, init=init) if n in defined)
    wanted = {n for n in wanted if not n.startswith("_")}
    assert wanted - set(close_async.__all__) == set()


def test_the_sync_client_mirrors_every_resource_method() -> None:
    with SyncCloseClient("key") as sync:
        close = CloseClient("key")
        pairs: list[tuple[Any, Any]] = [
            (close.sequences, sync.sequences),
            (close.sequence_subscriptions, sync.sequence_subscriptions),
            (close.bulk_actions.sequence_subscriptions, sync.bulk_actions.sequence_subscriptions),
        ]
        for async_resource, sync_resource in pairs:
            methods = {
                name
                for name in dir(async_resource)
                if not name.startswith("_") and callable(getattr(async_resource, name))
            }
            missing = {name for name in methods if not hasattr(sync_resource, name)}
            assert missing == set(), type(sync_resource).__name__


def test_sync_client_options_are_close_clients_keyword_arguments() -> None:
    keywords = {
        name
        for name, parameter in inspect.signature(CloseClient).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(close_async.ClientOptions.__annotations__) == keywords


def test_contract_names_are_exported() -> None:
    # Names the README documents as the public API (users' code imports them).
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
