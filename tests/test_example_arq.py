"""``examples/arq_worker.py`` runs: two arq worker processes, one API key, the Redis gate.

The jobs are enqueued with the example's own ``enqueue``; two workers run them in burst mode
(they exit once the queue is empty) against a rate-limited fake Close served by this test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from arq import create_pool
from arq.jobs import Job

from close_async.testing import FakeClose

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "arq_worker.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("arq_worker_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_arq_workers_list_every_lead_at_the_shared_limit(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeClose(leads=100, seed=6, rate_limit=20, rate_window=0.1) as fake:
        settings = {
            "REDIS_URL": redis_url,
            "CLOSE_API_KEY": fake.api_key,
            "CLOSE_BASE_URL": fake.url,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        example = load_example()
        monkeypatch.setattr(example, "JOB_SIZE", 20)  # five jobs, for two workers
        ids = [lead.id for lead in fake.state.leads()]
        job_ids = await example.enqueue(ids)
        assert len(job_ids) == 5
        workers = [
            await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "arq", "--burst", "examples.arq_worker.WorkerSettings"),
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for worker in workers:
            _, errors = await asyncio.wait_for(worker.communicate(), 60)  # the fake serves
            assert worker.returncode == 0, errors.decode()[-2000:]
        redis = await create_pool(example.REDIS)
        try:
            results = [await Job(job_id, redis).result(timeout=5) for job_id in job_ids]
        finally:
            await redis.aclose()
        assert sum(r["leads"] for r in results) == len(ids)
        assert all(r["failed"] == {} for r in results)
        assert sum(r["subscriptions"] for r in results) == len(fake.state.subscriptions())
        assert fake.stats.rate_limited <= fake.stats.requests // 100  # under 1%
