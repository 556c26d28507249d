"""OpenLineage of the operators, as the openlineage provider's listener reads it when a task starts and
after it ran: the Soundlink API as input of the exports, the GCS folder of each table between the exports
and the MERGE (the same dataset run after run), and the BigQuery table with its schema as the MERGE's
output, with the MERGE job's id."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.operators import (
    SoundlinkBigQueryMergeOperator,
    SoundlinkExportToGCSOperator,
    SoundlinkLinkStatsToGCSOperator,
)
from airflow_provider_soundlink.operators.links import BigQueryJobLink
from support.operator_pipeline import PLAYLIST_CAMPAIGN, RECENT_WINDOW, TRACK_CAMPAIGN, Pipeline
from support.task_context import task_context


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(dataset.namespace, dataset.name) for dataset in datasets]


def folder(bucket: str, table: str, prefix: str = "soundlink") -> tuple[str, str]:
    """Return the dataset of a table's objects: the folder they are written into, whatever campaign or day."""
    return (f"gs://{bucket}", f"{prefix}/{table}")


def test_an_export_reads_one_api_dataset_per_campaign_and_writes_its_objects(pipeline: Pipeline) -> None:
    operator = SoundlinkExportToGCSOperator(
        task_id="export_breakdown",
        export="breakdown",
        campaign_ids=[TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN],
        report_start_date=RECENT_WINDOW[0],
        report_end_date=RECENT_WINDOW[1],
        bucket=pipeline.bucket,
    )
    started = operator.get_openlineage_facets_on_start()
    manifest = operator.execute(task_context(operator.task_id))

    lineage = operator.get_openlineage_facets_on_complete(None)

    api = pipeline.sandbox.base_url.rstrip("/")
    assert names(lineage.inputs) == [
        (api, f"/v1/campaigns/{campaign}/metrics/breakdown/export")
        for campaign in (TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN)
    ]
    assert len(manifest) == 2
    assert names(lineage.outputs) == [folder(pipeline.bucket, "campaign_country_daily")]
    # Known before the task runs: where it writes.
    assert names(started.outputs) == names(lineage.outputs)


def test_the_merge_reads_the_objects_and_writes_the_table_with_its_schema(pipeline: Pipeline) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN], RECENT_WINDOW)
    operator = SoundlinkBigQueryMergeOperator(
        task_id="merge_breakdown",
        export="breakdown",
        manifest=manifest,
        project_id=pipeline.project,
        dataset_id=pipeline.dataset,
    )
    started = operator.get_openlineage_facets_on_start()
    context = task_context(operator.task_id)
    operator.execute(context)

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert names(lineage.inputs) == [folder(pipeline.bucket, "campaign_country_daily")]
    assert (names(started.inputs), names(started.outputs)) == (names(lineage.inputs), names(lineage.outputs))
    # The MERGE job, as the google provider's operators report their jobs.
    job = lineage.run_facets["externalQuery"]
    assert job.source == "bigquery" and "_merge_0_1_" in job.externalQueryId
    assert f"!2s{job.externalQueryId}!" in context["ti"].xcom[BigQueryJobLink.key]
    (table,) = lineage.outputs
    assert (table.namespace, table.name) == (
        "bigquery",
        f"{pipeline.project}.{pipeline.dataset}.campaign_country_daily",
    )
    definition = table_definition(ExportKind.BREAKDOWN)
    assert [(field.name, field.type) for field in table.facets["schema"].fields] == [
        (column["name"], column["type"]) for column in definition.bigquery_schema()
    ]


def test_link_stats_read_the_endpoint_and_write_one_object_per_day_and_grouping(
    pipeline: Pipeline, monkeypatch: Any
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOUNDLINK_DEFAULT",
        json.dumps({**pipeline.connection, "extra": {"pseudonymisation_secret": "lineage-key"}}),
    )
    operator = SoundlinkLinkStatsToGCSOperator(
        task_id="export_link_stats",
        groupings=[None, "country"],
        report_start_date=RECENT_WINDOW[0],
        report_end_date=RECENT_WINDOW[0],
        bucket=pipeline.bucket,
    )
    manifest = operator.execute(task_context(operator.task_id))

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert names(lineage.inputs) == [
        (pipeline.sandbox.base_url.rstrip("/"), "/tracking/link/stats/aggregated")
    ]
    assert len(manifest) == 2
    assert names(lineage.outputs) == [folder(pipeline.bucket, "link_clicks_daily")]
