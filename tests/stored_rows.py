"""What BigQuery's client returns for a stored export row: the one conversion the truth checks share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from airflow_provider_soundlink.schemas import TableDefinition

Row = dict[str, Any]
NUMERIC_STEP = Decimal("1e-9")

_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "DATE": dt.date.fromisoformat,
    "TIMESTAMP": lambda value: dt.datetime.fromisoformat(value.replace("Z", "+00:00")),
    # The MERGE rounds money half away from zero to NUMERIC's 9 digits; Python calls that ROUND_HALF_UP.
    "NUMERIC": lambda value: Decimal(str(value)).quantize(NUMERIC_STEP, rounding=ROUND_HALF_UP),
    "FLOAT64": float,
    "INT64": int,
    "STRING": str,
    "BOOL": bool,
}


def as_stored(table: TableDefinition, row: Row) -> Row:
    """An export row (JSON values, money as Decimal) as BigQuery's client returns the stored row."""
    return {
        column.name: None if row[column.name] is None else _CONVERTERS[column.type](row[column.name])
        for column in table.columns
        if column.name in table.export_column_names
    }
