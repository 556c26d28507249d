"""The jobs of a load, planned without I/O: their identity, configurations, labels, parts and retries."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest, Conflict, Forbidden, InternalServerError

from airflow_provider_soundlink.core.load_plan import (
    MAX_PARTITIONS_PER_JOB,
    Step,
    TryIdentity,
    bucket_location_problem,
    expiring_days,
    is_transient_job_error,
    job_id,
    job_labels,
    job_steps,
    load_jobs,
    locations_compatible,
    merge_windows,
    retry_wait,
    staging_table_name,
)
from airflow_provider_soundlink.core.manifest import ManifestEntry, manifest_scope
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.sql import TableRef
from airflow_provider_soundlink.core.windows import DateWindow

# "Troubleshoot quota and limit errors", and the concurrent-update aborts of "DML statements".
TRANSIENT = [
    BadRequest("Could not serialize access to table p:d.t due to concurrent update"),
    BadRequest("Could not serialize access to table due to concurrent update"),
    Conflict("Transaction is aborted due to concurrent update against table p.d.t"),
    BadRequest(
        "Resources exceeded during query execution: Too many DML statements outstanding against table "
        "p:d.t, limit is 20"
    ),
    BadRequest("The DML statement has been queued for too long"),
    Forbidden("Exceeded rate limits: too many table update operations for this table"),
    Forbidden(
        "Quota exceeded: Your table exceeded quota for total number of dml jobs writing to a table, "
        "pending + running"
    ),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda error: str(error)[:40])
def test_the_documented_passing_refusals_are_worth_another_attempt(error: Exception) -> None:
    assert is_transient_job_error(error)


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("Syntax error: Unexpected keyword MERGE"),
        InternalServerError("backend error"),
        RuntimeError("Could not serialize access to table due to concurrent update"),
        BadRequest("Quota exceeded: Your project exceeded quota for free query bytes scanned"),
    ],
)
def test_any_other_error_is_final(error: Exception) -> None:
    assert not is_transient_job_error(error)


def test_waits_double_from_the_initial_up_to_the_maximum_with_a_second_of_jitter() -> None:
    waits = [[retry_wait(attempt, 5, 120) for _ in range(50)] for attempt in (1, 2, 3, 6)]
    assert all(5 <= wait <= 6 for wait in waits[0])
    assert all(10 <= wait <= 11 for wait in waits[1])
    assert all(20 <= wait <= 21 for wait in waits[2])
    assert all(wait <= 120 for wait in waits[3])


def test_steps_count_each_kind_and_parse_back() -> None:
    steps = job_steps(["load", "load", "merge", "merge"])
    assert [str(step) for step in steps] == ["load_0_1", "load_1_1", "merge_0_1", "merge_1_1"]
    assert Step.parse("merge_1_3") == Step("merge", 1, 3)
    assert str(steps[2].again().again()) == "merge_0_3"


def _context(try_number: int, dag_id: str = "d", execution: str = "exec-1") -> TryIdentity:
    return TryIdentity(dag_id, "scheduled__2026", "merge", -1, try_number, execution)


def test_staging_tables_are_fixed_per_try_and_traceable_to_it() -> None:
    first, again, retry = (staging_table_name("campaign_country_daily", _context(n)) for n in (1, 1, 2))
    assert first == again != retry
    rerun = staging_table_name("campaign_country_daily", _context(1, execution="exec-2"))
    assert rerun not in (first, retry)
    assert first.startswith("campaign_country_daily__staging_")
    TableRef("soundlink-local", "soundlink", first)


def test_job_ids_are_fixed_by_try_step_and_configuration_and_valid_for_bigquery() -> None:
    configuration = {"query": {"query": "MERGE ..."}}
    first = job_id(_context(1), Step("merge", 0), configuration)

    assert first == job_id(_context(1), Step("merge", 0), configuration)
    others = {
        job_id(_context(2), Step("merge", 0), configuration),
        job_id(_context(1), Step("merge", 0, 2), configuration),
        job_id(_context(1), Step("merge", 1), configuration),
        job_id(_context(1), Step("merge", 0), {"query": {"query": "MERGE other"}}),
        job_id(_context(1, execution="exec-2"), Step("merge", 0), configuration),
    }
    assert first not in others and len(others) == 5
    assert first.startswith("soundlink_d_merge_merge_0_1_")
    # BigQuery: letters, numbers, underscores or dashes, at most 1,024 characters.
    long_and_odd = job_id(_context(1, dag_id="dåg.with spaces/" + "x" * 2000), Step("load", 0), configuration)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", long_and_odd)


def test_labels_name_the_dag_and_task_within_bigquerys_label_rules() -> None:
    labels = job_labels("Soundlink.Metrics Daily", "merge_" + "x" * 80, {"team": "growth"})

    assert labels == {
        "airflow-dag": "soundlink-metrics-daily",
        "airflow-task": ("merge_" + "x" * 80)[:63],
        "team": "growth",
    }
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}", value)


@pytest.mark.parametrize(
    "labels",
    [
        {"Team": "growth"},
        {"team": "Growth"},
        {"1team": "x"},
        {"team": "x" * 64},
        {f"k{n}": "v" for n in range(63)},
    ],
    ids=["upper-case key", "upper-case value", "key starts with a digit", "value too long", "too many"],
)
def test_labels_that_break_bigquerys_rules_are_refused(labels: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="label"):
        job_labels("dag", "task", labels)


def test_a_window_longer_than_4000_days_is_merged_in_parts_of_at_most_4000() -> None:
    window = DateWindow(dt.date(2010, 1, 1), dt.date(2026, 6, 14))

    parts = merge_windows(window)

    assert MAX_PARTITIONS_PER_JOB == 4000
    assert [part.days for part in parts] == [4000, window.days - 4000]
    assert parts[0].start == window.start and parts[-1].end == window.end
    assert parts[1].start == parts[0].end + dt.timedelta(days=1)
    assert merge_windows(DateWindow(dt.date(2026, 1, 1), dt.date(2026, 6, 14))) == [
        DateWindow(dt.date(2026, 1, 1), dt.date(2026, 6, 14))
    ]


def test_every_job_of_a_load_is_labelled_and_a_long_window_gets_a_merge_per_part() -> None:
    table = table_definition("campaign_country_daily")
    entry = ManifestEntry(
        export="breakdown",
        table=table.name,
        scope={"campaign_id": "camp_a"},
        start_date="2010-01-01",
        end_date="2026-06-14",
        uri="gs://b/0",
        row_count=1,
        new_fields=[],
    )
    scope = manifest_scope([entry])
    target = TableRef("p-roject", "d", table.name)
    staging = TableRef("p-roject", "d", "staging")
    uris = [f"gs://b/{number}" for number in range(25)]

    jobs = load_jobs(table, target, staging, scope, uris, [], {"airflow-dag": "d"}, max_uris=10)

    assert [kind for kind, _ in jobs] == ["load", "load", "load", "merge", "merge"]
    assert [len(config["load"]["sourceUris"]) for _, config in jobs[:3]] == [10, 10, 5]
    assert all(config["labels"] == {"airflow-dag": "d"} for _, config in jobs)
    merges = [config["query"]["query"] for _, config in jobs[3:]]
    assert "BETWEEN DATE '2010-01-01' AND DATE '2020-12-13'" in merges[0]
    assert "BETWEEN DATE '2020-12-14' AND DATE '2026-06-14'" in merges[1]


def test_only_loaded_days_older_than_the_partition_expiration_are_named() -> None:
    window = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 6, 14))
    today = dt.date(2026, 6, 15)

    assert expiring_days(None, window, today) is None
    assert expiring_days(dt.timedelta(days=365), window, today) is None
    assert expiring_days(dt.timedelta(days=60), window, today) == DateWindow(
        dt.date(2026, 1, 1), dt.date(2026, 4, 15)
    )


def test_only_a_clear_location_mismatch_between_dataset_and_bucket_is_refused() -> None:
    # A US multi-region dataset loads from any bucket.
    assert locations_compatible("US", "us")
    assert locations_compatible("US", "US-EAST1")
    assert locations_compatible("US", "EU")
    # An EU one from a bucket in Europe.
    assert locations_compatible("EU", "europe-west4")
    assert locations_compatible("EU", "EUR4")
    assert not locations_compatible("EU", "US-CENTRAL1")
    assert not locations_compatible("EU", "US")
    # A regional one from its region; another single region is refused, multi-regions are left to BigQuery.
    assert locations_compatible("europe-west1", "EUROPE-WEST1")
    assert not locations_compatible("europe-west1", "EUROPE-WEST4")
    assert locations_compatible("us-central1", "NAM4")
    assert bucket_location_problem("EU", {"mine": None, "other": "EU"}) is None
    problem = bucket_location_problem("EU", {"exports": "US-CENTRAL1"})
    assert problem is not None and problem.startswith(
        "bucket exports is in US-CENTRAL1 but the dataset is in EU"
    )


def test_merge_counts_add_up_the_jobs_statistics_and_billed_bytes() -> None:
    from types import SimpleNamespace

    from airflow_provider_soundlink.core.load_plan import MergeCounts, merge_counts

    def job(inserted: int | None, deleted: int | None, affected: int | None, billed: int | None) -> object:
        stats = SimpleNamespace(inserted_row_count=inserted, deleted_row_count=deleted)
        return SimpleNamespace(dml_stats=stats, num_dml_affected_rows=affected, total_bytes_billed=billed)

    # BigQuery reports no statistics for a job that changed nothing, and no bytes on an emulator.
    no_stats = SimpleNamespace(dml_stats=None, num_dml_affected_rows=None, total_bytes_billed=None)
    merges = [job(10, 2, 12, 10_485_760), job(5, None, 5, None), no_stats]

    assert merge_counts(merges) == MergeCounts(inserted=15, deleted=2, affected=17, bytes_billed=10_485_760)
    assert merge_counts([]) == MergeCounts(0, 0, 0, 0)


def test_the_merge_sql_of_a_load_is_its_merges_in_order_without_the_loads() -> None:
    from airflow_provider_soundlink.core.load_plan import merge_sql

    jobs: list[tuple[str, dict[str, Any]]] = [
        ("load", {"load": {"sourceUris": ["gs://b/a.jsonl"]}}),
        ("merge", {"query": {"query": "MERGE first"}}),
        ("merge", {"query": {"query": "MERGE second"}}),
    ]

    assert merge_sql(jobs) == "MERGE first;\n\nMERGE second"
