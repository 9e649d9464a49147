"""The fake over real HTTP, checked with plain clients (aiohttp and urllib), not close_async's."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from close_async.testing import FakeClose, Fault, FaultRates

StartFake = Callable[..., Awaitable[FakeClose]]
RATELIMIT = re.compile(r"^limit=(\d+), remaining=(\d+), reset=(\d+(?:\.\d{1,3})?)$")
SUBS = "sequence_subscription/"


class Reply(NamedTuple):
    status: int
    headers: CIMultiDictProxy[str]
    body: Any


async def call(
    http: aiohttp.ClientSession,
    fake: FakeClose,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    authorization: str | None = "default",
    timeout: float = 10.0,
    **params: str,
) -> Reply:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = (
            fake.authorization if authorization == "default" else authorization
        )
    async with http.request(
        method,
        fake.url + path,
        params=params,
        json=json_body,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        text = await response.text()
        is_json = response.content_type == "application/json"
        return Reply(response.status, response.headers, json.loads(text) if is_json else text)


def ratelimit(reply: Reply) -> tuple[int, int, float]:
    match = RATELIMIT.match(reply.headers["RateLimit"])
    assert match, reply.headers["RateLimit"]
    return int(match[1]), int(match[2]), float(match[3])


def heavy_lead(fake: FakeClose) -> tuple[str, int]:
    counts = {
        lead.id: len(fake.state.subscriptions(lead_id=lead.id)) for lead in fake.state.leads()
    }
    lead_id = max(counts, key=lambda i: counts[i])
    return lead_id, counts[lead_id]


def subscribe_body(fake: FakeClose, contact_id: str) -> dict[str, Any]:
    user = fake.state.default_user
    return {
        "sequence_id": fake.state.sequences()[0]["id"],
        "contact_id": contact_id,
        "contact_email": "ada@example.com",
        "sender_account_id": user.email_account_id,
        "sender_email": user.email,
        "sender_name": user.name,
    }


def is_running(fake: FakeClose) -> bool:
    # A function, so that mypy does not carry `fake.running` narrowing across `async with`.
    return fake.running


# Lifecycle ----------------------------------------------------------------------------------


async def test_async_with_serves_on_a_free_loopback_port() -> None:
    fake = FakeClose()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.url
    async with fake as running:
        assert running is fake
        assert is_running(fake)
        assert fake.port > 0
        assert fake.url == f"http://127.0.0.1:{fake.port}/api/v1/"
        assert fake.url in repr(fake)
        with pytest.raises(RuntimeError, match="already running"):
            await fake.start()
    assert not is_running(fake)
    assert "not running" in repr(fake)
    await fake.close()  # Closing twice is harmless.


async def test_start_and_close_without_a_context_manager(http: aiohttp.ClientSession) -> None:
    fake = FakeClose(sequences=1)
    await fake.start()
    try:
        assert (await call(http, fake, "GET", "sequence/")).status == 200
    finally:
        await fake.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ratelimit_separator": "|"},
        {"latency": -1},
        {"endpoint_latency": {"GET sequence": -0.1}},
        {"endpoint_latency": {"GET lead": 0.1}},
        {"endpoint_faults": {"PATCH sequence": FaultRates()}},
        {"port": 70000},
        {"stall_seconds": -1},
        {"rate_limit": 0},
        {"storm_seconds": 0},
        {"max_skip": -1},
        {"max_skip": 1.5},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each option has its own message.
        FakeClose(**kwargs)


# Auth -----------------------------------------------------------------------------------------


async def test_basic_and_bearer_auth(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(oauth_token="token-1")
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    assert (
        await call(http, fake, "GET", "sequence/", authorization="Bearer token-1")
    ).status == 200
    # Other spellings of the same credentials.
    assert (
        await call(http, fake, "GET", "sequence/", authorization="bearer  token-1")
    ).status == 200
    with_password = "Basic " + base64.b64encode(b"fake-close-api-key:x").decode()
    assert (await call(http, fake, "GET", "sequence/", authorization=with_password)).status == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic d3Jvbmc6", "Bearer wrong", "Basic !!!", "Token fake-close-api-key"],
)
async def test_wrong_credentials_get_401(
    start_fake: StartFake, http: aiohttp.ClientSession, authorization: str | None
) -> None:
    fake = await start_fake()
    reply = await call(http, fake, "GET", SUBS, authorization=authorization, lead_id="lead_x")
    assert reply.status == 401
    assert reply.body == {"error": "Invalid API key or OAuth token."}
    assert ratelimit(reply)[1] == ratelimit(reply)[0]  # Nothing counted against a window.
    assert fake.stats.by_api_key == {}


async def test_oauth_can_be_disabled(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(oauth_token=None)
    reply = await call(
        http, fake, "GET", "sequence/", authorization="Bearer fake-close-oauth-token"
    )
    assert reply.status == 401


# Endpoints and state ------------------------------------------------------------------------


async def test_subscription_crud_is_visible_to_later_reads(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=5, seed=1)
    lead = fake.add_lead(name="HTTP lead")
    contact = fake.add_contact(lead.id, name="Ada", emails=["ada@example.com"])
    created = await call(http, fake, "POST", SUBS, json_body=subscribe_body(fake, contact.id))
    assert created.status == 201
    sub = created.body
    assert created.headers["Location"] == f"{fake.url}sequence_subscription/{sub['id']}/"
    assert (sub["lead_id"], sub["contact_id"], sub["status"]) == (lead.id, contact.id, "active")

    listed = await call(http, fake, "GET", SUBS, lead_id=lead.id)
    assert listed.body == {"data": [sub], "has_more": False}

    paused = await call(http, fake, "PUT", f"{SUBS}{sub['id']}/", json_body={"status": "paused"})
    assert (paused.status, paused.body["status_reason"]) == (200, "manual")
    fetched = await call(http, fake, "GET", f"{SUBS}{sub['id']}")
    assert fetched.body == paused.body
    assert fake.state.subscription(sub["id"])["status"] == "paused"  # type: ignore[index]

    again = await call(http, fake, "POST", SUBS, json_body=subscribe_body(fake, contact.id))
    assert again.status == 400
    assert again.body["field-errors"] == {}

    deleted = await call(http, fake, "DELETE", f"{SUBS}{sub['id']}/")
    assert (deleted.status, deleted.body) == (200, {})
    assert (await call(http, fake, "GET", f"{SUBS}{sub['id']}/")).status == 404
    assert (await call(http, fake, "GET", SUBS, lead_id=lead.id)).body["data"] == []


async def test_list_filters_are_anded(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(leads=60, seed=4)
    lead_id, _ = heavy_lead(fake)
    seq = fake.state.sequences()[0]["id"]
    expected = [s["id"] for s in fake.state.subscriptions(lead_id=lead_id, sequence_id=seq)]
    reply = await call(http, fake, "GET", SUBS, lead_id=lead_id, sequence_id=seq)
    assert [s["id"] for s in reply.body["data"]] == expected
    assert all(s["lead_id"] == lead_id and s["sequence_id"] == seq for s in reply.body["data"])


async def test_pages_of_a_lead_with_more_than_100_subscriptions(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=60, seed=3)
    lead_id, total = heavy_lead(fake)
    assert total > 100
    seen: list[str] = []
    pages = 0
    while True:
        reply = await call(http, fake, "GET", SUBS, lead_id=lead_id, _skip=str(len(seen)))
        pages += 1
        seen += [s["id"] for s in reply.body["data"]]
        if not reply.body["has_more"]:
            break
        assert len(reply.body["data"]) == 100
    assert pages == -(-total // 100)
    assert seen == [s["id"] for s in fake.state.subscriptions(lead_id=lead_id)]
    assert len(set(seen)) == total


async def test_a_60_page_list_added_with_add_subscriptions(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(sequences=10)
    assert len(fake.add_subscriptions(lead_id="lead_long", count=6000)) == 6000
    last = await call(http, fake, "GET", SUBS, lead_id="lead_long", _skip="5900", _limit="100")
    before_last = await call(http, fake, "GET", SUBS, lead_id="lead_long", _skip="5800")
    assert (len(last.body["data"]), last.body["has_more"]) == (100, False)
    assert before_last.body["has_more"] is True


async def test_bad_queries_unknown_paths_and_methods(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=3)
    lead = fake.state.leads()[0].id
    no_filter = await call(http, fake, "GET", SUBS)
    assert (no_filter.status, set(no_filter.body)) == (400, {"error"})
    too_many = await call(http, fake, "GET", SUBS, lead_id=lead, _limit="101")
    assert too_many.status == 400
    assert (await call(http, fake, "GET", SUBS, lead_id=lead, _skip="-1")).status == 400
    unknown_lead = await call(http, fake, "GET", SUBS, lead_id="lead_nope", whatever="1")
    assert (unknown_lead.status, unknown_lead.body) == (200, {"data": [], "has_more": False})
    for path in ("lead/", "sequence/seq_x/steps/", "bulk_action/"):
        reply = await call(http, fake, "GET", path)
        assert (reply.status, set(reply.body)) == (404, {"error"})
    assert (await call(http, fake, "GET", "sequence/seq_nope/")).status == 404
    assert (await call(http, fake, "PATCH", "sequence/")).status == 405
    assert (await call(http, fake, "GET", "sequence")).status == 200


async def test_sequences_over_http(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(leads=40, sequences=3, seed=2)
    listed = await call(http, fake, "GET", "sequence/", _limit="2")
    assert (len(listed.body["data"]), listed.body["has_more"]) == (2, True)
    seq = listed.body["data"][0]
    assert "subscription_counts_by_status" not in seq
    one = await call(http, fake, "GET", f"sequence/{seq['id']}/")
    counts = one.body.pop("subscription_counts_by_status")
    assert one.body == seq
    assert sum(counts.values()) == len(fake.state.subscriptions(sequence_id=seq["id"]))
    created = await call(
        http, fake, "POST", "sequence/", json_body={"name": "New", "timezone": "UTC"}
    )
    assert created.status == 200
    updated = await call(
        http, fake, "PUT", f"sequence/{created.body['id']}/", json_body={"status": "paused"}
    )
    assert (updated.body["status"], updated.body["name"]) == ("paused", "New")
    assert (await call(http, fake, "DELETE", f"sequence/{created.body['id']}/")).body == {}


async def test_records_added_directly_are_served(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(sequences=0)
    seq = fake.add_sequence(
        name="Direct", status="paused", timezone="Asia/Tokyo", steps=[{"delay": 0}]
    )
    assert (seq["name"], seq["status"], seq["timezone"], len(seq["steps"])) == (
        "Direct",
        "paused",
        "Asia/Tokyo",
        1,
    )
    lead = fake.add_lead(lead_id="lead_direct", contacts=2)
    sub = fake.add_subscription(
        sequence_id=seq["id"], contact_id=lead.contacts[1].id, status="paused"
    )
    listed = await call(http, fake, "GET", SUBS, lead_id="lead_direct")
    assert [s["id"] for s in listed.body["data"]] == [sub["id"]]
    one = await call(http, fake, "GET", f"sequence/{seq['id']}/")
    assert one.body["subscription_counts_by_status"]["paused"] == 1


async def test_bulk_action_progresses_and_applies_its_effect(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=30, sequences=2, seed=6, bulk_action_seconds=0.05)
    seq = fake.state.sequences()[0]["id"]
    active = [s["id"] for s in fake.state.subscriptions(sequence_id=seq) if s["status"] == "active"]
    created = await call(
        http,
        fake,
        "POST",
        "bulk_action/sequence_subscription/",
        json_body={"action_type": "pause", "sequence_id": seq},
    )
    assert (created.status, created.body["status"]) == (200, "created")
    path = f"bulk_action/sequence_subscription/{created.body['id']}/"
    for _ in range(500):
        action = (await call(http, fake, "GET", path)).body
        if action["status"] == "done":
            break
        assert action["status"] in ("created", "processing")
        await asyncio.sleep(0.01)
    assert (action["status"], action["n_objects_processed"]) == ("done", len(active))
    assert all(fake.state.subscription(i)["status"] == "paused" for i in active)  # type: ignore[index]
    listed = await call(http, fake, "GET", "bulk_action/sequence_subscription/")
    assert [b["id"] for b in listed.body["data"]] == [created.body["id"]]


async def test_closing_with_a_bulk_action_pending(start_fake: StartFake) -> None:
    fake = await start_fake(bulk_action_seconds=60)
    async with aiohttp.ClientSession() as http:
        reply = await call(
            http,
            fake,
            "POST",
            "bulk_action/sequence_subscription/",
            json_body={"action_type": "pause"},
        )
    await fake.close()
    assert fake.state.bulk_action(reply.body["id"])["status"] == "created"  # type: ignore[index]


async def test_concurrent_requests(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(leads=50, latency=0.005)
    leads = [lead.id for lead in fake.state.leads()]
    replies = await asyncio.gather(
        *(call(http, fake, "GET", SUBS, lead_id=lead) for lead in leads * 4)
    )
    assert {r.status for r in replies} == {200}
    assert fake.stats.requests == fake.stats.responses[200] == 200


async def test_urllib_client(start_fake: StartFake, urllib_call: Callable[..., Any]) -> None:
    fake = await start_fake(leads=10, seed=9)
    contact = fake.state.leads()[0].contacts[0]
    body = subscribe_body(fake, contact.id) | {"contact_email": contact.emails[0]}
    listed = await asyncio.to_thread(
        urllib_call, f"{fake.url}{SUBS}?contact_id={contact.id}", authorization=fake.authorization
    )
    assert listed.status == 200
    assert listed.headers["Content-Type"].startswith("application/json")
    if any(s["sequence_id"] == body["sequence_id"] for s in listed.body["data"]):
        body["sequence_id"] = fake.add_sequence(name="Fresh")["id"]
    created = await asyncio.to_thread(
        urllib_call,
        fake.url + SUBS,
        method="POST",
        json_body=body,
        authorization=f"Bearer {fake.oauth_token}",
    )
    assert created.status == 201
    missing = await asyncio.to_thread(
        urllib_call, fake.url + SUBS, method="POST", json_body={}, authorization=fake.authorization
    )
    assert missing.status == 400
    assert missing.body["field-errors"]["sequence_id"] == "This field is required."
    unauthorized = await asyncio.to_thread(urllib_call, fake.url + "sequence/")
    assert unauthorized.status == 401


# Rate limits --------------------------------------------------------------------------------


async def test_every_answer_carries_a_ratelimit_header(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=2, rate_limit=50, rate_window=60)
    replies = [
        await call(http, fake, "GET", "sequence/"),
        await call(http, fake, "GET", SUBS),
        await call(http, fake, "GET", "lead/"),
        await call(http, fake, "GET", "sequence/", authorization=None),
        await call(http, fake, "PATCH", "sequence/"),
        await call(http, fake, "POST", SUBS, json_body={}),
    ]
    assert [r.status for r in replies] == [200, 400, 404, 401, 405, 400]
    for reply in replies:
        limit, remaining, reset = ratelimit(reply)
        assert limit == 50
        assert remaining <= 50
        assert 0 < reset <= 60


async def test_semicolon_separator(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(rate_limit=7, ratelimit_separator=";")
    reply = await call(http, fake, "GET", "sequence/")
    assert re.match(r"^limit=7; remaining=6; reset=[\d.]+$", reply.headers["RateLimit"])


async def test_unlimited_still_sends_the_header(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake()
    first, second = [await call(http, fake, "GET", "sequence/") for _ in range(2)]
    assert ratelimit(first)[:2] == (1_000_000, 999_999)
    assert ratelimit(second)[:2] == (1_000_000, 999_998)


async def test_rate_limit_per_key_and_group(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=2, rate_limit=2, rate_window=60)
    lead = fake.state.leads()[0].id
    ok = [await call(http, fake, "GET", SUBS, lead_id=lead) for _ in range(2)]
    assert [ratelimit(r)[1] for r in ok] == [1, 0]
    # The fetch of one subscription is in the same group as the list.
    refused = [
        await call(http, fake, "GET", SUBS, lead_id=lead),
        await call(http, fake, "GET", f"{SUBS}sub_x/"),
    ]
    for reply in refused:
        assert reply.status == 429
        limit, remaining, reset = ratelimit(reply)
        assert (limit, remaining) == (2, 0)
        assert reply.headers["Retry-After"] == "60"
        assert reply.body["error"]["message"] == (
            "API call count exceeded for this period (API key limit, endpoint group "
            "GET sequence_subscription)"
        )
        assert reply.body["error"]["rate_limit_type"] == "api_key"
        assert (reply.body["error"]["rate_limit"], reply.body["error"]["rate_window"]) == (2, 60)
        assert 59 < reset <= 60
    # Another group, and another key, have their own windows.
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    assert (await call(http, fake, "POST", SUBS, json_body={})).status == 400
    fake.add_api_key("second-key")
    second = "Basic " + base64.b64encode(b"second-key:").decode()
    assert (await call(http, fake, "GET", SUBS, lead_id=lead, authorization=second)).status == 200
    assert fake.stats.rate_limited == 2
    assert fake.stats.rate_limited_by == {"api_key": 2}
    assert fake.stats.responses[429] == 2


async def test_the_organization_limit_spans_all_keys(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    keys = ["key-a", "key-b", "key-c"]
    fake = await start_fake(
        api_key=keys[0], api_keys=keys[1:], rate_limit=3, organization_rate_limit=5, rate_window=60
    )
    auth = {key: "Basic " + base64.b64encode(f"{key}:".encode()).decode() for key in keys}

    async def get(key: str, path: str = "sequence/") -> Reply:
        return await call(http, fake, "GET", path, authorization=auth[key])

    a = [await get("key-a") for _ in range(3)]
    b = [await get("key-b") for _ in range(2)]
    assert [r.status for r in a + b] == [200] * 5
    # The header describes the limit with the fewest requests left: the key's, then the
    # organization's once it has fewer left.
    assert [ratelimit(r)[:2] for r in a] == [(3, 2), (3, 1), (3, 0)]
    assert [ratelimit(r)[:2] for r in b] == [(5, 1), (5, 0)]
    refused = await get("key-c")  # a key with its whole window left
    assert refused.status == 429
    assert ratelimit(refused)[:2] == (5, 0)
    assert refused.body["error"]["rate_limit_type"] == "organization"
    assert refused.body["error"]["endpoint_group"] == "GET sequence"
    assert "organization limit, endpoint group GET sequence" in refused.body["error"]["message"]
    assert (await get("key-c", "sequence/seq_x/")).status == 429  # fetch: the same group
    assert (await get("key-c", "bulk_action/sequence_subscription/")).status == 200  # another
    over_key = await get("key-a")  # over its own limit too: said first
    assert over_key.body["error"]["rate_limit_type"] == "api_key"
    assert fake.stats.rate_limited_by == {"organization": 2, "api_key": 1}
    assert fake.stats.as_dict()["rate_limited_by"] == {"api_key": 1, "organization": 2}


def test_api_keys_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="api_keys must be a list"):
        FakeClose(api_keys="key-b")


async def test_a_new_window_opens_after_reset(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(rate_limit=1, rate_window=0.2)
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    refused = await call(http, fake, "GET", "sequence/")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    await asyncio.sleep(ratelimit(refused)[2] + 0.02)
    again = await call(http, fake, "GET", "sequence/")
    assert (again.status, ratelimit(again)[1]) == (200, 0)


# Faults -------------------------------------------------------------------------------------


async def test_scripted_faults_in_order_then_normal(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(leads=1, rate_limit=10, rate_window=60)
    lead = fake.state.leads()[0].id
    fake.inject(
        "GET",
        "sequence_subscription",
        [
            "503",
            "502_html",
            Fault.rate_limited(2.5),
            Fault.rate_limited(0.3, ratelimit_header=False),
            Fault.response(403, {"error": "Forbidden"}),
            "429",
        ],
    )
    assert fake.pending_faults("GET", "sequence_subscription") == 6
    # Another group is untouched.
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    replies = [await call(http, fake, "GET", SUBS, lead_id=lead) for _ in range(7)]
    assert [r.status for r in replies] == [503, 502, 429, 429, 403, 429, 200]
    unavailable, bad_gateway, slow_429, bare_429, forbidden, plain_429, ok = replies
    assert unavailable.body == {"error": "Service unavailable"}
    assert bad_gateway.headers["Content-Type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in bad_gateway.body
    assert ratelimit(slow_429)[1:] == (0, 2.5)
    assert slow_429.headers["Retry-After"] == "3"
    assert "RateLimit" not in bare_429.headers
    assert bare_429.headers["Retry-After"] == "1"
    assert forbidden.body == {"error": "Forbidden"}
    assert ratelimit(plain_429)[2] == 0.1
    assert ok.body["data"]
    # The 503, 502 and 403 used the window like any answer; the injected 429s did not.
    assert ratelimit(ok)[1] == 10 - 4
    assert fake.pending_faults() == 0
    assert fake.stats.injected_429 == 3
    assert fake.stats.rate_limited == 0
    assert dict(fake.stats.faults) == {"503": 1, "502_html": 1, "429": 3, "response": 1}


async def test_inject_checks_its_arguments(start_fake: StartFake) -> None:
    fake = await start_fake()
    with pytest.raises(TypeError, match=r"\['503'\]"):
        fake.inject("GET", "sequence", "503")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.inject("GET", "sequence", ["504"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="unknown endpoint group"):
        fake.inject("GET", "lead", ["503"])
    assert fake.pending_faults() == 0


async def test_a_dropped_connection(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake()
    fake.inject("POST", "sequence", ["drop"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, fake, "POST", "sequence/", json_body={})
    # aiohttp itself resends an idempotent request once after a disconnection: drop it twice.
    fake.inject("GET", "sequence", ["drop", "drop"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, fake, "GET", "sequence/")
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    assert fake.stats.faults["drop"] == 3
    assert fake.stats.requests == 4
    assert sum(fake.stats.responses.values()) == 1


async def test_a_dropped_connection_seen_by_urllib(
    start_fake: StartFake, urllib_call: Callable[..., Any]
) -> None:
    fake = await start_fake()
    fake.inject("POST", "sequence_subscription/", ["drop"])
    # Closed without an answer: a clean close (RemoteDisconnected) or, when the close races
    # the request's last bytes, a reset; both are "no answer".
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        await asyncio.to_thread(
            urllib_call,
            fake.url + SUBS,
            method="POST",
            json_body={},
            authorization=fake.authorization,
        )


async def test_a_stall_answers_after_stall_seconds(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(stall_seconds=0.05)
    fake.inject("GET", "sequence", ["stall"])
    reply = await call(http, fake, "GET", "sequence/")
    assert reply.status == 200
    assert fake.stats.faults["stall"] == 1


async def test_a_stall_times_the_client_out_and_close_cuts_it_short(
    http: aiohttp.ClientSession,
) -> None:
    fake = FakeClose(stall_seconds=300)
    await fake.start()
    try:
        fake.inject("GET", "sequence", ["stall"])
        with pytest.raises(asyncio.TimeoutError):
            await call(http, fake, "GET", "sequence/", timeout=0.1)
        assert fake.stats.in_flight == 1
    finally:
        # Guard only: close must not wait for the 300 s stall.
        await asyncio.wait_for(fake.close(), 10)
    assert fake.stats.in_flight == 0


async def test_peak_in_flight(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(stall_seconds=300)
    fake.inject("GET", "sequence", ["stall"])
    stalled = asyncio.ensure_future(call(http, fake, "GET", "sequence/"))
    for _ in range(1000):
        if fake.stats.in_flight == 1:
            break
        await asyncio.sleep(0.005)
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    assert fake.stats.peak_in_flight == 2
    stalled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stalled
    fake.reset_stats()
    assert fake.stats.peak_in_flight == fake.stats.in_flight


async def test_a_429_storm_on_one_group(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(storm_seconds=0.3)
    fake.inject("GET", "sequence", ["429_storm"])
    storm = [await call(http, fake, "GET", "sequence/") for _ in range(3)]
    assert [r.status for r in storm] == [429, 429, 429]
    assert all(r.headers["Retry-After"] == "1" and ratelimit(r)[1] == 0 for r in storm)
    assert (await call(http, fake, "POST", "sequence/", json_body={})).status == 400
    await asyncio.sleep(ratelimit(storm[-1])[2] + 0.02)
    assert (await call(http, fake, "GET", "sequence/")).status == 200
    assert fake.stats.faults["429_storm"] == 3
    assert fake.stats.injected_429 == 3


async def test_clear_faults_ends_a_storm(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(storm_seconds=60)
    fake.inject("GET", "sequence", ["429_storm", "503"])
    assert (await call(http, fake, "GET", "sequence/")).status == 429
    fake.clear_faults()
    assert (await call(http, fake, "GET", "sequence/")).status == 200


async def test_random_faults_with_an_endpoint_override(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(
        leads=1,
        faults=FaultRates(fail_503=1.0),
        endpoint_faults={"GET sequence_subscription": FaultRates(fail_502_html=1.0)},
    )
    assert (await call(http, fake, "GET", "sequence/")).status == 503
    reply = await call(http, fake, "GET", SUBS, lead_id="lead_x")
    assert reply.status == 502
    assert fake.stats.faults == {"503": 1, "502_html": 1}


async def test_random_faults_are_reproducible(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    async def statuses(seed: int) -> list[int]:
        fake = await start_fake(seed=seed, faults=FaultRates(fail_503=0.4, fail_502_html=0.2))
        return [(await call(http, fake, "GET", "sequence/")).status for _ in range(30)]

    first = await statuses(5)
    assert first == await statuses(5)
    assert set(first) == {200, 502, 503}


async def test_latency_with_jitter_and_an_endpoint_override(
    start_fake: StartFake, http: aiohttp.ClientSession
) -> None:
    fake = await start_fake(latency=0.01, endpoint_latency={"GET sequence": 0.002})
    replies = await asyncio.gather(*(call(http, fake, "GET", "sequence/") for _ in range(10)))
    assert {r.status for r in replies} == {200}
    assert fake.stats.peak_in_flight >= 1


# Stats --------------------------------------------------------------------------------------


async def test_stats_count_and_reset(start_fake: StartFake, http: aiohttp.ClientSession) -> None:
    fake = await start_fake(leads=1, rate_limit=3, rate_window=60)
    lead = fake.state.leads()[0].id
    for _ in range(4):
        await call(http, fake, "GET", SUBS, lead_id=lead)
    await call(http, fake, "GET", "sequence")
    await call(http, fake, "GET", "sequence/", authorization=None)
    stats = fake.stats
    assert stats.requests == 6
    assert stats.responses == {200: 4, 429: 1, 401: 1}
    assert stats.rate_limited == 1
    assert stats.by_group == {"GET sequence_subscription": 4, "GET sequence": 2}
    assert stats.by_path == {
        "/api/v1/sequence_subscription/": 4,
        "/api/v1/sequence": 1,
        "/api/v1/sequence/": 1,
    }
    assert stats.by_api_key == {fake.api_key: 5}
    assert stats.as_dict()["responses"] == {"200": 4, "401": 1, "429": 1}
    fake.reset_stats()
    assert (stats.requests, stats.rate_limited, stats.peak_in_flight) == (0, 0, 0)
    assert [stats.responses, stats.by_group, stats.by_path, stats.by_api_key] == [{}, {}, {}, {}]
