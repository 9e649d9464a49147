"""close_async: an asyncio client for the Close CRM API (sequences and their subscriptions).

Everything public is importable from here; modules whose names start with ``_`` are
private and may change without notice.
"""

from ._client import DEFAULT_BASE_URL, CloseClient
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
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BulkActionError,
    BulkActionTimeoutError,
    ClientClosedError,
    CloseError,
    GateUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from ._fanout import FailedID, FanOut, Progress
from ._gate import GateSettings, GroupSnapshot, LocalRateLimitGate, Observation, RateLimitGate
from ._groups import EndpointGroups
from ._models import (
    BulkSequenceSubscriptionAction,
    Schedule,
    ScheduleRange,
    Sequence,
    SequenceStep,
    SequenceSubscription,
)
from ._params import NOT_GIVEN, NotGiven
from ._ratelimit import RateLimitInfo
from ._stats import ClientStats
from ._sync import SyncCloseClient, SyncFanOut
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BulkActionError",
    "BulkActionStatus",
    "BulkActionTimeoutError",
    "BulkActionType",
    "BulkSequenceSubscriptionAction",
    "ClientClosedError",
    "ClientStats",
    "CloseClient",
    "CloseError",
    "ContactPreference",
    "DEFAULT_BASE_URL",
    "EndpointGroups",
    "FailedID",
    "FanOut",
    "GateSettings",
    "GateUnavailableError",
    "GroupSnapshot",
    "LocalRateLimitGate",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "Observation",
    "OpenEnum",
    "PermissionDeniedError",
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
    "SubscriptionStatus",
    "SyncCloseClient",
    "SyncFanOut",
    "__version__",
]
