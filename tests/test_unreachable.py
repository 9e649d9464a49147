"""A dead or wrong host: list_many stops early instead of retrying every ID."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from close_async import APIConnectionError, CloseClient, NotFoundError
from close_async._fanout import UNREACHABLE_AFTER, Reachability
from close_async.testing import FakeClose, Fault


def refused_url() -> str:
    """A loopback URL whose port nothing listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1/"


async def drain(run: AsyncIterator[object]) -> None:
    async for _ in run:
        pass


def refused(sent: bool = False) -> APIConnectionError:
    return APIConnectionError("could not connect", method="GET", path="x/", sent=sent)


def test_three_connect_failures_before_any_answer_stop_the_run() -> None:
    rule = Reachability()
    assert rule.check(refused()) is None
    assert rule.check(refused()) is None
    error = rule.check(refused())
    assert isinstance(error, APIConnectionError)
    assert error.sent is False
    assert "3 IDs failed to connect" in str(error)
    assert "base URL" in str(error)


@pytest.mark.parametrize(
    "answer",
    [None, NotFoundError("404", status=404, method="GET", path="x/"), refused(sent=True)],
    ids=["a success", "an error status", "a dropped connection"],
)
def test_any_answer_turns_the_rule_off(answer: object) -> None:
    rule = Reachability()
    assert rule.check(refused()) is None
    assert rule.check(answer) is None  # type: ignore[arg-type]
    assert all(rule.check(refused()) is None for _ in range(10))


@pytest.mark.parametrize("on_error", ["continue", "raise"])
async def test_a_refused_port_stops_list_many_after_few_requests(on_error: str) -> None:
    ids = [f"lead_{i}" for i in range(200)]
    async with CloseClient("k", base_url=refused_url(), backoff_base=0.001, max_retries=2) as close:
        run = close.sequence_subscriptions.list_many(
            lead_ids=ids,
            concurrency=4,
            on_error=on_error,  # type: ignore[arg-type]
        )
        with pytest.raises(APIConnectionError, match=r"could not connect|failed to connect"):
            await drain(run)
    # At most the IDs the four workers had started when the third one failed, each with
    # its three attempts: never the 600 attempts of all 200 IDs.
    assert run.progress.requests <= (UNREACHABLE_AFTER + 4) * 3
    assert run.progress.ids_done <= UNREACHABLE_AFTER + 4


async def test_failures_after_an_answer_do_not_stop_the_run(fake: FakeClose) -> None:
    """Once Close has answered, an ID's failure is that ID's, as before."""
    ids = [lead.id for lead in fake.state.leads()]
    fake.inject("GET", "sequence_subscription", [Fault.response(404)] * 5)
    async with CloseClient(fake.api_key, base_url=fake.url) as close:
        run = close.sequence_subscriptions.list_many(lead_ids=ids, on_error="continue")
        async for _ in run:
            pass
    assert len(run.failures) == 5
    assert run.progress.ids_done == len(ids)
