"""Load an export's GCS objects into BigQuery: load jobs into a staging table, then the MERGE."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.compat import (
    AirflowSkipException,
    Asset,
    BaseOperator,
    Context,
    TaskDeferred,
    default_deferrable,
)
from airflow_provider_soundlink.core.exports import ExportKind, export_kind
from airflow_provider_soundlink.core.load_plan import (
    MAX_SOURCE_URIS_PER_LOAD_JOB,
    Step,
    TryIdentity,
    expiring_days,
    job_labels,
    load_jobs,
    load_summary,
    merge_counts,
    merge_sql,
    staging_table_name,
)
from airflow_provider_soundlink.core.manifest import ManifestScope, flatten_manifests, manifest_scope
from airflow_provider_soundlink.core.new_fields import columns_beyond, columns_to_add
from airflow_provider_soundlink.core.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.core.sql import TableRef
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.operators.arguments import check_merge_arguments, is_template
from airflow_provider_soundlink.operators.bigquery_jobs import BigQueryJobRunner, try_identity
from airflow_provider_soundlink.operators.gcs_objects import check_bucket_locations
from airflow_provider_soundlink.operators.lineage import RecordedLineage, ReportsLineage, record_load
from airflow_provider_soundlink.operators.links import BigQueryJobLink, BigQueryTableLink

if TYPE_CHECKING:
    from airflow_provider_soundlink.hooks.bigquery import SoundlinkBigQueryHook

MERGE_POOL = "soundlink_bigquery_merge"
"""The pool (one slot) that serialises the MERGEs into the Soundlink tables; see the operator."""
NEW_COLUMN_DESCRIPTION = "A Soundlink export field added by airflow-provider-soundlink (add_new_fields)."


def bigquery_asset_uri(project_id: str, dataset_id: str, table_id: str) -> str:
    return f"bigquery://{project_id}/{dataset_id}/{table_id}"


@dataclass(frozen=True)
class _Load:
    """One load of a manifest, derived from the task's arguments and try alone, so a task resumed after a
    deferral derives the same (and the same job ids)."""

    hook: SoundlinkBigQueryHook
    location: str
    target: TableRef
    staging: TableRef
    scope: ManifestScope
    uris: list[str]
    jobs: list[tuple[str, dict[str, Any]]]
    """(kind, configuration) of each job, in order: the loads, then a MERGE per part of the window."""
    identity: TryIdentity


class SoundlinkBigQueryMergeOperator(ReportsLineage, BaseOperator):
    """Load the objects of an export manifest into a BigQuery table: load jobs, then the MERGE.

    The manifest (of :class:`~airflow_provider_soundlink.operators.export_to_gcs.SoundlinkExportToGCSOperator`
    or :class:`~airflow_provider_soundlink.operators.link_stats_to_gcs.SoundlinkLinkStatsToGCSOperator`, or a
    list of them) defines the scope: its window x the values it covers of the table's scope columns
    (campaigns, and an engagement context; for link statistics groupings and filters), each exported over
    the whole window. Inside the scope the newest export of each scope value and report date wins whole,
    whatever order loads run in (see :mod:`airflow_provider_soundlink.core.sql`); outside it nothing changes.

    Steps: look the dataset up (creating it in ``location`` only if missing); check that the buckets are
    in a location the dataset loads from; create the target table if missing (partitioned by
    ``report_date``, clustered); add new fields as columns (``add_new_fields``); create a staging table
    that expires after ``staging_expiration``; load the non-empty objects into it (at most
    ``max_uris_per_load_job`` URIs per job); run the MERGE, one per 4,000 days of the window (BigQuery's
    limit of partitions one job modifies), each atomic; drop the staging table whatever happened.

    Every job is labelled (``labels`` and ``airflow-dag``/``airflow-task``) and has an id fixed by the try,
    the step and its configuration, so a second process of the same try reattaches to it. A job BigQuery
    refuses for a passing reason (a concurrent update, DML concurrency or rate limits) runs again after an
    exponential backoff, as a new job, up to ``max_job_attempts``; any other error fails the task and
    leaves the table as it was. Killing the task cancels its running job. Concurrent MERGEs into one table
    abort each other: serialise them with a pool of one slot (``MERGE_POOL``, created
    ``--include-deferred``).

    :param export: ``"breakdown"``, ``"engagement"`` or ``"link_stats"``; must match the manifest.
    :param manifest: a manifest or a list of them (templated); all empty skips the task.
    :param project_id: the BigQuery project (templated).
    :param dataset_id: the dataset of the target and staging tables (templated).
    :param table_id: the target table (templated); defaults to the export's table name.
    :param location: the location of the dataset and jobs (templated); None takes the dataset's.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate (templated).
    :param labels: labels of every job, besides ``airflow-dag`` and ``airflow-task`` (templated).
    :param partition_expiration: the partition expiration of a target table this task creates; None takes
        the dataset's default, if any (a warning names any loaded day it would expire).
    :param staging_expiration: how long a staging table lives if dropping it fails.
    :param max_uris_per_load_job: source URIs per load job, at most BigQuery's 10,000.
    :param maximum_bytes_billed: fail a MERGE, without charge, that would bill more bytes than this.
    :param add_new_fields: add the manifest's new export fields as NULLABLE columns (see
        :mod:`airflow_provider_soundlink.core.new_fields`) and load them; off, they stay in GCS only.
    :param deferrable: wait for each job in the triggerer; None takes ``[operators] default_deferrable``.
    :param poll_interval: seconds between the triggerer's checks of a job (deferrable only).
    :param max_job_attempts: attempts of a job refused for a passing reason.
    :param retry_initial_wait: the first wait before such a job runs again; doubles each time.
    :param retry_max_wait: the longest wait between two attempts.
    """

    template_fields: Sequence[str] = (
        "manifest",
        "project_id",
        "dataset_id",
        "table_id",
        "location",
        "impersonation_chain",
        "labels",
        "merge_sql",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"merge_sql": "sql"}
    # Airflow 3 stores the rendered fields again once the task has run, so the MERGE's SQL (known only
    # after the manifest is read) shows as the task's rendered "merge_sql". Airflow 2.11 keeps the value
    # from before the run; both log the SQL of every job.
    overwrite_rtif_after_execution = True
    ui_color = "#4285f4"
    operator_extra_links = (BigQueryTableLink(), BigQueryJobLink())

    def __init__(
        self,
        *,
        export: ExportKind | str,
        manifest: Any,
        project_id: str,
        dataset_id: str,
        table_id: str | None = None,
        location: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        partition_expiration: dt.timedelta | None = None,
        staging_expiration: dt.timedelta = dt.timedelta(hours=6),
        max_uris_per_load_job: int = MAX_SOURCE_URIS_PER_LOAD_JOB,
        maximum_bytes_billed: int | None = None,
        add_new_fields: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 4.0,
        max_job_attempts: int = 5,
        retry_initial_wait: dt.timedelta = dt.timedelta(seconds=5),
        retry_max_wait: dt.timedelta = dt.timedelta(minutes=2),
        **kwargs: Any,
    ) -> None:
        export = export_kind(export).value
        table_id = table_id or ExportKind(export).table_name
        if not any(is_template(identifier) for identifier in (project_id, dataset_id, table_id)):
            TableRef(project_id, dataset_id, table_id)
            kwargs.setdefault("outlets", [Asset(bigquery_asset_uri(project_id, dataset_id, table_id))])
        check_merge_arguments(
            staging_expiration=staging_expiration,
            partition_expiration=partition_expiration,
            max_uris_per_load_job=max_uris_per_load_job,
            maximum_bytes_billed=maximum_bytes_billed,
            max_job_attempts=max_job_attempts,
        )
        super().__init__(**kwargs)
        self.export, self.manifest, self.table_id = export, manifest, table_id
        self.project_id, self.dataset_id, self.location = project_id, dataset_id, location
        self.gcp_conn_id, self.impersonation_chain, self.labels = gcp_conn_id, impersonation_chain, labels
        self.partition_expiration, self.staging_expiration = partition_expiration, staging_expiration
        self.max_uris_per_load_job, self.maximum_bytes_billed = max_uris_per_load_job, maximum_bytes_billed
        self.add_new_fields, self.poll_interval = add_new_fields, poll_interval
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_job_attempts = max_job_attempts
        self.retry_initial_wait, self.retry_max_wait = retry_initial_wait, retry_max_wait
        self._runner: BigQueryJobRunner | None = None
        self.merge_sql = ""
        """The MERGE statements the task runs, separated by semicolons; set when the task runs."""

    def execute(self, context: Context) -> dict[str, Any]:
        return self._proceed(context, self._prepare(context, resumed=False), finished=None)

    def resume_after_job(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Where a deferred task resumes once the triggerer saw the job of ``event["step"]`` finish: it
        derives the same load, reads that job, and goes on as ``execute`` does after it."""
        return self._proceed(
            context, self._prepare(context, resumed=True), finished=Step.parse(event["step"])
        )

    def planned_lineage(self) -> RecordedLineage:
        planned = RecordedLineage()
        with contextlib.suppress(SoundlinkConfigurationError, TypeError, KeyError):  # not rendered yet
            uris = [entry["uri"] for entry in flatten_manifests(self.manifest) if entry["row_count"] > 0]
            target = TableRef(self.project_id, self.dataset_id, self.table_id)
            record_load(planned, uris, target, ExportKind(self.export).table_name, [])
        return planned

    def on_kill(self) -> None:
        """Cancel the job the task waits on, so a killed task leaves no MERGE running."""
        if self._runner is not None:
            self._runner.cancel()

    def _prepare(self, context: Context, *, resumed: bool) -> _Load:
        """Everything the jobs need. The first time it also sets the dataset, the tables and the columns
        up; a resumed task only reads."""
        from airflow_provider_soundlink.hooks.bigquery import SoundlinkBigQueryHook

        entries = flatten_manifests(self.manifest)
        if not entries:
            raise AirflowSkipException("The export tasks exported nothing (the run planned no campaigns)")
        scope = manifest_scope(entries)
        if scope.export != self.export:
            raise SoundlinkConfigurationError(
                f"the manifest holds the {scope.export!r} export but this task loads {self.export!r}; pass "
                "the matching export task's output"
            )
        table = table_definition(scope.table)
        target = TableRef(self.project_id, self.dataset_id, self.table_id)
        identity = try_identity(context)
        staging = TableRef(self.project_id, self.dataset_id, staging_table_name(table.name, identity))
        uris = [entry["uri"] for entry in entries if entry["row_count"] > 0]
        hook = SoundlinkBigQueryHook(self.gcp_conn_id, self.location, self.impersonation_chain)
        location = hook.dataset_location(target, self.location, create_if_missing=not resumed)
        if resumed:
            # The staging table is this try's own: its columns are the ones the jobs were built with.
            extra = columns_beyond(table.column_names, hook.table_schema(staging, location))
        else:
            BigQueryTableLink.persist(
                context, BigQueryTableLink.url(target.project, target.dataset, target.table)
            )
            check_bucket_locations(self.gcp_conn_id, self.impersonation_chain, location, uris)
            extra = self._set_target_up(hook, table, target, entries, location, scope)
            self.log.info(
                "Loading %d of %d exported objects (the rest are empty) for %s over %s into %s",
                len(uris),
                len(entries),
                scope.describe(),
                scope.window,
                target,
            )
        jobs = load_jobs(
            table,
            target,
            staging,
            scope,
            uris,
            extra,
            job_labels(context["ti"].dag_id, context["ti"].task_id, self.labels),
            max_uris=self.max_uris_per_load_job,
            maximum_bytes_billed=self.maximum_bytes_billed,
        )
        self.merge_sql = merge_sql(jobs)
        record_load(self.record_lineage(), uris, target, table.name, [*table.bigquery_schema(), *extra])
        if not resumed:
            hook.create_staging_table(
                staging,
                [*table.staging_schema(), *extra],
                dt.datetime.now(dt.UTC) + self.staging_expiration,
                f"Staging for a load into {table.name}; dropped after the MERGE.",
                location,
            )
        return _Load(hook, location, target, staging, scope, uris, jobs, identity)

    def _proceed(self, context: Context, load: _Load, finished: Step | None) -> dict[str, Any]:
        """Run the jobs after ``finished`` (all when None); the staging table is dropped at the end or on any
        failure, but not when the task defers, since it resumes with it."""
        self._runner = BigQueryJobRunner(
            self,
            context,
            load.hook,
            load.target.project,
            load.location,
            deferrable=self.deferrable,
            poll_interval=self.poll_interval,
            max_attempts=self.max_job_attempts,
            initial_wait=self.retry_initial_wait.total_seconds(),
            max_wait=self.retry_max_wait.total_seconds(),
        )
        try:
            jobs = self._runner.run(load.identity, load.jobs, finished)
            rows_loaded = load.hook.table_rows(load.staging, load.location)
        except BaseException as error:
            if not isinstance(error, TaskDeferred):
                load.hook.drop_table(load.staging)
            raise
        load.hook.drop_table(load.staging)
        merges = [job for (kind, _), job in zip(load.jobs, jobs, strict=True) if kind == "merge"]
        counts = merge_counts(merges)
        if self._lineage is not None:
            self._lineage.bigquery_job = merges[-1].job_id
        metrics.merged(
            load.target.table, counts.inserted, counts.deleted, counts.bytes_billed, self.dag_id, self.task_id
        )
        self.log.info(
            "Loaded %d rows into staging; the MERGE into %s inserted %d rows and deleted %d (rows of days "
            "stored from a newer export are deleted and inserted as they were)",
            rows_loaded,
            load.target,
            counts.inserted,
            counts.deleted,
        )
        return load_summary(load.target, load.scope, len(load.uris), rows_loaded, counts)

    def _set_target_up(
        self,
        hook: SoundlinkBigQueryHook,
        table: TableDefinition,
        target: TableRef,
        entries: Sequence[Any],
        location: str,
        scope: ManifestScope,
    ) -> list[dict[str, str]]:
        """Create the target if missing, warn about partitions that would expire, add new fields as columns
        (``add_new_fields``); return the target's columns beyond the table definition."""
        stored = hook.ensure_table(target, table.table_resource(self.partition_expiration), location)
        expiration_ms = stored.time_partitioning.expiration_ms if stored.time_partitioning else None
        expiration = None if expiration_ms is None else dt.timedelta(milliseconds=int(expiration_ms))
        expiring = expiring_days(expiration, scope.window, dt.datetime.now(dt.UTC).date())
        if expiring is not None:
            self.log.warning(
                "%s expires partitions after %s (its own setting, or its dataset's default partition "
                "expiration when it was created): BigQuery deletes the rows loaded for %s. Set the table's "
                "partition expiration (bq update --time_partitioning_expiration) to keep them",
                target,
                expiration,
                expiring,
            )
        schema = list(stored.schema)
        if self.add_new_fields:
            additions, refused = columns_to_add(entries, [field.name for field in schema])
            for name, reason in refused.items():
                self.log.warning("New export field %r gets no column: %s", name, reason)
            if additions:
                schema = hook.add_columns(target, additions, NEW_COLUMN_DESCRIPTION, location)
                self.log.info(
                    "Added new export fields to %s as NULLABLE columns: %s",
                    target,
                    ", ".join(f"{name} {kind}" for name, kind in additions.items()),
                )
        return columns_beyond(table.column_names, schema)
