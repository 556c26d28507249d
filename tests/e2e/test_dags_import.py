"""The example DAG files parse on both Airflow versions quickly, with no network and no import errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from e2e.airflow_runner import AIRFLOW2_VENV, AIRFLOW3_VENV
from e2e.dags_support import parse_dags

TABLES = {"breakdown": "campaign_country_daily", "engagement": "campaign_engagement_daily"}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(AIRFLOW3_VENV, id="airflow3"),
        pytest.param(AIRFLOW2_VENV, id="airflow2", marks=pytest.mark.airflow2),
    ],
)
def parsed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    venv: Path = request.param
    environment = {
        "PATH": str(venv / "bin"),
        "SOUNDLINK_BIGQUERY_PROJECT": "soundlink-local",
        "SOUNDLINK_BIGQUERY_DATASET": "metrics",
        "SOUNDLINK_CAMPAIGN_IDS": "camp_a, camp_b,camp_a",
    }
    return parse_dags(venv / "bin" / "python", tmp_path_factory.mktemp(venv.name), environment)


def test_both_dags_parse_without_errors(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert sorted(parsed["dags"]) == ["soundlink_metrics_backfill", "soundlink_metrics_daily"]


def test_the_daily_dag_runs_daily_without_catchup(parsed: dict[str, Any]) -> None:
    daily = parsed["dags"]["soundlink_metrics_daily"]
    assert daily["timetable"] == "CronDataIntervalTimetable"
    assert daily["schedule"] == "0 0 * * *"
    assert daily["catchup"] is False
    assert "revision_days" in daily["params"]
    backfill = parsed["dags"]["soundlink_metrics_backfill"]
    assert backfill["timetable"] == "NullTimetable"
    assert {"start_date", "end_date", "campaign_ids"} <= set(backfill["params"])


@pytest.mark.parametrize("dag_id", ["soundlink_metrics_daily", "soundlink_metrics_backfill"])
def test_one_mapped_export_per_campaign_then_one_merge_per_export(
    parsed: dict[str, Any], dag_id: str
) -> None:
    tasks = parsed["dags"][dag_id]["tasks"]
    assert sorted(tasks) == [
        "export_breakdown",
        "export_engagement",
        "merge_breakdown",
        "merge_engagement",
        "plan_campaign_exports",
    ]
    for export, table in TABLES.items():
        exports, merge = tasks[f"export_{export}"], tasks[f"merge_{export}"]
        assert exports["mapped"] is True
        assert exports["upstream"] == ["plan_campaign_exports"]
        assert exports["pool"] == "soundlink_api"
        assert merge["mapped"] is False
        assert merge["upstream"] == [f"export_{export}"]
        assert merge["pool"] == "soundlink_bigquery_merge"
        assert merge["outlets"] == [f"bigquery://soundlink-local/metrics/{table}"]
    assert tasks["plan_campaign_exports"]["pool"] == "soundlink_api"
