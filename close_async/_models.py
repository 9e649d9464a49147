"""The objects Close returns, as frozen attrs classes named by Close's own field names.

Close documents these shapes only by example and says undocumented fields may come and go
(https://developer.close.com/api/overview/fields), so every field but ``id`` is optional,
and fields this release does not know are kept in ``extra`` rather than dropped or refused.
Datetimes are timezone-aware. Close sends them naive (no offset); that they are UTC is not
documented by Close, but it is how we read them (other Close objects carry ``+00:00``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from ._enums import (
    BulkActionStatus,
    BulkActionType,
    ContactPreference,
    SequenceStatus,
    StatusReason,
    StepType,
    SubscriptionStatus,
)
from ._exceptions import FieldNotLoadedError
from ._frozen import (
    EMPTY,
    freeze,
    freeze_mapping,
    freeze_optional_mapping,
    freeze_optional_mappings,
)

__all__ = [
    "BulkSequenceSubscriptionAction",
    "Schedule",
    "ScheduleRange",
    "Sequence",
    "SequenceStep",
    "SequenceSubscription",
    "loaded_fields",
]

# Models are ``@attrs.frozen(kw_only=True, slots=False)``: dict-based, not slotted, because
# the converter fills a new instance's ``__dict__`` in one step, five times faster than a
# frozen slotted ``__init__`` (see _convert.py). (Spelled out on each class: mypy's attrs
# plugin does not follow an alias of the decorator.)

# Mapping fields hold a FrozenDict (see _frozen.py): read-only, hashable and picklable, so
# that models are values all the way down. The converters freeze what a caller passes to the
# constructor; the converter of _convert.py freezes Close's JSON itself.


def _extra() -> Any:
    # Unknown fields: readable, not part of equality (a new server-side field must not make
    # two otherwise equal records differ), hidden from repr to keep it short.
    return attrs.field(default=EMPTY, eq=False, repr=False, converter=freeze_mapping)


@attrs.frozen(kw_only=True, slots=False)
class ScheduleRange:
    """One weekly time range in which a sequence may send.

    ``weekday`` is an integer; Close's example uses 1 to 5 for Monday to Friday, but the
    numbering is not documented by Close.
    """

    weekday: int
    start: str
    end: str
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class Schedule:
    """When a sequence's steps may run: a list of weekly ranges in the sequence's timezone."""

    ranges: tuple[ScheduleRange, ...] = ()
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class SequenceStep:
    """One step of a sequence: an email, a call or an SMS, after ``delay`` seconds."""

    id: str | None = None
    step_type: StepType | None = None
    delay: int | None = None
    email_template_id: str | None = None
    sms_template_id: str | None = None
    threading: str | None = None
    required: bool | None = None
    #: Null in Close's examples; its type is not documented by Close (any JSON value, frozen).
    step_allowed_delay: Any = attrs.field(default=None, converter=freeze)
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class Sequence:
    """A sequence (a "Workflow" in Close's UI)."""

    id: str
    name: str | None = None
    status: SequenceStatus | None = None
    timezone: str | None = None
    schedule: Schedule | None = None
    steps: tuple[SequenceStep, ...] = ()
    organization_id: str | None = None
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    #: Only in answers about one sequence (get, update), not in lists.
    subscription_counts_by_status: Mapping[str, int] | None = attrs.field(
        default=None, converter=freeze_optional_mapping
    )
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class SequenceSubscription:
    """A contact's subscription to a sequence."""

    id: str
    sequence_id: str | None = None
    contact_id: str | None = None
    contact_email: str | None = None
    lead_id: str | None = None
    organization_id: str | None = None
    sender_account_id: str | None = None
    sender_email: str | None = None
    sender_name: str | None = None
    calls_assigned_to: tuple[str, ...] = ()
    start_date: datetime | None = None
    status: SubscriptionStatus | None = None
    status_reason: StatusReason | None = None
    #: A legacy field older answers carried instead of ``status_reason``.
    pause_reason: str | None = None
    created_by_id: str | None = None
    updated_by_id: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, slots=False)
class BulkSequenceSubscriptionAction:
    """A bulk action that subscribes, pauses, resumes or reassigns many subscriptions."""

    id: str
    action_type: BulkActionType | None = None
    status: BulkActionStatus | None = None
    sequence_id: str | None = None
    contact_preference: ContactPreference | None = None
    sender_account_id: str | None = None
    sender_email: str | None = None
    sender_name: str | None = None
    calls_assigned_to: tuple[str, ...] | None = None
    from_phone_number_id: str | None = None
    query: str | None = None
    s_query: Mapping[str, Any] | None = attrs.field(default=None, converter=freeze_optional_mapping)
    sort: tuple[Mapping[str, Any], ...] | None = attrs.field(
        default=None, converter=freeze_optional_mappings
    )
    results_limit: int | None = None
    send_done_email: bool | None = None
    n_leads: int | None = None
    n_leads_processed: int | None = None
    n_objects: int | None = None
    n_objects_processed: int | None = None
    organization_id: str | None = None
    created_by: str | None = None
    updated_by: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_finished(self) -> bool:
        """Whether Close is done with the action, successfully or not."""
        return self.status in (BulkActionStatus.DONE, BulkActionStatus.ERROR)


# -- Partial models: what ``fields=`` gives -----------------------------------------------
#
# A model listed or fetched with ``fields=`` (Close's ``_fields``) holds only the fields
# asked for. A field left out is absent from the instance's ``__dict__``, never ``None``:
# ``None`` is a value Close sends ("no start date"), and reading it for "not loaded" would
# be a silent lie. Reading an absent field raises FieldNotLoadedError instead.
#
# Such a model is an instance of a private subclass of its model (isinstance() holds, and
# mypy's types are the model's), because the ``__getattr__`` that raises the error makes
# every attribute read three times slower (CPython no longer takes its fast path for
# instance attributes): full models, the usual case, must not pay for it. The subclass also
# brings the ``repr``, ``==`` and ``hash`` of a model with absent fields (attrs' own read
# every field); pickle and deepcopy copy ``__dict__`` as it is, absent fields included.


def _not_loaded(model: object, field: str) -> FieldNotLoadedError:
    kind = _model_of(type(model)).__name__
    loaded = ", ".join(n for n in field_names(type(model)) if n in vars(model))
    return FieldNotLoadedError(
        f"{kind}.{field} was not loaded: it was not in fields= (loaded: {loaded}). Add "
        f"{field!r} to fields=, or leave fields= out to get every field",
        name=field,
        obj=model,
    )


_NOT_LOADED = object()  # stands for an absent field in the equality key of a partial model

#: The class of each model's partial instances, filled in by each ``_Partial`` subclass: the
#: models that ``fields=`` can be asked of.
PARTIAL: dict[type[Any], type[Any]] = {}


class _Partial:
    """What a model built from a partial record adds to its model (see above)."""

    __slots__ = ()

    _model_: ClassVar[type[Any]]
    _names_: ClassVar[frozenset[str]]  # every field but ``extra``
    _eq_names_: ClassVar[tuple[str, ...]]
    _repr_names_: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        model = next(base for base in cls.__bases__ if attrs.has(base))
        fields = [f for f in attrs.fields(model) if f.name != "extra"]
        cls._model_ = model
        cls._names_ = frozenset(f.name for f in fields)
        cls._eq_names_ = tuple(f.name for f in fields if f.eq)
        cls._repr_names_ = tuple(f.name for f in fields if f.repr)
        PARTIAL[model] = cls

    def __getattr__(self, name: str) -> Any:
        # Only called when the usual lookup failed: the field is absent, or no field at all.
        if name in self._names_:
            raise _not_loaded(self, name)
        kind = self._model_.__name__
        raise AttributeError(f"{kind!r} object has no attribute {name!r}", name=name, obj=self)

    def __repr__(self) -> str:
        values = vars(self)
        shown = "".join(f"{n}={values[n]!r}, " for n in self._repr_names_ if n in values)
        return f"{self._model_.__name__}({shown}...)"  # "...": the fields not loaded

    def _eq_key(self) -> tuple[Any, ...]:
        values = vars(self)
        return tuple(values.get(n, _NOT_LOADED) for n in self._eq_names_)

    def __eq__(self, other: object) -> bool:
        # Equal: the same fields loaded, with equal values (a partial model never equals a
        # full one: they are not the same value).
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Partial)
        return self._eq_key() == other._eq_key()

    def __hash__(self) -> int:
        return hash((self._model_, self._eq_key()))


# One such class per model that ``fields=`` can be asked of (a module global, for pickle
# to find it).
class _PartialSequence(_Partial, Sequence):
    __slots__ = ()


class _PartialSequenceSubscription(_Partial, SequenceSubscription):
    __slots__ = ()


class _PartialBulkSequenceSubscriptionAction(_Partial, BulkSequenceSubscriptionAction):
    __slots__ = ()


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _model_of(cls: type[Any]) -> type[Any]:
    return cls._model_ if issubclass(cls, _Partial) else cls


def field_names(model: type[Any]) -> tuple[str, ...]:
    """Return a model's field names (Close's), in order, without ``extra``."""
    names = _FIELD_NAMES.get(model)
    if names is None:
        if not attrs.has(model):
            raise TypeError(f"{model.__name__} is not a close_async model")
        names = tuple(f.name for f in attrs.fields(model) if f.name != "extra")
        _FIELD_NAMES[model] = names
    return names


def loaded_fields(model: object) -> frozenset[str]:
    """Return the names of the fields a model holds.

    Every field of the model, unless it was listed or fetched with ``fields=``: then the
    fields asked for (``id`` always among them), plus any other Close sent anyway. Reading
    a field not in this set raises ``FieldNotLoadedError``.
    """
    names = field_names(type(model))
    if isinstance(model, _Partial):
        values = vars(model)
        return frozenset(n for n in names if n in values)
    return frozenset(names)
