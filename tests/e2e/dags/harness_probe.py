"""Records the logical date and data interval of each run, so tests can see what Airflow scheduled."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from airflow.timetables.interval import CronDataIntervalTimetable

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2.11
    from airflow.decorators import dag, task  # type: ignore[no-redef]

RECORD_FILE_ENV = "HARNESS_PROBE_RECORD_FILE"
# A run whose conf holds this key fails, so tests can see how a failure is reported.
FAIL_CONF_KEY = "fail_with"


@dag(
    dag_id="harness_probe",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
)
def harness_probe() -> None:
    @task
    def record_interval(**context: Any) -> None:
        failure_message = (context["dag_run"].conf or {}).get(FAIL_CONF_KEY)
        if failure_message:
            raise RuntimeError(failure_message)
        record = {
            "logical_date": context["logical_date"].isoformat(),
            "data_interval_start": context["data_interval_start"].isoformat(),
            "data_interval_end": context["data_interval_end"].isoformat(),
            "run_id": context["run_id"],
        }
        with open(os.environ[RECORD_FILE_ENV], "a", encoding="utf-8") as record_file:
            record_file.write(json.dumps(record) + "\n")

    record_interval()


harness_probe()
