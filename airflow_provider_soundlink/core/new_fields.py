"""Fields Soundlink adds to an export before this provider knows them: what their values are, and the
column a MERGE that opts in (``add_new_fields``) gives them.

The export keeps every field in GCS and names the new ones, with the JSON kinds of their values, in the
manifest. With the opt-in, each becomes a NULLABLE column of the target table, additively (no existing
column changes), typed by this conservative rule over the kinds seen:

============================== ==============================================================
values seen (nulls aside)      column type
============================== ==============================================================
only strings                   STRING
only integers (64-bit)         INT64
only booleans                  BOOL
numbers, some with a fraction  BIGNUMERIC (exact; 38 fractional digits, like staged money)
objects, arrays, or a mix      JSON ("a field that is declared as JSON type is loaded with the
                               raw JSON values", BigQuery, "Loading JSON data from Cloud Storage")
only nulls                     no column yet: nothing to store
============================== ==============================================================

A column added once keeps its type; a later provider version that defines the field documents it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

STRING, INTEGER, NUMBER, BOOLEAN, OBJECT, ARRAY, NULL = (
    "string",
    "integer",
    "number",
    "boolean",
    "object",
    "array",
    "null",
)
_INT64_RANGE = range(-(2**63), 2**63)
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
"""BigQuery column names: letters, digits and underscores, starting with a letter or underscore, at most
300 characters ("Column names", https://cloud.google.com/bigquery/docs/schemas#column_names)."""


def json_kind(value: object) -> str:
    """Name the JSON kind of a decoded value; integers outside INT64 count as numbers."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER if value in _INT64_RANGE else NUMBER
    if isinstance(value, (float, Decimal)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, dict):
        return OBJECT
    return ARRAY


def column_type(kinds: Collection[str]) -> str | None:
    """Choose the BigQuery type of a new column by the rule in the module docstring; None: only nulls seen."""
    seen = set(kinds) - {NULL}
    if not seen:
        return None
    if seen == {STRING}:
        return "STRING"
    if seen == {INTEGER}:
        return "INT64"
    if seen == {BOOLEAN}:
        return "BOOL"
    if seen <= {INTEGER, NUMBER}:
        return "BIGNUMERIC"
    return "JSON"


RESERVED_COLUMN_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLON_")
"""Prefixes BigQuery refuses for column names ("Column names")."""


def columns_to_add(
    entries: Iterable[Mapping[str, Any]], existing: Collection[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Split the new fields of manifest entries into those that get a column now, with its type, and those
    that get none, with the reason; fields already a column (``existing``, any case) are left out of both."""
    kinds: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for entry in entries:
        entry_kinds = entry.get("new_field_kinds")
        for name in entry["new_fields"]:
            if entry_kinds is None or name not in entry_kinds:
                unknown.add(name)
            else:
                kinds.setdefault(name, set()).update(entry_kinds[name])
    present = {name.lower() for name in existing}
    columns: dict[str, str] = {}
    refused: dict[str, str] = {}
    for name in sorted(kinds.keys() | unknown):
        if name.lower() in present:
            continue
        reason = _unusable_column_name(name)
        if reason is None and name in unknown:
            reason = "its export did not record the kinds of its values; export it again"
        chosen = None if reason else column_type(kinds[name])
        if reason is None and chosen is None:
            reason = "every value is null so far"
        if reason:
            refused[name] = reason
        else:
            columns[name] = str(chosen)
    return columns, refused


def _unusable_column_name(name: str) -> str | None:
    if not COLUMN_NAME.fullmatch(name):
        return (
            "BigQuery column names are at most 300 letters, digits and underscores, not starting with a digit"
        )
    if name.upper().startswith(RESERVED_COLUMN_PREFIXES):
        return f"BigQuery reserves the prefixes {', '.join(RESERVED_COLUMN_PREFIXES)}"
    return None


def columns_beyond(defined: Collection[str], schema: Iterable[Any]) -> list[dict[str, str]]:
    """List the fields of a BigQuery schema whose names ``defined`` lacks (any case), as NULLABLE schema
    fields."""
    known = {name.lower() for name in defined}
    return [
        {"name": field.name, "type": field.field_type, "mode": "NULLABLE"}
        for field in schema
        if field.name.lower() not in known
    ]
