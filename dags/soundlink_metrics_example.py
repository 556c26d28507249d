"""Soundlink campaign metrics into BigQuery every day, with the provider's operators written out.

Copy this file into your DAGs folder to start. The run for day D (its data interval starts at D, UTC, and
it runs once D has closed) loads report dates D-7 .. D: Soundlink revises a day for 7 days after it
closes, so every run loads those days again. For each export (per-country rows, per-track engagement
rows), two tasks export half of the campaigns each into GCS, then one MERGE loads both halves into the
export's table. Re-running a day changes nothing unless Soundlink revised it.

Settings, read where the DAG is parsed and run (scheduler, dag processor, workers):

- ``SOUNDLINK_BIGQUERY_PROJECT``: the BigQuery project; the dataset (``SOUNDLINK_BIGQUERY_DATASET``,
  default ``soundlink``) is created in ``US`` if it is missing;
- ``SOUNDLINK_GCS_BUCKET``: the bucket the exports are written to;
- ``SOUNDLINK_CAMPAIGN_IDS`` (optional): the campaigns, comma-separated; without it, every campaign the
  API lists (the key then needs ``campaigns:read``).

The tasks run in the pools ``soundlink_api`` and ``soundlink_bigquery_merge``; create them first (a task
in a missing pool never runs). A run triggered for logical date T (``airflow dags test``, the CLI or the
UI's trigger form) loads T-8 .. T-1, the days closed by then. For thousands of campaigns, use
``soundlink_metrics_daily``, which skips campaigns that cannot have rows and shards the rest.
"""

from __future__ import annotations

import os

import pendulum
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators import SoundlinkBigQueryMergeOperator, SoundlinkExportToGCSOperator

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

PROJECT = os.environ.get("SOUNDLINK_BIGQUERY_PROJECT", "")
DATASET = os.environ.get("SOUNDLINK_BIGQUERY_DATASET", "soundlink")
BUCKET = os.environ.get("SOUNDLINK_GCS_BUCKET", "")
CAMPAIGN_IDS = [
    part.strip() for part in os.environ.get("SOUNDLINK_CAMPAIGN_IDS", "").split(",") if part.strip()
]
SHARDS = 2

# The run's day D (the start of its data interval) and the 7 days before it, both inclusive.
FIRST_REPORT_DATE = "{{ macros.ds_add(data_interval_start | ds, -7) }}"
LAST_REPORT_DATE = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="soundlink_metrics_example",
    description="Soundlink metrics into BigQuery: the operators written out",
    # Daily at 00:00 UTC, with the same data interval on Airflow 2.11 and 3.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["soundlink"],
):

    @task(pool="soundlink_api", multiple_outputs=True)
    def plan_shards() -> dict[str, list[str]]:
        """Deal the campaigns (the setting, else every campaign the API lists) over the export shards."""
        campaign_ids = CAMPAIGN_IDS or [
            campaign["campaignId"] for campaign in SoundlinkHook().get_conn().list_campaigns()
        ]
        return {f"shard_{shard}": campaign_ids[shard::SHARDS] for shard in range(SHARDS)}

    shards = plan_shards()
    for export in ("breakdown", "engagement"):
        exports = [
            SoundlinkExportToGCSOperator(
                task_id=f"export_{export}_{shard}",
                export=export,
                # Indexing a multiple_outputs task's output pulls that key (Airflow's stubs do not know).
                campaign_ids=shards[f"shard_{shard}"],  # type: ignore[index]
                report_start_date=FIRST_REPORT_DATE,
                report_end_date=LAST_REPORT_DATE,
                bucket=BUCKET,
                pool="soundlink_api",
            )
            for shard in range(SHARDS)
        ]
        # One MERGE of both shards' files: the fresh export becomes the truth for those campaigns and days.
        SoundlinkBigQueryMergeOperator(
            task_id=f"merge_{export}",
            export=export,
            manifest=[exported.output for exported in exports],
            project_id=PROJECT,
            dataset_id=DATASET,
            location="US",
            pool="soundlink_bigquery_merge",
        )
