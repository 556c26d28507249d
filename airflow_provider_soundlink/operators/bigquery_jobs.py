"""Run a task's BigQuery jobs in order, the way every operator here runs them.

Each job has an id fixed by the task try, its step and its configuration, so a second process of the same
try reattaches to it instead of running it twice. The task waits for it itself or, deferrable, in the
triggerer, and resumes where the event says. A job BigQuery refused for a passing reason runs again, as a
new job (the next attempt of its step), after an exponential backoff; any other error is raised. Killing
the task cancels the job it waits on.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_soundlink.compat import Context
from airflow_provider_soundlink.core.load_plan import (
    Step,
    TryIdentity,
    is_transient_job_error,
    job_id,
    job_steps,
    retry_wait,
)
from airflow_provider_soundlink.operators.links import BigQueryJobLink

TRY_IDENTITY_KEY = "soundlink_try_identity"
"""The XCom in which a try keeps its identity on Airflow 2.11 (see :func:`try_identity`)."""


def try_identity(context: Context) -> TryIdentity:
    """Return the identity of this execution of the task's try, the same for a second process of the try.

    Airflow 3 gives each try its own ``ti.id``, which a second delivery of the same try shares. Airflow
    2.11 has none, and its run's database id may name another run: ``airflow dags test`` of the same date
    again recreates the run (same run id, try 1), and SQLite gives it the id of the deleted one. So the
    try draws an identity once and keeps it in its own XCom, which a task resumed after a deferral reads
    and a recreated run no longer holds. A try kept nowhere (``airflow tasks test``) draws a new one.
    """
    ti = context["ti"]
    execution = getattr(ti, "id", None)
    if execution is None:
        try:
            execution = ti.xcom_pull(task_ids=ti.task_id, key=TRY_IDENTITY_KEY)
        except Exception:  # no run kept: nothing to read
            execution = None
        if not execution:
            execution = uuid.uuid4().hex
            with contextlib.suppress(Exception):
                ti.xcom_push(key=TRY_IDENTITY_KEY, value=execution)
    map_index = -1 if ti.map_index is None else ti.map_index
    return TryIdentity(ti.dag_id, ti.run_id, ti.task_id, map_index, ti.try_number, str(execution))


if TYPE_CHECKING:
    from airflow_provider_soundlink.compat import BaseOperator
    from airflow_provider_soundlink.hooks.bigquery import SoundlinkBigQueryHook


class BigQueryJobRunner:
    """The jobs of one operator's try: ``jobs`` are (kind, configuration) pairs, run in order."""

    def __init__(
        self,
        operator: BaseOperator,
        context: Context,
        hook: SoundlinkBigQueryHook,
        project_id: str,
        location: str,
        *,
        deferrable: bool,
        poll_interval: float,
        max_attempts: int,
        initial_wait: float,
        max_wait: float,
    ) -> None:
        self.operator, self.context, self.hook = operator, context, hook
        self.project_id, self.location = project_id, location
        self.deferrable, self.poll_interval = deferrable, poll_interval
        self.max_attempts, self.initial_wait, self.max_wait = max_attempts, initial_wait, max_wait
        self.running: str | None = None
        """The id of the job the task waits on, for :meth:`cancel`."""

    def run(
        self, identity: TryIdentity, jobs: Sequence[tuple[str, Mapping[str, Any]]], finished: Step | None
    ) -> list[Any]:
        """Run ``jobs`` from the step ``finished`` names (its job read, not started; None: from the first)
        to the end, deferring for each one when deferrable; return each step's successful job."""
        steps = list(zip(job_steps([kind for kind, _ in jobs]), [config for _, config in jobs], strict=True))
        start = 0
        if finished is not None:
            start = [(step.kind, step.index) for step, _ in steps].index((finished.kind, finished.index))
        done = [self._succeeded(identity, step, configuration) for step, configuration in steps[:start]]
        for position in range(start, len(steps)):
            step, configuration = steps[position]
            if position == start and finished is not None:
                done.append(self._complete(identity, finished, configuration, resumed=True))
            else:
                done.append(self._complete(identity, step, configuration, resumed=False))
        return done

    def cancel(self) -> None:
        """Cancel the job the task waits on, if any (one whose insert never arrived is not found)."""
        from google.api_core.exceptions import NotFound

        if self.running is None:
            return
        self.operator.log.info("Cancelling BigQuery job %s", self.running)
        try:
            self.hook.cancel_job(job_id=self.running, project_id=self.project_id, location=self.location)
        except NotFound:
            self.operator.log.info("BigQuery job %s was never created; nothing to cancel", self.running)

    def _complete(
        self, identity: TryIdentity, step: Step, configuration: Mapping[str, Any], *, resumed: bool
    ) -> Any:
        """Run one step to success: submit it (or read it, ``resumed``) and wait; a passing refusal, at
        submission or by the finished job, runs the next attempt after the backoff."""
        while True:
            try:
                job = (
                    self._get(identity, step, configuration)
                    if resumed
                    else self._start(identity, step, configuration)
                )
                job.result()
                self.running = None
                return job
            except Exception as error:  # a deferral is no Exception: it passes
                if not is_transient_job_error(error) or step.attempt >= self.max_attempts:
                    raise
                wait = retry_wait(step.attempt, self.initial_wait, self.max_wait)
                self.operator.log.warning(
                    "BigQuery refused job %s for a passing reason (attempt %d of %d); it runs again in "
                    "%.1fs: %s",
                    step,
                    step.attempt,
                    self.max_attempts,
                    wait,
                    error,
                )
                time.sleep(wait)
                step, resumed = step.again(), False

    def _start(self, identity: TryIdentity, step: Step, configuration: Mapping[str, Any]) -> Any:
        submitted = job_id(identity, step, configuration)
        # Known before it is sent: a kill during the insert still cancels the job it may have created.
        self.running = submitted
        job = self.hook.insert_or_reattach(submitted, configuration, self.project_id, self.location)
        self._announce(submitted, configuration)
        if self.deferrable:
            from airflow_provider_soundlink.triggers.bigquery import SoundlinkBigQueryJobTrigger

            self.operator.defer(
                trigger=SoundlinkBigQueryJobTrigger(
                    step=str(step),
                    conn_id=self.hook.gcp_conn_id,
                    job_id=submitted,
                    project_id=self.project_id,
                    location=self.location,
                    poll_interval=self.poll_interval,
                    impersonation_chain=self.hook.impersonation_chain,
                ),
                method_name="resume_after_job",
                timeout=self.operator.execution_timeout,
            )
        return job

    def _announce(self, submitted: str, configuration: Mapping[str, Any]) -> None:
        """Log what the job does, a query's SQL in full, and link the task to the job."""
        if "query" in configuration:
            self.operator.log.info("BigQuery job %s runs:\n%s", submitted, configuration["query"]["query"])
        else:
            load = configuration["load"]
            table = load["destinationTable"]
            self.operator.log.info(
                "BigQuery job %s loads %d objects into %s.%s.%s",
                submitted,
                len(load["sourceUris"]),
                table["projectId"],
                table["datasetId"],
                table["tableId"],
            )
        BigQueryJobLink.persist(self.context, BigQueryJobLink.url(self.project_id, self.location, submitted))

    def _get(self, identity: TryIdentity, step: Step, configuration: Mapping[str, Any]) -> Any:
        return self.hook.get_job(
            job_id=job_id(identity, step, configuration), project_id=self.project_id, location=self.location
        )

    def _succeeded(self, identity: TryIdentity, step: Step, configuration: Mapping[str, Any]) -> Any:
        """Find the attempt of an earlier step that succeeded: a task resumed after a deferral kept no job."""
        for attempt in range(1, self.max_attempts + 1):
            job = self._get(identity, Step(step.kind, step.index, attempt), configuration)
            if job.error_result is None:
                return job
        raise RuntimeError(f"no attempt of {step.kind}_{step.index} succeeded, yet the task went past it")
