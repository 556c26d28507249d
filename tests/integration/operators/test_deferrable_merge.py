"""The MERGE operator deferred: each job is waited on by the google provider's trigger, run here as the
triggerer runs it (rebuilt from its serialized form, polling the emulator), and each resume is a fresh
operator, as after a deferral. The table and the errors equal the synchronous path's."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.api_core.exceptions import BadRequest, NotFound

from airflow_provider_soundlink.compat import TaskDeferred
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.errors import SoundlinkError, SoundlinkFinalError
from airflow_provider_soundlink.operators import SoundlinkBigQueryMergeOperator
from airflow_provider_soundlink.triggers.bigquery import SoundlinkBigQueryJobTrigger
from support.emulators import SANDBOX_TODAY
from support.operator_pipeline import PLAYLIST_CAMPAIGN, RECENT_WINDOW, TRACK_CAMPAIGN, Pipeline, truth_rows
from support.task_context import task_context


def merge_operator(pipeline: Pipeline, manifest: Any, **options: Any) -> SoundlinkBigQueryMergeOperator:
    return SoundlinkBigQueryMergeOperator(
        task_id="merge_breakdown",
        export="breakdown",
        manifest=manifest,
        project_id=pipeline.project,
        dataset_id=pipeline.dataset,
        poll_interval=0.2,
        **options,
    )


def first_event(trigger: SoundlinkBigQueryJobTrigger) -> dict[str, Any]:
    """Get what the triggerer would hand the task: the trigger rebuilt from its serialized form, run until its
    first event."""
    classpath, arguments = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**arguments)

    async def run() -> dict[str, Any]:
        async for event in rebuilt.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(run())


def run_deferred(pipeline: Pipeline, manifest: Any, steps: list[str], **options: Any) -> dict[str, Any]:
    """Run the operator deferred to the end and return its summary; ``steps`` gets the steps it waited on (a
    task that defers more than 10 times fails the test)."""
    context = task_context("merge_breakdown")
    first = merge_operator(pipeline, manifest, deferrable=True, **options)
    resume: Callable[..., dict[str, Any]] = first.execute
    arguments: dict[str, Any] = {}
    for _ in range(10):
        try:
            summary: dict[str, Any] = resume(context, **arguments)
            return summary
        except TaskDeferred as deferred:
            assert deferred.method_name == "resume_after_job"
            event = first_event(deferred.trigger)
            steps.append(event["step"])
            resume = merge_operator(pipeline, manifest, deferrable=True, **options).resume_after_job
            arguments = {"event": event}
    raise AssertionError(f"still deferring after {steps}")


def test_a_deferred_merge_waits_on_each_job_and_leaves_the_table_the_synchronous_merge_leaves(
    pipeline: Pipeline,
) -> None:
    campaigns = [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN]
    manifest = pipeline.export(ExportKind.BREAKDOWN, campaigns, RECENT_WINDOW)
    truth = truth_rows(ExportKind.BREAKDOWN, campaigns, RECENT_WINDOW, SANDBOX_TODAY)

    # One object per load job: two loads, then the MERGE.
    steps: list[str] = []
    summary = run_deferred(pipeline, manifest, steps, max_uris_per_load_job=1)

    assert steps == ["load_0_1", "load_1_1", "merge_0_1"]
    assert summary["rows_loaded"] == summary["rows_affected"] == len(truth)
    deferred = pipeline.stored_exports(ExportKind.BREAKDOWN)
    assert deferred == truth
    assert pipeline.tables() == ["campaign_country_daily"]

    synchronous_merge = merge_operator(pipeline, manifest, deferrable=False)
    synchronous = synchronous_merge.execute(task_context("merge_breakdown"))
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == deferred
    # The same rows again: the MERGE deletes and inserts each of them.
    assert (synchronous["rows_loaded"], synchronous["rows_affected"]) == (len(truth), 2 * len(truth))


def test_a_deferred_load_that_fails_raises_the_synchronous_error_and_leaves_the_table(
    pipeline: Pipeline,
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    pipeline.merge(ExportKind.BREAKDOWN, manifest)
    table = pipeline.stored(ExportKind.BREAKDOWN)
    GCSHook().upload(bucket_name=pipeline.bucket, object_name="garbage.jsonl", data=b"this is not JSON\n")
    garbage = [*manifest, {**manifest[0], "uri": f"gs://{pipeline.bucket}/garbage.jsonl", "row_count": 1}]
    pipeline.sandbox.set_today(SANDBOX_TODAY + dt.timedelta(days=2))

    with pytest.raises(BadRequest) as synchronous:
        pipeline.merge(ExportKind.BREAKDOWN, garbage)
    steps: list[str] = []
    with pytest.raises(BadRequest) as deferred:
        run_deferred(pipeline, garbage, steps)

    assert steps == ["load_0_1"]
    assert "garbage.jsonl" in str(deferred.value)
    assert str(deferred.value).split(": ", 1)[1] == str(synchronous.value).split(": ", 1)[1]
    assert pipeline.stored(ExportKind.BREAKDOWN) == table
    assert pipeline.tables() == ["campaign_country_daily"]


def test_a_resumed_merge_whose_dataset_was_deleted_fails_for_a_retry_and_does_not_create_it(
    pipeline: Pipeline,
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    context = task_context("merge_breakdown")
    with pytest.raises(TaskDeferred) as deferred:
        merge_operator(pipeline, manifest, deferrable=True).execute(context)
    event = first_event(deferred.value.trigger)
    dataset = f"{pipeline.project}.{pipeline.dataset}"
    pipeline.client.delete_dataset(dataset, delete_contents=True)

    with pytest.raises(SoundlinkError, match="was deleted while this task waited") as error:
        merge_operator(pipeline, manifest, deferrable=True).resume_after_job(context, event=event)

    # Not final: the task's retries start the load over.
    assert not isinstance(error.value, SoundlinkFinalError)
    with pytest.raises(NotFound):
        pipeline.client.get_dataset(dataset)


def test_deferrable_follows_airflows_default_deferrable_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    def merge(**options: Any) -> SoundlinkBigQueryMergeOperator:
        return SoundlinkBigQueryMergeOperator(
            task_id="merge",
            export="breakdown",
            manifest=[],
            project_id="my-project",
            dataset_id="d",
            **options,
        )

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert merge().deferrable is True
    assert merge(deferrable=False).deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert merge().deferrable is False
