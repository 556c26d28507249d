"""The load rules: what a BigQuery load job accepts per column type, and the fast canonical check that may
only ever vouch for what the exact rules accept."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import pytest

from airflow_provider_soundlink.core.load_values import (
    CanonicalRows,
    LoadColumn,
    load_columns,
    row_problem,
    value_problem,
)
from airflow_provider_soundlink.core.schemas import table_definition
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.encoding import dumps

TODAY = dt.date(2026, 6, 15)


def exact(text: str) -> Any:
    return json.loads(text, parse_float=decimal.Decimal)


# (column type, JSON text, accepted): cases from "Loading JSON data from Cloud Storage", "Data types" and
# "Lexical structure".
CASES = [
    ("INT64", "12", True),
    ("INT64", '"12"', True),
    ("INT64", '"-9223372036854775808"', True),
    ("INT64", "9007199254740991", True),
    ("INT64", "9007199254740992", False),
    ("INT64", '"9223372036854775808"', False),
    ("INT64", "12.0", False),
    ("INT64", "12.5", False),
    ("INT64", "1e2", False),
    ("INT64", "1e-12", False),
    ("INT64", "false", False),
    ("NUMERIC", "0.1", True),
    ("NUMERIC", "1.23456e05", True),
    ("NUMERIC", "-9.876e-3", True),
    ("NUMERIC", "1e-12", True),
    ("NUMERIC", '"12.5"', True),
    ("NUMERIC", "99999999999999999999999999999.999999999", True),
    ("NUMERIC", "-99999999999999999999999999999.9999999994", True),
    ("NUMERIC", "-99999999999999999999999999999.9999999995", False),
    ("NUMERIC", "1e29", False),
    ("NUMERIC", "1e-38", True),
    ("NUMERIC", "1e-39", False),
    ("NUMERIC", "1.000000000000000000000000000000000000000000", True),
    ("NUMERIC", '"NaN"', False),
    ("NUMERIC", '"-Infinity"', False),
    ("NUMERIC", '" 12"', False),
    ("NUMERIC", '"1_000"', False),
    ("FLOAT64", "1.5e300", True),
    ("FLOAT64", "-0.0", True),
    ("FLOAT64", "2e308", False),
    ("FLOAT64", '"Infinity"', False),
    ("DATE", '"2024-02-29"', True),
    ("DATE", '"2026-02-29"', False),
    ("DATE", '"2026-6-1"', False),
    ("DATE", '"2026/06/01"', False),
    ("TIMESTAMP", '"2018-08-19T12:11"', True),
    ("TIMESTAMP", '"2018/08/19T12:11"', True),
    ("TIMESTAMP", '"2018-07-05T12:54:00 UTC"', True),
    ("TIMESTAMP", '"2018-08-19T07:11:35.220 -05:00"', True),
    ("TIMESTAMP", '"2018-08-19T12:11:35.220Z"', True),
    ("TIMESTAMP", '"2018-08-19 12:11:35.123456"', True),
    ("TIMESTAMP", '"2018-08-19T12:11:35.1234567Z"', False),
    ("TIMESTAMP", '"2018-08-19"', False),
    ("TIMESTAMP", '"2018-08-19T24:00:00Z"', False),
    ("TIMESTAMP", "1534680695", False),
    ("STRING", '"US"', True),
    ("STRING", "840", False),
    ("BOOL", "true", True),
    ("BOOL", '"Yes"', True),
    ("BOOL", "0", True),
    ("BOOL", "2", False),
]


@pytest.mark.parametrize(("column_type", "text", "accepted"), CASES, ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_each_value_is_held_to_its_columns_rule(column_type: str, text: str, accepted: bool) -> None:
    assert (value_problem(column_type, exact(text)) is None) == accepted


@pytest.mark.parametrize(("column_type", "text", "accepted"), CASES, ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_the_canonical_check_vouches_only_for_what_the_rules_accept(
    column_type: str, text: str, accepted: bool
) -> None:
    columns = (LoadColumn("schema_version", "STRING", False), LoadColumn("value", column_type, False))
    line = f'{{"schema_version":"1.0","value":{text}}}\n'.encode()

    vouched = CanonicalRows(columns, allow_unknown_fields=False).count(line) == 1

    assert not vouched or accepted


def test_a_required_column_needs_a_value() -> None:
    columns = (LoadColumn("campaign_id", "STRING", required=True),)

    assert row_problem(columns, {}) == "field 'campaign_id' is missing or null, but its column is REQUIRED"
    assert row_problem(columns, {"campaign_id": None}) is not None
    assert row_problem(columns, {"campaign_id": "c"}) is None


def test_the_rules_cover_every_column_of_every_table() -> None:
    for name in ("campaign_country_daily", "campaign_engagement_daily", "link_clicks_daily"):
        table = table_definition(name)
        columns = load_columns(table)
        assert [column.name for column in columns] == list(table.export_column_names)
        for column in columns:
            value_problem(column.type, "x")  # every type has a rule
            assert column.required == table.column(column.name).required


def test_the_sandboxs_rows_are_canonical() -> None:
    data = SandboxData()
    campaign = data.campaigns(TODAY)[2]["campaignId"]
    start = TODAY - dt.timedelta(days=45)
    for table, rows in (
        ("campaign_country_daily", data.breakdown_rows(campaign, start, TODAY, TODAY)),
        ("campaign_engagement_daily", data.engagement_rows(campaign, start, TODAY, TODAY)),
    ):
        body = b"".join(dumps(row).encode() + b"\n" for row in rows)
        columns = load_columns(table_definition(table))
        assert CanonicalRows(columns, allow_unknown_fields=False).count(body) == len(rows) > 100, table
