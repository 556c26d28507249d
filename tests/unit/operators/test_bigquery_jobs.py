"""The job runner every BigQuery operator here uses, driven through a fake hook (no BigQuery): order,
identity, retries of passing refusals, deferral and cancellation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from google.api_core.exceptions import BadRequest, Forbidden, NotFound

from airflow_provider_soundlink.compat import Context
from airflow_provider_soundlink.core.load_plan import Step
from airflow_provider_soundlink.operators import bigquery_jobs
from airflow_provider_soundlink.operators.bigquery_jobs import BigQueryJobRunner, try_identity
from airflow_provider_soundlink.operators.links import BigQueryJobLink
from support.task_context import task_context

CONCURRENT = "Could not serialize access to table p:d.t due to concurrent update"
STAGING = {"projectId": "p-roject", "datasetId": "d", "tableId": "staging"}
JOBS: list[tuple[str, dict[str, Any]]] = [
    ("load", {"load": {"sourceUris": ["gs://b/0"], "destinationTable": STAGING}}),
    ("load", {"load": {"sourceUris": ["gs://b/1", "gs://b/2"], "destinationTable": STAGING}}),
    ("merge", {"query": {"query": "MERGE `p-roject.d.t` AS target USING ..."}}),
]


@dataclass
class FakeJob:
    job_id: str
    error: Exception | None = None
    on_result: Callable[[], None] | None = None

    @property
    def error_result(self) -> dict[str, str] | None:
        return None if self.error is None else {"message": str(self.error)}

    def result(self) -> FakeJob:
        if self.on_result is not None:
            self.on_result()
        if self.error is not None:
            raise self.error
        return self


@dataclass
class FakeHook:
    """Submits jobs into ``jobs``; ``refusals`` maps a step prefix to the errors of its next attempts, each
    ("insert" | "result", error)."""

    refusals: dict[str, list[tuple[str, Exception]]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    gcp_conn_id: str = "google_cloud_default"
    impersonation_chain: Any = None

    def insert_or_reattach(self, job_id: str, configuration: Any, project_id: str, location: str) -> FakeJob:
        step = next(name for name in ("load_0", "load_1", "merge_0") if f"_{name}_" in job_id)
        refusals = self.refusals.get(step, [])
        when, error = refusals.pop(0) if refusals else ("", None)
        if when == "insert":
            raise error  # type: ignore[misc]
        self.submitted.append(job_id)
        job = self.jobs.setdefault(job_id, FakeJob(job_id, error if when == "result" else None))
        return job

    def get_job(self, job_id: str, project_id: str, location: str) -> FakeJob:
        if job_id not in self.jobs:
            raise NotFound(f"Not found: Job {job_id}")
        return self.jobs[job_id]

    def cancel_job(self, job_id: str, project_id: str, location: str) -> None:
        self.cancelled.append(job_id)


class Deferred(Exception):
    pass


@dataclass
class FakeOperator:
    deferrals: list[dict[str, Any]] = field(default_factory=list)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("test"))
    execution_timeout: Any = None

    def defer(self, *, trigger: Any, method_name: str, timeout: Any) -> None:
        self.deferrals.append({"step": trigger.step, "job_id": trigger.job_id, "method": method_name})
        raise Deferred


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(bigquery_jobs.time, "sleep", slept.append)
    return slept


class PushedXComs:
    """A task instance that keeps what the runner pushes (the job link)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def runner(
    hook: FakeHook, operator: FakeOperator | None = None, ti: PushedXComs | None = None, **options: Any
) -> BigQueryJobRunner:
    settings: dict[str, Any] = {
        "deferrable": False,
        "poll_interval": 1.0,
        "max_attempts": 3,
        "initial_wait": 5.0,
        "max_wait": 60.0,
        **options,
    }
    context = cast(Context, {"ti": ti or PushedXComs()})
    return BigQueryJobRunner(operator or FakeOperator(), context, hook, "p-roject", "US", **settings)  # type: ignore[arg-type]


def steps_of(job_ids: list[str]) -> list[str]:
    return ["_".join(job_id.split("_")[-4:-1]) for job_id in job_ids]


def test_the_jobs_run_in_order_each_once_under_its_step(waits: list[float]) -> None:
    hook = FakeHook()
    done = runner(hook).run(try_identity(task_context("merge")), JOBS, finished=None)

    assert steps_of(hook.submitted) == ["load_0_1", "load_1_1", "merge_0_1"]
    assert [job.job_id for job in done] == hook.submitted
    assert waits == []


@pytest.mark.parametrize("when", ["insert", "result"])
def test_a_passing_refusal_runs_the_next_attempt_as_a_new_job_after_the_backoff(
    waits: list[float], when: str
) -> None:
    hook = FakeHook(
        refusals={
            "merge_0": [
                (when, BadRequest(CONCURRENT)),
                (when, Forbidden("Exceeded rate limits: too many table update operations for this table")),
            ]
        }
    )

    done = runner(hook).run(try_identity(task_context("merge")), JOBS, finished=None)

    assert steps_of(hook.submitted)[-1] == "merge_0_3"
    assert done[-1].job_id == hook.submitted[-1]
    assert len(waits) == 2 and 5 <= waits[0] <= 6 and 10 <= waits[1] <= 11


def test_the_last_attempt_raises_and_a_final_error_raises_at_once(waits: list[float]) -> None:
    refused = FakeHook(refusals={"load_1": [("result", BadRequest(CONCURRENT))] * 3})
    with pytest.raises(BadRequest, match="concurrent update"):
        runner(refused).run(try_identity(task_context("merge")), JOBS, finished=None)
    assert steps_of(refused.submitted) == ["load_0_1", "load_1_1", "load_1_2", "load_1_3"]

    broken = FakeHook(refusals={"load_0": [("result", BadRequest("Syntax error at [1:1]"))]})
    with pytest.raises(BadRequest, match="Syntax error"):
        runner(broken).run(try_identity(task_context("merge")), JOBS, finished=None)
    assert steps_of(broken.submitted) == ["load_0_1"]
    assert len(waits) == 2


def test_a_killed_task_cancels_the_job_it_waits_on_and_nothing_after_it_finished(waits: list[float]) -> None:
    hook = FakeHook()
    jobs = runner(hook)

    def kill_while_merging() -> None:
        jobs.cancel()

    original = hook.insert_or_reattach

    def insert(job_id: str, *args: Any) -> FakeJob:
        job = original(job_id, *args)
        if "_merge_0_" in job_id:
            job.on_result = kill_while_merging
        return job

    hook.insert_or_reattach = insert  # type: ignore[method-assign,assignment]
    jobs.run(try_identity(task_context("merge")), JOBS, finished=None)

    assert hook.cancelled == [hook.submitted[-1]]
    jobs.cancel()
    assert hook.cancelled == [hook.submitted[-1]]


def test_deferred_it_waits_in_the_triggerer_and_a_resumed_task_goes_on_after_the_event(
    waits: list[float],
) -> None:
    hook, operator, context = FakeHook(), FakeOperator(), try_identity(task_context("merge"))
    finished = None
    for _ in range(3):
        with pytest.raises(Deferred):
            runner(hook, operator, deferrable=True).run(context, JOBS, finished=finished)
        finished = Step.parse(operator.deferrals[-1]["step"])

    done = runner(hook, operator, deferrable=True).run(context, JOBS, finished=finished)

    assert [deferral["step"] for deferral in operator.deferrals] == ["load_0_1", "load_1_1", "merge_0_1"]
    assert [deferral["job_id"] for deferral in operator.deferrals] == hook.submitted
    assert {deferral["method"] for deferral in operator.deferrals} == {"resume_after_job"}
    # Earlier steps are read back, not run again.
    assert [job.job_id for job in done] == hook.submitted


def test_a_resumed_task_finds_the_attempt_of_an_earlier_step_that_succeeded(waits: list[float]) -> None:
    hook, context = (
        FakeHook(refusals={"load_0": [("result", BadRequest(CONCURRENT))]}),
        try_identity(task_context("merge")),
    )
    runner(hook).run(context, JOBS[:2], finished=None)

    done = runner(hook).run(context, JOBS[:2], finished=Step("load", 1))

    assert [job.job_id for job in done] == [hook.submitted[1], hook.submitted[2]]
    assert steps_of(hook.submitted) == ["load_0_1", "load_0_2", "load_1_1"]


def test_a_second_process_of_the_try_submits_the_same_ids(waits: list[float]) -> None:
    first, again = FakeHook(), FakeHook()
    context = try_identity(task_context("merge"))
    runner(first).run(context, JOBS, finished=None)
    runner(again).run(context, JOBS, finished=None)
    assert first.submitted == again.submitted
    other_try = FakeHook()
    runner(other_try).run(try_identity(task_context("merge")), JOBS, finished=None)
    assert set(other_try.submitted).isdisjoint(first.submitted)


class Airflow2TaskInstance:
    """A task instance as Airflow 2.11 gives it: no ``id``, an XCom store of its own run."""

    def __init__(self, store: dict[str, Any] | None = None, kept: bool = True) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = (
            "d",
            "manual__1",
            "merge",
            -1,
            1,
        )
        self.store = {} if store is None else store
        self.kept = kept

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        if not self.kept:
            raise RuntimeError("no run kept")
        return self.store.get(key)

    def xcom_push(self, key: str, value: Any) -> None:
        if not self.kept:
            raise RuntimeError("no run kept")
        self.store[key] = value


def airflow2_context(task_instance: Airflow2TaskInstance) -> Context:
    """Wrap an Airflow 2.11 task instance in the context the operator receives."""
    return cast(Context, {"ti": task_instance})


def test_on_airflow_2_a_try_keeps_its_identity_in_its_xcom_and_a_recreated_run_draws_another() -> None:
    run_xcoms: dict[str, Any] = {}
    first = try_identity(airflow2_context(Airflow2TaskInstance(run_xcoms)))
    resumed = try_identity(airflow2_context(Airflow2TaskInstance(run_xcoms)))
    # `airflow dags test` again: same run id and try number, but the recreated run holds no XCom.
    recreated = try_identity(airflow2_context(Airflow2TaskInstance({})))
    kept_nowhere = [try_identity(airflow2_context(Airflow2TaskInstance(kept=False))) for _ in range(2)]

    assert first == resumed
    assert recreated != first and recreated.key != first.key
    assert kept_nowhere[0] != kept_nowhere[1]


def test_each_job_is_logged_with_its_sql_and_linked_from_the_task(caplog: pytest.LogCaptureFixture) -> None:
    hook, ti = FakeHook(), PushedXComs()
    caplog.set_level(logging.INFO, logger="test")

    runner(hook, ti=ti).run(try_identity(task_context("merge")), JOBS, finished=None)

    messages = [record.getMessage() for record in caplog.records]
    load, other_load, merge = hook.submitted
    assert f"BigQuery job {load} loads 1 objects into p-roject.d.staging" in messages
    assert f"BigQuery job {other_load} loads 2 objects into p-roject.d.staging" in messages
    assert f"BigQuery job {merge} runs:\nMERGE `p-roject.d.t` AS target USING ..." in messages
    # The link follows the latest job, in the console's job detail page as the google provider opens it.
    assert ti.pushed[BigQueryJobLink.key] == BigQueryJobLink.url("p-roject", "US", merge)
    assert f"!2s{merge}!3sUS" in ti.pushed[BigQueryJobLink.key]
