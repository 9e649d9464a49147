"""The JSON backend: orjson when installed, else the standard library; same results."""

from __future__ import annotations

import importlib
import sys

import pytest

from close_async import _json


def test_both_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"data": [{"id": "sub_1", "n": 3, "x": None, "ok": True, "s": "é"}], "has_more": False}
    encoded = _json.dumps(doc)
    assert _json.loads(encoded) == doc
    monkeypatch.setitem(sys.modules, "orjson", None)  # as if it were not installed
    plain = importlib.reload(_json)
    try:
        assert plain.BACKEND == "json"
        assert plain.loads(encoded) == doc
        assert plain.loads(plain.dumps(doc)) == doc
        with pytest.raises(ValueError, match=r"."):
            plain.loads(b"<html>")
    finally:
        monkeypatch.undo()
        importlib.reload(_json)


def test_bad_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"."):
        _json.loads(b"{not json")


@pytest.mark.parametrize("backend", ["json", "orjson"])
def test_json_nested_too_deeply_is_a_value_error(backend: str) -> None:
    loads = pytest.importorskip("orjson").loads if backend == "orjson" else _json._std_loads
    deep = b"[" * 100_000 + b"]" * 100_000  # beyond every decoder's limit, on every Python
    with pytest.raises(ValueError, match=r".") as info:  # never RecursionError
        loads(deep)
    assert not isinstance(info.value, RecursionError)
