"""Reading order history for replay and backtest: JSONL, and CSV exports.

Each record comes out as ``(source, raw)`` where ``source`` is ``file:line``
and ``raw`` is the undecoded JSON line (JSONL) or a mapping (CSV); the caller
decodes and validates so that bad lines are counted, not fatal.

CSV files map their columns to the event contract by name; ``columns`` renames
(contract field -> CSV column).  A row is one order with one item (``sku``,
``quantity``, ``unit_price`` columns) unless an ``items`` column holds the
items as JSON.  Empty cells are missing values.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterator

import orjson

_INTEGER_FIELDS = {"quantity"}
_NUMBER_FIELDS = {"unit_price", "amount"}
_ITEM_FIELDS = ("sku", "quantity", "unit_price")


def total_bytes(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths if p != "-")


def read_records(paths: list[str], columns: dict[str, str] | None = None, counter: list[int] | None = None) -> Iterator[tuple[str, Any]]:
    """Records of every input in order of appearance; ``counter[0]`` tracks bytes read."""
    for path in paths:
        if path.endswith(".csv"):
            yield from _csv_records(path, columns or {}, counter)
        else:
            yield from _jsonl_records(path, counter)


def _jsonl_records(path: str, counter: list[int] | None) -> Iterator[tuple[str, bytes]]:
    stream = os.fdopen(os.dup(0), "rb") if path == "-" else open(path, "rb")
    with stream:
        for number, line in enumerate(stream, 1):
            if counter is not None:
                counter[0] += len(line)
            line = line.strip()
            if line:
                yield f"{path}:{number}", line


def _csv_records(path: str, columns: dict[str, str], counter: list[int] | None) -> Iterator[tuple[str, dict[str, Any] | bytes]]:
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        fields = reader.fieldnames or []
        mapping = {field: columns.get(field, field) for field in _known_fields()}
        missing = [c for c in columns.values() if c not in fields]
        if missing:
            raise ValueError(f"{path}: CSV has no column {', '.join(map(repr, missing))} (columns: {', '.join(fields)})")
        for number, row in enumerate(reader, 2):
            if counter is not None:
                counter[0] = raw.tell()
            yield f"{path}:{number}", _csv_event(row, mapping, fields)


def _known_fields() -> list[str]:
    from ..events import ADDRESS_PARTS, OPTIONAL_TEXT

    return [
        "order_id", "event_time", "account_id", "account_created_at", "items", "amount",
        *OPTIONAL_TEXT, "shipping_address", *_ITEM_FIELDS, *ADDRESS_PARTS,
    ]


def _csv_event(row: dict[str, str], mapping: dict[str, str], fields: list[str]) -> dict[str, Any] | bytes:
    event: dict[str, Any] = {}
    for field, column in mapping.items():
        value = row.get(column)
        if value is None or value == "":
            continue
        if field in _INTEGER_FIELDS:
            event[field] = int(value) if value.strip().lstrip("-").isdigit() else value
        elif field in _NUMBER_FIELDS:
            try:
                event[field] = float(value)
            except ValueError:
                event[field] = value
        elif field == "items":
            try:
                event["items"] = orjson.loads(value)
            except orjson.JSONDecodeError:
                event["items"] = value
        else:
            event[field] = value
    if "items" not in event and "sku" in event:
        event["items"] = [{k: event[k] for k in _ITEM_FIELDS if k in event}]
    for k in _ITEM_FIELDS:
        event.pop(k, None)
    if "shipping_address" not in event:
        from ..events import ADDRESS_PARTS

        parts = {p: event.pop(p) for p in ADDRESS_PARTS if p in event}
        if parts:
            event["shipping_address"] = parts
    # Columns outside the contract (labels, scenario names...) ride along.
    mapped = set(mapping.values())
    for column in fields:
        if column not in mapped and row.get(column) not in (None, ""):
            event[column] = row[column]
    return event


def open_output(path: str | None):
    """A binary writer for ``path``; ``None`` or ``-`` is standard output."""
    if path in (None, "-"):
        return os.fdopen(os.dup(1), "wb")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb", buffering=1 << 20)
