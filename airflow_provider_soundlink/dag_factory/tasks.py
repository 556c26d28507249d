"""Add the export, MERGE, reconciliation and link-statistics tasks to a DAG, from a plan task's output.

Each export gets a fixed number of export tasks (shards) and ONE MERGE, so the number of task instances
per run is fixed by configuration, never by the number of campaigns, and no task is mapped: Airflow 2.11's
``airflow dags backfill`` runs the DAGs with Airflow's default configuration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_soundlink.compat import Asset, task
from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS, ExportKind
from airflow_provider_soundlink.dag_factory.config import RECONCILE_OFF, PipelineConfig, link_stats_groupings
from airflow_provider_soundlink.dag_factory.plan import shard_key
from airflow_provider_soundlink.operators.bigquery_merge import (
    MERGE_POOL,
    SoundlinkBigQueryMergeOperator,
    bigquery_asset_uri,
)
from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.link_stats_to_gcs import SoundlinkLinkStatsToGCSOperator
from airflow_provider_soundlink.operators.reconcile import SoundlinkReconcileOperator

if TYPE_CHECKING:
    from airflow.sdk import XComArg
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

log = logging.getLogger(__name__)

API_POOL = "soundlink_api"
"""The pool bounding concurrent calls to the Soundlink API."""


GCS_FROM_PARAMS: dict[str, Any] = {
    "bucket": "{{ params.bucket }}",
    "object_prefix": "{{ params.object_prefix }}",
}
"""The export operators' destination, from the run's params (which default to the environment)."""
BIGQUERY_FROM_PARAMS: dict[str, Any] = {
    "project_id": "{{ params.project_id }}",
    "dataset_id": "{{ params.dataset_id }}",
    "location": "{{ params.location }}",
}
"""The BigQuery operators' dataset, from the run's params."""


def planned_window(plan_outputs: PlainXComArg) -> dict[str, Any]:
    """Return the report dates of the plan task's output, as the operators' date arguments."""
    return {
        "report_start_date": plan_outputs["report_start_date"],
        "report_end_date": plan_outputs["report_end_date"],
    }


def add_export_and_merge_tasks(config: PipelineConfig, plan: XComArg) -> None:
    """Per export: ``config.export_shards`` export tasks, each over its share of the planned campaigns,
    then one MERGE of all their files; with ``SOUNDLINK_RECONCILE`` on, the breakdown's MERGE is followed by
    a check of the planned campaigns' totals against Soundlink's overview.

    Call it inside the DAG's context, with the output of the task that returned :func:`plan_exports`
    (declared with ``multiple_outputs=True``).
    """
    # A plan task's output is a PlainXComArg: indexing it pulls the XCom of that key (multiple_outputs).
    plan_outputs = cast("PlainXComArg", plan)
    for kind in CAMPAIGN_EXPORTS:
        shards = [
            SoundlinkExportToGCSOperator(
                task_id=f"export_{kind.value}_{shard}",
                export=kind,
                campaign_ids=plan_outputs[shard_key(shard)],
                **planned_window(plan_outputs),
                **GCS_FROM_PARAMS,
                soundlink_conn_id=config.soundlink_conn_id,
                gcp_conn_id=config.gcp_conn_id,
                pool=API_POOL,
            )
            for shard in range(config.export_shards)
        ]
        merge = SoundlinkBigQueryMergeOperator(
            task_id=f"merge_{kind.value}",
            export=kind,
            manifest=[shard.output for shard in shards],
            **BIGQUERY_FROM_PARAMS,
            gcp_conn_id=config.gcp_conn_id,
            pool=MERGE_POOL,
            outlets=table_assets(config, kind),
            add_new_fields=config.add_new_fields,
        )
        if kind is ExportKind.BREAKDOWN and config.reconcile != RECONCILE_OFF:
            merge >> SoundlinkReconcileOperator(
                task_id="reconcile_breakdown",
                campaign_ids=plan_outputs["campaign_ids"],
                **planned_window(plan_outputs),
                **BIGQUERY_FROM_PARAMS,
                on_mismatch="{{ params.reconcile }}",
                soundlink_conn_id=config.soundlink_conn_id,
                gcp_conn_id=config.gcp_conn_id,
                pool=API_POOL,
            )


def add_link_stats_tasks(config: PipelineConfig, plan: XComArg) -> None:
    """Add the daily DAG's optional link statistics: when the run's ``link_stats_groupings`` is not empty, one
    task exports those groupings for each of the planned report dates and one MERGE loads them into
    ``link_clicks_daily``; otherwise both are skipped.

    Call it inside the DAG's context, with the output of the plan task (see
    :func:`add_export_and_merge_tasks`). The Soundlink connection needs its ``pseudonymisation_secret``
    extra (personal data is pseudonymised; see the operator).
    """
    plan_outputs = cast("PlainXComArg", plan)

    @task.short_circuit(task_id="plan_link_stats")
    def plan_link_stats(**context: Any) -> list[str | None]:
        """Read the run's link-statistics groupings; none skips the link-stats tasks."""
        groupings = link_stats_groupings(context["params"].get("link_stats_groupings") or ())
        log.info("Link statistics: %s", groupings or "none configured, skipping them")
        return groupings

    export = SoundlinkLinkStatsToGCSOperator(
        task_id="export_link_stats",
        groupings=plan_link_stats(),
        **planned_window(plan_outputs),
        **GCS_FROM_PARAMS,
        soundlink_conn_id=config.soundlink_conn_id,
        gcp_conn_id=config.gcp_conn_id,
        pool=API_POOL,
    )
    SoundlinkBigQueryMergeOperator(
        task_id="merge_link_stats",
        export=ExportKind.LINK_STATS,
        manifest=export.output,
        **BIGQUERY_FROM_PARAMS,
        gcp_conn_id=config.gcp_conn_id,
        pool=MERGE_POOL,
        outlets=table_assets(config, ExportKind.LINK_STATS),
    )


def table_assets(config: PipelineConfig, kind: ExportKind) -> list[Asset]:
    if not config.project_id:
        return []
    return [Asset(bigquery_asset_uri(config.project_id, config.dataset_id, kind.table_name))]
