"""Deterministic generated data: the same seed always gives the same records and ids.

Distribution of `populate(leads=N, sequences=M)`:

- one organization and three users, each with an email account (senders of subscriptions);
- M sequences: mostly active (80%, else paused or draft), 1-5 email or call steps one to three
  days apart, a Monday-Friday schedule (or none), an IANA timezone;
- N leads with 1-4 contacts (45/30/15/10%), each contact with one or two emails;
- per lead 0-5 subscriptions (weights 30/30/17/11/7/5%) to distinct (contact, sequence) pairs,
  except about 1% of leads (at least one once N >= 50) that get 101-350 subscriptions, so their
  list spans two to four pages of 100; those leads get as many contacts as needed, since Close
  allows one subscription per contact and sequence;
- subscription statuses: active 50%, finished 20%, paused 15%, goal 10%, error 5%, with a
  matching `status_reason` (null for active and finished);
- creation dates from 2023-01-02 onwards, a few seconds to two minutes apart, so all seeded
  records are older than anything created while the fake runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ._model import Contact, IdFactory, Lead, User
from ._state import FakeState

_EPOCH = datetime(2023, 1, 2, 8, 0, 0)
_FIRST_NAMES = (
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lea",
)
_LAST_NAMES = (
    "Ng",
    "Okafor",
    "Park",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Uddin",
    "Varga",
    "Weber",
)
_COMPANY_WORDS = ("Acme", "Blue", "Cedar", "Delta", "Echo", "Fjord", "Granite", "Harbor", "Iris")
_COMPANY_SUFFIXES = ("Labs", "Corp", "Logistics", "Health", "Foods", "Systems", "Partners")
_SEQUENCE_NAMES = (
    "Cold outreach",
    "Demo follow-up",
    "Trial nurture",
    "Webinar invite",
    "Renewal reminder",
    "Re-engagement",
    "Onboarding",
    "No-show rebook",
)
_TIMEZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "US/Eastern",
    "Europe/London",
    "Europe/Berlin",
)
_SCHEDULE_HOURS = (("09:00", "16:59"), ("08:00", "17:59"), ("10:00", "15:59"))
_USERS = (
    ("Dana Sales", "dana@sales.example.com"),
    ("Omar Reps", "omar@sales.example.com"),
    ("Lin Ops", "lin@sales.example.com"),
)

_CONTACT_COUNTS = ((1, 2, 3, 4), (45, 30, 15, 10))
_SUBSCRIPTION_COUNTS = ((0, 1, 2, 3, 4, 5), (30, 30, 17, 11, 7, 5))
_HEAVY_RANGE = (101, 350)
# status -> (weight, possible status_reasons)
_STATUS_MIX: dict[str, tuple[int, tuple[str | None, ...]]] = {
    "active": (50, (None,)),
    "finished": (20, (None,)),
    "paused": (15, ("manual", "manual", "bulk-action", "workflow-paused")),
    "goal": (10, ("reply-received", "meeting-booked", "call-answered")),
    "error": (5, ("email-bounced", "account-invalid", "send-as-error")),
}


def make_state(seed: int, *, leads: int = 0, sequences: int = 0) -> tuple[FakeState, Seeder]:
    """Create a store with the seed's organization and users, populated with generated data."""
    # Separate streams so that adding a record later does not shift every generated value.
    ids = IdFactory(random.Random(f"close-fake-ids:{seed}"))
    rng = random.Random(f"close-fake-data:{seed}")
    users = [
        User(id=ids.new("user"), name=name, email=email, email_account_id=ids.new("emailacct"))
        for name, email in _USERS
    ]
    state = FakeState(ids=ids, organization_id=ids.new("orga"), users=users)
    seeder = Seeder(state, rng)
    seeder.populate(leads=leads, sequences=sequences)
    return state, seeder


class Seeder:
    """Generate plausible leads, sequences and subscriptions into a store from a seeded RNG."""

    def __init__(self, state: FakeState, rng: random.Random) -> None:
        self.state = state
        self._rng = rng
        # Seeded records get synthetic past dates; records added later get the current time.
        self._clock: datetime | None = None

    def populate(self, *, leads: int, sequences: int) -> None:
        """Generate `sequences` sequences and `leads` leads with their subscriptions."""
        if leads < 0 or sequences < 0:
            raise ValueError("leads and sequences must be >= 0")
        self._clock = _EPOCH
        try:
            for _ in range(sequences):
                self.add_sequence()
            heavy_count = max(1, round(leads / 100)) if leads >= 50 else 0
            heavy = set(self._rng.sample(range(leads), heavy_count))
            for n in range(leads):
                count = (
                    self._rng.randint(*_HEAVY_RANGE)
                    if n in heavy
                    else self._pick(_SUBSCRIPTION_COUNTS)
                )
                lead = self.add_lead(contacts=self._pick(_CONTACT_COUNTS))
                self._subscribe_lead(lead, count)
        finally:
            self._clock = None

    def add_lead(
        self, *, lead_id: str | None = None, name: str | None = None, contacts: int = 1
    ) -> Lead:
        """Add a lead with `contacts` generated contacts and return it."""
        rng = self._rng
        name = name or f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_SUFFIXES)}"
        lead = self.state.add_lead(name, lead_id=lead_id)
        for _ in range(contacts):
            self.add_contact(lead.id)
        return self.state.lead(lead.id) or lead

    def add_contact(
        self, lead_id: str, *, name: str | None = None, emails: Sequence[str] | None = None
    ) -> Contact:
        """Add a contact (generated name and one or two emails unless given) to a lead."""
        rng = self._rng
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        if emails is None:
            domain = f"{rng.choice(_COMPANY_WORDS).lower()}{rng.randint(1, 999)}.example.com"
            emails = [f"{first.lower()}.{last.lower()}@{domain}"]
            if rng.random() < 0.3:
                emails.append(f"{first.lower()}@{domain}")
        return self.state.add_contact(lead_id, name or f"{first} {last}", emails)

    def add_sequence(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        timezone: str | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
    ) -> str:
        """Add a sequence, generating what is not given (steps, schedule...); return its id."""
        rng = self._rng
        start, end = rng.choice(_SCHEDULE_HOURS)
        schedule = (
            None
            if rng.random() < 0.1
            else {"ranges": [{"weekday": day, "start": start, "end": end} for day in range(1, 6)]}
        )
        return self.state.create_sequence(
            name=name or f"{rng.choice(_SEQUENCE_NAMES)} {rng.randint(1, 99)}",
            timezone=timezone or rng.choice(_TIMEZONES),
            status=status or rng.choices(("active", "paused", "draft"), (80, 10, 10))[0],
            schedule=schedule,
            steps=self._generated_steps() if steps is None else steps,
            at=self._tick(),
        )

    def _generated_steps(self) -> list[dict[str, Any]]:
        rng = self._rng
        steps = []
        for position in range(rng.randint(1, 5)):
            is_call = position > 0 and rng.random() < 0.3
            threading = "new_thread" if position == 0 else "old_thread"
            steps.append(
                {
                    "step_type": "call" if is_call else "email",
                    "delay": 0 if position == 0 else 86400 * rng.randint(1, 3),
                    "email_template_id": None if is_call else self.state.ids.new("tmpl"),
                    "threading": None if is_call else threading,
                    "required": True,
                }
            )
        return steps

    def add_subscriptions(
        self,
        lead_id: str,
        count: int,
        *,
        sequence_id: str | None = None,
        status: str | None = None,
    ) -> list[str]:
        """Give a lead `count` more subscriptions (creating the lead if unknown); return ids.

        New contacts are added to the lead so that every (contact, sequence) pair is unique;
        subscriptions go round-robin over all sequences unless `sequence_id` is given.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        sequence_ids = [sequence_id] if sequence_id else [s["id"] for s in self.state.sequences()]
        if not sequence_ids:
            raise ValueError("add a sequence before adding subscriptions")
        lead = self.state.lead(lead_id) or self.add_lead(lead_id=lead_id, contacts=0)
        contacts = [self.add_contact(lead.id) for _ in range(math.ceil(count / len(sequence_ids)))]
        return [
            self._subscribe(
                contacts[n // len(sequence_ids)], sequence_ids[n % len(sequence_ids)], status
            )
            for n in range(count)
        ]

    def _subscribe_lead(self, lead: Lead, count: int) -> None:
        sequence_ids = [s["id"] for s in self.state.sequences()]
        if not sequence_ids:
            return
        contacts = list(lead.contacts)
        # One subscription per (contact, sequence): add contacts until there are enough pairs.
        while len(contacts) * len(sequence_ids) < count:
            contacts.append(self.add_contact(lead.id))
        pairs = self._rng.sample(range(len(contacts) * len(sequence_ids)), count)
        for pair in sorted(pairs):
            contact, seq = divmod(pair, len(sequence_ids))
            self._subscribe(contacts[contact], sequence_ids[seq], None)

    def _subscribe(self, contact: Contact, sequence_id: str, status: str | None) -> str:
        rng = self._rng
        if status is None:
            status = rng.choices(list(_STATUS_MIX), [w for w, _ in _STATUS_MIX.values()])[0]
        sender = rng.choice(self.state.users)
        return self.state.create_subscription(
            sequence_id=sequence_id,
            contact_id=contact.id,
            contact_email=rng.choice(contact.emails),
            sender_account_id=sender.email_account_id,
            sender_email=sender.email,
            sender_name=sender.name,
            calls_assigned_to=[sender.id],
            status=status,
            status_reason=rng.choice(_STATUS_MIX[status][1]) if status in _STATUS_MIX else None,
            at=self._tick(),
        )

    def _pick(self, table: tuple[tuple[int, ...], tuple[int, ...]]) -> int:
        values, weights = table
        return self._rng.choices(values, weights)[0]

    def _tick(self) -> datetime | None:
        if self._clock is None:
            return None
        step = timedelta(seconds=self._rng.randint(3, 120), microseconds=self._rng.randrange(10**6))
        self._clock += step
        return self._clock
