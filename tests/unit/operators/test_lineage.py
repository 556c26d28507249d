"""Lineage without running anything: dataset names, the job facet, and what each operator says it will
write before it runs (from its arguments alone)."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_provider_soundlink.operators import (
    SoundlinkBigQueryMergeOperator,
    SoundlinkExportToGCSOperator,
    SoundlinkLinkStatsToGCSOperator,
)
from airflow_provider_soundlink.operators.lineage import (
    RecordedLineage,
    gcs_dataset,
    gcs_folder_dataset,
    operator_lineage,
)
from support.manifests import entry


def test_every_object_of_a_table_names_the_same_folder_dataset() -> None:
    objects = [
        "gs://b/daily/campaign_country_daily/campaign_id=camp_a/2026-06-01_2026-06-08.jsonl",
        "gs://b/daily/campaign_country_daily/campaign_id=camp_b/2026-06-02_2026-06-09.jsonl",
    ]
    folders = {gcs_dataset(uri, "campaign_country_daily") for uri in objects}
    assert folders == {gcs_folder_dataset("b", "/daily/", "campaign_country_daily")}
    (folder,) = folders
    assert (folder.namespace, folder.name) == ("gs://b", "daily/campaign_country_daily")
    # Without a prefix, and an object outside any table folder: its own folder.
    assert gcs_dataset("gs://b/link_clicks_daily/group_by=ip/2026-06-01.jsonl", "link_clicks_daily").name == (
        "link_clicks_daily"
    )
    assert gcs_dataset("gs://b/loose/file.jsonl", "campaign_country_daily").name == "loose"


def test_the_merge_job_id_becomes_the_external_query_facet() -> None:
    recorded = RecordedLineage(bigquery_job="soundlink_daily_merge_breakdown_merge_0_1_abc")

    facets = operator_lineage(recorded).run_facets

    assert facets["externalQuery"].externalQueryId == "soundlink_daily_merge_breakdown_merge_0_1_abc"
    assert facets["externalQuery"].source == "bigquery"
    assert operator_lineage(RecordedLineage()).run_facets == {}


def names(datasets: list[SimpleNamespace]) -> list[tuple[str, str]]:
    return [(dataset.namespace, dataset.name) for dataset in datasets]


def test_before_running_the_exports_name_the_folder_they_write() -> None:
    export = SoundlinkExportToGCSOperator(
        task_id="export",
        export="engagement",
        campaign_ids=["camp_a"],
        report_start_date="2026-06-01",
        report_end_date="2026-06-08",
        bucket="exports",
        object_prefix="daily",
    )
    link_stats = SoundlinkLinkStatsToGCSOperator(
        task_id="link_stats",
        groupings=[None],
        report_start_date="2026-06-01",
        report_end_date="2026-06-01",
        bucket="exports",
    )

    assert names(export.get_openlineage_facets_on_start().outputs) == [
        ("gs://exports", "daily/campaign_engagement_daily")
    ]
    assert names(link_stats.get_openlineage_facets_on_start().outputs) == [
        ("gs://exports", "soundlink/link_clicks_daily")
    ]


def test_before_running_the_merge_names_the_folder_it_reads_and_the_table_it_writes() -> None:
    merge = SoundlinkBigQueryMergeOperator(
        task_id="merge",
        export="breakdown",
        manifest=[[entry("camp_a"), entry("camp_b", row_count=0)]],
        project_id="my-project",
        dataset_id="soundlink",
    )
    unrendered = SoundlinkBigQueryMergeOperator(
        task_id="merge_later",
        export="breakdown",
        manifest="{{ ti.xcom_pull('export') }}",
        project_id="my-project",
        dataset_id="soundlink",
    )

    started = merge.get_openlineage_facets_on_start()

    assert names(started.inputs) == [("gs://bucket", "camp_a")]
    assert names(started.outputs) == [("bigquery", "my-project.soundlink.campaign_country_daily")]
    assert unrendered.get_openlineage_facets_on_start().inputs == []
