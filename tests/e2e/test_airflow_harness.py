"""Real Airflow 3.3 and 2.11 runs of a probe DAG: which logical dates and data intervals each version gives
to `dags test` and to a backfill, and how a failure reaches the test output.

Each test uses its own month, so the runs of one test never count in another's assertions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from e2e.airflow_runner import (
    AIRFLOW2_VENV,
    AIRFLOW3_VENV,
    AirflowEnvironment,
    AirflowRunError,
    DagRunRecord,
    day_interval,
)

DAGS_FOLDER = Path(__file__).parent / "dags"
DAG_ID = "harness_probe"


@dataclass(frozen=True)
class ProbeEnvironment:
    airflow: AirflowEnvironment
    record_file: Path

    def recorded_intervals(self, month: int) -> list[tuple[str, str, str]]:
        """(logical date, interval start, interval end) of each task execution in ``month`` of 2026."""
        if not self.record_file.exists():
            return []
        records = [json.loads(line) for line in self.record_file.read_text().splitlines()]
        return sorted(
            (record["logical_date"], record["data_interval_start"], record["data_interval_end"])
            for record in records
            if datetime.fromisoformat(record["logical_date"]).month == month
        )


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(AIRFLOW3_VENV, id="airflow3"),
        pytest.param(AIRFLOW2_VENV, id="airflow2", marks=pytest.mark.airflow2),
    ],
)
def probe(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProbeEnvironment]:
    home = tmp_path_factory.mktemp(f"airflow-home-{request.param.name}")
    record_file = home / "probe-records.jsonl"
    airflow = AirflowEnvironment(
        request.param, home, DAGS_FOLDER, {"HARNESS_PROBE_RECORD_FILE": str(record_file)}
    )
    airflow.migrate()
    yield ProbeEnvironment(airflow, record_file)


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def run_summary(run: DagRunRecord) -> tuple[date, datetime, datetime, str]:
    return run.logical_date.date(), run.data_interval_start, run.data_interval_end, run.state


def iso_interval(day: date) -> tuple[str, str, str]:
    start, end = day_interval(day)
    return start.isoformat(), start.isoformat(), end.isoformat()


def test_dags_test_for_a_date_runs_the_day_that_ended_at_that_date(probe: ProbeEnvironment) -> None:
    # A manual run's interval is inferred as the last complete one before its logical date, on both
    # versions: `dags test D` covers [D - 1, D), unlike the backfill run with logical date D.
    run = probe.airflow.dags_test(DAG_ID, date(2026, 4, 10))

    yesterday_start, yesterday_end = day_interval(date(2026, 4, 9))
    assert run_summary(run) == (date(2026, 4, 10), yesterday_start, yesterday_end, "success")
    assert run.run_type == "manual"
    assert probe.recorded_intervals(month=4) == [
        ("2026-04-10T00:00:00+00:00", yesterday_start.isoformat(), yesterday_end.isoformat())
    ]


def test_a_ten_day_backfill_runs_each_day_from_start_to_end_inclusive(probe: ProbeEnvironment) -> None:
    start, end = date(2026, 3, 1), date(2026, 3, 10)

    runs = probe.airflow.backfill(DAG_ID, start, end)

    expected = [(day, *day_interval(day), "success") for day in days(start, end)]
    assert [run_summary(run) for run in runs] == expected
    assert [
        run_summary(run) for run in probe.airflow.dag_runs(DAG_ID) if run.logical_date.month == 3
    ] == expected
    assert {run.run_type for run in runs} == {"backfill"}
    assert probe.recorded_intervals(month=3) == [iso_interval(day) for day in days(start, end)]


def test_a_repeated_backfill_leaves_existing_runs_alone_unless_told_to_rerun_them(
    probe: ProbeEnvironment,
) -> None:
    start, end = date(2026, 5, 1), date(2026, 5, 2)
    first_runs = probe.airflow.backfill(DAG_ID, start, end)

    repeated_runs = probe.airflow.backfill(DAG_ID, start, end)

    # 2.11 reuses the existing runs and skips their finished tasks; 3.x creates an empty backfill whose
    # dates are all "already exists".
    expected_runs = [] if probe.airflow.major_version >= 3 else first_runs
    assert repeated_runs == expected_runs
    assert probe.recorded_intervals(month=5) == [iso_interval(day) for day in days(start, end)]

    rerun_runs = probe.airflow.backfill(DAG_ID, start, end, rerun_existing=True)

    assert [run.run_id for run in rerun_runs] == [run.run_id for run in first_runs]
    assert [run_summary(run) for run in rerun_runs] == [run_summary(run) for run in first_runs]
    assert probe.recorded_intervals(month=5) == sorted(2 * [iso_interval(day) for day in days(start, end)])


def test_a_failed_dags_test_raises_with_the_task_log(probe: ProbeEnvironment) -> None:
    with pytest.raises(AirflowRunError, match="probe failure in dags test"):
        probe.airflow.dags_test(DAG_ID, date(2026, 6, 10), conf={"fail_with": "probe failure in dags test"})


def test_a_failed_backfill_run_raises_with_the_task_log(probe: ProbeEnvironment) -> None:
    with pytest.raises(
        AirflowRunError, match=r"(?s)harness_probe\.record_interval.*probe failure in backfill"
    ):
        probe.airflow.backfill(
            DAG_ID, date(2026, 7, 1), date(2026, 7, 1), conf={"fail_with": "probe failure in backfill"}
        )
