"""The test tiers' BigQuery load rules reject what BigQuery's documentation says BigQuery rejects."""

from __future__ import annotations

import json

import pytest

from airflow_provider_soundlink.core.schemas import table_definition
from support.bigquery_rules import BigQueryWouldReject, check_rows, check_source_uris

SCHEMA = [
    {"name": "report_date", "type": "DATE", "mode": "REQUIRED"},
    {"name": "exported_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "spend", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "spend_exact", "type": "BIGNUMERIC", "mode": "NULLABLE"},
    {"name": "streams", "type": "INT64", "mode": "NULLABLE"},
]
GOOD = '{"report_date": "2026-04-01", "exported_at": "2026-04-02T06:00:00Z", "spend": 12.123456789}'


def line(**changes: object) -> bytes:
    row = json.loads(GOOD)
    row.update(changes)
    return json.dumps(row).encode()


def test_rows_within_the_rules_pass_and_are_counted() -> None:
    lines = [GOOD.encode(), b"", line(spend_exact="0.8534597960201471234", streams=2**53 - 1)]
    assert check_rows(SCHEMA, lines, "gs://b/o") == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"spend": 0.8534597960201471}, "0.8534597960201471 does not fit NUMERIC"),
        ({"spend": 1e30}, "does not fit NUMERIC"),
        ({"spend_exact": "0." + "1" * 39}, "does not fit BIGNUMERIC"),
        ({"report_date": "2026/04/01"}, "is not a YYYY-MM-DD date"),
        ({"exported_at": 1775109600}, "is not a timestamp"),
        ({"exported_at": "2026-04-02"}, "is not a timestamp"),
        ({"exported_at": None}, "column exported_at: a REQUIRED column is missing or null"),
        ({"streams": 2**53 + 1}, "is not an integer BigQuery reads exactly"),
        ({"streams": 12.0}, "is not an integer BigQuery reads exactly"),
        ({"streams": 1e2}, "is not an integer BigQuery reads exactly"),
        ({"streams": "12.5"}, "is not an integer BigQuery reads exactly"),
        ({"spend_exact": "NaN"}, "is not a decimal number"),
        ({"report_date": "2026-02-30"}, "is not a YYYY-MM-DD date"),
    ],
)
def test_what_bigquery_rejects_is_rejected_with_the_line_and_column(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(BigQueryWouldReject, match=message) as rejection:
        check_rows(SCHEMA, [GOOD.encode(), line(**changes)], "gs://b/o")
    assert "gs://b/o line 2" in str(rejection.value)


def test_constants_that_are_not_json_are_not_rows() -> None:
    schema = [{"name": "ratio", "type": "FLOAT64", "mode": "NULLABLE"}]
    # Python's reader takes NaN; JSON has no such value, and the load refuses the line.
    assert check_rows(schema, [b'{"ratio": NaN}', b'{"ratio": 1.5}'], "o") == 1
    with pytest.raises(BigQueryWouldReject, match="is not a finite JSON number"):
        check_rows(schema, [b'{"ratio": "Infinity"}'], "o")


def test_a_missing_required_column_is_rejected() -> None:
    with pytest.raises(BigQueryWouldReject, match="report_date: a REQUIRED column"):
        check_rows(SCHEMA, [b'{"exported_at": "2026-04-02 06:00:00"}'], "o")


def test_more_than_ten_thousand_source_uris_are_rejected() -> None:
    check_source_uris([f"gs://b/{number}" for number in range(10_000)])
    with pytest.raises(BigQueryWouldReject, match="10001 source URIs"):
        check_source_uris([f"gs://b/{number}" for number in range(10_001)])


def test_staging_takes_long_decimals_that_the_target_table_would_refuse() -> None:
    table = table_definition("campaign_country_daily")
    row = (
        b'{"provider": "soundlink", "account_id": "a", "report_date": "2026-04-01", "campaign_id": "c", '
        b'"exported_at": "2026-04-02T06:00:00Z", "country_code": "US", "fees": 0.11249999999999999}'
    )

    assert check_rows(table.staging_schema(), [row], "o") == 1
    with pytest.raises(BigQueryWouldReject, match="fees"):
        check_rows(table.bigquery_schema(), [row], "o")
