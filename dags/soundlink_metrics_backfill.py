"""Soundlink campaign metrics into BigQuery over any range of report dates, on demand.

Use it to load a long history (months or years) or to repair one: trigger it with
``{"start_date": "YYYY-MM-DD", "end_date": "YYYY-MM-DD"}`` (both inclusive; optionally
``"campaign_ids": [...]``), e.g. ``airflow dags trigger soundlink_metrics_backfill --conf '{...}'``.
The campaigns are shared among a fixed number of export tasks per export (``SOUNDLINK_EXPORT_SHARDS``),
which export each campaign in 90-day slices (the API's limit), and each export is merged into its table
with ONE MERGE over the whole range, which makes the fresh export the truth for
those campaigns over those dates. Re-running the same range changes nothing unless Soundlink revised it.

For a gap of a few days, backfilling ``soundlink_metrics_daily`` works as well, on Airflow 3.x and 2.11
(see its documentation for the commands): each of its runs reloads its day and
the 7 before it. A range that reaches today loads up to yesterday, the last closed day.

Campaigns, configuration and pools are those of ``soundlink_metrics_daily``
(see ``airflow_provider_soundlink.dag_factory``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

from airflow_provider_soundlink.compat import DAG, Param, task
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.dag_factory import (
    API_POOL,
    PipelineConfig,
    add_export_and_merge_tasks,
    plan_exports,
)

CONFIG = PipelineConfig.from_environment()

with DAG(
    dag_id="soundlink_metrics_backfill",
    description="Soundlink metrics into BigQuery over a given range of report dates",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        **CONFIG.params(),
        "start_date": Param(
            None, type=["null", "string"], format="date", description="First report date (inclusive)."
        ),
        "end_date": Param(
            None, type=["null", "string"], format="date", description="Last report date (inclusive)."
        ),
    },
    doc_md=__doc__,
    tags=["soundlink"],
) as dag:

    @task(pool=API_POOL, multiple_outputs=True)
    def plan_campaign_exports(**context: Any) -> dict[str, Any]:
        """Plan the requested report dates and each export shard's campaigns."""
        params = context["params"]
        if not params["start_date"] or not params["end_date"]:
            raise ValueError(
                'give both report dates: trigger with conf {"start_date": "YYYY-MM-DD", "end_date": '
                '"YYYY-MM-DD"} (inclusive)'
            )
        window = DateWindow(
            dt.date.fromisoformat(params["start_date"]), dt.date.fromisoformat(params["end_date"])
        )
        return plan_exports(window, params, CONFIG.soundlink_conn_id, CONFIG.export_shards)

    add_export_and_merge_tasks(CONFIG, plan_campaign_exports())
