"""Records the fake keeps besides Close's JSON objects, and Close's enum values.

Sequences, subscriptions and bulk actions are stored as the JSON dicts Close returns; leads,
contacts and users are not served by the fake's endpoints, so they are small frozen dataclasses.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone

# Close's WorkflowRunStatus enum, in the order of `subscription_counts_by_status`.
SUBSCRIPTION_STATUSES = ("active", "error", "finished", "goal", "paused")
# Close's WorkflowStatus enum.
SEQUENCE_STATUSES = ("active", "paused", "draft")
STEP_TYPES = ("email", "call", "sms")
BULK_ACTION_TYPES = ("subscribe", "resume", "resume_finished", "pause", "reassign")
CONTACT_PREFERENCES = ("lead", "contact")
# A step delay above 365 days is rejected by Close (changelog 2021-01-05).
MAX_STEP_DELAY = 365 * 24 * 3600

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_LENGTH = 43


class IdFactory:
    """Make Close-looking ids (`prefix_` + 43 base62 characters) from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def new(self, prefix: str) -> str:
        """Return a fresh id such as `sub_3fA...`."""
        return prefix + "_" + "".join(self._rng.choices(_ID_ALPHABET, k=_ID_LENGTH))


def format_datetime(value: datetime) -> str:
    """Format a naive UTC datetime the way Close does: `2022-03-10T14:40:27.442448`."""
    return value.isoformat(timespec="microseconds")


def dumps(value: object) -> str:
    """Serialize to compact JSON text (smaller and faster to send than the default spacing)."""
    return json.dumps(value, separators=(",", ":"))


def utc_now() -> datetime:
    """Return the current time as a naive UTC datetime (Close's datetimes carry no offset)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Contact:
    """Describe a contact of a lead: its id, lead, name and email addresses."""

    id: str
    lead_id: str
    name: str
    emails: tuple[str, ...]


@dataclass(frozen=True)
class Lead:
    """Describe a lead and its contacts, in creation order (the first is the primary one)."""

    id: str
    name: str
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class User:
    """Describe a user of the fake organization and the email account it sends from."""

    id: str
    name: str
    email: str
    email_account_id: str
