"""The parser, the options that every command shares, and the exit codes of errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from close_async import __version__
from close_async._transport import make_timeout
from close_async.testing import FakeClose, Fault
from close_async.testing import _cli as fake_cli

from .conftest import Ran

CLI = Callable[..., Ran]
WRONG_KEY = "wrong-key-4f9c2a"


def test_help_lists_the_commands_and_exit_codes(cli: CLI) -> None:
    ran = cli("--help")
    assert ran.code == 0
    for text in ("subscriptions", "sequences", "fake-server", "demo", "exit codes", "130"):
        assert text in ran.out
    # The commands by their names: `get`, not "read".
    assert "list, export, changes, get, pause, resume" in ran.out
    assert "list, get" in ran.out
    assert "(default: 5)" in ran.out  # --max-retries
    timeout = make_timeout(None)  # the client's default, which the help restates
    assert timeout.total is not None
    assert timeout.connect is not None
    assert f"(default: {timeout.total:g}, of which {timeout.connect:g} to connect)" in ran.out


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (
            ["subscriptions", "export", "--help"],
            ["--concurrency N   requests in flight (default: 10)"],
        ),
        (["subscriptions", "list", "--help"], ["(default: table)"]),
        (
            ["demo", "--help"],
            ["leads to export (default: 1500)", "seed of the fake's data (default: 1)"],
        ),
    ],
)
def test_help_shows_the_defaults(cli: CLI, args: list[str], shown: list[str]) -> None:
    ran = cli(*args)
    assert ran.code == 0
    text = " ".join(ran.out.split())
    for part in shown:
        assert " ".join(part.split()) in text
    assert "(default: None)" not in text


@pytest.mark.parametrize(
    "args",
    [
        ["subscriptions", "--help"],
        ["subscriptions", "export", "--help"],
        ["sequences", "get", "--help"],
        ["fake-server", "--help"],
        ["demo", "--help"],
    ],
)
def test_every_command_has_help(cli: CLI, args: list[str]) -> None:
    ran = cli(*args)
    assert ran.code == 0
    assert ran.out.startswith("usage: close-async")


def test_version(cli: CLI) -> None:
    ran = cli("--version")
    assert (ran.code, ran.out.strip()) == (0, f"close-async {__version__}")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nonsense"],
        ["subscriptions"],
        ["subscriptions", "list"],
        ["subscriptions", "list", "--lead-id", "lead_1", "--contact-id", "cont_1"],
        ["subscriptions", "list", "--lead-id", "lead/1"],
        ["subscriptions", "list", "--lead-id", "lead_1", "--format", "xml"],
        ["subscriptions", "list", "--lead-id", "lead_1", "--limit", "-1"],
        ["subscriptions", "get"],
        ["subscriptions", "get", "sub 1"],
        ["subscriptions", "export", "--out", "x.jsonl"],
        ["subscriptions", "export", "--lead-ids", "ids.txt"],
        ["subscriptions", "export", "--lead-ids", "a", "--out", "b", "--concurrency", "0"],
        ["subscriptions", "export", "--lead-ids", "a", "--out", "b", "--format", "xml"],
        ["--timeout", "soon", "sequences", "list"],
        ["--max-retries", "-1", "sequences", "list"],
        ["demo", "--leads", "0"],
        ["subscriptions", "changes", "--since", "2024-05-01T00:00:00Z", "--interval", "0"],
        ["subscriptions", "changes", "--since", "2024-05-01T00:00:00Z", "--interval", "nan"],
    ],
)
def test_bad_arguments_are_usage_errors(cli: CLI, args: list[str]) -> None:
    # One useful line and where to find help, not the whole usage block.
    ran = cli(*args)
    assert ran.code == 2
    error, hint = ran.err.splitlines()
    assert error.startswith("close-async")
    assert ": error: " in error
    command = error.split(": error: ")[0]
    assert hint == f"Try '{command} --help' for more."


@pytest.mark.parametrize(
    "args",
    [
        ["subscriptions", "get", ".."],
        ["subscriptions", "pause", "."],
        ["sequences", "get", ".."],
        ["subscriptions", "list", "--lead-id", "."],
    ],
)
def test_dot_segment_ids_are_refused_before_any_request(
    cli: CLI, env: FakeClose, args: list[str]
) -> None:
    ran = cli(*args)
    assert ran.code == 2
    assert "dot segment" in ran.err
    assert env.stats.requests == 0


def test_no_api_key_is_a_usage_error_naming_where_to_put_it(
    cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOSE_API_KEY", raising=False)
    ran = cli("subscriptions", "get", "sub_1")
    assert ran.code == 2
    assert "CLOSE_API_KEY" in ran.err
    assert "--api-key" in ran.err
    assert "usage:" not in ran.err


def test_a_plain_http_base_url_is_refused(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", "key")
    ran = cli("--base-url", "http://api.example.com/api/v1/", "sequences", "list")
    assert ran.code == 2
    assert "https" in ran.err


def test_a_wrong_key_is_one_line_exit_3_and_never_printed(cli: CLI, env: FakeClose) -> None:
    ran = cli("--api-key", WRONG_KEY, "sequences", "list")
    assert ran.code == 3
    assert ran.out == ""
    assert ran.err.count("\n") == 1
    assert ran.err.startswith("close-async: error: GET sequence/ -> 401")
    assert WRONG_KEY not in ran.err
    # In command-line terms: the option and the variable, not the Python argument.
    assert "Check the API key: --api-key or CLOSE_API_KEY" in ran.err
    assert "api_key=" not in ran.err


def test_options_may_follow_the_command(cli: CLI, env: FakeClose) -> None:
    ran = cli("sequences", "list", "--api-key", WRONG_KEY)
    assert ran.code == 3
    assert "401" in ran.err


def test_an_option_before_the_command_is_kept(cli: CLI, env: FakeClose) -> None:
    # The copy of --api-key after the command must not reset the one given before it.
    ran = cli("--api-key", WRONG_KEY, "sequences", "list", "--limit", "1")
    assert ran.code == 3


def test_the_base_url_option_beats_the_environment(
    cli: CLI, fake: FakeClose, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", fake.api_key)
    monkeypatch.setenv("CLOSE_BASE_URL", "http://127.0.0.1:9/api/v1/")  # nothing listens
    ran = cli("--base-url", fake.url, "sequences", "list", "--format", "jsonl")
    assert ran.code == 0
    assert len(ran.out.splitlines()) == len(fake.state.sequences())


def test_a_connection_error_is_exit_3(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", "key")
    monkeypatch.setenv("CLOSE_BASE_URL", "http://127.0.0.1:9/api/v1/")  # the discard port
    ran = cli("--max-retries", "0", "sequences", "get", "seq_1")
    assert ran.code == 3
    assert ran.err.startswith("close-async: error: ")
    assert ran.err.count("\n") == 1
    assert "--base-url or CLOSE_BASE_URL (now http://127.0.0.1:9/api/v1/)" in ran.err
    assert "base_url" not in ran.err


def test_a_404_on_a_list_points_at_the_base_url(
    cli: CLI, fake: FakeClose, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSE_API_KEY", fake.api_key)
    wrong_root = fake.url.removesuffix("api/v1/")
    ran = cli("--base-url", wrong_root, "sequences", "list")
    assert ran.code == 3
    assert "404" in ran.err
    assert f"ends in /api/v1/: --base-url or CLOSE_BASE_URL (now {wrong_root})" in ran.err
    # A 404 on one ID is a missing object, not a wrong URL.
    monkeypatch.setenv("CLOSE_BASE_URL", fake.url)
    missing = cli("sequences", "get", "seq_missing")
    assert missing.code == 3
    assert "Check the ID" in missing.err
    assert "/api/v1/" not in missing.err.split("404")[1]


def test_the_first_retry_is_reported_once_without_verbose(cli: CLI, env: FakeClose) -> None:
    sub = env.state.subscriptions()[0]
    env.inject("GET", "sequence_subscription", ["503", "503"])  # two retries, one notice
    ran = cli("subscriptions", "get", sub["id"])
    assert ran.code == 0
    notices = [line for line in ran.err.splitlines() if "etrying" in line]
    assert len(notices) == 1, ran.err
    assert notices[0].startswith(f"close-async: Retrying GET sequence_subscription/{sub['id']}/")
    assert "503" in notices[0]
    assert "-v shows every retry" in notices[0]
    again = cli("subscriptions", "get", sub["id"])  # a run without retries says nothing
    assert again.err == ""


def test_verbose_logs_retries_to_stderr(cli: CLI, env: FakeClose) -> None:
    sub = env.state.subscriptions()[0]
    env.inject("GET", "sequence_subscription", ["503"])
    ran = cli("-v", "subscriptions", "get", sub["id"])
    assert ran.code == 0
    assert "close-async: INFO: " in ran.err
    assert env.api_key not in ran.err
    assert env.api_key not in ran.out


def test_a_server_error_after_retries_is_exit_3(cli: CLI, env: FakeClose) -> None:
    env.inject("GET", "sequence", [Fault.response(500)])
    ran = cli("sequences", "list")
    assert ran.code == 3
    assert "500" in ran.err


def test_fake_server_writes_its_lead_ids(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[FakeClose] = []

    async def serve(fake: FakeClose) -> None:  # instead of serving until Ctrl-C
        served.append(fake)

    monkeypatch.setattr(fake_cli, "serve", serve)
    ids = tmp_path / "leads.txt"
    ran = cli("fake-server", "--leads", "7", "--seed", "3", "--write-ids", ids)
    assert ran.code == 0
    expected = [lead.id for lead in FakeClose(leads=7, seed=3).state.leads()]
    assert ids.read_text(encoding="utf-8").splitlines() == expected
    assert [lead.id for lead in served[0].state.leads()] == expected


def test_fake_server_refuses_bad_options(cli: CLI) -> None:
    ran = cli("fake-server", "--latency", "-1")
    assert ran.code == 2
    assert "latency" in ran.err


def test_an_endless_timeout_is_refused_in_command_line_terms(cli: CLI) -> None:
    ran = cli("--api-key", "k", "--timeout", "inf", "sequences", "list")
    assert ran.code == 2
    assert "--timeout" in ran.err
    assert "finite" in ran.err
    assert "aiohttp" not in ran.err  # advice for Python callers, not on the command line
