"""The conservative rule that types a new export field's column, from the JSON kinds of its values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.new_fields import column_type, json_kind
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.sql import TableRef, merge_statement
from airflow_provider_soundlink.core.windows import DateWindow


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("fans", "string"),
        (7, "integer"),
        (2**63 - 1, "integer"),
        (2**63, "number"),  # beyond INT64
        (1.5, "number"),
        (Decimal("1.5"), "number"),
        (False, "boolean"),
        (None, "null"),
        ({"a": 1}, "object"),
        ([1], "array"),
    ],
)
def test_json_kinds(value: object, kind: str) -> None:
    assert json_kind(value) == kind


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ({"string"}, "STRING"),
        ({"string", "null"}, "STRING"),
        ({"integer"}, "INT64"),
        ({"boolean"}, "BOOL"),
        ({"integer", "number"}, "BIGNUMERIC"),
        ({"number"}, "BIGNUMERIC"),
        ({"object"}, "JSON"),
        ({"array", "null"}, "JSON"),
        ({"string", "integer"}, "JSON"),
        ({"boolean", "integer"}, "JSON"),
        ({"null"}, None),
        (set(), None),
    ],
)
def test_a_column_is_typed_by_the_kinds_seen_and_a_mix_is_json(kinds: set[str], expected: str | None) -> None:
    assert column_type(kinds) == expected


def test_the_merge_carries_extra_columns_through_fresh_and_kept_rows_unrounded() -> None:
    statement = merge_statement(
        table_definition(ExportKind.BREAKDOWN),
        TableRef("my-project", "marketing", "campaign_country_daily"),
        TableRef("my-project", "marketing", "staging"),
        DateWindow(dt.date(2026, 4, 1), dt.date(2026, 4, 8)),
        ("campaign_id",),
        extra_columns=("audience_segment",),
    ).sql
    # In the fresh rows' SELECT, the kept rows' SELECT, the source's SELECT, the INSERT and its VALUES.
    assert statement.count("audience_segment") == 5
    assert "source.audience_segment" in statement
    assert "ROUND(audience_segment" not in statement
