"""`python -m close_async.testing`: run as a real subprocess, and its reusable parts."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from close_async.testing import FakeClose
from close_async.testing._cli import add_arguments, fake_from_args

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def read_line(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    # Read in a thread so that a server that never prints fails the test instead of hanging it.
    assert process.stdout is not None
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(process.stdout.readline).result(timeout)


@contextmanager
def cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "close_async.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        printed: dict[str, str] = {}
        while "API_KEY" not in printed:
            line = read_line(process)
            assert line, process.communicate()[1]
            key, _, value = line.strip().partition("=")
            printed[key] = value
        yield process, printed
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_a_signal_and_exits_cleanly(
    signum: signal.Signals, urllib_call: Callable[..., Any]
) -> None:
    args = ["--port", "0", "--leads", "20", "--seed", "1", "--rate-limit", "5"]
    with cli(*args, "--ratelimit-separator", ";", "--api-key", "cli-key") as (process, printed):
        assert printed["API_KEY"] == "cli-key"
        assert printed["URL"].startswith("http://127.0.0.1:")
        assert printed["URL"].endswith("/api/v1/")
        fake = FakeClose(api_key="cli-key")
        reply = urllib_call(printed["URL"] + "sequence/", authorization=fake.authorization)
        assert reply.status == 200
        assert reply.headers["RateLimit"].startswith("limit=5; remaining=4; reset=")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        stats = json.loads(stderr.split("STATS=", 1)[1])
        assert (stats["requests"], stats["responses"]) == (1, {"200": 1})


def test_prints_the_oauth_token_and_serves_faults(urllib_call: Callable[..., Any]) -> None:
    with cli("--oauth-token", "tok", "--fail-503", "1") as (process, printed):
        assert read_line(process).strip() == "OAUTH_TOKEN=tok"
        reply = urllib_call(printed["URL"] + "sequence/", authorization="Bearer tok")
        assert reply.status == 503
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
        assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-503", "2"], "fail_503"),
        (["--ratelimit-separator", "|"], "invalid choice"),
        (["--rate-limit", "0"], "rate_limit"),
        (["--leads", "many"], "invalid int"),
    ],
)
def test_bad_arguments_exit_with_status_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "close_async.testing", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_a_port_in_use_exits_with_status_1() -> None:
    with FakeClose().run_in_thread() as holder:
        result = subprocess.run(
            [sys.executable, "-m", "close_async.testing", "--port", str(holder.port)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.startswith("error:")


def test_arguments_can_be_reused_by_another_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--leads", "7", "--sequences", "2", "--latency", "0.03", "--fail-drop", "0.1"]
    )
    fake = fake_from_args(args)
    assert (len(fake.state.leads()), len(fake.state.sequences())) == (7, 2)
    assert (fake.host, fake.port, fake.api_key) == ("127.0.0.1", 0, "fake-close-api-key")
    assert not fake.running
    defaults = parser.parse_args([])
    assert (defaults.leads, defaults.rate_limit, defaults.ratelimit_separator) == (100, None, ",")
