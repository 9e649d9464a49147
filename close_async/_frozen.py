"""An immutable mapping for the models' JSON-object fields, and deep freezing of JSON values.

Models are frozen, but a frozen model holding a ``dict`` can still be changed in place
(``seq.subscription_counts_by_status["active"] = 0``), cannot be hashed, and the read-only
view the standard library offers, ``types.MappingProxyType``, can be neither pickled nor
deep-copied. ``FrozenDict`` is all three: read-only, hashable (when its values are), and
picklable. ``freeze`` turns a decoded JSON value into its frozen form, objects into
``FrozenDict`` and arrays into tuples, all the way down.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, TypeVar, overload

__all__ = [
    "EMPTY",
    "FrozenDict",
    "freeze",
    "freeze_mapping",
    "freeze_optional_mapping",
    "freeze_optional_mappings",
]

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class FrozenDict(Mapping[K, V]):
    """A read-only mapping: hashable when its values are, picklable, equal to a ``dict``
    with the same items."""

    __slots__ = ("_data", "_hash")

    _data: dict[K, V]
    _hash: int | None

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data = {} if items is None else dict(items)
        self._hash = None

    @classmethod
    def adopt(cls, data: dict[K, V]) -> FrozenDict[K, V]:
        """Wrap ``data`` without copying it; the caller gives it up (nobody else may hold
        it)."""
        frozen: FrozenDict[K, V] = cls.__new__(cls)
        frozen._data = data
        frozen._hash = None
        return frozen

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """Return the value of ``key``, or ``default``."""
        return self._data.get(key, default)

    # The dict's own views: fast, and read-only already.
    def keys(self) -> KeysView[K]:
        """Return the keys (a read-only view)."""
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        """Return the values (a read-only view)."""
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        """Return the items (a read-only view)."""
        return self._data.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        # Order does not matter to equality, so it must not matter to the hash either.
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._data,))

    def __copy__(self) -> FrozenDict[K, V]:
        return self  # nothing to copy: it cannot change


#: The shared empty mapping (``extra`` when Close sent no field this release does not know).
EMPTY: FrozenDict[Any, Any] = FrozenDict()


#: How deep ``freeze`` recurses before it goes on without recursion: JSON decoders accept
#: about 1,000 levels (10,000 on Python 3.13), deeper than Python's recursion limit allows.
_RECURSION_DEPTH = 50


class _TooDeep(Exception):
    pass


def freeze(value: Any) -> Any:
    """Return a JSON value with its objects as ``FrozenDict`` and its arrays as tuples."""
    try:
        return _freeze(value, _RECURSION_DEPTH)
    except _TooDeep:
        return _freeze_deep(value)


def _freeze(value: Any, depth: int) -> Any:
    """``freeze`` by recursion, the fast way for the usual shallow value; ``_TooDeep`` past
    ``depth`` levels."""
    cls = value.__class__
    if cls is FrozenDict:
        return value  # frozen all the way down already
    if cls is dict or isinstance(value, Mapping):
        if not depth:
            raise _TooDeep
        return FrozenDict.adopt({key: _freeze(item, depth - 1) for key, item in value.items()})
    if cls is list or cls is tuple:
        if not depth:
            raise _TooDeep
        return tuple([_freeze(item, depth - 1) for item in value])
    return value


def _is_open(value: Any) -> bool:
    """Whether ``value`` is a JSON object or array that is not frozen yet."""
    cls = value.__class__
    return cls is not FrozenDict and (cls is list or cls is tuple or isinstance(value, Mapping))


def _freeze_deep(root: Any) -> Any:
    """``freeze`` without recursion, for values nested deeper than the stack allows."""
    # Every open container, parents before their children; then frozen children first.
    order: list[Any] = []
    stack = [root]
    while stack:
        value = stack.pop()
        if _is_open(value):
            order.append(value)
            stack.extend(value.values() if isinstance(value, Mapping) else value)
    done: dict[int, Any] = {}

    def frozen(value: Any) -> Any:
        return done[id(value)] if _is_open(value) else value

    for value in reversed(order):
        if isinstance(value, Mapping):
            done[id(value)] = FrozenDict.adopt({k: frozen(v) for k, v in value.items()})
        else:
            done[id(value)] = tuple([frozen(item) for item in value])
    return frozen(root)


def freeze_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Freeze a JSON object (the converter of the models' ``extra``)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    frozen: Mapping[str, Any] = freeze(value)
    return frozen


def freeze_optional_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Freeze a JSON object, or keep ``None`` (the converter of optional mapping fields)."""
    return None if value is None else freeze_mapping(value)


def freeze_optional_mappings(
    value: Iterable[Mapping[str, Any]] | None,
) -> tuple[Mapping[str, Any], ...] | None:
    """Freeze a list of JSON objects into a tuple, or keep ``None``."""
    return None if value is None else tuple(freeze_mapping(item) for item in value)
