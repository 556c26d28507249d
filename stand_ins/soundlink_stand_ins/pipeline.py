"""What the end-to-end tests of the example DAGs share: the environment the DAGs read their settings
from, their pools, the DagBag report, and the comparison of the BigQuery tables with the sandbox's truth."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS, ExportKind
from airflow_provider_soundlink.core.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.core.windows import DateWindow
from soundlink_sandbox.data import SandboxData
from soundlink_stand_ins.paths import DAGS_FOLDER

DAGBAG_REPORT_SCRIPT = Path(__file__).with_name("dagbag_report.py")
POOLS = {"soundlink_api": 2, "soundlink_bigquery_merge": 1}
LINEAGE_EVENTS = "openlineage-events.jsonl"
"""Where, in an Airflow home, the OpenLineage file transport appends the events of the runs."""
PSEUDONYMISATION_KEY = "end-to-end-pseudonymisation-key"
"""The Soundlink connection's ``pseudonymisation_secret`` extra, which link statistics need."""

TRUTH = SandboxData()
Row = dict[str, Any]
Key = tuple[Any, ...]
TIMESTAMPS = ("exported_at", "_loaded_at")
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
    """Turn an export row (JSON values, money as Decimal) into the stored row BigQuery's client returns."""
    return {
        column.name: None if row[column.name] is None else _CONVERTERS[column.type](row[column.name])
        for column in table.columns
        if column.name in table.export_column_names
    }


def without_timestamps(row: Row) -> Row:
    """Return a link-stats row without its fetch and load times, which differ from run to run."""
    return {name: value for name, value in row.items() if name not in TIMESTAMPS}


def dag_settings(
    *,
    project: str,
    dataset: str,
    bucket: str,
    export_shards: int,
    campaign_ids: Sequence[str] = (),
    reconcile: str = "off",
) -> dict[str, str]:
    """Build the environment variables the example DAGs take their configuration from."""
    return {
        "SOUNDLINK_RECONCILE": reconcile,
        "SOUNDLINK_BIGQUERY_PROJECT": project,
        "SOUNDLINK_BIGQUERY_DATASET": dataset,
        "SOUNDLINK_GCS_BUCKET": bucket,
        "SOUNDLINK_CAMPAIGN_IDS": ",".join(campaign_ids),
        "SOUNDLINK_EXPORT_SHARDS": str(export_shards),
    }


def celery_deployment(*, database_url: str, broker_url: str, result_backend: str) -> dict[str, str]:
    """Return the settings of a CeleryExecutor deployment on PostgreSQL and Redis: what the platform tests run
    and what docker-compose.yaml sets (tests/unit/test_docker_compose.py compares the two)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
    }


def parse_dags(python: Path, home: Path, environment: Mapping[str, str]) -> dict[str, Any]:
    """Parse ``dags/`` with the Airflow of ``python``, network refused; the report of dagbag_report.py."""
    report_file = home / "dagbag.json"
    home.mkdir(parents=True, exist_ok=True)
    finished = subprocess.run(
        [str(python), str(DAGBAG_REPORT_SCRIPT), str(DAGS_FOLDER), str(report_file)],
        env={**environment, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, (
        f"parsing the DAGs failed:\n{finished.stdout[-3000:]}{finished.stderr[-3000:]}"
    )
    report: dict[str, Any] = json.loads(report_file.read_text())
    return report


def campaigns_created_by(day: dt.date) -> list[str]:
    """List the campaigns the DAGs choose for a window ending on ``day`` when no campaign_ids are given."""
    return [
        campaign["campaignId"]
        for campaign in TRUTH.campaigns()
        if dt.date.fromisoformat(campaign["createdAt"][:10]) <= day
    ]


def truth(
    kind: ExportKind,
    campaign_ids: Iterable[str],
    window: DateWindow,
    today: dt.date,
    data: SandboxData = TRUTH,
) -> dict[Key, Row]:
    """Every row the sandbox (``data``) holds for these campaigns over ``window`` on ``today``, by key."""
    table = table_definition(kind)
    rows: list[Row] = []
    for campaign_id in campaign_ids:
        if kind is ExportKind.BREAKDOWN:
            rows += data.breakdown_rows(campaign_id, window.start, window.end, today)
        else:
            rows += data.engagement_rows(campaign_id, window.start, window.end, today)
    typed = [as_stored(table, row) for row in rows]
    return {tuple(row[name] for name in table.primary_key): row for row in typed}


@dataclass(frozen=True)
class Warehouse:
    """One BigQuery dataset the DAGs load into, read back through Airflow's BigQuery hook."""

    project: str
    dataset: str

    def _rows(self, table: TableDefinition) -> list[Row]:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        client = BigQueryHook(use_legacy_sql=False).get_client(project_id=self.project)
        return [dict(row.items()) for row in client.list_rows(f"{self.project}.{self.dataset}.{table.name}")]

    def stored(self, kind: ExportKind) -> dict[Key, Row]:
        """Read the stored rows by primary key, without the load time the MERGE stamps on each run."""
        table = table_definition(kind)
        return {
            tuple(row[name] for name in table.primary_key): {
                name: value for name, value in row.items() if name != table.loaded_at_field
            }
            for row in self._rows(table)
        }

    def link_stats(self) -> list[Row]:
        """Read the rows of ``link_clicks_daily`` without their fetch and load times, sorted as the tests'
        ``link_stats_truth`` sorts."""
        rows = self._rows(table_definition(ExportKind.LINK_STATS))
        return sorted((without_timestamps(row) for row in rows), key=repr)

    def last_loaded_at(self, kind: ExportKind) -> dt.datetime:
        """Get the newest load time the MERGE stamped on a row: it moves when a run loaded the table again."""
        table = table_definition(kind)
        loaded: dt.datetime = max(row[table.loaded_at_field] for row in self._rows(table))
        return loaded

    def assert_matches_truth(
        self, campaign_ids: Iterable[str], window: DateWindow, today: dt.date, data: SandboxData = TRUTH
    ) -> dict[ExportKind, int]:
        """Both tables hold exactly the sandbox's rows; returns the row count per export."""
        counts = {}
        campaign_ids = list(campaign_ids)
        for kind in CAMPAIGN_EXPORTS:
            expected = truth(kind, campaign_ids, window, today, data)
            stored = self.stored(kind)
            missing = sorted(set(expected) - set(stored), key=repr)[:5]
            unexpected = sorted(set(stored) - set(expected), key=repr)[:5]
            assert not missing and not unexpected, (
                f"{kind.table_name}: {len(set(expected) - set(stored))} rows missing (e.g. {missing}), "
                f"{len(set(stored) - set(expected))} unexpected (e.g. {unexpected})"
            )
            different = [key for key in expected if stored[key] != expected[key]]
            assert not different, (
                f"{kind.table_name}: {len(different)} rows differ, e.g. {different[0]}: "
                f"stored {stored[different[0]]} expected {expected[different[0]]}"
            )
            counts[kind] = len(expected)
        return counts
