"""Waiting in the triggerer for one BigQuery job of a load: the google provider's trigger, telling the
task which of its steps finished.

The google provider's ``BigQueryInsertJobTrigger`` polls ``jobs.get`` until the job is done. Its event
names the job only on success, and a task resumed after a deferral keeps nothing of the run so far but
the event (``airflow dags test`` passes on nothing else), so this trigger adds the step (``load_0_1``,
``merge_0_1``, ...) and the job id to every event. The task then reads the job itself and fails, or goes
on, exactly as the synchronous path does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.google.cloud.triggers.bigquery import BigQueryInsertJobTrigger
from airflow.triggers.base import TriggerEvent


class SoundlinkBigQueryJobTrigger(BigQueryInsertJobTrigger):
    """``BigQueryInsertJobTrigger`` whose events carry ``step`` and ``job_id``."""

    def __init__(self, *, step: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, arguments = super().serialize()
        return f"{__name__}.{type(self).__name__}", {**arguments, "step": self.step}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info("Waiting for BigQuery job %s (step %s of its task)", self.job_id, self.step)
        async for event in super().run():
            yield TriggerEvent({**event.payload, "step": self.step, "job_id": self.job_id})
