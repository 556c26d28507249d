"""The daily DAG run the way platform teams run Airflow, where tasks of one run land on different machines:
PostgreSQL as the metadata database and, on Airflow 3.3, the CeleryExecutor with Redis as its broker, an
API server, a scheduler, a dag processor and two Celery workers, each in its own working directory with
its own temp dir, so no task can read another's local files; on Airflow 2.11, PostgreSQL with the
LocalExecutor. Both run a triggerer with ``default_deferrable`` on, so the MERGE tasks wait for their
BigQuery jobs there. Each installation is set up as docker-compose.yaml sets its stack up
(scripts/airflow-init.sh: pools, connections in the database) and its daemons start in the same order
(the API server first, the workers last). The tables must equal the sandbox's truth, as on the
single-machine stack.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import soundlink_stand_ins as stand_ins
from airflow_provider_soundlink.core.windows import DateWindow
from e2e.conftest import make_dags_environment
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.airflow_runner import AirflowEnvironment, CeleryWorker, day_interval
from soundlink_stand_ins.paths import AIRFLOW2_VENV, AIRFLOW3_VENV
from soundlink_stand_ins.pipeline import Warehouse, celery_deployment
from support.emulators import GCP_PROJECT, SANDBOX_TODAY, GcpEmulators

DAILY_DAG = "soundlink_metrics_daily"
CAMPAIGNS = ["camp_aesuou0yx3p5", "camp_medanery0y5l"]
"""Ended in May 2026, and running (with rows on any day since September 2025)."""
LAST_CLOSED_DAY = SANDBOX_TODAY - dt.timedelta(days=1)
REVISION_DAYS = dt.timedelta(days=7)
EXPORT_SHARDS = 2
WORKERS = ("worker-a", "worker-b")


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stand_ins.RunningService]:
    service = stand_ins.start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield service
    finally:
        stand_ins.stop_postgres(service)


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stand_ins.RunningService]:
    service = stand_ins.start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield service
    finally:
        stand_ins.stop_process_group(service.pid)


def conf(warehouse: Warehouse) -> dict[str, object]:
    return {"dataset_id": warehouse.dataset, "object_prefix": warehouse.dataset, "campaign_ids": CAMPAIGNS}


# Measured 417 s here with a 3-day backfill, every MERGE waiting twice in the triggerer, and 262-360 s
# with a 2-day backfill; the 1-day backfill of today takes less: 3x and more.
@pytest.mark.timeout(1200)
def test_airflow3_with_postgres_and_two_celery_workers_runs_a_daily_run_and_a_backfill(
    postgres: stand_ins.RunningService,
    redis: stand_ins.RunningService,
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
    sandbox: SandboxProcess,
) -> None:
    database = stand_ins.create_postgres_database(postgres, "airflow3")
    database_url = stand_ins.postgres_url(postgres, database)
    deployment = {
        **celery_deployment(
            database_url=database_url,
            broker_url=f"redis://127.0.0.1:{redis.port}/0",
            result_backend=stand_ins.postgres_url(postgres, database, driver="db+postgresql+psycopg2"),
        ),
        # Two workers of one slot each: two tasks at a time, one per worker.
        "AIRFLOW__CORE__PARALLELISM": "2",
        # The MERGE tasks wait for their BigQuery jobs in the triggerer.
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
    }
    environment = make_dags_environment(
        AIRFLOW3_VENV,
        EXPORT_SHARDS,
        tmp_path_factory,
        gcp_emulators,
        _sandbox_process,
        database_url,
        deployment,
        init_script=True,
    )
    airflow = environment.airflow
    workers = [CeleryWorker(name, tmp_path_factory.mktemp(name)) for name in WORKERS]
    daily = Warehouse(GCP_PROJECT, "platform_daily")
    backfill = Warehouse(GCP_PROJECT, "platform_backfill")
    # Airflow 3 gives a triggered run the data interval that ends when it is triggered (its run_after), as
    # the scheduler does for a daily run: the sandbox's today is today.
    today = dt.datetime.now(dt.UTC).date()
    sandbox.set_today(today)

    with airflow.daemons(celery_workers=workers, triggerer=True) as daemons:
        working_directories = {Path(os.readlink(f"/proc/{daemons.pid(w.name)}/cwd")) for w in workers}
        run = airflow.trigger(DAILY_DAG, today, conf(daily), daemons)
        backfill_dates = DateWindow(dt.date(2026, 5, 5), dt.date(2026, 5, 5))
        backfill_runs = airflow.backfill(
            DAILY_DAG, backfill_dates.start, backfill_dates.end, conf=conf(backfill), daemons=daemons
        )
        triggerer_log = trigger_logs(airflow, daemons)

    assert working_directories == {worker.directory for worker in workers}
    yesterday = today - dt.timedelta(days=1)
    assert (run.data_interval_start, run.data_interval_end) == day_interval(yesterday)
    window = DateWindow(yesterday - REVISION_DAYS, yesterday)
    counts = daily.assert_matches_truth(CAMPAIGNS, window, today)
    assert all(count > 0 for count in counts.values())
    # Every task ran on a worker, and the export and MERGE tasks of the run were spread over both (the
    # link-stats tasks, skipped without groupings, ran nowhere).
    hosts = {task: host for task, host in airflow.task_hosts(DAILY_DAG, run.run_id).items() if host}
    assert set(hosts.values()) <= set(WORKERS), hosts
    exports_and_merges = {
        task: host for task, host in hosts.items() if task.startswith(("export_", "merge_"))
    }
    assert set(exports_and_merges.values()) == set(WORKERS), hosts

    assert [r.state for r in backfill_runs] == ["success"] * backfill_dates.days
    backfill_window = DateWindow(backfill_dates.start - REVISION_DAYS, backfill_dates.end)
    counts = backfill.assert_matches_truth(CAMPAIGNS, backfill_window, today)
    assert all(count > 0 for count in counts.values())
    backfill_hosts = {
        host for r in backfill_runs for host in airflow.task_hosts(DAILY_DAG, r.run_id).values() if host
    }
    assert backfill_hosts == set(WORKERS)
    assert_the_merges_waited_in_the_triggerer(triggerer_log, runs=1 + backfill_dates.days)


def trigger_logs(airflow: AirflowEnvironment, daemons: Any) -> str:
    """Collect what the triggerer logged: Airflow 3 prints the triggers' lines, 2.11 writes them into the
    deferred tasks' logs."""
    task_logs = (path.read_text(errors="replace") for path in (airflow.home / "logs").rglob("*.log"))
    return daemons.log("triggerer") + "".join(task_logs)


def assert_the_merges_waited_in_the_triggerer(triggerer_log: str, runs: int) -> None:
    """Each run's two MERGE tasks waited in the triggerer for their MERGE job (and before it for their load
    job, which Airflow 3 logs to the same file, since overwritten)."""
    waits = triggerer_log.count("(step merge_0_1 of its task)")
    assert waits >= 2 * runs, triggerer_log[-3000:]


@pytest.mark.airflow2
def test_airflow2_with_postgres_and_the_local_executor_runs_a_daily_run(
    postgres: stand_ins.RunningService,
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
    sandbox: SandboxProcess,
) -> None:
    database = stand_ins.create_postgres_database(postgres, "airflow2")
    deployment = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
    }
    environment = make_dags_environment(
        AIRFLOW2_VENV,
        1,
        tmp_path_factory,
        gcp_emulators,
        _sandbox_process,
        stand_ins.postgres_url(postgres, database),
        deployment,
        init_script=True,
    )
    warehouse = Warehouse(GCP_PROJECT, "platform_airflow2")

    with environment.airflow.daemons(triggerer=True) as daemons:
        run = environment.airflow.trigger(DAILY_DAG, SANDBOX_TODAY, conf(warehouse), daemons)
        triggerer_log = trigger_logs(environment.airflow, daemons)

    assert (run.data_interval_start, run.data_interval_end) == day_interval(LAST_CLOSED_DAY)
    window = DateWindow(LAST_CLOSED_DAY - REVISION_DAYS, LAST_CLOSED_DAY)
    assert all(
        count > 0 for count in warehouse.assert_matches_truth(CAMPAIGNS, window, SANDBOX_TODAY).values()
    )
    assert_the_merges_waited_in_the_triggerer(triggerer_log, runs=1)
