"""The example DAG files parse on both Airflow versions quickly, with no network and no import errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from soundlink_stand_ins.paths import AIRFLOW2_VENV, AIRFLOW3_VENV
from soundlink_stand_ins.pipeline import parse_dags

TABLES = {"breakdown": "campaign_country_daily", "engagement": "campaign_engagement_daily"}
EXPORT_SHARDS = 3
LINK_STATS_TASKS = ["plan_link_stats", "export_link_stats", "merge_link_stats"]


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
        "SOUNDLINK_GCS_BUCKET": "exports",
        "SOUNDLINK_CAMPAIGN_IDS": "camp_a, camp_b,camp_a",
        "SOUNDLINK_EXPORT_SHARDS": str(EXPORT_SHARDS),
        "SOUNDLINK_RECONCILE": "warn",
    }
    return parse_dags(venv / "bin" / "python", tmp_path_factory.mktemp(venv.name), environment)


def test_every_dag_parses_without_errors(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert sorted(parsed["dags"]) == [
        "soundlink_metrics_backfill",
        "soundlink_metrics_daily",
        "soundlink_metrics_example",
    ]


def test_the_copyable_dag_is_two_export_shards_then_one_merge_per_export(parsed: dict[str, Any]) -> None:
    example = parsed["dags"]["soundlink_metrics_example"]
    tasks = example["tasks"]
    assert (example["timetable"], example["schedule"], example["catchup"]) == (
        "CronDataIntervalTimetable",
        "0 0 * * *",
        False,
    )
    assert tasks["plan_shards"]["pool"] == "soundlink_api"
    for export in TABLES:
        shards = [f"export_{export}_{shard}" for shard in range(2)]
        for shard in shards:
            assert tasks[shard]["upstream"] == ["plan_shards"]
            assert tasks[shard]["pool"] == "soundlink_api"
        assert tasks[f"merge_{export}"]["upstream"] == shards
        assert tasks[f"merge_{export}"]["pool"] == "soundlink_bigquery_merge"
    assert len(tasks) == 1 + 2 * (2 + 1)


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
def test_a_fixed_number_of_unmapped_export_shards_then_one_merge_per_export(
    parsed: dict[str, Any], dag_id: str
) -> None:
    tasks = parsed["dags"][dag_id]["tasks"]
    shards = {export: [f"export_{export}_{shard}" for shard in range(EXPORT_SHARDS)] for export in TABLES}
    export_tasks = [task_id for shard_ids in shards.values() for task_id in shard_ids]
    merge_tasks = [f"merge_{export}" for export in TABLES]
    link_stats_tasks = LINK_STATS_TASKS if dag_id == "soundlink_metrics_daily" else []
    assert sorted(tasks) == sorted(
        ["plan_campaign_exports", *merge_tasks, *export_tasks, *link_stats_tasks, "reconcile_breakdown"]
    )
    assert not any(task["mapped"] for task in tasks.values())
    for export, table in TABLES.items():
        for shard in shards[export]:
            assert tasks[shard]["upstream"] == ["plan_campaign_exports"]
            assert tasks[shard]["pool"] == "soundlink_api"
        merge = tasks[f"merge_{export}"]
        assert merge["upstream"] == shards[export]
        assert merge["pool"] == "soundlink_bigquery_merge"
        assert merge["outlets"] == [f"bigquery://soundlink-local/metrics/{table}"]
    assert tasks["plan_campaign_exports"]["pool"] == "soundlink_api"


def test_the_daily_dags_link_stats_are_one_export_and_one_merge_after_a_short_circuit(
    parsed: dict[str, Any],
) -> None:
    daily = parsed["dags"]["soundlink_metrics_daily"]
    tasks = daily["tasks"]
    assert "link_stats_groupings" in daily["params"]
    assert "link_stats_groupings" not in parsed["dags"]["soundlink_metrics_backfill"]["params"]
    assert tasks["plan_link_stats"]["upstream"] == []
    assert sorted(tasks["export_link_stats"]["upstream"]) == ["plan_campaign_exports", "plan_link_stats"]
    assert tasks["export_link_stats"]["pool"] == "soundlink_api"
    assert tasks["merge_link_stats"]["upstream"] == ["export_link_stats"]
    assert tasks["merge_link_stats"]["pool"] == "soundlink_bigquery_merge"
    assert tasks["merge_link_stats"]["outlets"] == ["bigquery://soundlink-local/metrics/link_clicks_daily"]


@pytest.mark.parametrize("dag_id", ["soundlink_metrics_daily", "soundlink_metrics_backfill"])
def test_with_reconciliation_on_the_breakdown_merge_is_followed_by_its_check(
    parsed: dict[str, Any], dag_id: str
) -> None:
    dag = parsed["dags"][dag_id]
    reconcile = dag["tasks"]["reconcile_breakdown"]
    assert reconcile["upstream"] == ["merge_breakdown", "plan_campaign_exports"]
    assert reconcile["pool"] == "soundlink_api"
    assert "reconcile" in dag["params"]
