"""Open enums: Close's documented values, plus whatever values Close adds later.

Close adds statuses and status reasons over time; a client that rejects an unknown value
breaks on the day Close ships one. Each enum here accepts any string: a documented value
gives its member, an unknown one gives a new member created on the fly (``is_known`` is
then ``False``) whose ``.value`` and ``str()`` are the raw value. Members are ``str``, so
``sub.status == "paused"`` works too.

Identity: documented members are singletons (``sub.status is SubscriptionStatus.PAUSED``).
Unknown values are cached too, so that a new status Close ships costs no more than a known
one, but only the first ``MAX_UNKNOWN_CACHED`` distinct ones per enum: a buggy or hostile
server sending a new value in every record must not grow memory without bound. Past that,
each unknown value read is a new member, equal (``==``, same hash) to the others of its value
but not the same object: compare unknown values with ``==``, never ``is``.
"""

from __future__ import annotations

import enum
from typing import Any, Final

__all__ = [
    "BulkActionStatus",
    "BulkActionType",
    "ContactPreference",
    "OpenEnum",
    "SequenceStatus",
    "StatusReason",
    "StepType",
    "SubscriptionStatus",
]

#: How many distinct unknown values each enum keeps as singletons (see the module docstring).
MAX_UNKNOWN_CACHED: Final = 64


class OpenEnum(str, enum.Enum):
    """A ``str`` enum that keeps values it does not know instead of raising."""

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_known(self) -> bool:
        """Whether the value is one Close documented when this release was made."""
        return type(self).__members__.get(self._name_) is self

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        # An unknown value becomes a pseudo-member. The first few are cached in the map
        # that lookups (and the converter's fast path) read, so that they are singletons;
        # the cache stops growing at MAX_UNKNOWN_CACHED (see the module docstring).
        member = str.__new__(cls, value)
        member._name_ = value.upper().replace("-", "_")
        member._value_ = value
        cache = cls._value2member_map_
        if len(cache) - len(cls._member_map_) < MAX_UNKNOWN_CACHED:
            return cache.setdefault(value, member)
        return member


class SubscriptionStatus(OpenEnum):
    """The state of a sequence subscription (Close's ``WorkflowRunStatus``)."""

    ACTIVE = "active"
    PAUSED = "paused"
    FINISHED = "finished"
    GOAL = "goal"
    ERROR = "error"


class StatusReason(OpenEnum):
    """Why a subscription has its status (Close's ``StatusReason``, kebab-case values)."""

    MANUAL = "manual"
    PENDING_CALL_TIMED_OUT = "pending-call-timed-out"
    BULK_ACTION = "bulk-action"
    RATE_LIMITED = "rate-limited"
    SEQUENCE_DELETED = "sequence-deleted"
    WORKFLOW_PAUSED = "workflow-paused"
    FILTER_NOT_MATCHED = "filter-not-matched"
    REPLY_RECEIVED = "reply-received"
    CALL_ANSWERED = "call-answered"
    MEETING_BOOKED = "meeting-booked"
    LEAD_STATUS_CHANGED = "lead-status-changed"
    OUTCOME_MET = "outcome-met"
    ACCOUNT_INVALID = "account-invalid"
    ACCOUNT_FAILURES = "account-failures"
    SENDING_THROTTLED_TOO_LONG = "sending-throttled-too-long"
    MEMBERSHIP_INACTIVE = "membership-inactive"
    SEND_AS_ERROR = "send-as-error"
    EMAIL_BOUNCED = "email-bounced"
    CALL_FAILED = "call-failed"
    SMS_FAILED = "sms-failed"
    NO_USER_PHONE = "no-user-phone"
    BILLING_ERROR = "billing-error"
    ASSIGNMENT_FIELD_INVALID = "assignment-field-invalid"
    LEAD_STATUS_FIELD_INVALID = "lead-status-field-invalid"
    ASSIGNEES_MISSING = "assignees-missing"
    RUN_AS_DISABLED = "run-as-disabled"
    LEAD_NOT_VISIBLE = "lead-not-visible"
    INTERNAL_ERROR = "internal-error"
    FIELD_MAPPING_ERROR = "field-mapping-error"
    FILTER_CONFIG_INVALID = "filter-config-invalid"
    EMAIL_AI_GENERATION_FAILED = "email-ai-generation-failed"


class SequenceStatus(OpenEnum):
    """The state of a sequence (Close's ``WorkflowStatus``)."""

    ACTIVE = "active"
    PAUSED = "paused"
    DRAFT = "draft"


class StepType(OpenEnum):
    """The kind of a sequence step."""

    EMAIL = "email"
    CALL = "call"
    SMS = "sms"


class BulkActionType(OpenEnum):
    """What a bulk sequence-subscription action does."""

    SUBSCRIBE = "subscribe"
    RESUME = "resume"
    RESUME_FINISHED = "resume_finished"
    PAUSE = "pause"
    REASSIGN = "reassign"


class BulkActionStatus(OpenEnum):
    """The progress of a bulk action (Close's ``BulkActionStatus``)."""

    CREATED = "created"
    LOADING = "loading"
    PROCESSING = "processing"
    DONE = "done"
    PAUSED = "paused"
    RESUMING = "resuming"
    ERROR = "error"


class ContactPreference(OpenEnum):
    """Which contacts of each lead a bulk subscribe reaches."""

    LEAD = "lead"
    CONTACT = "contact"
