"""The fake in a background thread, for sync code (and async code on another loop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from close_async.testing import FakeClose


def test_serve_sync_code_from_a_thread(urllib_call: Callable[..., Any]) -> None:
    with FakeClose(leads=20, seed=2).run_in_thread() as fake:
        assert fake.running
        sequences = urllib_call(fake.url + "sequence/", authorization=fake.authorization)
        assert sequences.status == 200
        assert "RateLimit" in sequences.headers
        # Calls from this thread run on the server's loop.
        fake.inject("GET", "sequence", ["503"])
        assert urllib_call(fake.url + "sequence/", authorization=fake.authorization).status == 503
        lead = fake.add_lead(contacts=2)
        sub = fake.add_subscription(
            sequence_id=sequences.body["data"][0]["id"], contact_id=lead.contacts[0].id
        )
        listed = urllib_call(
            f"{fake.url}sequence_subscription/?lead_id={lead.id}", authorization=fake.authorization
        )
        assert [s["id"] for s in listed.body["data"]] == [sub["id"]]
        assert fake.stats.requests == 3
        assert len(fake.call(fake.state.subscriptions, lead_id=lead.id)) == 1
        fake.reset_stats()
        assert fake.stats.requests == 0
    assert not fake.running


def test_errors_on_the_server_thread_reach_the_caller() -> None:
    with FakeClose().run_in_thread() as fake, pytest.raises(ValueError, match="does not exist"):
        fake.add_subscription(sequence_id="seq_nope", contact_id="cont_nope")


def test_leaving_the_thread_cuts_a_stall_short(urllib_call: Callable[..., Any]) -> None:
    with FakeClose(stall_seconds=300).run_in_thread() as fake:
        fake.inject("GET", "sequence", ["stall"])
        with pytest.raises(TimeoutError):
            urllib_call(fake.url + "sequence/", authorization=fake.authorization, timeout=0.2)
        assert fake.stats.in_flight == 1
    assert fake.stats.in_flight == 0


def test_a_port_in_use_fails_in_the_caller() -> None:
    with FakeClose().run_in_thread() as first:
        second = FakeClose(port=first.port)
        with pytest.raises(OSError, match="address"), second.run_in_thread():
            pass
        assert not second.running


async def test_a_threaded_fake_from_async_code() -> None:
    with FakeClose(leads=5).run_in_thread() as fake:
        fake.inject("GET", "sequence", ["429"])
        async with aiohttp.ClientSession(headers={"Authorization": fake.authorization}) as http:
            async with http.get(fake.url + "sequence/") as first:
                assert first.status == 429
            async with http.get(fake.url + "sequence/") as second:
                assert second.status == 200
