"""The benchmark suite's one command still works end to end: ``benchmarks/run.py --smoke``.

It starts fake servers and client processes for every case and writes the report. Smoke
sizes are tiny, so no number is checked against a goal (speed belongs to the benchmarks,
not the tests); only that every case ran, counted requests and subscriptions, and
computed its ratios.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
}
ORJSON_ROWS = {"ours (orjson)", "bare (orjson)"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """Run the smoke benchmark once; return the JSON results and the markdown report."""
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    return results, (out / "latest.md").read_text(encoding="utf-8")


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
