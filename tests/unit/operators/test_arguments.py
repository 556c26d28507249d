"""The operators' arguments: early, explicit refusals, templated fields, object names, declared outlets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_soundlink.compat import Asset
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.operators import SoundlinkBigQueryMergeOperator, SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.arguments import campaign_id_list, export_window, parse_report_date
from airflow_provider_soundlink.operators.export_to_gcs import export_object_name
from support.manifests import entry

EXPORT_ARGS: dict[str, Any] = {
    "task_id": "export",
    "export": "breakdown",
    "campaign_ids": ["camp_a"],
    "report_start_date": "2026-01-01",
    "report_end_date": "2026-01-31",
    "bucket": "exports",
}
MERGE_ARGS: dict[str, Any] = {
    "task_id": "merge",
    "export": "breakdown",
    "manifest": [],
    "project_id": "soundlink-local",
    "dataset_id": "soundlink",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"export": "clicks"}, "unknown export 'clicks': give one of 'breakdown', 'engagement'"),
        ({"campaign_ids": "camp_a"}, "campaign_ids must be a list of campaign id strings, got 'camp_a'"),
        ({"campaign_ids": ["camp_a", 7, ""]}, r"campaign_ids holds \[7, ''\]"),
        (
            {"report_start_date": "2026/01/01"},
            "report_start_date='2026/01/01' is not a date; give a YYYY-MM-DD",
        ),
        ({"report_end_date": "2026-02-30"}, "report_end_date='2026-02-30' is not a calendar date"),
        (
            {"report_start_date": "2026-02-01"},
            "report_end_date 2026-01-31 is before report_start_date 2026-02-01",
        ),
        ({"bucket": ""}, "bucket is empty"),
        ({"engagement_context": "catalog"}, "applies only to the engagement export, not to 'breakdown'"),
        (
            {"export": "engagement", "engagement_context": "radio"},
            "engagement_context='radio' is unknown: give one of catalog, playlist, or None for both",
        ),
    ],
)
def test_export_operator_refuses_bad_arguments_when_the_dag_is_parsed(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SoundlinkExportToGCSOperator(**{**EXPORT_ARGS, **change})


def test_export_operator_defers_checks_of_templated_arguments_to_run_time() -> None:
    operator = SoundlinkExportToGCSOperator(
        **{
            **EXPORT_ARGS,
            "export": ExportKind.ENGAGEMENT,
            "campaign_ids": "{{ params.campaigns }}",
            "report_start_date": "{{ macros.ds_add(ds, -7) }}",
            "report_end_date": "{{ ds }}",
            "engagement_context": "playlist",
        }
    )
    assert operator.export is ExportKind.ENGAGEMENT
    assert operator.report_end_date == "{{ ds }}"


def test_export_operator_templates_the_run_dependent_fields() -> None:
    assert set(SoundlinkExportToGCSOperator.template_fields) == {
        "campaign_ids",
        "report_start_date",
        "report_end_date",
        "bucket",
        "object_prefix",
        "impersonation_chain",
    }


def test_report_dates_accept_strings_dates_and_datetimes() -> None:
    assert parse_report_date("d", " 2028-02-29 ") == dt.date(2028, 2, 29)
    assert parse_report_date("d", dt.date(2026, 1, 2)) == dt.date(2026, 1, 2)
    assert parse_report_date("d", dt.datetime(2026, 1, 2, 23, 59)) == dt.date(2026, 1, 2)
    assert export_window("2026-01-01", dt.date(2026, 1, 1)) == DateWindow(
        dt.date(2026, 1, 1), dt.date(2026, 1, 1)
    )
    with pytest.raises(ValueError, match="is not a date"):
        parse_report_date("d", 20260101)


def test_campaign_ids_are_deduplicated_in_order() -> None:
    assert campaign_id_list(("b", "a", "b")) == ["b", "a"]


def test_object_names_are_deterministic_and_confine_opaque_ids() -> None:
    window = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert (
        export_object_name("soundlink/", ExportKind.BREAKDOWN, "camp_abc", window, None)
        == "soundlink/campaign_country_daily/campaign_id=camp_abc/2026-01-01_2026-03-31.jsonl"
    )
    assert (
        export_object_name("", ExportKind.ENGAGEMENT, "../x/y?z", window, "catalog")
        == "campaign_engagement_daily/campaign_id=..%2Fx%2Fy%3Fz/2026-01-01_2026-03-31_catalog.jsonl"
    )


def test_merge_operator_declares_its_table_as_an_asset() -> None:
    operator = SoundlinkBigQueryMergeOperator(**MERGE_ARGS)
    assert operator.table_id == "campaign_country_daily"
    assert [outlet.uri for outlet in operator.outlets] == [
        "bigquery://soundlink-local/soundlink/campaign_country_daily"
    ]


def test_merge_operator_keeps_given_outlets_and_declares_none_for_a_templated_table() -> None:
    mine = Asset("bigquery://soundlink-local/reporting/mine")
    given = SoundlinkBigQueryMergeOperator(**MERGE_ARGS, outlets=[mine])
    assert [outlet.uri for outlet in given.outlets] == [mine.uri]
    templated = SoundlinkBigQueryMergeOperator(**{**MERGE_ARGS, "dataset_id": "{{ params.dataset }}"})
    assert list(templated.outlets) == []


def test_merge_operator_templates_the_run_dependent_fields() -> None:
    assert set(SoundlinkBigQueryMergeOperator.template_fields) == {
        "manifest",
        "project_id",
        "dataset_id",
        "table_id",
        "location",
        "impersonation_chain",
        "labels",
        # Not an argument: the SQL the task ran, rendered once it has (test_merge_operator.py).
        "merge_sql",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"export": "clicks"}, "unknown export 'clicks'"),
        ({"dataset_id": "sound-link"}, "invalid BigQuery dataset name 'sound-link'"),
        ({"project_id": "P"}, "invalid BigQuery project id 'P'"),
        ({"staging_expiration": dt.timedelta(0)}, "staging_expiration must be positive"),
        ({"max_job_attempts": 0}, "max_job_attempts must be at least 1"),
        ({"partition_expiration": dt.timedelta(hours=1)}, "partition_expiration must be at least a day"),
        ({"max_uris_per_load_job": 0}, r"max_uris_per_load_job must be 1 to 10000 \(BigQuery's limit"),
        ({"max_uris_per_load_job": 10_001}, "max_uris_per_load_job must be 1 to 10000"),
        ({"maximum_bytes_billed": 0}, "maximum_bytes_billed must be a positive number of bytes or None"),
    ],
)
def test_merge_operator_refuses_bad_arguments_when_the_dag_is_parsed(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SoundlinkBigQueryMergeOperator(**{**MERGE_ARGS, **change})


def test_merge_operator_refuses_a_manifest_of_the_other_export_before_touching_bigquery() -> None:
    operator = SoundlinkBigQueryMergeOperator(**{**MERGE_ARGS, "manifest": [[entry(export="engagement")]]})
    with pytest.raises(ValueError, match="holds the 'engagement' export but this task loads 'breakdown'"):
        operator.execute({})  # type: ignore[arg-type]
