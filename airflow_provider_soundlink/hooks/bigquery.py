"""The google provider's BigQuery hook with the mechanics of a Soundlink load: the dataset and its location,
the target and staging tables, columns added for new fields, and jobs inserted or reattached by id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

from airflow_provider_soundlink.errors import SoundlinkConfigurationError, SoundlinkError

if TYPE_CHECKING:
    from google.cloud.bigquery.job import _AsyncJob

    from airflow_provider_soundlink.core.sql import TableRef


class SoundlinkBigQueryHook(BigQueryHook):
    """``BigQueryHook`` for GoogleSQL jobs in ``location`` (None: the dataset's own location), with the
    steps of a load. Operators compose these; every call is one BigQuery API call or a few."""

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        location: str | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            gcp_conn_id=gcp_conn_id,
            location=location,
            impersonation_chain=impersonation_chain,
            use_legacy_sql=False,
        )

    def dataset_location(self, target: TableRef, location: str | None, *, create_if_missing: bool) -> str:
        """Return the location of the target's dataset, creating the dataset (in ``location``) if it is
        missing and ``create_if_missing``; a dataset elsewhere than ``location`` is refused.

        Looked up first: creating one, even with ``exists_ok``, needs ``bigquery.datasets.create``, which
        a least-privilege service account that only loads into an existing dataset does not hold. A
        resumed task does not create it: its jobs ran in the dataset that was there, and a dataset deleted
        while they ran fails the try, whose retry starts the load over.
        """
        from google.api_core.exceptions import NotFound

        try:
            dataset = self.get_dataset(dataset_id=target.dataset, project_id=target.project)
        except NotFound:
            if not create_if_missing:
                raise SoundlinkError(
                    f"dataset {target.project}.{target.dataset} was deleted while this task waited for its "
                    "BigQuery jobs; the task's next try (if it has retries left) creates it and starts the "
                    "load over"
                ) from None
            self.log.info("Dataset %s.%s does not exist; creating it", target.project, target.dataset)
            created = self.create_empty_dataset(
                dataset_id=target.dataset, project_id=target.project, location=location, exists_ok=True
            )
            return str(created.get("location") or location or "US")
        existing = str(dataset.location or "")
        if location and existing and existing.upper() != location.upper():
            raise SoundlinkConfigurationError(
                f"dataset {target.project}.{target.dataset} is in {existing}, not in location={location!r}; "
                f"set location to {existing!r} (the DAG param or SOUNDLINK_BIGQUERY_LOCATION), or load into "
                f"a dataset in {location}"
            )
        return existing or location or "US"

    def default_partition_expiration(self, target: TableRef) -> dt.timedelta | None:
        """Get the target dataset's default partition expiration, which tables created without one inherit."""
        dataset = self.get_dataset(dataset_id=target.dataset, project_id=target.project)
        milliseconds = dataset.default_partition_expiration_ms
        return None if milliseconds is None else dt.timedelta(milliseconds=int(milliseconds))

    def ensure_table(self, target: TableRef, table_resource: Mapping[str, Any], location: str) -> Any:
        """Create the target table if it is missing; return the table as it stands."""
        self.create_table(
            dataset_id=target.dataset,
            table_id=target.table,
            table_resource=dict(table_resource),
            project_id=target.project,
            location=location,
            exists_ok=True,
        )
        return self.get_client(project_id=target.project, location=location).get_table(str(target))

    def add_columns(
        self, target: TableRef, columns: Mapping[str, str], description: str, location: str
    ) -> list[Any]:
        """Append ``columns`` (name -> type) to the table's schema as NULLABLE; return the new schema."""
        from google.cloud.bigquery import SchemaField

        client = self.get_client(project_id=target.project, location=location)
        table = client.get_table(str(target))
        table.schema = [
            *table.schema,
            *(
                SchemaField(name, column_type, mode="NULLABLE", description=description)
                for name, column_type in columns.items()
            ),
        ]
        return list(client.update_table(table, ["schema"]).schema)

    def table_schema(self, ref: TableRef, location: str) -> list[Any]:
        return list(self.get_client(project_id=ref.project, location=location).get_table(str(ref)).schema)

    def create_staging_table(
        self,
        staging: TableRef,
        schema: Sequence[Mapping[str, str]],
        expires_at: dt.datetime,
        description: str,
        location: str,
    ) -> None:
        """Create the staging table of a load, expiring at ``expires_at`` should dropping it fail; a second
        process of the same try finds the first one's table."""
        self.create_table(
            dataset_id=staging.dataset,
            table_id=staging.table,
            table_resource={
                "description": description,
                "schema": {"fields": [dict(field) for field in schema]},
                "expirationTime": str(int(expires_at.timestamp() * 1000)),
            },
            project_id=staging.project,
            location=location,
            exists_ok=True,
        )

    def table_rows(self, ref: TableRef, location: str) -> int:
        return int(
            self.get_client(project_id=ref.project, location=location).get_table(str(ref)).num_rows or 0
        )

    def drop_table(self, ref: TableRef) -> None:
        self.delete_table(table_id=str(ref), not_found_ok=True, project_id=ref.project)

    def insert_or_reattach(
        self, job_id: str, configuration: Mapping[str, Any], project_id: str, location: str
    ) -> _AsyncJob:
        """Submit a job under ``job_id`` without waiting, or, when a job of that id exists (a second
        process of the same try), return that job."""
        from google.api_core.exceptions import Conflict

        try:
            return self.insert_job(
                configuration=dict(configuration),
                job_id=job_id,
                project_id=project_id,
                location=location,
                nowait=True,
            )
        except Conflict:
            job = self.get_job(job_id=job_id, project_id=project_id, location=location)
            self.log.info(
                "BigQuery job %s was already submitted by this try (state %s); reattaching", job_id, job.state
            )
            return job
