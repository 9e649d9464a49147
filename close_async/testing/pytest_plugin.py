"""pytest fixtures for the fake Close server (entry point `pytest11`: `close_async`).

Nothing happens unless a test asks for a fixture: the plugin defines no hooks and imports the
server only when a fixture is first used. The fakes run in a background thread, so the same
fixtures serve sync and async tests (any event loop, any async test plugin).

- `fake_close`: a running `FakeClose` with `leads=50, seed=0`, updated by `fake_close_options`.
- `fake_close_options`: override it (in a conftest, a module or a class) to configure
  `fake_close`, e.g. `return {"leads": 300, "rate_limit": 5}`.
- `fake_close_factory`: call it with `FakeClose` keyword arguments to start more fakes; they are
  stopped when the test ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._fake import FakeClose

FIXTURE_DEFAULTS: dict[str, Any] = {"leads": 50, "seed": 0}


@pytest.fixture
def fake_close_options() -> dict[str, Any]:
    """Return extra `FakeClose` keyword arguments for `fake_close` (override to configure)."""
    return {}


@pytest.fixture
def fake_close_factory() -> Iterator[Callable[..., FakeClose]]:
    """Return a function that starts a `FakeClose(**kwargs)` in a thread, stopped at teardown."""
    from ._fake import FakeClose

    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> FakeClose:
            return stack.enter_context(FakeClose(**kwargs).run_in_thread())

        yield start


@pytest.fixture
def fake_close(
    fake_close_factory: Callable[..., FakeClose], fake_close_options: dict[str, Any]
) -> FakeClose:
    """Return a running fake Close server (see `fake_close_options` to configure it)."""
    return fake_close_factory(**{**FIXTURE_DEFAULTS, **fake_close_options})
