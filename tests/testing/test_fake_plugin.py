"""The pytest plugin, loaded the way its `pytest11` entry point loads it, in a child pytest."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "close_async.testing.pytest_plugin"

USES_THE_FIXTURES = """
import json
import urllib.error
import urllib.request

import aiohttp
import pytest

STARTED = []


def get(fake, path):
    request = urllib.request.Request(fake.url + path, headers={"Authorization": fake.authorization})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_sync(fake_close):
    STARTED.append(fake_close)
    status, body = get(fake_close, "sequence/")
    assert status == 200 and body["data"]
    assert len(fake_close.state.leads()) == 50


def test_the_fake_was_stopped_after_its_test():
    assert not STARTED[0].running


async def test_async(fake_close):
    async with aiohttp.ClientSession(headers={"Authorization": fake_close.authorization}) as http:
        async with http.get(fake_close.url + "sequence/") as response:
            assert response.status == 200


def test_factory(fake_close_factory):
    first = fake_close_factory(leads=0, sequences=1)
    second = fake_close_factory(rate_limit=1, rate_window=60)
    assert first.port != second.port
    assert len(first.state.sequences()) == 1


class TestOptions:
    @pytest.fixture
    def fake_close_options(self):
        return {"leads": 3, "rate_limit": 1, "rate_window": 60}

    def test_configured(self, fake_close):
        assert len(fake_close.state.leads()) == 3
        get(fake_close, "sequence/")
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(fake_close, "sequence/")
        with caught.value:
            assert caught.value.code == 429
"""

DOES_NOT_USE_THEM = f'''
import sys


def test_the_plugin_is_loaded_but_idle(request):
    assert request.config.pluginmanager.has_plugin("{PLUGIN}")
    assert "close_async.testing._server" not in sys.modules
    assert "aiohttp.web" not in sys.modules
'''


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_user.py"
    test_file.write_text(source)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # Load plugins explicitly, as entry points would, whether or not close-async is installed.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_asyncio.plugin",
            "-p",
            PLUGIN,
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            "-q",
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fixtures_in_sync_and_async_tests(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, USES_THE_FIXTURES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_the_plugin_does_nothing_unless_asked(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, DOES_NOT_USE_THEM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_installed_entry_point_names_the_plugin() -> None:
    # Fails, never skips: without the entry point, users' fixtures silently disappear.
    try:
        distribution = importlib.metadata.distribution("close-async")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("close-async is not installed: pip install -e '.[test]' (as CI does)")
    entry_points = [ep for ep in distribution.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in entry_points] == [("close_async", PLUGIN)], (
        "the installed close-async does not declare the pytest11 entry point of its plugin "
        "(pyproject.toml, [project.entry-points.pytest11]); reinstall it if it is stale"
    )
