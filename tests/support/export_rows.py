"""Export rows built from the table definitions, so no test copies a field list by hand."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.schemas import table_definition

_SAMPLE_BY_TYPE: dict[str, Any] = {
    "STRING": "x",
    "INT64": 1,
    "FLOAT64": 0.5,
    "NUMERIC": 1.25,
    "BOOL": True,
    "DATE": "2026-06-01",
    "TIMESTAMP": "2026-06-08T06:00:00Z",
}


def export_row(kind: ExportKind, **values: Any) -> dict[str, Any]:
    """Make a row of ``kind``'s export holding a loadable value in every field, ``values`` overriding them."""
    table = table_definition(kind)
    row = {
        column.name: _SAMPLE_BY_TYPE[column.type]
        for column in table.columns
        if column.name in table.export_column_names
    }
    row["schema_version"] = "1.0"
    return {**row, **values}


def export_body(rows: list[dict[str, Any]]) -> bytes:
    """Rows as a JSONL export body: one object per line, each line ending in a newline."""
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
