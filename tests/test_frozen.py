"""``freeze``: JSON values frozen all the way down, however deep they nest."""

from __future__ import annotations

import random
from typing import Any

import pytest

from close_async._frozen import FrozenDict, _freeze_deep, freeze


def random_json(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(4) if depth else 3
    if kind == 0:
        return {f"k{n}": random_json(rng, depth - 1) for n in range(rng.randrange(4))}
    if kind == 1:
        return [random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    if kind == 2:
        return FrozenDict({"frozen": (1, 2)})
    return rng.choice([None, True, 1, 2.5, "text"])


def assert_frozen(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        assert not isinstance(item, (dict, list))
        if isinstance(item, FrozenDict):
            stack.extend(item.values())
        elif isinstance(item, tuple):
            stack.extend(item)


def thaw(value: Any) -> Any:
    if isinstance(value, (dict, FrozenDict)):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


@pytest.mark.parametrize("seed", range(20))
def test_a_value_is_frozen_whole_and_holds_what_it_held(seed: int) -> None:
    value = random_json(random.Random(seed), 8)
    frozen = freeze(value)
    assert_frozen(frozen)
    assert thaw(frozen) == thaw(value)
    assert _freeze_deep(value) == frozen  # the way without recursion gives the same


@pytest.mark.parametrize("depth", [49, 50, 51, 3000])
def test_a_value_nested_deeper_than_the_stack_allows_is_frozen(depth: int) -> None:
    value: Any = {"leaf": [1, {"x": "y"}]}
    for n in range(depth):
        value = [value, n] if n % 2 else {"level": value, "n": n}
    frozen = freeze(value)
    assert_frozen(frozen)
    for n in reversed(range(depth)):
        if n % 2:
            assert frozen[1] == n
            frozen = frozen[0]
        else:
            assert frozen["n"] == n
            frozen = frozen["level"]
    assert frozen == FrozenDict({"leaf": (1, FrozenDict({"x": "y"}))})


def test_a_frozen_value_is_returned_as_it_is() -> None:
    frozen = FrozenDict({"a": (1,)})
    assert freeze(frozen) is frozen
