"""Starting up is cheap: ``import close_async`` and ``close-async --help`` load neither
aiohttp nor tenacity nor the fake server; they load when a client or a command needs them.

Each check runs in a fresh interpreter, which is the only place where what gets imported
can be seen.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("aiohttp", "tenacity", "cattrs", "close_async._transport", "close_async.testing._server")


def modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the modules it left imported."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import close_async",
        "from close_async import NOT_GIVEN, CloseError, SubscriptionStatus",
        "from close_async.cli import main; main(['--help'])",
        "from close_async.cli import main; main(['subscriptions', 'export', '--help'])",
        "from close_async.cli import main; main(['fake-server', '--help'])",
    ],
)
def test_nothing_heavy_is_loaded_before_it_is_needed(code: str) -> None:
    loaded = modules_after(code)
    assert {name for name in HEAVY if name in loaded} == set()


def test_the_client_loads_what_it_needs() -> None:
    loaded = modules_after("import close_async; close_async.CloseClient")
    assert {"aiohttp", "tenacity", "close_async._transport"} <= loaded
    assert "close_async.testing._server" not in loaded
