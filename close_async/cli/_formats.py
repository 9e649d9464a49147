"""Render subscriptions and sequences as a table, JSON Lines or CSV.

Every format starts from ``unstructure(model)``: Close's own JSON, with Close's field names
and the fields this release does not know. JSONL keeps all of it. CSV has one fixed column
per model field, in the model's order (unknown fields are left out: a header cannot grow
mid-file), with lists such as ``calls_assigned_to`` joined by ``;`` (Close IDs never contain
one) and ``null`` as an empty cell.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from .. import unstructure
from .._models import SequenceSubscription

__all__ = [
    "LIST_SEPARATOR",
    "SEQUENCE_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "SUBSCRIPTION_TABLE_COLUMNS",
    "TABLE_WIDTH",
    "CsvEncoder",
    "JsonlEncoder",
    "RecordEncoder",
    "csv_cells",
    "encoder_for",
    "export_format",
    "json_text",
    "jsonl_line",
    "sequence_row",
    "subscription_columns",
    "table",
]

LIST_SEPARATOR: Final = ";"

#: The CSV columns: the subscription model's fields, in its order.
SUBSCRIPTION_COLUMNS: Final[tuple[str, ...]] = tuple(
    field.name for field in attrs.fields(SequenceSubscription) if field.name != "extra"
)
SUBSCRIPTION_TABLE_COLUMNS: Final = (
    "id",
    "lead_id",
    "contact_id",
    "sequence_id",
    "status",
    "status_reason",
    "date_created",
)
SEQUENCE_COLUMNS: Final = ("id", "name", "status", "timezone", "steps", "date_created")
#: The most characters a table's line takes.
TABLE_WIDTH: Final = 120
_MIN_COLUMN = 12


def json_text(model: object) -> str:
    """Return a model as indented JSON, for a person to read."""
    return json.dumps(unstructure(model), indent=2, ensure_ascii=False)


def jsonl_line(model: object) -> str:
    """Return a model as one line of compact JSON, newline included."""
    return json.dumps(unstructure(model), ensure_ascii=False, separators=(",", ":")) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(_cell(item) for item in value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)  # numbers, booleans, nested objects


def csv_cells(model: object, columns: Sequence[str] = SUBSCRIPTION_COLUMNS) -> list[str]:
    """Return a model's CSV cells for ``columns``."""
    data = unstructure(model)
    return [_cell(data.get(column)) for column in columns]


class JsonlEncoder:
    """Encode each subscription as one JSON line; no header."""

    header: str | None = None

    def encode(self, model: object) -> str:
        """Return the record's text, newline included."""
        return jsonl_line(model)


class CsvEncoder:
    """Encode each subscription as one CSV row under a fixed header."""

    def __init__(self, columns: Sequence[str] = SUBSCRIPTION_COLUMNS) -> None:
        self.columns = tuple(columns)
        self._buffer = io.StringIO()
        # "\n" rather than csv's "\r\n": a whole record always ends with "\n", which is what
        # a resumed export looks for.
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self.header: str | None = self._row(self.columns)

    def _row(self, cells: Iterable[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(cells)
        return self._buffer.getvalue()

    def encode(self, model: object) -> str:
        """Return the record's row, newline included."""
        return self._row(csv_cells(model, self.columns))


RecordEncoder = JsonlEncoder | CsvEncoder


def export_format(out: Path, fmt: str | None) -> str:
    """Return the export format asked for, else ``csv`` for a ``.csv`` output, else ``jsonl``."""
    if fmt is not None:
        return fmt
    return "csv" if out.suffix.lower() == ".csv" else "jsonl"


def encoder_for(fmt: str, columns: Sequence[str] = SUBSCRIPTION_COLUMNS) -> RecordEncoder:
    """Return the encoder of an export format (``jsonl`` or ``csv``, with ``columns``)."""
    return CsvEncoder(columns) if fmt == "csv" else JsonlEncoder()


def subscription_columns(fields: Collection[str] | None) -> tuple[str, ...]:
    """The CSV columns for records read with ``fields=`` (None: every field), in the model's
    order: a field not asked for has no column, rather than an empty cell that would read
    as null."""
    if fields is None:
        return SUBSCRIPTION_COLUMNS
    return tuple(column for column in SUBSCRIPTION_COLUMNS if column in fields)


def _table_cell(value: Any) -> str:
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        return value[:19].replace("T", " ")  # ISO datetimes, to the second, in UTC
    return _cell(value)


def table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, width: int = TABLE_WIDTH
) -> str:
    """Return rows of JSON values as aligned text columns under a header, ``width`` wide at
    most: the widest columns (Close's IDs are 40-odd characters) are narrowed, and their
    cells cut in the middle (``sub_WzfZ3x…eVHQXH``). JSONL and CSV keep every value whole."""
    lines = [list(columns)] + [[_table_cell(row.get(c)) for c in columns] for row in rows]
    widths = _fit([max(len(line[i]) for line in lines) for i in range(len(columns))], width)
    return "\n".join(
        "  ".join(
            _elide(cell, size).ljust(size) for cell, size in zip(line, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def _fit(widths: list[int], width: int) -> list[int]:
    """Narrow the widest columns, one character at a time, until the line fits ``width``
    (columns stop at ``_MIN_COLUMN``: a table of many columns may stay wider)."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= _MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def _elide(cell: str, size: int) -> str:
    if len(cell) <= size:
        return cell
    tail = (size - 1) // 2
    return f"{cell[: size - 1 - tail]}…{cell[len(cell) - tail :]}"


def sequence_row(model: object) -> dict[str, Any]:
    """Return a sequence's table row: its JSON with ``steps`` as a count."""
    data: dict[str, Any] = unstructure(model)
    return {**data, "steps": str(len(data.get("steps") or ()))}
