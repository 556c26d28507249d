"""How a failed run of the real daily DAG reaches the test output through the Airflow harness: the failed
task's name and the error it raised, with Soundlink's request id (from the command's output for `dags
test`, which runs tasks in-process, and from the task's log file for a backfill).

The successful paths (`dags test`, both versions' backfills, their runs and data intervals) are proven by
test_dags_runs; each test here uses logical dates no other test uses, in the session's shared homes.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from e2e.conftest import DagsEnvironment
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.airflow_runner import AirflowRunError

DAILY_DAG = "soundlink_metrics_daily"
UNKNOWN_CAMPAIGN = "camp_unknown00000"
FAILING_CONF = {"dataset_id": "never_loaded", "object_prefix": "failures", "campaign_ids": [UNKNOWN_CAMPAIGN]}
# The export of an unknown campaign fails on its first call (a 404 is not retried).
API_ERROR = re.compile(
    rf"HTTP 404 campaign_not_found: Campaign {UNKNOWN_CAMPAIGN} was not found.*\(request id: req_\w+\)"
)


def assert_reports_the_export_failure(failure: pytest.ExceptionInfo[AirflowRunError]) -> None:
    message = str(failure.value)
    # The one campaign is the first export shard's share; its error is in that task's own report.
    _, separator, failed_task_report = message.partition(f"--- {DAILY_DAG}.export_breakdown_0 in ")
    assert separator, message
    failed_task_report = failed_task_report.split("\n--- ", 1)[0]
    assert API_ERROR.search(failed_task_report), message


def test_a_failed_dags_test_raises_with_the_failing_tasks_log(
    any_airflow: DagsEnvironment, sandbox: SandboxProcess
) -> None:
    with pytest.raises(AirflowRunError) as failure:
        any_airflow.airflow.dags_test(DAILY_DAG, dt.date(2026, 6, 10), FAILING_CONF)

    assert_reports_the_export_failure(failure)


@pytest.mark.airflow2
def test_a_failed_airflow2_backfill_run_raises_with_the_failing_tasks_log(
    airflow2: DagsEnvironment, sandbox: SandboxProcess
) -> None:
    run_date = dt.date(2026, 6, 1)

    with pytest.raises(AirflowRunError) as failure:
        airflow2.airflow.backfill(DAILY_DAG, run_date, run_date, conf=FAILING_CONF)

    assert_reports_the_export_failure(failure)


def test_a_failed_airflow3_backfill_run_raises_with_the_failing_tasks_log(
    airflow3: DagsEnvironment, sandbox: SandboxProcess
) -> None:
    run_date = dt.date(2026, 6, 1)

    with pytest.raises(AirflowRunError) as failure:
        airflow3.airflow.backfill(DAILY_DAG, run_date, run_date, conf=FAILING_CONF)

    assert_reports_the_export_failure(failure)
