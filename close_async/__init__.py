"""close_async: an asyncio client for the Close CRM API (sequences and their subscriptions).

Everything public is importable from here; modules whose names start with ``_`` are
private and may change without notice.

The names are imported on first use (``close_async.CloseClient`` loads the client, and
with it aiohttp and tenacity), so that ``import close_async`` and ``close-async --help``
start in a few milliseconds. To export a name, add it to ``__all__``, to ``_MODULES`` and to
the ``TYPE_CHECKING`` imports (for type checkers); a test checks that the three agree.
"""

from __future__ import annotations

import importlib

from ._version import __version__

# Not `from typing import TYPE_CHECKING`: typing alone would double the time of
# `import close_async`. Type checkers read the block below as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from . import webhooks
    from ._change_feed import SubscriptionChanges
    from ._client import CloseClient
    from ._convert import unstructure
    from ._defaults import DEFAULT_BASE_URL
    from ._enums import (
        BulkActionStatus,
        BulkActionType,
        ContactPreference,
        OpenEnum,
        SequenceStatus,
        StatusReason,
        StepType,
        SubscriptionStatus,
    )
    from ._event_errors import (
        CheckpointExpiredError,
        WebhookHeaderMissingError,
        WebhookPayloadError,
        WebhookSignatureError,
        WebhookTimestampError,
        WebhookVerificationError,
    )
    from ._event_models import (
        Event,
        EventAction,
        SubscriptionChange,
        WebhookEventFilter,
        WebhookStatus,
        WebhookSubscription,
    )
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        APITLSError,
        AuthenticationError,
        BadRequestError,
        BulkActionError,
        BulkActionPausedError,
        BulkActionTimeoutError,
        ClientClosedError,
        CloseError,
        EventLoopError,
        FieldNotLoadedError,
        GateUnavailableError,
        MaxSkipError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseValidationError,
        ServerError,
    )
    from ._fanout import ErrorMode, FailedID, FanOut, OnIdDone, OnProgress, Progress
    from ._gate import (
        GateSettings,
        GroupSnapshot,
        LocalRateLimitGate,
        Observation,
        RateLimitGate,
    )
    from ._groups import EndpointGroups
    from ._models import (
        BulkSequenceSubscriptionAction,
        Schedule,
        ScheduleRange,
        Sequence,
        SequenceStep,
        SequenceSubscription,
        loaded_fields,
    )
    from ._pagination import Items
    from ._params import NOT_GIVEN, NotGiven
    from ._ratelimit import RateLimitInfo
    from ._stats import ClientStats
    from ._strategy import Plan, Strategy
    from ._sync import ClientOptions, SyncCloseClient, SyncFanOut, SyncSubscriptionChanges

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITLSError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BulkActionError",
    "BulkActionPausedError",
    "BulkActionStatus",
    "BulkActionTimeoutError",
    "BulkActionType",
    "BulkSequenceSubscriptionAction",
    "CheckpointExpiredError",
    "ClientClosedError",
    "ClientOptions",
    "ClientStats",
    "CloseClient",
    "CloseError",
    "ContactPreference",
    "DEFAULT_BASE_URL",
    "EndpointGroups",
    "ErrorMode",
    "Event",
    "EventAction",
    "EventLoopError",
    "FailedID",
    "FanOut",
    "FieldNotLoadedError",
    "GateSettings",
    "GateUnavailableError",
    "GroupSnapshot",
    "Items",
    "LocalRateLimitGate",
    "MaxSkipError",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "Observation",
    "OnIdDone",
    "OnProgress",
    "OpenEnum",
    "PermissionDeniedError",
    "Plan",
    "Progress",
    "RateLimitError",
    "RateLimitGate",
    "RateLimitInfo",
    "ResponseValidationError",
    "Schedule",
    "ScheduleRange",
    "Sequence",
    "SequenceStatus",
    "SequenceStep",
    "SequenceSubscription",
    "ServerError",
    "StatusReason",
    "StepType",
    "Strategy",
    "SubscriptionChange",
    "SubscriptionChanges",
    "SubscriptionStatus",
    "SyncCloseClient",
    "SyncFanOut",
    "SyncSubscriptionChanges",
    "WebhookEventFilter",
    "WebhookHeaderMissingError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookStatus",
    "WebhookSubscription",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "loaded_fields",
    "unstructure",
    "webhooks",
    "__version__",
]

# Each public name -> the private module that defines it.
_MODULES = {
    "APIConnectionError": "._exceptions",
    "APIError": "._exceptions",
    "APITLSError": "._exceptions",
    "APITimeoutError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "BadRequestError": "._exceptions",
    "BulkActionError": "._exceptions",
    "BulkActionPausedError": "._exceptions",
    "BulkActionStatus": "._enums",
    "BulkActionTimeoutError": "._exceptions",
    "BulkActionType": "._enums",
    "BulkSequenceSubscriptionAction": "._models",
    "CheckpointExpiredError": "._event_errors",
    "ClientClosedError": "._exceptions",
    "ClientOptions": "._sync",
    "ClientStats": "._stats",
    "CloseClient": "._client",
    "CloseError": "._exceptions",
    "ContactPreference": "._enums",
    "DEFAULT_BASE_URL": "._defaults",
    "EndpointGroups": "._groups",
    "ErrorMode": "._fanout",
    "Event": "._event_models",
    "EventAction": "._event_models",
    "EventLoopError": "._exceptions",
    "FailedID": "._fanout",
    "FanOut": "._fanout",
    "FieldNotLoadedError": "._exceptions",
    "GateSettings": "._gate",
    "GateUnavailableError": "._exceptions",
    "GroupSnapshot": "._gate",
    "Items": "._pagination",
    "LocalRateLimitGate": "._gate",
    "MaxSkipError": "._exceptions",
    "NOT_GIVEN": "._params",
    "NotFoundError": "._exceptions",
    "NotGiven": "._params",
    "Observation": "._gate",
    "OnIdDone": "._fanout",
    "OnProgress": "._fanout",
    "OpenEnum": "._enums",
    "PermissionDeniedError": "._exceptions",
    "Plan": "._strategy",
    "Progress": "._fanout",
    "RateLimitError": "._exceptions",
    "RateLimitGate": "._gate",
    "RateLimitInfo": "._ratelimit",
    "ResponseValidationError": "._exceptions",
    "Schedule": "._models",
    "ScheduleRange": "._models",
    "Sequence": "._models",
    "SequenceStatus": "._enums",
    "SequenceStep": "._models",
    "SequenceSubscription": "._models",
    "ServerError": "._exceptions",
    "StatusReason": "._enums",
    "StepType": "._enums",
    "Strategy": "._strategy",
    "SubscriptionChange": "._event_models",
    "SubscriptionChanges": "._change_feed",
    "SubscriptionStatus": "._enums",
    "SyncCloseClient": "._sync",
    "SyncFanOut": "._sync",
    "SyncSubscriptionChanges": "._sync",
    "WebhookEventFilter": "._event_models",
    "WebhookHeaderMissingError": "._event_errors",
    "WebhookPayloadError": "._event_errors",
    "WebhookSignatureError": "._event_errors",
    "WebhookStatus": "._event_models",
    "WebhookSubscription": "._event_models",
    "WebhookTimestampError": "._event_errors",
    "WebhookVerificationError": "._event_errors",
    "loaded_fields": "._models",
    "unstructure": "._convert",
    "webhooks": ".webhooks",
}


if not TYPE_CHECKING:  # hidden from type checkers, which would type every unknown name Any

    def __getattr__(name: str) -> Any:
        module = _MODULES.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        imported = importlib.import_module(module, __name__)
        # A public submodule (``close_async.webhooks``) is its own entry.
        value = imported if module == f".{name}" else getattr(imported, name)
        globals()[name] = value  # the next access is a plain attribute lookup
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
