"""Soundlink campaign metrics into BigQuery, every day, re-loading the days Soundlink may still revise.

The run for logical date D (its data interval is [D, D+1) UTC; it starts after D+1 00:00 UTC, once D has
closed) loads report dates D-7 .. D (``revision_days``, 7 by default: Soundlink revises a day for 7 days
after it closes). For each export (breakdown, engagement) a fixed number of export tasks (shards, set by
``SOUNDLINK_EXPORT_SHARDS``) each export their share of the campaigns to JSONL files in GCS, then ONE
MERGE loads them into the export's table, which makes the fresh export the truth for those campaigns
over those dates. Re-running a day changes nothing unless Soundlink revised it.

Campaigns: the ``campaign_ids`` param (default ``SOUNDLINK_CAMPAIGN_IDS``), or, when empty, every
campaign the API lists that was created on or before D (see
``airflow_provider_soundlink.dag_factory``, which also lists the configuration variables and
the two pools to create).

A manual run gets the interval that ended at its date T, so D = T - 1 day: ``airflow dags test
soundlink_metrics_daily 2026-06-15`` loads 2026-06-07 .. 2026-06-14 (measured on Airflow 3.3 and 2.11),
as does 2.11's ``dags trigger -e 2026-06-15``. Airflow 3's ``dags trigger`` and the UI's trigger take T
from when the run is triggered, whatever logical date is given: such a run loads the week before today.

Link statistics (optional): with ``link_stats_groupings`` (param, default
``SOUNDLINK_LINK_STATS_GROUPINGS``) set, the run also loads those groupings of link clicks for the same
report dates into ``link_clicks_daily``, one export task and one MERGE; without it they are skipped.

Short gaps (up to a few weeks): backfill this DAG; each run loads its D-7 .. D with one MERGE per
export, so a backfill of A .. B loads report dates A-7 .. B. On Airflow 3.x a running scheduler executes
the runs of ``airflow backfill create --dag-id soundlink_metrics_daily --from-date A --to-date B``; on
Airflow 2.11 ``airflow dags backfill -s A -e B soundlink_metrics_daily`` runs them. Both are tested end
to end with Airflow's default configuration.

Long histories (months, years), on any version: trigger ``soundlink_metrics_backfill``, which exports
any range in 90-day slices and merges it once per export.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_soundlink.compat import DAG, Param, task
from airflow_provider_soundlink.dag_factory import (
    API_POOL,
    DEFAULT_REVISION_DAYS,
    PipelineConfig,
    add_export_and_merge_tasks,
    add_link_stats_tasks,
    plan_exports,
    revision_window,
)

CONFIG = PipelineConfig.from_environment()

with DAG(
    dag_id="soundlink_metrics_daily",
    description="Soundlink metrics into BigQuery, re-loading the last revisable days",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        **CONFIG.params(),
        **CONFIG.link_stats_params(),
        "revision_days": Param(
            DEFAULT_REVISION_DAYS,
            type="integer",
            minimum=0,
            description="How many days before the run's day to load again (Soundlink revises 7).",
        ),
    },
    doc_md=__doc__,
    tags=["soundlink"],
) as dag:

    @task(pool=API_POOL, multiple_outputs=True)
    def plan_campaign_exports(**context: Any) -> dict[str, Any]:
        """Plan this run's report dates and each export shard's campaigns."""
        params = context["params"]
        window = revision_window(context["data_interval_start"].date(), params["revision_days"])
        return plan_exports(window, params, CONFIG.soundlink_conn_id, CONFIG.export_shards)

    plan = plan_campaign_exports()
    add_export_and_merge_tasks(CONFIG, plan)
    add_link_stats_tasks(CONFIG, plan)
