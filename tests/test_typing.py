"""The public surface as a type checker sees it (``mypy --strict`` checks this file too).

Each test also runs, but what it guards is its typing: a ``# type: ignore[...]`` below marks
a call that mypy must refuse (strict mode reports an ignore that is not needed), and the
rest must pass as written.
"""

from __future__ import annotations

import contextlib

import pytest

from close_async import (
    ClientOptions,
    CloseClient,
    FanOut,
    Items,
    Sequence,
    SequenceSubscription,
    SyncCloseClient,
)
from close_async.testing import FakeClose


async def test_lists_can_be_closed_with_aclosing(fake: FakeClose, close: CloseClient) -> None:
    # contextlib.aclosing needs an aclose(): list() is typed as returning Items, which has one.
    async with contextlib.aclosing(close.sequences.list()) as sequences:
        first: Sequence = await anext(sequences)
    assert first.id
    lead_id = fake.state.subscriptions()[0]["lead_id"]
    subs: Items[SequenceSubscription] = close.sequence_subscriptions.list(lead_id=lead_id)
    async with contextlib.aclosing(subs):
        assert [sub async for sub in subs]
    async with contextlib.aclosing(close.bulk_actions.sequence_subscriptions.list()) as actions:
        assert [action async for action in actions] == []
    run: FanOut[SequenceSubscription] = close.sequence_subscriptions.list_many(lead_ids=[lead_id])
    async with contextlib.aclosing(run):
        assert [sub async for sub in run]


def test_sync_client_options_are_typed(fake: FakeClose) -> None:
    options: ClientOptions = {"base_url": fake.url, "max_retries": 0}
    with SyncCloseClient(fake.api_key, **options) as close:
        assert close.base_url == fake.url
    with pytest.raises(TypeError, match="max_retry"):
        SyncCloseClient(fake.api_key, base_url=fake.url, max_retry=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="max_retries"):
        SyncCloseClient(fake.api_key, max_retries="3")  # type: ignore[arg-type]
