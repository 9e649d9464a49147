"""The report: the machine and versions, one markdown table per case, the JSON and .md files.

Versions are read from the installed distributions' metadata, so the runner itself never
imports aiohttp or the clients (it stays small, and out of the clients' way).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from _common import Json
from _procs import ROOT


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` says."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _our_version() -> str:
    # The checkout is what runs (see _procs.child_env), so read its version file.
    text = (ROOT / "close_async" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    return match.group(1) if match else _version("close-async")


def _git() -> str:
    """The commit measured, and whether the library's files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "close_async"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return f"{head} + uncommitted changes to close_async/" if dirty else head


def machine() -> Json:
    """Date, machine and versions, for the report's header."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "aiohttp": _version("aiohttp"),
        "close_async": _our_version(),
        "closeio": _version("closeio"),
        "requests": _version("requests"),
        "orjson": _version("orjson"),
        "commit": _git(),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; empty trailing columns (no errors, say) are left out."""
    width = len(headers)
    while width > 1 and all(str(row[width - 1]) == "" for row in rows):
        width -= 1
    lines = ["| " + " | ".join(headers[:width]) + " |", "|" + "---|" * width]
    for row in rows:
        cells = [str(cell).replace("|", "/") for cell in row[:width]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _verdict(met: object) -> str:
    return "met" if met is True else "MISSED" if met is False else "?"


def _goal_line(goal: Json) -> str:
    line = f"- {goal['measure']}: **{goal['result']}**"
    if goal["target"]:
        line += f" (goal {goal['target']}: {_verdict(goal['met'])})"
    return line


def summary_table(results: Json) -> str:
    """The headline numbers of every case in one table (for the README)."""
    rows = [
        [
            case["title"].split(" ", 1)[0],
            goal["measure"],
            goal["result"],
            goal["target"] or "-",
            _verdict(goal["met"]) if goal["target"] else "",
        ]
        for case in results["cases"].values()
        for goal in case["goals"]
    ]
    return markdown_table(["case", "measure", "result", "goal", "status"], rows)


def render(results: Json) -> str:
    """The whole report as markdown."""
    meta = results["meta"]
    out = [
        "# close_async benchmark results",
        "",
        f"{meta['date']}, `{meta['command']}` ({meta['profile']} sizes)",
        "",
        f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['os']}; Python "
        f"{meta['python']}, aiohttp {meta['aiohttp']}, close_async {meta['close_async']}, "
        f"closeio {meta['closeio']} (requests {meta['requests']}), orjson {meta['orjson']}; "
        f"commit {meta['commit']}.",
        "",
        _placement(meta.get("pinned")),
    ]
    for case in results["cases"].values():
        out += ["", f"## {case['title']}", "", case["setup"] + ".", ""]
        out.append(markdown_table(case["table"]["headers"], case["table"]["rows"]))
        ratios = ", ".join(f"{k} = {_number(v)}" for k, v in case["ratios"].items())
        out += ["", f"Ratios: {ratios}."]
        if case["goals"]:
            out += ["", *(_goal_line(goal) for goal in case["goals"])]
    return "\n".join(out) + "\n"


def _placement(pinned: object) -> str:
    if isinstance(pinned, dict):
        return (
            f"Each run: a fresh fake server pinned to CPU {pinned['server']}, the client in "
            f"its own process pinned to CPU {pinned['client']}."
        )
    return "Each run: a fresh fake server and the client in its own process (not pinned)."


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "-" if value is None else str(value)


README_START = "<!-- results:start (written by run.py --update-readme) -->"
README_END = "<!-- results:end -->"


def readme_section(results: Json, report: str) -> str:
    """The README's results: date, machine and versions, then the headline numbers."""
    meta = results["meta"]
    return "\n".join(
        [
            README_START,
            f"Measured {meta['date']} with `{meta['command']}` on {meta['cpu']}, "
            f"{meta['cores']} cores ({meta['os']}); Python {meta['python']}, aiohttp "
            f"{meta['aiohttp']}, close_async {meta['close_async']} (commit {meta['commit']}), "
            f"closeio {meta['closeio']}, orjson {meta['orjson']}.",
            "",
            summary_table(results),
            "",
            f"Every table: [{report}]({report}).",
            README_END,
        ]
    )


def update_readme(results: Json, readme: Path, report: str) -> None:
    """Replace the results section of ``readme`` (between the markers) with this run's."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme} has no results markers")
    section = readme_section(results, report)
    readme.write_text(text[:start] + section + text[end + len(README_END) :], encoding="utf-8")


def write(results: Json, report: str, out_dir: Path, stem: str = "latest") -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` (the rendered ``report``), atomically: a .tmp
    file, then a rename."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    texts = json.dumps(results, indent=2, sort_keys=True) + "\n", report
    for path, text in zip(paths, texts, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths
