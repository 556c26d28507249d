"""Where local-bigquery accepts what BigQuery's load refuses: pinned, so the day the emulator turns strict
(or a test starts trusting it) is seen, and each case is refused by the export check before any load."""

from __future__ import annotations

import decimal
import io
import json
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from google.cloud import bigquery

from airflow_provider_soundlink.core.load_values import value_problem

pytestmark = pytest.mark.integration

# (column type, JSON text, what the emulator stores): each refused by BigQuery's documented rules.
LENIENT = [
    ("INT64", "12.0", 12),
    ("INT64", "12.5", 13),
    ("BIGNUMERIC", "0." + "1" * 40, None),
    ("BIGNUMERIC", "1e-40", decimal.Decimal(0)),
]


@pytest.mark.parametrize(("column_type", "text", "stored"), LENIENT, ids=[f"{t}:{v}" for t, v, _ in LENIENT])
def test_the_emulator_loads_values_bigquery_refuses(
    gcp_emulators: Any, column_type: str, text: str, stored: Any
) -> None:
    dataset = gcp_emulators.create_dataset("leniency")
    client = BigQueryHook(use_legacy_sql=False).get_client(project_id=gcp_emulators.project)
    table = f"{gcp_emulators.project}.{dataset}.values"
    job = client.load_table_from_file(
        io.BytesIO(f'{{"value": {text}}}\n'.encode()),
        table,
        job_config=bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField("value", column_type)],
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        ),
    )
    job.result()

    (row,) = client.query(f"SELECT value FROM `{table}`").result()
    if stored is not None:
        assert row["value"] == stored
    else:
        # Squeezed through a float: the digits past the 17th are not the ones sent.
        assert str(row["value"]) != "0." + "1" * 40
    # The export check refuses each for its NUMERIC (staged BIGNUMERIC) or INT64 column.
    target_type = "NUMERIC" if column_type == "BIGNUMERIC" else column_type
    assert value_problem(target_type, json.loads(text, parse_float=decimal.Decimal)) is not None
