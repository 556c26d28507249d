"""The example DAGs run by real Airflow (3.3 and 2.11) against the sandbox, fake-gcs-server and
local-bigquery, and the BigQuery tables end up equal to the sandbox's truth."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator

import pytest
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from conftest import GCP_PROJECT, SANDBOX_TODAY, GcpEmulators, services

from airflow_provider_soundlink.sandbox.testing import SandboxProcess
from airflow_provider_soundlink.windows import DateWindow
from e2e.dags_support import REPO_ROOT, AirflowCli, Warehouse, campaigns_created_by, dag_settings

VENVS = {"airflow3": REPO_ROOT / ".venvs" / "af3", "airflow2": REPO_ROOT / ".venvs" / "af2"}
LAST_CLOSED_DAY = SANDBOX_TODAY - dt.timedelta(days=1)
ENDED_CAMPAIGN = "camp_aesuou0yx3p5"
"""Its last report date is 2026-05-07."""
RUNNING_CAMPAIGN = "camp_medanery0y5l"
_dataset_numbers = itertools.count()


def fresh_dataset(name: str) -> str:
    return f"{name}_{next(_dataset_numbers)}"


@pytest.fixture(scope="module", params=sorted(VENVS))
def airflow(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
) -> Iterator[tuple[AirflowCli, str]]:
    """A migrated Airflow home with the pools, its DAGs pointed at the stand-ins; and its bucket."""
    bucket = gcp_emulators.create_bucket(f"dags-{request.param}")
    environment = {
        **os.environ,
        "AIRFLOW_CONN_SOUNDLINK_DEFAULT": services.soundlink_connection_json(_sandbox_process.base_url),
        **dag_settings(project=GCP_PROJECT, dataset="unused", bucket=bucket),
    }
    cli = AirflowCli(VENVS[request.param], tmp_path_factory.mktemp(request.param), environment)
    cli.prepare()
    yield cli, bucket


def test_a_daily_run_loads_its_day_and_the_seven_before_and_a_rerun_changes_nothing(
    airflow: tuple[AirflowCli, str], sandbox: SandboxProcess
) -> None:
    cli, _ = airflow
    warehouse = Warehouse(GCP_PROJECT, fresh_dataset("daily"))
    conf = {"dataset_id": warehouse.dataset, "campaign_ids": []}
    # A manual run for a date gets the data interval that ended then: [yesterday, today), so D = yesterday.
    cli.dags_test("soundlink_metrics_daily", SANDBOX_TODAY, conf)
    window = DateWindow(LAST_CLOSED_DAY - dt.timedelta(days=7), LAST_CLOSED_DAY)
    campaigns = campaigns_created_by(window.end)
    counts = warehouse.assert_matches_truth(campaigns, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
    first = {kind: warehouse.stored(kind) for kind in counts}

    cli.dags_test("soundlink_metrics_daily", SANDBOX_TODAY, conf)
    assert {kind: warehouse.stored(kind) for kind in counts} == first


def test_the_backfill_dag_loads_more_than_180_days_in_slices_with_one_merge_per_export(
    airflow: tuple[AirflowCli, str], sandbox: SandboxProcess
) -> None:
    cli, bucket = airflow
    warehouse = Warehouse(GCP_PROJECT, fresh_dataset("history"))
    window = DateWindow(dt.date(2025, 11, 1), LAST_CLOSED_DAY)
    assert window.days > 180
    prefix = f"history-{warehouse.dataset}"
    conf = {
        "start_date": window.start.isoformat(),
        "end_date": window.end.isoformat(),
        "campaign_ids": [ENDED_CAMPAIGN, RUNNING_CAMPAIGN],
        "dataset_id": warehouse.dataset,
        "object_prefix": prefix,
    }
    cli.dags_test("soundlink_metrics_backfill", SANDBOX_TODAY, conf)
    counts = warehouse.assert_matches_truth([ENDED_CAMPAIGN, RUNNING_CAMPAIGN], window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
    # 226 days: three slices per campaign and export, all loaded by the one (unmapped) MERGE task of each
    # export, as test_dags_import shows.
    objects = GCSHook().list(bucket_name=bucket, prefix=f"{prefix}/")
    assert len(objects) == 2 * 2 * 3
    first = {kind: warehouse.stored(kind) for kind in counts}

    cli.dags_test("soundlink_metrics_backfill", SANDBOX_TODAY, conf)
    assert {kind: warehouse.stored(kind) for kind in counts} == first
