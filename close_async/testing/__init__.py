"""Run a fake Close API server for tests, benchmarks and demos: `FakeClose`.

It serves the Sequences, Sequence Subscriptions and bulk sequence-subscription endpoints of
https://api.close.com/api/v1/ from memory, with Close's JSON shapes, errors, pagination and
rate-limit headers, plus optional latency and faults::

    async with FakeClose(leads=300, seed=3, rate_limit=20) as fake:
        ...  # point a client at fake.url with fake.api_key

Seeded data (`FakeClose(leads=N, sequences=M, seed=S)`, the same for the same seed): one
organization and three users; M sequences (mostly active) with 1-5 email/call steps and a
Monday-Friday schedule; N leads with 1-4 contacts each; 0-5 subscriptions per lead, except about
1% of the leads (at least one from 50 leads) with 101-350, i.e. several pages; statuses active
50%, finished 20%, paused 15%, goal 10%, error 5%. `add_lead`, `add_contact`, `add_sequence`,
`add_subscription` and `add_subscriptions` (e.g. 6,000 for one lead: 60 pages) add more.

Every change made after the fake is built is logged in its event log (`event/`, `fake.events`)
and delivered, signed, to its webhook subscriptions (`webhook/`, `fake.add_webhook`).

Also: a pytest plugin (`close_async.testing.pytest_plugin`, fixtures `fake_close`,
`fake_close_factory`, `fake_close_options`) and a command line server
(`python -m close_async.testing --help`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._defaults import DEFAULT_API_KEY, DEFAULT_OAUTH_TOKEN
    from ._fake import FakeClose
    from ._faults import Fault, FaultKind, FaultRates
    from ._model import Contact, Lead, User
    from ._state import FakeState
    from ._stats import FakeStats
    from ._webhooks import DeliveryAttempt, sign_webhook

__all__ = [
    "Contact",
    "DEFAULT_API_KEY",
    "DEFAULT_OAUTH_TOKEN",
    "DeliveryAttempt",
    "FakeClose",
    "FakeState",
    "FakeStats",
    "Fault",
    "FaultKind",
    "FaultRates",
    "Lead",
    "User",
    "sign_webhook",
]

# Imported on first use, so that loading the pytest plugin (which imports this package) costs
# nothing in test runs that do not use the fake.
_MODULES = {
    "DEFAULT_API_KEY": "._defaults",
    "DEFAULT_OAUTH_TOKEN": "._defaults",
    "FakeClose": "._fake",
    "Fault": "._faults",
    "FaultKind": "._faults",
    "FaultRates": "._faults",
    "Contact": "._model",
    "Lead": "._model",
    "User": "._model",
    "FakeState": "._state",
    "FakeStats": "._stats",
    "DeliveryAttempt": "._webhooks",
    "sign_webhook": "._webhooks",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
