"""The benchmark suite's one command still works end to end: ``benchmarks/run.py --smoke``.

It starts fake servers and client processes for every case and writes the report, in the
background while the rest of the suite runs (see ``Background``). Smoke sizes are tiny, so
no number is checked against a goal (speed belongs to the benchmarks, not the tests); only
that every case ran, counted requests and subscriptions, and computed its ratios.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
CASES = {
    "a": {"ours", "official", "bare"},
    "b": {"ours", "official"},
    "c": {"ours (prefetch 8)", "ours (prefetch=1)"},
    "d": {"ours (json)", "bare (json)"},  # + "ours (orjson)", "bare (orjson)" if installed
    "e": None,  # two runs of ours, labelled with their input sizes
    "f": {"per ID", "by sequence", "auto", "list_all"},
    "g": {"every field", "fields=id,lead_id,status"},
}
ORJSON_ROWS = {"ours (orjson)", "bare (orjson)"}


class Background:
    """The smoke run, started while pytest collects (when a test of this module is selected)
    so that it overlaps the rest of the suite: it is mostly processes starting and waiting
    on loopback, some 10 s that the suite used to spend waiting for it alone."""

    process: subprocess.Popen[str] | None = None
    out: Path | None = None

    @classmethod
    def start(cls, items: Sequence[pytest.Item] | None = None) -> None:
        """Start the run (once), if ``items`` is None or holds a test of this module."""
        if cls.process is not None:
            return
        if items is not None and not any(cls.owns(item) for item in items):
            return
        cls.out = Path(tempfile.mkdtemp(prefix="close-bench-smoke-"))
        cls.process = subprocess.Popen(
            [sys.executable, str(RUN), "--smoke", "--no-pin", "--out", str(cls.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    @staticmethod
    def owns(item: pytest.Item) -> bool:
        """Whether ``item`` is a test of this module (which waits for the run)."""
        return item.path == Path(__file__)

    @classmethod
    def stop(cls) -> None:
        """Stop the run if it is still going (an interrupted session); remove its output."""
        if cls.process is not None and cls.process.poll() is None:
            cls.process.kill()
            cls.process.communicate()
        if cls.out is not None:
            shutil.rmtree(cls.out, ignore_errors=True)


@pytest.fixture(scope="module")
def smoke() -> tuple[dict[str, Any], str]:
    """Wait for the smoke benchmark; return the JSON results and the markdown report."""
    Background.start()  # a no-op when collection started it
    assert Background.process is not None
    assert Background.out is not None
    _, err = Background.process.communicate(timeout=120)
    assert Background.process.returncode == 0, err[-4000:]
    results = json.loads((Background.out / "latest.json").read_text(encoding="utf-8"))
    return results, (Background.out / "latest.md").read_text(encoding="utf-8")


def test_every_case_ran(smoke: tuple[dict[str, Any], str]) -> None:
    results, report = smoke
    assert set(results["cases"]) == set(CASES)
    for name, clients in CASES.items():
        case = results["cases"][name]
        assert set(case) >= {"title", "setup", "rows", "ratios", "goals", "table"}
        if clients is None:
            assert len(case["rows"]) == 2
        elif name == "d":
            assert clients <= set(case["rows"]) <= clients | ORJSON_ROWS
        else:
            assert set(case["rows"]) == clients
        assert case["title"] in report


def test_every_run_counted_its_work(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    for name, case in results["cases"].items():
        for label, row in case["rows"].items():
            where = f"case {name}, {label}"
            assert "error" not in row, f"{where}: {row['error']}"
            assert row["requests"] > 0, where
            assert row["subscriptions"] > 0, where
            for key in ("wall_s", "cpu_s", "peak_rss_kb", "server_cpu_s", "process_cpu_s"):
                assert isinstance(row[key], int | float), f"{where}: {key}"


def test_every_ratio_was_computed(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    expected = {
        "a": {"wall ours/official", "cpu ours/official", "wall ours/bare", "cpu ours/bare"},
        "b": {"wall/ideal ours", "wall/ideal official", "429 share ours", "429 share official"},
        "c": {"speed-up", "extra requests"},
        "d": {"cpu per sub ours/bare (json)"},  # more with orjson
        "e": {"peak RSS large/small"},
        "f": {"requests per ID/auto", "wall/ideal auto"},
        "g": {"bytes per sub fields/full", "cpu per sub fields/full"},
    }
    for name, keys in expected.items():
        ratios = results["cases"][name]["ratios"]
        assert set(ratios) >= keys, name
        for key, value in ratios.items():
            assert isinstance(value, int | float), f"case {name}: {key} = {value!r}"
    for row in results["cases"]["d"]["rows"].values():
        assert row["cpu_ms_per_1000_subs"] > 0


def test_the_report_names_the_machine(smoke: tuple[dict[str, Any], str]) -> None:
    results, report = smoke
    meta = results["meta"]
    for key in ("date", "cpu", "cores", "python", "aiohttp", "close_async", "closeio"):
        assert meta[key], key
    assert meta["profile"] == "smoke"
    assert meta["cpu"] in report
