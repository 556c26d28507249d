"""The export and MERGE operators run as a task runs them, against a fresh bucket and dataset: what the
operator integration tests share, with the sandbox campaigns they use."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.cloud import bigquery

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.manifest import ManifestEntry
from airflow_provider_soundlink.core.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.operators import SoundlinkBigQueryMergeOperator, SoundlinkExportToGCSOperator
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.pipeline import as_stored
from support.emulators import SANDBOX_TODAY
from support.task_context import task_context

TRUTH = SandboxData()
CAMPAIGNS = {campaign["campaignId"]: campaign for campaign in TRUTH.campaigns(SANDBOX_TODAY)}
# Running with catalog engagement, id a UUID.
TRACK_CAMPAIGN = "39797175-8a5d-4eba-b281-86bed32ce2ac"
# Running with playlist engagement, id camp_...
PLAYLIST_CAMPAIGN = "camp_medanery0y5l"
# Its last report date is 2026-05-07, inside the long window below.
ENDED_CAMPAIGN = "camp_aesuou0yx3p5"
# No rows since July 2025.
LONG_ENDED_CAMPAIGN = "camp_y1mvo2ctovlv"

YESTERDAY = SANDBOX_TODAY - dt.timedelta(days=1)
RECENT_WINDOW = (dt.date(2026, 6, 1), YESTERDAY)

Row = dict[str, Any]


def primary_key(table: TableDefinition, row: Row) -> tuple[Any, ...]:
    return tuple(row[name] for name in table.primary_key)


def truth_rows(
    kind: ExportKind,
    campaign_ids: Sequence[str],
    window: tuple[dt.date, dt.date],
    today: dt.date,
    engagement_context: str | None = None,
) -> dict[tuple[Any, ...], Row]:
    table = table_definition(kind)
    rows: list[Row] = []
    for campaign_id in campaign_ids:
        if kind is ExportKind.BREAKDOWN:
            rows += TRUTH.breakdown_rows(campaign_id, *window, today)
        else:
            rows += TRUTH.engagement_rows(campaign_id, *window, today, engagement_context)
    return {primary_key(table, as_stored(table, row)): as_stored(table, row) for row in rows}


@dataclass
class Pipeline:
    """A fresh bucket and dataset, and the two operators run against them as a task would run them."""

    project: str
    bucket: str
    dataset: str
    sandbox: SandboxProcess
    connection: dict[str, Any]
    monkeypatch: pytest.MonkeyPatch

    @property
    def client(self) -> bigquery.Client:
        return BigQueryHook(use_legacy_sql=False).get_client(project_id=self.project)

    def export(
        self,
        kind: ExportKind,
        campaign_ids: Sequence[str],
        window: tuple[dt.date, dt.date],
        engagement_context: str | None = None,
    ) -> list[ManifestEntry]:
        operator = SoundlinkExportToGCSOperator(
            task_id=f"export_{kind.value}",
            export=kind,
            campaign_ids=list(campaign_ids),
            report_start_date=window[0].isoformat(),
            report_end_date=window[1],
            bucket=self.bucket,
            engagement_context=engagement_context,
        )
        return operator.execute(task_context(operator.task_id))

    def merge(self, kind: ExportKind, manifest: Any, context: Any = None, **options: Any) -> dict[str, Any]:
        """Run the merge operator as a new task try, or as ``context``'s try again."""
        operator = SoundlinkBigQueryMergeOperator(
            task_id=f"merge_{kind.value}",
            export=kind.value,
            manifest=manifest,
            project_id=self.project,
            dataset_id=self.dataset,
            **options,
        )
        return operator.execute(context or task_context(operator.task_id))

    def run(
        self,
        kind: ExportKind,
        campaign_ids: Sequence[str],
        window: tuple[dt.date, dt.date],
        engagement_context: str | None = None,
    ) -> dict[str, Any]:
        return self.merge(kind, [self.export(kind, campaign_ids, window, engagement_context)])

    def stored(self, kind: ExportKind) -> dict[tuple[Any, ...], Row]:
        """Every stored row by primary key, with the load time the MERGE stamps."""
        table = table_definition(kind)
        return {primary_key(table, row): row for row in self.stored_table(table.name)}

    def stored_table(self, table_id: str) -> list[Row]:
        rows = self.client.list_rows(f"{self.project}.{self.dataset}.{table_id}")
        return sorted((dict(row.items()) for row in rows), key=repr)

    def stored_exports(self, kind: ExportKind) -> dict[tuple[Any, ...], Row]:
        """Read the stored rows without the load time: exactly what the export delivered."""
        loaded_at = table_definition(kind).loaded_at_field
        return {
            key: {name: value for name, value in row.items() if name != loaded_at}
            for key, row in self.stored(kind).items()
        }

    def tables(self) -> list[str]:
        return sorted(table.table_id for table in self.client.list_tables(f"{self.project}.{self.dataset}"))

    def objects(self) -> list[str]:
        return sorted(GCSHook().list(bucket_name=self.bucket))

    def job_types(self) -> dict[str, str]:
        return {job.job_id: job.job_type for job in self.client.list_jobs(project=self.project)}

    def retry_exports_once(self) -> None:
        """Let the hook fetch a broken window twice at most, so a fault that outlasts that fails quickly."""
        connection = {**self.connection, "extra": {"max_attempts": 2}}
        self.monkeypatch.setenv("AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps(connection))
