"""The MERGE operator composing a fake BigQuery hook (no BigQuery): what it asks of the hook, in order,
and what it tells the user. The emulator tests (test_operators_integration.py) check the tables."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_soundlink.core.manifest import ManifestEntry
from airflow_provider_soundlink.hooks import bigquery as bigquery_hooks
from airflow_provider_soundlink.operators import SoundlinkBigQueryMergeOperator, bigquery_merge, gcs_objects
from support.task_context import task_context

TODAY = dt.datetime.now(dt.UTC).date()


def entry(start: dt.date, end: dt.date, rows: int = 10) -> ManifestEntry:
    return ManifestEntry(
        export="breakdown",
        table="campaign_country_daily",
        scope={"campaign_id": "camp_a"},
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        uri=f"gs://exports/{start}.jsonl",
        row_count=rows,
        new_fields=[],
        snapshot_at=dt.datetime.combine(end, dt.time(12), dt.UTC).isoformat(),
    )


@dataclass
class FakeJob:
    job_id: str
    dml_stats: Any = None
    num_dml_affected_rows: int = 0
    total_bytes_billed: int | None = None
    error_result: Any = None
    cancelled: bool = False

    def result(self) -> FakeJob:
        return self


@dataclass
class FakeBigQueryHook:
    """The calls the operator makes, recorded; tables created with what the dataset would give them."""

    dataset_partition_expiration_ms: int | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    gcp_conn_id: str = "google_cloud_default"
    impersonation_chain: Any = None

    def dataset_location(self, target: Any, location: Any, *, create_if_missing: bool) -> str:
        self.calls.append(("dataset_location", create_if_missing))
        return "EU"

    def ensure_table(self, target: Any, table_resource: dict[str, Any], location: str) -> Any:
        self.calls.append(("ensure_table", table_resource["timePartitioning"]))
        expiration = table_resource["timePartitioning"].get(
            "expirationMs", self.dataset_partition_expiration_ms
        )
        return SimpleNamespace(schema=[], time_partitioning=SimpleNamespace(expiration_ms=expiration))

    def create_staging_table(
        self, staging: Any, schema: Any, expires_at: Any, description: str, location: str
    ) -> None:
        self.calls.append(("create_staging_table", str(staging)))

    def insert_or_reattach(
        self, job_id: str, configuration: dict[str, Any], project_id: str, location: str
    ) -> FakeJob:
        kind = "query" if "query" in configuration else "load"
        self.calls.append((kind, configuration["labels"]))
        if kind == "query":
            self.queries.append(configuration["query"]["query"])
        stats = SimpleNamespace(inserted_row_count=7, deleted_row_count=3) if kind == "query" else None
        return self.jobs.setdefault(job_id, FakeJob(job_id, stats, 10))

    def get_job(self, job_id: str, project_id: str, location: str) -> FakeJob:
        return self.jobs[job_id]

    def cancel_job(self, job_id: str, project_id: str, location: str) -> None:
        self.calls.append(("cancel_job", job_id))

    def table_rows(self, ref: Any, location: str) -> int:
        return 10

    def drop_table(self, ref: Any) -> None:
        self.calls.append(("drop_table", str(ref)))


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> FakeBigQueryHook:
    fake = FakeBigQueryHook()
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": "my-project"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    monkeypatch.setattr(bigquery_hooks, "SoundlinkBigQueryHook", lambda *args, **kwargs: fake)
    monkeypatch.setattr(gcs_objects, "bucket_locations", lambda gcs, uris: {"exports": "EU"})
    monkeypatch.setattr(bigquery_merge.BigQueryTableLink, "persist", lambda *args, **kwargs: None)
    monkeypatch.setattr(bigquery_merge.BigQueryJobLink, "persist", lambda *args, **kwargs: None)
    return fake


def merge(manifest: list[ManifestEntry], **options: Any) -> SoundlinkBigQueryMergeOperator:
    return SoundlinkBigQueryMergeOperator(
        task_id="merge_breakdown",
        export="breakdown",
        manifest=manifest,
        project_id="my-project",
        dataset_id="soundlink",
        deferrable=False,
        **options,
    )


def test_the_steps_go_to_the_hook_in_order_and_every_job_is_labelled(hook: FakeBigQueryHook) -> None:
    summary = merge(
        [entry(TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=1))], labels={"team": "a"}
    ).execute(task_context("merge_breakdown"))

    assert [name for name, _ in hook.calls] == [
        "dataset_location",
        "ensure_table",
        "create_staging_table",
        "load",
        "query",
        "drop_table",
    ]
    labels = {"airflow-dag": "soundlink_test", "airflow-task": "merge_breakdown", "team": "a"}
    assert [value for name, value in hook.calls if name in {"load", "query"}] == [labels, labels]
    assert (summary["rows_inserted"], summary["rows_deleted"], summary["rows_loaded"]) == (7, 3, 10)


def test_the_merge_sql_it_ran_is_its_rendered_merge_sql_field(hook: FakeBigQueryHook) -> None:
    operator = merge([entry(TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=1))])
    assert operator.merge_sql == ""

    operator.execute(task_context("merge_breakdown"))

    assert "merge_sql" in operator.template_fields
    assert operator.overwrite_rtif_after_execution
    (sql,) = hook.queries
    assert operator.merge_sql == sql
    assert sql.lstrip().startswith("MERGE")


def test_a_given_partition_expiration_is_set_on_the_table_it_creates(hook: FakeBigQueryHook) -> None:
    merge(
        [entry(TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=1))],
        partition_expiration=dt.timedelta(days=400),
    ).execute(task_context("merge_breakdown"))

    (partitioning,) = [value for name, value in hook.calls if name == "ensure_table"]
    assert partitioning == {"type": "DAY", "field": "report_date", "expirationMs": str(400 * 86_400_000)}


def test_a_dataset_default_that_would_expire_loaded_days_is_warned_about(
    hook: FakeBigQueryHook, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    hook.dataset_partition_expiration_ms = 60 * 86_400_000
    old = entry(TODAY - dt.timedelta(days=100), TODAY - dt.timedelta(days=1))

    with caplog.at_level(logging.WARNING):
        merge([old]).execute(task_context("merge_breakdown"))

    logged = caplog.text + capsys.readouterr().out
    assert "expires partitions after 60 days" in logged
    first_kept = TODAY - dt.timedelta(days=60)
    assert f"{old['start_date']}..{(first_kept - dt.timedelta(days=1)).isoformat()}" in logged


def test_killing_the_task_cancels_the_job_it_waits_on(hook: FakeBigQueryHook) -> None:
    operator = merge([entry(TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=1))])
    original = hook.insert_or_reattach

    def insert_then_kill(job_id: str, configuration: dict[str, Any], *args: Any) -> FakeJob:
        job = original(job_id, configuration, *args)
        if "query" in configuration:
            operator.on_kill()
        return job

    hook.insert_or_reattach = insert_then_kill  # type: ignore[method-assign,assignment]
    operator.execute(task_context("merge_breakdown"))

    cancelled = [value for name, value in hook.calls if name == "cancel_job"]
    assert len(cancelled) == 1 and "_merge_0_1_" in cancelled[0]
