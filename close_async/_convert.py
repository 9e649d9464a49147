"""The package's own cattrs converter: Close's JSON in, frozen models out, once, at the edge.

Structuring runs on every listed subscription, so its cost is most of the client's CPU per
record. cattrs' generated hooks plus attrs' frozen ``__init__`` took about 10 µs per
subscription here; the hooks below, registered in our converter through a hook factory, take
about 1.5 µs, because they:

- make the JSON object (or, for a caller's object, one copy of it) the frozen dict-based
  instance's ``__dict__``, skipping a keyword ``__init__`` that would set each field through
  ``object.__setattr__``;
- convert in place only the fields that need it (datetimes, enums, lists, nested models);
  plain strings are type-checked where they stand.

Each conversion knows its field, so a malformed payload fails with the JSON path of the
offending value (``$.data[3].date_created``) without a second, slower pass.

With ``fields=`` (Close's ``_fields``) a record holds only some fields: its model is then
partial (see _models.py), built by a hook generated for just those fields: a subscription
of 3 fields costs 0.40x the instructions of a full one (callgrind).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs

from ._enums import OpenEnum
from ._event_models import Event, WebhookEventFilter, WebhookSubscription
from ._frozen import EMPTY, FrozenDict, freeze
from ._models import (
    PARTIAL,
    BulkSequenceSubscriptionAction,
    Schedule,
    ScheduleRange,
    Sequence,
    SequenceStep,
    SequenceSubscription,
    field_names,
)

__all__ = ["StructureError", "parse_datetime", "structure", "structure_many", "unstructure"]

T = TypeVar("T")

_MODELS: frozenset[type[Any]] = frozenset(
    {
        ScheduleRange,
        Schedule,
        SequenceStep,
        Sequence,
        SequenceSubscription,
        BulkSequenceSubscriptionAction,
        Event,  # its ``data`` is structured by object type in resources/events.py
        WebhookEventFilter,
        WebhookSubscription,
    }
)


class StructureError(ValueError):
    """A payload did not fit a model; ``field`` is the JSON path of the value (``$.status``)."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.reason = reason
        self.field = field

    def under(self, prefix: str) -> StructureError:
        """Re-root the path under an enclosing field or index (``$`` -> ``$.steps[1]``)."""
        return StructureError(self.reason, prefix + self.field[1:])


# Fractions of a second with other than 3 or 6 digits, which datetime.fromisoformat()
# refuses before Python 3.11.
_FRACTION = re.compile(r"\.(\d+)")


def parse_datetime(value: object) -> datetime:
    """Parse an ISO-8601 datetime; a naive one is read as UTC (not documented by Close, but
    Close's other objects carry ``+00:00``).

    (Close's usual form, naive with microseconds, never gets here from a structure hook:
    the hooks parse it inline, see ``_inline_conversion``.)
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            padded = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
            try:
                parsed = datetime.fromisoformat(padded)
            except ValueError:
                raise ValueError(f"expected an ISO-8601 datetime, got {value!r}") from None
    else:
        raise TypeError(f"expected an ISO-8601 datetime string, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


Conv = Callable[[Any], Any]


def _check(kind: type[Any], name: str) -> Conv:
    """Accept only values already of ``kind``: a number where Close promised a string is an
    error worth reporting, not something to coerce silently."""

    def conv(value: Any) -> Any:
        if type(value) is kind or (kind is float and type(value) is int):
            return value
        raise TypeError(f"expected {name}, got {type(value).__name__}")

    return conv


def _enum(kind: type[OpenEnum]) -> Conv:
    members = kind._value2member_map_

    def conv(value: Any) -> Any:
        member = members.get(value) if type(value) is str else None
        if member is not None:
            return member
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return kind(value)  # an unknown value: OpenEnum makes (and caches) a member

    return conv


def _not_strings() -> TypeError:
    return TypeError("expected a list of strings")


def _str_tuple(value: Any) -> tuple[str, ...]:
    # Close sends null instead of [] now and then; both mean "none". () is the default.
    if value is None or value == ():
        return ()
    if value.__class__ is not list:
        raise _not_strings()
    for item in value:
        if item.__class__ is not str:
            raise _not_strings()
    return tuple(value)


def _mapping(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return freeze(value)


def _model_tuple(hook: Conv) -> Conv:
    def conv(value: Any) -> tuple[Any, ...]:
        if value is None or value == ():
            return ()
        if type(value) is not list:
            raise TypeError(f"expected a list, got {type(value).__name__}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(hook(item))
            except StructureError as exc:
                raise exc.under(f"$[{index}]") from None
        return tuple(out)

    return conv


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; a wider union with None -> ``(tp, True)``; anything
    else -> ``(tp, False)``."""
    args = typing.get_args(tp)
    if _is_union(tp) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return (inner[0] if len(inner) == 1 else tp), True
    return tp, False


def _converter_for(tp: Any, converter: cattrs.Converter) -> Conv | None:
    """Pick the conversion for one (non-optional) field type; ``None`` means "take the JSON
    value as is"."""
    args = typing.get_args(tp)
    if tp is Any:
        return freeze  # any JSON value: objects and arrays frozen, like every mapping field
    if _is_union(tp):
        return None  # a model or a mapping (an event's ``data``): see typed_event
    if tp in (str, int, bool, float):
        return _check(
            tp, {str: "a string", int: "an integer", bool: "true or false"}.get(tp, "a number")
        )
    if tp is datetime:
        return parse_datetime
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        return _enum(tp)
    if tp == tuple[str, ...]:
        return _str_tuple
    origin = typing.get_origin(tp)
    if origin is tuple and args and args[0] in _MODELS:
        return _model_tuple(_hook_of(args[0], converter))
    if origin is tuple and args and typing.get_origin(args[0]) is Mapping:
        return lambda v: tuple(_mapping(x) for x in v) if isinstance(v, list) else _mapping(v)
    if origin is Mapping or tp is Mapping:
        return _mapping
    if tp in _MODELS:
        return _hook_of(tp, converter)
    raise TypeError(f"no conversion for field type {tp!r}")  # pragma: no cover - a new model


def _hook_of(model: type[Any], converter: cattrs.Converter) -> Conv:
    hook = converter.get_structure_hook(model)
    return lambda value: hook(value, model)


# Each model's hook that takes over the JSON object it is given (see structure_many).
_ADOPTERS: dict[type[Any], Callable[[Any], Any]] = {}

# Optional fields that Close's answers usually leave out: the legacy ``pause_reason`` (read by
# an export script of Close's from 2022; Close's current examples show ``status_reason``).
# Only a matter of speed: any field may be missing.
_OFTEN_ABSENT: Mapping[type[Any], tuple[str, ...]] = {SequenceSubscription: ("pause_reason",)}


def _model_hook(model: type[T], converter: cattrs.Converter) -> Callable[[Any, Any], T]:
    """Make the structure hook for one model (see the module docstring for why so)."""
    adopt: Callable[[Any], T] = _adopter(model, converter)
    _ADOPTERS[model] = adopt

    def hook(data: Any, _: Any = None) -> T:
        # A copy to take over: the caller's object stays as it was.
        return adopt(data.copy() if data.__class__ is dict else data)

    return hook


def _adopter(
    model: type[Any],
    converter: cattrs.Converter,
    loaded: frozenset[str] | None = None,
    *,
    guard: bool = False,
) -> Callable[[Any], Any]:
    """Generate the function that turns a JSON object, in place, into a model.

    The code is generated as straight-line code, one block per field, the way attrs and
    cattrs generate theirs: a loop over a field table costs a third more per record. Each
    block reads its field inside ``try``, which costs nothing when the field is there (the
    usual case) and fills in the default when it is not. A missing field costs a caught
    KeyError, though, so the fields Close is known to leave out (``_OFTEN_ABSENT``) are
    looked up first instead. (Filling the defaults in before the JSON object cost a fifth of
    the hook: a dict's copy is one fast C copy, a merge into a non-empty dict a slow insert
    per key.)

    ``loaded`` makes a partial model (``fields=``, see _models.py) of those fields only:
    the others are left absent, not defaulted. With ``guard``, a record holding anything
    but loaded fields (Close sent more than was asked for) is handed to ``_wider``.
    """
    hints = typing.get_type_hints(model)
    names = [n for n in field_names(model) if loaded is None or n in loaded]
    often_absent = _OFTEN_ABSENT.get(model, ())
    namespace: dict[str, Any] = {
        "_model": model if loaded is None else PARTIAL[model],
        "_new": object.__new__,
        "_EMPTY": EMPTY,
        "_Error": StructureError,
        "_not_object": _not_object,
        "_missing": _missing,
        "_not_string": _not_string,
        "_split_extra": _split_extra,
        "_failed": _failed,
    }
    checks: list[str] = []  # plain strings, checked where they stand
    body: list[str] = []  # conversions, in a try block that names the field on failure
    fields = {field.name: field for field in attrs.fields(model)}
    for name in names:
        field = fields[name]
        if field.default is attrs.NOTHING:
            if_missing = f"raise _missing({name!r})"
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            raise TypeError("models use immutable defaults")  # pragma: no cover
        else:
            namespace[f"_d_{name}"] = field.default
            if_missing = f"values[{name!r}] = _d_{name}"
        tp, optional = _unwrap_optional(hints[name])
        conv = None if tp is str else _converter_for(tp, converter)
        if conv is not None and field.default is attrs.NOTHING:
            # Checked before the conversions, whose failures are re-rooted at their field.
            checks += [f"    if {name!r} not in values:", f"        {if_missing}"]
            read = ["    if True:", f"        v = values[{name!r}]"]
        elif name in often_absent:
            read = [
                f"    if {name!r} not in values:",
                f"        {if_missing}",
                "    else:",
                f"        v = values[{name!r}]",
            ]
        else:
            read = [
                "    try:",
                f"        v = values[{name!r}]",
                "    except KeyError:",
                f"        {if_missing}",
                "    else:",
            ]
        if tp is str:  # most fields: checked inline, no call
            accept_none = "v is not None and " if optional else ""
            checks += [
                *read,
                f"        if {accept_none}v.__class__ is not str:",
                f"            raise _not_string({name!r}, v)",
            ]
            continue
        if conv is None:  # taken as it is
            checks += [*read, "        pass"]
            continue
        namespace[f"_c_{name}"] = conv
        convert = _inline_conversion(name, tp, namespace)
        if optional:
            convert = ["    if v is not None:", *(f"    {line}" for line in convert)]
        body += [*read, f"        field = {name!r}", *(f"    {x}" for x in convert)]
    if guard:
        assert loaded is not None, "only partial adopters are guarded"
        asked = loaded
        namespace["_wider"] = lambda data: _wider(model, asked, data)
    lines = [
        "def adopt(data):",
        "    if data.__class__ is not dict:",
        "        raise _not_object(data)",
        *(["    if not data.keys() <= _known:", "        return _wider(data)"] if guard else []),
        # The JSON object itself becomes the instance's __dict__ and is converted in place.
        "    obj = _new(_model)",
        "    _set_dict(obj, data)",
        "    values = data",
        *checks,
        "    field = ''",
        "    try:",
        *(f"    {line}" for line in body or ["    pass"]),
        "    except _Error as exc:",
        "        raise exc.under('$.' + field) from None",
        "    except (TypeError, ValueError) as exc:",
        "        raise _failed(field, exc) from None",
        # Every field structured is now there: more keys means Close sent fields we do not
        # know (or, in a partial model, did not ask for and that _wider did not take).
        f"    if len(values) != {len(names)}:",
        "        _split_extra(values, _known)",
        "    else:",
        "        values['extra'] = _EMPTY",
        "    return obj",
    ]
    namespace["_known"] = frozenset(names)
    namespace["_set_dict"] = _dict_setter(model)
    code = "\n".join(lines)
    kind = model.__name__ if loaded is None else f"{model.__name__} {','.join(names)}"
    exec(compile(code, f"<close_async structure {kind}>", "exec"), namespace)
    adopt: Callable[[Any], Any] = namespace["adopt"]
    return adopt


# The partial adopters made so far, by (model, fields, guard): one per set of fields a
# program asks for, in practice. Bounded all the same (the oldest goes first), as a program
# could make up sets of fields without end.
_PARTIAL_ADOPTERS: dict[tuple[type[Any], frozenset[str], bool], Callable[[Any], Any]] = {}
_MAX_PARTIAL_ADOPTERS = 128


def _partial_adopter(model: type[Any], loaded: frozenset[str], guard: bool) -> Callable[[Any], Any]:
    key = (model, loaded, guard)
    adopt = _PARTIAL_ADOPTERS.get(key)
    if adopt is None:
        if len(_PARTIAL_ADOPTERS) >= _MAX_PARTIAL_ADOPTERS:
            _PARTIAL_ADOPTERS.pop(next(iter(_PARTIAL_ADOPTERS)), None)
        adopt = _PARTIAL_ADOPTERS[key] = _adopter(model, _CONVERTER, loaded, guard=guard)
    return adopt


def _wider(model: type[Any], asked: frozenset[str], data: dict[str, Any]) -> Any:
    """Structure a record that holds fields it was not asked for: Close sent more than
    ``fields=`` named (or ignored it). They are kept, converted like the others, and
    ``loaded_fields`` tells them; a record that holds every field becomes a full model.
    (Fields that did not come are still not loaded: Close's answer does not say whether
    it ignored ``_fields`` or sent only some fields more.)"""
    loaded = asked | (data.keys() & set(field_names(model)))
    if len(loaded) == len(field_names(model)):
        _CONVERTER.get_structure_hook(model)  # makes the adopter of full models
        return _ADOPTERS[model](data)
    return _partial_adopter(model, frozenset(loaded), False)(data)


def _dict_setter(model: type[Any]) -> Callable[[Any, dict[str, Any]], None]:
    """The setter of instances' ``__dict__``, called directly: a third cheaper than
    ``object.__setattr__(obj, "__dict__", d)`` (the models are frozen), which finds it
    first."""
    for klass in model.__mro__:
        descriptor = vars(klass).get("__dict__")
        if descriptor is not None and hasattr(descriptor, "__set__"):
            setter: Callable[[Any, dict[str, Any]], None] = descriptor.__set__
            return setter
    raise TypeError(f"{model.__name__} instances have no __dict__")  # pragma: no cover


def _inline_conversion(name: str, tp: Any, namespace: dict[str, Any]) -> list[str]:
    """The statements that convert ``v`` into ``values[name]``.

    The cases that run on every listed subscription are written out, so that the usual
    value costs no call: a datetime in Close's usual form (naive, with microseconds), a
    documented enum value, a list of IDs. Anything else goes through the field's conversion
    function.
    """
    if tp is datetime:
        namespace["_fromisoformat"] = datetime.fromisoformat
        return [
            "    if v.__class__ is str and len(v) == 26:",
            "        try:",
            f"            values[{name!r}] = _fromisoformat(v + '+00:00')",
            "        except ValueError:",
            f"            values[{name!r}] = _c_{name}(v)",
            "    else:",
            f"        values[{name!r}] = _c_{name}(v)",
        ]
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        namespace[f"_members_{name}"] = tp._value2member_map_
        return [
            "    try:",
            f"        values[{name!r}] = _members_{name}[v]",
            "    except (KeyError, TypeError):  # a new value, or not a string",
            f"        values[{name!r}] = _c_{name}(v)",
        ]
    if tp == tuple[str, ...]:  # a list of IDs: its items checked where they stand
        namespace["_str"] = str
        namespace["_not_strings"] = _not_strings
        return [
            "    if v.__class__ is list:",
            "        for x in v:",
            "            if x.__class__ is not _str:",
            "                raise _not_strings()",
            f"        values[{name!r}] = tuple(v)",
            "    else:",
            f"        values[{name!r}] = _c_{name}(v)",
        ]
    return [f"    values[{name!r}] = _c_{name}(v)"]


def _not_object(data: object) -> StructureError:
    return StructureError(f"expected a JSON object, got {type(data).__name__}", "$")


def _missing(name: str) -> StructureError:
    return StructureError("required field missing", f"$.{name}")


def _not_string(name: str, value: object) -> StructureError:
    return StructureError(f"expected a string, got {type(value).__name__}", f"$.{name}")


def _failed(name: str, exc: Exception) -> StructureError:
    return StructureError(str(exc), f"$.{name}")


def _split_extra(values: dict[str, Any], known: frozenset[str]) -> None:
    """Move the keys Close sent that the model does not declare into ``values["extra"]``."""
    values["extra"] = FrozenDict.adopt({k: freeze(values.pop(k)) for k in values.keys() - known})


def _unstructure_hook(model: type[Any], converter: cattrs.Converter) -> Callable[[Any], Any]:
    """Unstructure a model back to Close's JSON, unknown fields included; a partial model
    (``fields=``) gives the fields it holds."""
    names = field_names(model)
    unstructure = converter.unstructure

    def hook(obj: Any) -> dict[str, Any]:
        values = vars(obj)
        out: dict[str, Any] = {k: unstructure(v) for k, v in obj.extra.items()}
        for name in names:
            if name in values:
                out[name] = unstructure(values[name])
        return out

    return hook


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=False)
    is_model = _MODELS.__contains__
    converter.register_structure_hook_factory(is_model, lambda t: _model_hook(t, converter))
    partial_classes = frozenset(PARTIAL.values())
    converter.register_unstructure_hook_factory(
        lambda t: t in _MODELS or t in partial_classes,
        lambda t: _unstructure_hook(t, converter),
    )
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_unstructure_hook(OpenEnum, lambda v: v.value)
    converter.register_unstructure_hook(
        FrozenDict, lambda m: {k: converter.unstructure(v) for k, v in m.items()}
    )
    return converter


_CONVERTER = _make_converter()


def structure(data: object, model: type[T], *, fields: frozenset[str] | None = None) -> T:
    """Build one model from Close's JSON; raise StructureError naming the field on failure.

    ``fields`` (checked names, see _fields.py) makes a partial model holding those fields
    only; the others stay absent (reading one raises FieldNotLoadedError).
    """
    if fields is None or len(fields) == len(field_names(model)):
        return _CONVERTER.structure(data, model)
    adopt = _partial_adopter(model, fields, True)
    result: T = adopt(data.copy() if data.__class__ is dict else data)
    return result


def structure_many(
    items: object,
    model: type[T],
    *,
    path: str = "$.data",
    owned: bool = False,
    fields: frozenset[str] | None = None,
) -> list[T]:
    """Build a model for each item of a list page; on failure name the item and its field.

    ``owned=True`` says that the items are JSON objects nobody else holds (a page just
    decoded): each then becomes its model's ``__dict__`` instead of being copied into one,
    and is changed in place, on failure too. ``fields`` as in ``structure``.
    """
    if type(items) is not list:
        raise StructureError(f"expected a list, got {type(items).__name__}", path)
    if fields is None or len(fields) == len(field_names(model)):
        _CONVERTER.get_structure_hook(model)  # makes the adopting hook
        adopt = _ADOPTERS[model]
    else:
        adopt = _partial_adopter(model, fields, True)
    hook = adopt if owned else lambda item: adopt(item.copy() if item.__class__ is dict else item)
    out: list[T] = []
    append = out.append
    try:
        for item in items:
            append(hook(item))
    except StructureError as exc:
        raise exc.under(f"{path}[{len(out)}]") from None  # the first item not built
    return out


def unstructure(obj: object) -> Any:
    """Return Close's JSON for a model (or a list, tuple or mapping of models): a ``dict``
    with Close's field names, unknown fields (``extra``) included, lists as lists, enums as
    their values and datetimes as ISO-8601 text with their UTC offset. A model listed or
    fetched with ``fields=`` gives the fields it holds."""
    return _CONVERTER.unstructure(obj)
