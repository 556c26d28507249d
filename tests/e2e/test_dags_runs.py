"""The example DAGs run by real Airflow (3.3 and 2.11) against the sandbox, fake-gcs-server and
local-bigquery, as a user runs them (`dags test`, 2.11 `dags backfill`, 3.3 `backfill create` executed by
the scheduler), and the BigQuery tables end up equal to the sandbox's truth."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.gcs import GCSHook

from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS, ExportKind
from airflow_provider_soundlink.core.pseudonymise import pseudonymise
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.operators.links import BigQueryTableLink, GcsFolderLink
from e2e.conftest import DagsEnvironment
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.airflow_runner import DagRunRecord, day_interval
from soundlink_stand_ins.pipeline import LINEAGE_EVENTS, PSEUDONYMISATION_KEY, Warehouse, campaigns_created_by
from support.emulators import GCP_PROJECT, SANDBOX_TODAY
from support.link_stats_truth import link_stats_truth, personal_values
from support.statsd import StatsdListener

DAILY_DAG = "soundlink_metrics_daily"
BACKFILL_DAG = "soundlink_metrics_backfill"
LAST_CLOSED_DAY = SANDBOX_TODAY - dt.timedelta(days=1)
ENDED_CAMPAIGN = "camp_aesuou0yx3p5"
"""Its last report date is 2026-05-07."""
RUNNING_CAMPAIGN = "camp_medanery0y5l"
REVISION_DAYS = dt.timedelta(days=7)
LINK_STATS_GROUPINGS = ["total", "country", "subscriber_id", "ip"]
_dataset_numbers = itertools.count()


def fresh_warehouse(name: str) -> Warehouse:
    return Warehouse(GCP_PROJECT, f"{name}_{next(_dataset_numbers)}")


def days(window: DateWindow) -> list[dt.date]:
    return [window.start + dt.timedelta(days=offset) for offset in range(window.days)]


def backfill_summary(runs: list[DagRunRecord]) -> list[tuple[dt.date, dt.datetime, dt.datetime, str, str]]:
    return [
        (run.logical_date.date(), run.data_interval_start, run.data_interval_end, run.run_type, run.state)
        for run in runs
    ]


def expected_backfill_summary(
    logical_dates: DateWindow,
) -> list[tuple[dt.date, dt.datetime, dt.datetime, str, str]]:
    """One successful backfill run per day, each over its own UTC day [D, D + 1)."""
    return [(day, *day_interval(day), "backfill", "success") for day in days(logical_dates)]


def test_a_manual_daily_run_loads_the_day_before_its_date_and_the_seven_before_and_a_rerun_changes_nothing(
    any_airflow: DagsEnvironment, sandbox: SandboxProcess
) -> None:
    warehouse = fresh_warehouse("daily")
    conf = {
        "dataset_id": warehouse.dataset,
        "object_prefix": warehouse.dataset,
        "campaign_ids": [],
        "link_stats_groupings": LINK_STATS_GROUPINGS,
    }

    run = any_airflow.airflow.dags_test(DAILY_DAG, SANDBOX_TODAY, conf)

    # A manual run for a date gets the data interval that ended then: [yesterday, today), so D = yesterday.
    assert (run.data_interval_start, run.data_interval_end) == day_interval(LAST_CLOSED_DAY)
    assert run.run_type == "manual"
    window = DateWindow(LAST_CLOSED_DAY - REVISION_DAYS, LAST_CLOSED_DAY)
    counts = warehouse.assert_matches_truth(campaigns_created_by(window.end), window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
    groupings = [None if name == "total" else name for name in LINK_STATS_GROUPINGS]
    link_stats = link_stats_truth(days(window), groupings, PSEUDONYMISATION_KEY)
    assert {row["group_by"] for row in link_stats} == set(LINK_STATS_GROUPINGS)
    assert warehouse.link_stats() == link_stats
    assert_links_point_at_the_tables_and_folders(any_airflow, run.run_id, warehouse)
    if any_airflow.reconcile != "off":
        airflow = any_airflow.airflow
        planned = airflow.xcom_values(DAILY_DAG, run.run_id, "campaign_ids")["plan_campaign_exports"]
        checked = airflow.xcom_values(DAILY_DAG, run.run_id, "return_value")["reconcile_breakdown"]
        assert (checked["campaigns"], checked["differences"]) == (len(planned), [])
        assert planned
    assert_no_raw_personal_data_anywhere(any_airflow, warehouse, personal_values(days(window)))
    assert_lineage_connects_the_api_the_objects_and_the_tables(any_airflow, sandbox, warehouse, run.run_id)
    first = {kind: warehouse.stored(kind) for kind in counts}

    any_airflow.airflow.dags_test(DAILY_DAG, SANDBOX_TODAY, conf)

    assert {kind: warehouse.stored(kind) for kind in counts} == first
    assert warehouse.link_stats() == link_stats


def assert_lineage_connects_the_api_the_objects_and_the_tables(
    environment: DagsEnvironment, sandbox: SandboxProcess, warehouse: Warehouse, run_id: str
) -> None:
    """Check the events the openlineage listener wrote for this run's tasks: each export task reads the API
    and writes its table's GCS folder, which its MERGE reads; each MERGE writes its table with the schema and
    names its BigQuery job; START events already name what the tasks write; the reconciliation reads the table
    and the API."""
    events = [
        json.loads(line)
        for line in (environment.airflow.home / LINEAGE_EVENTS).read_text().splitlines()
        if warehouse.dataset in line
    ]
    by_type: dict[str, dict[str, dict[str, Any]]] = {"START": {}, "COMPLETE": {}}
    for event in events:
        if event["eventType"] in by_type:
            by_type[event["eventType"]][event["job"]["name"].removeprefix(f"{DAILY_DAG}.")] = event
    completed, started = by_type["COMPLETE"], by_type["START"]

    def datasets(event: dict[str, Any], side: str) -> set[tuple[str, str]]:
        return {(dataset["namespace"], dataset["name"]) for dataset in event[side]}

    api = sandbox.base_url.rstrip("/")
    for kind in (*CAMPAIGN_EXPORTS, ExportKind.LINK_STATS):
        exports = [task for task in completed if task.startswith(f"export_{kind.value}")]
        assert exports, kind
        # One dataset per table, the same run after run: the folder of its objects.
        folder = {(f"gs://{environment.bucket}", f"{warehouse.dataset}/{kind.table_name}")}
        for task in exports:
            assert datasets(completed[task], "outputs") == folder
            assert datasets(started[task], "outputs") == folder
            assert all(namespace == api for namespace, _ in datasets(completed[task], "inputs"))
        merge = f"merge_{kind.value}"
        assert datasets(completed[merge], "inputs") == folder
        (table,) = completed[merge]["outputs"]
        assert (table["namespace"], table["name"]) == (
            "bigquery",
            f"{GCP_PROJECT}.{warehouse.dataset}.{kind.table_name}",
        )
        assert datasets(started[merge], "outputs") == {(table["namespace"], table["name"])}
        schema = [field["name"] for field in table["facets"]["schema"]["fields"]]
        assert schema == list(table_definition(kind).column_names)
        job = completed[merge]["run"]["facets"]["externalQuery"]
        assert job["source"] == "bigquery" and "_merge_0_" in job["externalQueryId"]
    if "reconcile_breakdown" in completed:
        inputs = datasets(completed["reconcile_breakdown"], "inputs")
        assert ("bigquery", f"{GCP_PROJECT}.{warehouse.dataset}.campaign_country_daily") in inputs
        planned = environment.airflow.xcom_values(DAILY_DAG, run_id, "campaign_ids")["plan_campaign_exports"]
        assert {name for namespace, name in inputs if namespace == api} == {
            f"/v1/campaigns/{campaign}/metrics/overview" for campaign in planned
        }


def assert_no_raw_personal_data_anywhere(
    environment: DagsEnvironment, warehouse: Warehouse, raw_values: set[str]
) -> None:
    """No raw IP address or subscriber id in the metadata database (rendered fields, XCom, the log table),
    the task and command logs, or the names and contents of the run's GCS objects."""
    airflow = environment.airflow
    places = {path.name: path.read_bytes() for path in airflow.home.glob("airflow.db*") if path.is_file()}
    places |= {str(path): path.read_bytes() for path in (airflow.home / "logs").rglob("*") if path.is_file()}
    gcs = GCSHook()
    for name in gcs.list(bucket_name=environment.bucket, prefix=f"{warehouse.dataset}/"):
        places[f"gs://{environment.bucket}/{name}"] = (
            name.encode() + b"\n" + gcs.download(bucket_name=environment.bucket, object_name=name)
        )
    assert "airflow.db" in places
    assert len(raw_values) > 10
    # The search reads what the run wrote: the objects hold the values' pseudonyms.
    objects = b"".join(content for place, content in places.items() if "/link_clicks_daily/" in place)
    assert all(pseudonymise(value, PSEUDONYMISATION_KEY).encode() in objects for value in raw_values)
    found = {
        place: sorted(value for value in raw_values if value.encode() in content)
        for place, content in places.items()
    }
    assert not {place: values for place, values in found.items() if values}


def assert_links_point_at_the_tables_and_folders(
    environment: DagsEnvironment, run_id: str, warehouse: Warehouse
) -> None:
    """Check the links each task stored while it ran; Airflow 3's task runner also stores what the link class
    returns (under ``_link_<class>``), which shows the class reads them back."""
    airflow = environment.airflow
    exports = (*CAMPAIGN_EXPORTS, ExportKind.LINK_STATS)
    tables = {f"merge_{kind.value}": kind.table_name for kind in exports}
    expected_tables = {
        task: BigQueryTableLink.url(GCP_PROJECT, warehouse.dataset, table) for task, table in tables.items()
    }
    assert airflow.xcom_values(DAILY_DAG, run_id, BigQueryTableLink.key) == expected_tables
    folders = airflow.xcom_values(DAILY_DAG, run_id, GcsFolderLink.key)
    assert set(folders) == {
        task for task in airflow.task_hosts(DAILY_DAG, run_id) if task.startswith("export_")
    }
    for task, url in folders.items():
        table = next(kind.table_name for kind in exports if task.startswith(f"export_{kind.value}"))
        assert url == GcsFolderLink.url(environment.bucket, warehouse.dataset, table)
    if airflow.major_version >= 3:
        assert airflow.xcom_values(DAILY_DAG, run_id, "_link_BigQueryTableLink") == expected_tables
        assert airflow.xcom_values(DAILY_DAG, run_id, "_link_GcsFolderLink") == folders


def assert_the_provider_counted_its_work(counters: dict[str, float]) -> None:
    """Check that the provider's metrics reached StatsD from the tasks: rows and bytes per export, rows each
    MERGE inserted, bytes billed, and the API call the sandbox failed once, counted as a retry with its
    status; the tagged names (tags dropped by plain StatsD) add up to the per-export names."""
    for kind in CAMPAIGN_EXPORTS:
        rows = counters.get(f"airflow.soundlink.export.{kind.value}.rows", 0)
        assert rows > 0, sorted(counters)
        assert counters[f"airflow.soundlink.export.{kind.value}.bytes"] > rows
        assert counters.get(f"airflow.soundlink.merge.{kind.table_name}.rows_inserted", 0) > 0
        assert f"airflow.soundlink.bigquery.{kind.table_name}.bytes_billed" in counters
    per_export = [f"airflow.soundlink.export.{kind.value}.rows" for kind in ExportKind]
    assert counters["airflow.soundlink.export.rows"] == sum(counters.get(name, 0) for name in per_export)
    assert counters.get("airflow.soundlink.api.retries.503", 0) >= 1
    assert counters.get("airflow.soundlink.api.retries", 0) >= 1


@pytest.mark.airflow2
# Measured 155 s here for 3 days and a 1-day re-run, beside another test process (each task instance is
# a process of its own, about 4 s each); 10 days took 340-526 s. 3x and more.
@pytest.mark.timeout(1500)
def test_an_airflow2_backfill_of_the_daily_dag_loads_each_days_revision_window_and_a_rerun_changes_nothing(
    airflow2: DagsEnvironment, sandbox: SandboxProcess, statsd: StatsdListener
) -> None:
    # Plain `airflow dags backfill` with Airflow's default configuration.
    warehouse = fresh_warehouse("backfill_af2")
    campaigns = [ENDED_CAMPAIGN]
    conf = {"dataset_id": warehouse.dataset, "object_prefix": warehouse.dataset, "campaign_ids": campaigns}
    # Two days: their revision windows overlap, so most days are loaded by both runs. 2.11 runs every
    # task instance as a process of its own, one after another (about 4 s each here).
    logical_dates = DateWindow(dt.date(2026, 5, 9), dt.date(2026, 5, 10))
    sandbox.add_fault(path="/export", kind="status", status=503, count=1)
    metrics_from = statsd.mark()

    runs = airflow2.airflow.backfill(DAILY_DAG, logical_dates.start, logical_dates.end, conf=conf)

    assert backfill_summary(runs) == expected_backfill_summary(logical_dates)
    assert_the_provider_counted_its_work(statsd.counters(metrics_from))
    # Exactly A - 7 .. B: a row outside the union of the runs' windows would be "unexpected".
    window = DateWindow(logical_dates.start - REVISION_DAYS, logical_dates.end)
    counts = warehouse.assert_matches_truth(campaigns, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
    first = {kind: warehouse.stored(kind) for kind in counts}
    first_loaded_at = {kind: warehouse.last_loaded_at(kind) for kind in counts}

    # The re-run covers the last day only, for the same reason.
    rerun_dates = DateWindow(logical_dates.end, logical_dates.end)
    rerun = airflow2.airflow.backfill(
        DAILY_DAG, rerun_dates.start, rerun_dates.end, rerun_existing=True, conf=conf
    )

    assert [run.run_id for run in rerun] == [run.run_id for run in runs[-1:]]
    assert backfill_summary(rerun) == expected_backfill_summary(rerun_dates)
    assert all(warehouse.last_loaded_at(kind) > first_loaded_at[kind] for kind in counts)
    assert {kind: warehouse.stored(kind) for kind in counts} == first


def test_an_airflow3_backfill_of_the_daily_dag_run_by_the_scheduler_loads_each_days_revision_window(
    airflow3: DagsEnvironment, sandbox: SandboxProcess, statsd: StatsdListener
) -> None:
    warehouse = fresh_warehouse("backfill_af3")
    campaigns = [ENDED_CAMPAIGN, RUNNING_CAMPAIGN]
    conf = {"dataset_id": warehouse.dataset, "object_prefix": warehouse.dataset, "campaign_ids": campaigns}
    logical_dates = DateWindow(dt.date(2026, 5, 4), dt.date(2026, 5, 5))
    sandbox.add_fault(path="/export", kind="status", status=503, count=1)
    metrics_from = statsd.mark()

    runs = airflow3.airflow.backfill(DAILY_DAG, logical_dates.start, logical_dates.end, conf=conf)

    assert backfill_summary(runs) == expected_backfill_summary(logical_dates)
    assert_the_provider_counted_its_work(statsd.counters(metrics_from))
    # The scheduler created no runs of its own around the backfill's (no other test uses May).
    assert [run for run in airflow3.airflow.dag_runs(DAILY_DAG) if run.logical_date.month == 5] == runs
    window = DateWindow(logical_dates.start - REVISION_DAYS, logical_dates.end)
    counts = warehouse.assert_matches_truth(campaigns, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())


def test_the_backfill_dag_loads_more_than_180_days_in_slices_with_one_merge_per_export(
    airflow3: DagsEnvironment, sandbox: SandboxProcess
) -> None:
    warehouse = fresh_warehouse("history")
    window = DateWindow(dt.date(2025, 11, 1), LAST_CLOSED_DAY)
    assert window.days > 180
    campaigns = [ENDED_CAMPAIGN, RUNNING_CAMPAIGN]
    conf = {
        "start_date": window.start.isoformat(),
        "end_date": window.end.isoformat(),
        "campaign_ids": campaigns,
        "dataset_id": warehouse.dataset,
        "object_prefix": warehouse.dataset,
    }

    airflow3.airflow.dags_test(BACKFILL_DAG, SANDBOX_TODAY, conf)

    counts = warehouse.assert_matches_truth(campaigns, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
    # 226 days: three slices per campaign and export, all loaded by the one (unmapped) MERGE task of each
    # export, as test_dags_import shows.
    objects = GCSHook().list(bucket_name=airflow3.bucket, prefix=f"{warehouse.dataset}/")
    assert len(objects) == 2 * 2 * 3
    first = {kind: warehouse.stored(kind) for kind in counts}

    airflow3.airflow.dags_test(BACKFILL_DAG, SANDBOX_TODAY, conf)

    assert {kind: warehouse.stored(kind) for kind in counts} == first
