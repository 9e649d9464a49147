"""The public surface of close_async.testing."""

from __future__ import annotations

import inspect

import pytest

import close_async.testing as testing


def test_all_is_sorted_and_resolves() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    assert set(testing.__all__) <= set(dir(testing))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = testing.Nope


@pytest.mark.parametrize("name", [n for n in testing.__all__ if not n.isupper()])
def test_public_names_have_a_docstring(name: str) -> None:
    obj = getattr(testing, name)
    if name == "FaultKind":  # A Literal alias: documented where it is defined.
        return
    assert inspect.getdoc(obj)
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if not attr.startswith("_") and callable(member):
                assert inspect.getdoc(member), f"{name}.{attr}"


def test_fake_close_signature_is_keyword_only() -> None:
    parameters = inspect.signature(testing.FakeClose).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
