"""The dry-run command users point at their own dataset, run here against the emulator (which reports 0
bytes processed, so only the path and its clean-up are checked, not the figures)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

from airflow_provider_soundlink.bigquery_check import dry_run_merges, main, report
from airflow_provider_soundlink.schemas import table_definition


def test_each_existing_tables_merge_is_dry_run_over_one_and_thirty_days_and_nothing_is_left(
    gcp_emulators: Any,
) -> None:
    dataset = gcp_emulators.create_dataset("check")
    hook = BigQueryHook(use_legacy_sql=False)
    table = table_definition("campaign_country_daily")
    hook.create_table(
        dataset_id=dataset,
        table_id=table.name,
        project_id=gcp_emulators.project,
        table_resource=table.table_resource(),
    )

    results = dry_run_merges(
        gcp_emulators.project, dataset, None, "google_cloud_default", ["camp_a"], dt.date(2026, 6, 14)
    )

    assert [(result.table, result.window_days) for result in results] == [
        ("campaign_country_daily", 1),
        ("campaign_country_daily", 30),
        ("campaign_engagement_daily", 1),
        ("campaign_engagement_daily", 30),
    ]
    assert all(isinstance(result.bytes_processed, int) for result in results[:2])
    assert [result.bytes_processed for result in results[2:]] == [None, None]
    assert "no such table" in report(results)
    tables = hook.get_client(project_id=gcp_emulators.project).list_tables(
        f"{gcp_emulators.project}.{dataset}"
    )
    assert [listed.table_id for listed in tables] == [table.name]


def test_the_command_refuses_an_empty_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--project", "my-project", "--dataset", "soundlink", "--campaign-ids", " , "])
    assert "--campaign-ids needs at least one id" in capsys.readouterr().err
