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
from collections.abc import Collection
from decimal import Decimal

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
    """The JSON kind of a decoded value; integers outside INT64 count as numbers."""
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
    """The BigQuery type of a new column by the rule in the module docstring; None: only nulls seen."""
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
