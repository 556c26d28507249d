"""The dry-run check against the emulator, which cannot dry-run a MERGE: it must say so, exit non-zero,
and leave nothing behind (tests/test_bigquery_check.py checks the figures through a recording transport)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

from airflow_provider_soundlink.bigquery_check import NOT_MEASURED, NOTHING_TO_JUDGE, check_tables, main
from airflow_provider_soundlink.core.schemas import table_definition


def test_the_emulator_is_reported_as_unable_to_dry_run_and_nothing_is_left(
    gcp_emulators: Any, capsys: pytest.CaptureFixture[str]
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
    client = hook.get_client(project_id=gcp_emulators.project)
    assert (
        check_tables(hook, gcp_emulators.project, dataset, None, ["camp_a"], dt.date(2026, 6, 14))[0].verdict
        == NOTHING_TO_JUDGE
    )
    client.query(
        f"INSERT INTO `{gcp_emulators.project}.{dataset}.{table.name}` (provider, account_id, report_date, "
        "exported_at, campaign_id, country_code) VALUES ('soundlink', 'a', DATE '2026-06-01', "
        "TIMESTAMP '2026-06-09 06:00:00', 'camp_a', 'US')"
    ).result()

    exit_code = main(["--project", gcp_emulators.project, "--dataset", dataset, "--last-day", "2026-06-14"])

    output = capsys.readouterr().out
    assert exit_code == 2
    assert "NOT MEASURED" in output and "the local emulator cannot dry-run a MERGE" in output
    checks = check_tables(hook, gcp_emulators.project, dataset, None, ["camp_a"], dt.date(2026, 6, 14))
    assert [check.verdict for check in checks] == [NOT_MEASURED, NOTHING_TO_JUDGE]
    assert [listed.table_id for listed in client.list_tables(f"{gcp_emulators.project}.{dataset}")] == [
        table.name
    ]
