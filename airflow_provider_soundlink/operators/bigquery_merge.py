"""Load an export's GCS objects into BigQuery: load jobs into a staging table, then one MERGE."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_soundlink.client.errors import SoundlinkConfigurationError, SoundlinkError
from airflow_provider_soundlink.compat import (
    AirflowSkipException,
    Asset,
    BaseOperator,
    Context,
    TaskDeferred,
    default_deferrable,
)
from airflow_provider_soundlink.exports import ExportKind, export_kind
from airflow_provider_soundlink.hooks.bigquery import standard_sql_hook
from airflow_provider_soundlink.manifest import (
    ManifestEntry,
    ManifestScope,
    flatten_manifests,
    manifest_scope,
)
from airflow_provider_soundlink.new_fields import COLUMN_NAME
from airflow_provider_soundlink.new_fields import column_type as new_column_type
from airflow_provider_soundlink.operators.arguments import is_template
from airflow_provider_soundlink.operators.lineage import ReportsLineage, bigquery_dataset, gcs_dataset
from airflow_provider_soundlink.operators.links import BigQueryTableLink
from airflow_provider_soundlink.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.sql import TableRef, merge_statement

# google.* modules are imported inside the functions that use them: DAG files import this module on every
# parse, and the google provider's hooks bring pandas and more (seconds and about 100 MiB per parse).
if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.cloud.bigquery import LoadJob, QueryJob
    from google.cloud.bigquery.job import _AsyncJob

MERGE_POOL = "soundlink_bigquery_merge"
"""The pool (one slot) that serialises the MERGEs into the Soundlink tables; see the operator."""

MAX_SOURCE_URIS_PER_LOAD_JOB = 10_000
"""BigQuery "Quotas and limits", load jobs: "A job configuration can have up to 10,000 source URIs."."""

# BigQuery's message names the table in some reports ("Could not serialize access to table p:d.t due to
# concurrent update") and not in others; both mean the statement changed nothing.
_CONCURRENT_UPDATE = re.compile(
    r"could not serialize access to table(?:\s.*?)?\s+due to concurrent update"
    r"|transaction is aborted due to concurrent update",
    re.IGNORECASE | re.DOTALL,
)
# BigQuery job ids: "letters (a-z, A-Z), numbers (0-9), underscores (_), or dashes (-)", at most 1,024.
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_JOB_ID_READABLE_CHARACTERS = 200
# A single region ("us-central1", "europe-west4"), as opposed to a multi-region ("US", "EU") or a
# dual-region ("NAM4", "EUR4").
_SINGLE_REGION = re.compile(r"[A-Z]+-[A-Z]+[0-9]+")
_EU_BUCKET_PREFIXES = ("EU", "EUROPE-")


def is_concurrent_update_error(error: BaseException) -> bool:
    """Whether BigQuery refused a DML statement only because another one changed the table meanwhile.

    Such a statement changed nothing, so running it again is safe; any other error is final.
    """
    from google.api_core.exceptions import GoogleAPICallError

    return isinstance(error, GoogleAPICallError) and bool(_CONCURRENT_UPDATE.search(str(error)))


def bigquery_asset_uri(project_id: str, dataset_id: str, table_id: str) -> str:
    return f"bigquery://{project_id}/{dataset_id}/{table_id}"


def try_key(context: Context) -> str:
    """What names this execution of a task try: dag, run, task, map index, try number, and its identity.

    Airflow 3 gives each try its own ``ti.id``, which a second delivery of the same try shares. Airflow
    2.11 has none, so the run's database id stands in: ``airflow dags test`` of the same date again
    recreates the run (same run id, try 1), and must run its jobs again, not reattach to the last ones.
    """
    ti = context["ti"]
    identity = getattr(ti, "id", None) or getattr(context.get("dag_run"), "id", None)
    if identity is None:
        # A run kept nowhere (``airflow tasks test``): nothing tells two executions apart, so none may
        # reattach to another's jobs.
        identity = uuid.uuid4()
    return "\x00".join(map(str, (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, identity)))


def staging_table_name(table_name: str, context: Context) -> str:
    """The staging table of this try of this task instance.

    Fixed per try, so a second process of the same try (a task the executor delivered twice, or one
    started again after its worker died) finds the table, and the jobs, of the first.
    """
    digest = hashlib.sha256(try_key(context).encode()).hexdigest()[:16]
    return f"{table_name}__staging_{digest}"


def job_id(context: Context, step: str, configuration: dict[str, Any]) -> str:
    """A BigQuery job id fixed by the try, the step and the job's configuration.

    A second process of the same try submits the same id, gets "Already Exists" and reattaches to the
    job instead of running it twice; the configuration in the hash keeps apart two Airflow deployments
    that share dag and run ids but load other tables (as the google provider's ``generate_job_id`` does).
    """
    ti = context["ti"]
    digest = hashlib.sha256(
        f"{try_key(context)}\x00{step}\x00{json.dumps(configuration, sort_keys=True)}".encode()
    ).hexdigest()
    readable = _JOB_ID_UNSAFE.sub("_", f"soundlink_{ti.dag_id}_{ti.task_id}_{step}")
    return f"{readable[:_JOB_ID_READABLE_CHARACTERS]}_{digest}"


def locations_compatible(dataset_location: str, bucket_location: str) -> bool:
    """Whether a dataset in ``dataset_location`` may load from a bucket in ``bucket_location``; only a
    clear mismatch is refused, the load job has the last word.

    "Loading JSON data from Cloud Storage": "If your dataset's location is set to a value other than the
    US multi-region, then the Cloud Storage bucket must be in the same region or contained in the same
    multi-region as the dataset." So a US dataset loads from anywhere, an EU one from a European bucket,
    and a regional one refuses a bucket in another single region.
    """
    dataset, bucket = dataset_location.upper(), bucket_location.upper()
    if dataset in {"US", bucket}:
        return True
    if dataset == "EU":
        return bucket.startswith(_EU_BUCKET_PREFIXES)
    return not _SINGLE_REGION.fullmatch(bucket)


@dataclass(frozen=True)
class _Load:
    """One load of a manifest into its table, as its jobs need it; derived from the task's arguments and
    try alone, so a task resumed after a deferral derives the same (and the same job ids)."""

    hook: BigQueryHook
    location: str
    table: TableDefinition
    target: TableRef
    staging: TableRef
    scope: ManifestScope
    uris: list[str]
    staging_schema: list[dict[str, str]]
    extra_columns: list[str]


class SoundlinkBigQueryMergeOperator(ReportsLineage, BaseOperator):
    """Load the objects of an export manifest into a BigQuery table: load jobs, then one MERGE.

    The manifest (the return value of
    :class:`~airflow_provider_soundlink.operators.export_to_gcs.SoundlinkExportToGCSOperator`, or a list
    of those from several export tasks, or of
    :class:`~airflow_provider_soundlink.operators.link_stats_to_gcs.SoundlinkLinkStatsToGCSOperator`)
    defines the scope: the window from its earliest start to its latest end x the values it covers of the
    table definition's scope columns (its campaigns, and its engagement context if it has one; for link
    statistics its groupings and filters). Every combination must have been exported over that whole
    window, because inside the scope the newest export of each scope value and report date wins whole: a
    stored day whose latest ``exported_at`` is newer than the export's stays as it is, an older one is
    replaced by the export's rows of that day (rows a revision removed are deleted), whatever order loads
    run in (see :mod:`airflow_provider_soundlink.sql`). Rows outside the scope are never touched.

    Steps: look the dataset up and create it only if it is missing (in ``location``); check that the
    buckets of the objects are in a location the dataset can load from, where the bucket's location can be
    read; create the target table if missing (partitioned by ``report_date``, clustered, from the table
    definition); create a staging table that expires after ``staging_expiration``; load the non-empty
    objects into it with ``NEWLINE_DELIMITED_JSON`` load jobs of at most ``max_uris_per_load_job`` URIs
    each (BigQuery takes 10,000); run ONE MERGE, whose every read of the target is pruned to the window's
    partitions (see :mod:`airflow_provider_soundlink.sql`); drop the staging table whatever happened. The
    MERGE is one statement, so the target changes completely or not at all.

    Every job's id is fixed by the task try, the step and the job's configuration: a second process of
    the same try (a task delivered twice, or started again after its worker died) reattaches to the
    jobs the first submitted instead of running them again. A MERGE that BigQuery aborts because of a
    concurrent update of the same table is retried with exponential backoff; any other error fails the
    task at once and leaves the target as it was.

    BigQuery aborts all but one of concurrent MERGEs into a table, so runs that overlap (a daily run and a
    backfill) waste retries. Serialise them with a pool of one slot that a deferred task keeps holding::

        airflow pools set soundlink_bigquery_merge 1 "one Soundlink MERGE at a time" --include-deferred

    and ``pool=MERGE_POOL`` (``"soundlink_bigquery_merge"``) on this operator.

    When ``project_id``, ``dataset_id`` and ``table_id`` are plain strings and no ``outlets`` are given, the
    task declares the asset ``bigquery://{project_id}/{dataset_id}/{table_id}`` as its outlet.

    :param export: ``"breakdown"``, ``"engagement"`` (or an :class:`ExportKind`) or ``"link_stats"``; must
        match the manifest.
    :param manifest: a manifest, or a list of manifests from several export tasks (templated). When
        every manifest is empty (nothing was exported), the task is skipped.
    :param project_id: the BigQuery project of the dataset (templated).
    :param dataset_id: the dataset of the target and staging tables (templated).
    :param table_id: the target table (templated); defaults to the export's table name.
    :param location: the BigQuery location for the dataset and the jobs (templated); None takes the
        existing dataset's location (a missing dataset is then created in BigQuery's default, ``US``).
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate (templated).
    :param staging_expiration: how long a staging table lives if dropping it fails.
    :param max_uris_per_load_job: source URIs per load job, at most BigQuery's 10,000.
    :param maximum_bytes_billed: fail the MERGE, without charge, if it would bill more bytes than this
        (``maximumBytesBilled``); None leaves the project's default.
    :param add_new_fields: add the export fields the table definition does not know (listed in the
        manifest) to the target as NULLABLE columns, typed by the rule in
        :mod:`airflow_provider_soundlink.new_fields`, and load them; additive only. Off: they stay in GCS
        and are ignored. Columns added by an earlier run are loaded and kept either way.
    :param deferrable: submit each job and wait for it in the triggerer (the google provider's
        ``BigQueryInsertJobTrigger``), freeing the worker slot meanwhile; results and errors are the same as
        waiting in the task. None (the default) takes Airflow's ``[operators] default_deferrable``.
    :param poll_interval: seconds between the triggerer's checks of a job (deferrable only).
    :param merge_max_attempts: attempts of the MERGE when concurrent updates abort it.
    :param merge_retry_initial_wait: first wait before retrying an aborted MERGE; doubles each time.
    :param merge_retry_max_wait: the longest wait between two MERGE attempts.
    """

    template_fields: Sequence[str] = (
        "manifest",
        "project_id",
        "dataset_id",
        "table_id",
        "location",
        "impersonation_chain",
    )
    ui_color = "#4285f4"
    operator_extra_links = (BigQueryTableLink(),)

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
        staging_expiration: dt.timedelta = dt.timedelta(hours=6),
        max_uris_per_load_job: int = MAX_SOURCE_URIS_PER_LOAD_JOB,
        maximum_bytes_billed: int | None = None,
        add_new_fields: bool = False,
        deferrable: bool | None = None,
        poll_interval: float = 4.0,
        merge_max_attempts: int = 5,
        merge_retry_initial_wait: dt.timedelta = dt.timedelta(seconds=5),
        merge_retry_max_wait: dt.timedelta = dt.timedelta(minutes=2),
        **kwargs: Any,
    ) -> None:
        export = export_kind(export).value
        table_id = table_id or ExportKind(export).table_name
        identifiers = (project_id, dataset_id, table_id)
        if not any(is_template(identifier) for identifier in identifiers):
            TableRef(project_id, dataset_id, table_id)
            kwargs.setdefault("outlets", [Asset(bigquery_asset_uri(project_id, dataset_id, table_id))])
        if staging_expiration <= dt.timedelta(0):
            raise SoundlinkConfigurationError(
                f"staging_expiration must be positive, got {staging_expiration}"
            )
        if not 1 <= max_uris_per_load_job <= MAX_SOURCE_URIS_PER_LOAD_JOB:
            raise SoundlinkConfigurationError(
                f"max_uris_per_load_job must be 1 to {MAX_SOURCE_URIS_PER_LOAD_JOB} (BigQuery's limit of "
                f"source URIs per load job), got {max_uris_per_load_job}"
            )
        if maximum_bytes_billed is not None and maximum_bytes_billed < 1:
            raise SoundlinkConfigurationError(
                f"maximum_bytes_billed must be a positive number of bytes or None, got {maximum_bytes_billed}"
            )
        if merge_max_attempts < 1:
            raise SoundlinkConfigurationError(
                f"merge_max_attempts must be at least 1, got {merge_max_attempts}"
            )
        super().__init__(**kwargs)
        self.export = export
        self.manifest = manifest
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.table_id = table_id
        self.location = location
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.staging_expiration = staging_expiration
        self.max_uris_per_load_job = max_uris_per_load_job
        self.maximum_bytes_billed = maximum_bytes_billed
        self.add_new_fields = add_new_fields
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.merge_max_attempts = merge_max_attempts
        self.merge_retry_initial_wait = merge_retry_initial_wait
        self.merge_retry_max_wait = merge_retry_max_wait

    def execute(self, context: Context) -> dict[str, Any]:
        load = self._prepare(context, resumed=False)
        return self._proceed(context, load, finished_step=None)

    def resume_after_job(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Where a deferred task resumes once the triggerer saw the job of ``event["step"]`` finish: it
        derives the same load from its arguments and try, reads that job, and goes on as ``execute`` does
        after it (deferring again for the next job)."""
        load = self._prepare(context, resumed=True)
        return self._proceed(context, load, finished_step=str(event["step"]))

    def _prepare(self, context: Context, *, resumed: bool) -> _Load:
        """Everything the jobs need, from the task's arguments and try alone. The first time it also looks
        the dataset up (creating it if missing), checks the buckets, creates the target table, adds new
        fields as columns (``add_new_fields``) and creates the staging table; a resumed task only reads."""
        entries = flatten_manifests(self.manifest)
        if not entries:
            raise AirflowSkipException(
                "The export tasks exported nothing (the run planned no campaigns): nothing to load"
            )
        scope = manifest_scope(entries)
        if scope.export != self.export:
            raise SoundlinkConfigurationError(
                f"the manifest holds the {scope.export!r} export but this task loads {self.export!r}; pass "
                "the matching export task's output"
            )
        table = table_definition(scope.table)
        target = TableRef(self.project_id, self.dataset_id, self.table_id)
        staging = TableRef(self.project_id, self.dataset_id, staging_table_name(table.name, context))
        uris = [entry["uri"] for entry in entries if entry["row_count"] > 0]
        hook = standard_sql_hook(self.gcp_conn_id, self.location, self.impersonation_chain)
        location = self._dataset_location(hook, target, create_if_missing=not resumed)
        if resumed:
            # The staging table is this try's own: its extra columns are the ones the jobs were built
            # with, even if the target gained columns while the task waited.
            extra_columns = self._staged_extra_columns(hook, table, staging, location)
        else:
            BigQueryTableLink.persist(
                context, BigQueryTableLink.url(target.project, target.dataset, target.table)
            )
            self._check_bucket_locations(location, uris)
            hook.create_table(
                dataset_id=target.dataset,
                table_id=target.table,
                table_resource=table.table_resource(),
                project_id=target.project,
                location=location,
                exists_ok=True,
            )
            self.log.info(
                "Loading %d of %d exported objects (the rest are empty) for %s over %s into %s",
                len(uris),
                len(entries),
                _describe_scope(scope),
                scope.window,
                target,
            )
            extra_columns = self._extra_columns(hook, table, target, entries, location)
        load = _Load(
            hook=hook,
            location=location,
            table=table,
            target=target,
            staging=staging,
            scope=scope,
            uris=uris,
            staging_schema=[*table.staging_schema(), *extra_columns],
            extra_columns=[column["name"] for column in extra_columns],
        )
        lineage = self.record_lineage()
        for uri in uris:
            lineage.read(gcs_dataset(uri))
        lineage.wrote(
            bigquery_dataset(
                target.project, target.dataset, target.table, [*table.bigquery_schema(), *extra_columns]
            )
        )
        if not resumed:
            self._create_staging_table(load)
        return load

    def _proceed(self, context: Context, load: _Load, finished_step: str | None) -> dict[str, Any]:
        """The jobs after ``finished_step`` (all of them when None); the staging table is dropped at the end
        or on any failure, but not when the task defers, since it resumes with it."""
        try:
            rows_loaded, rows_affected = self._run_jobs(context, load, finished_step)
        except BaseException as error:
            if not isinstance(error, TaskDeferred):
                self._drop_staging(load)
            raise
        self._drop_staging(load)
        self.log.info(
            "Loaded %d rows into staging; the MERGE into %s wrote %d rows (deleted and inserted)",
            rows_loaded,
            load.target,
            rows_affected,
        )
        return {
            "table": str(load.target),
            "export": load.scope.export,
            "window_start": load.scope.window.start.isoformat(),
            "window_end": load.scope.window.end.isoformat(),
            "scope": {column: list(values) for column, values in load.scope.values.items()},
            "objects_loaded": len(load.uris),
            "rows_loaded": rows_loaded,
            "rows_affected": rows_affected,
        }

    def _run_jobs(self, context: Context, load: _Load, finished_step: str | None) -> tuple[int, int]:
        """Load jobs ``load_0``, ``load_1``, ..., then the MERGE (``merge_1``, and ``merge_2``, ... when a
        concurrent update aborted the one before); the rows loaded and the rows the MERGE changed."""
        loads = self._load_configurations(load)
        merge = self._merge_configuration(load)
        load_jobs: dict[int, Any] = {}
        next_load, merge_attempt = 0, 1
        if finished_step is not None and finished_step.startswith("load_"):
            next_load = int(finished_step.removeprefix("load_")) + 1
            load_jobs[next_load - 1] = self._job(context, load, finished_step, loads[next_load - 1])
            load_jobs[next_load - 1].result()
        elif finished_step is not None:
            next_load, merge_attempt = len(loads), int(finished_step.removeprefix("merge_"))
        for number in range(next_load, len(loads)):
            load_jobs[number] = self._start(context, load, f"load_{number}", loads[number])
            load_jobs[number].result()
        start_merge = finished_step is None or finished_step.startswith("load_")
        while True:
            try:
                # Each attempt is a job of its own: an aborted job cannot run again under its id.
                step = f"merge_{merge_attempt}"
                if start_merge:
                    job = self._start(context, load, step, merge)
                else:
                    job = self._job(context, load, step, merge)
                job.result()
                break
            except Exception as error:  # a deferral is no Exception: it passes
                if not is_concurrent_update_error(error) or merge_attempt >= self.merge_max_attempts:
                    raise
                wait = self._merge_retry_wait(merge_attempt)
                self.log.warning(
                    "A concurrent update of the table aborted the MERGE (attempt %d of %d); retrying in "
                    "%.1fs: %s",
                    merge_attempt,
                    self.merge_max_attempts,
                    wait,
                    error,
                )
                time.sleep(wait)
            merge_attempt += 1
            start_merge = True
        # A task resumed after a deferral reads the load jobs an earlier process of this try ran.
        for number, configuration in enumerate(loads):
            if number not in load_jobs:
                load_jobs[number] = self._job(context, load, f"load_{number}", configuration)
        rows_loaded = sum(cast("LoadJob", job).output_rows or 0 for job in load_jobs.values())
        return rows_loaded, cast("QueryJob", job).num_dml_affected_rows or 0

    def _merge_retry_wait(self, attempt: int) -> float:
        """Exponential backoff with up to a second of jitter: the initial wait doubling per attempt, at most
        the maximum."""
        initial = self.merge_retry_initial_wait.total_seconds()
        maximum = self.merge_retry_max_wait.total_seconds()
        return min(maximum, initial * 2 ** (attempt - 1) + random.uniform(0, 1))

    def _start(self, context: Context, load: _Load, step: str, configuration: dict[str, Any]) -> _AsyncJob:
        """Submits one job under its fixed id, or reattaches to the job of that id. Deferrable, the task
        then waits for it in the triggerer (and resumes in :meth:`resume_after_job`); otherwise the job
        is returned for the caller to wait on."""
        from google.api_core.exceptions import Conflict

        job_id_ = job_id(context, step, configuration)
        job: Any
        try:
            job = load.hook.insert_job(
                configuration=configuration,
                job_id=job_id_,
                project_id=self.project_id,
                location=load.location,
                nowait=True,
            )
        except Conflict:
            job = load.hook.get_job(job_id=job_id_, project_id=self.project_id, location=load.location)
            self.log.info(
                "BigQuery job %s was already submitted by this try (state %s); reattaching to it",
                job_id_,
                job.state,
            )
        if self.deferrable:
            from airflow_provider_soundlink.triggers.bigquery import SoundlinkBigQueryJobTrigger

            self.defer(
                trigger=SoundlinkBigQueryJobTrigger(
                    step=step,
                    conn_id=self.gcp_conn_id,
                    job_id=job_id_,
                    project_id=self.project_id,
                    location=load.location,
                    poll_interval=self.poll_interval,
                    impersonation_chain=self.impersonation_chain,
                ),
                method_name="resume_after_job",
                timeout=self.execution_timeout,
            )
        return cast("_AsyncJob", job)

    def _job(self, context: Context, load: _Load, step: str, configuration: dict[str, Any]) -> Any:
        return load.hook.get_job(
            job_id=job_id(context, step, configuration), project_id=self.project_id, location=load.location
        )

    def _load_configurations(self, load: _Load) -> list[dict[str, Any]]:
        """One load job per ``max_uris_per_load_job`` objects, into the staging table."""
        return [
            {
                "load": {
                    "sourceUris": list(load.uris[start : start + self.max_uris_per_load_job]),
                    "sourceFormat": "NEWLINE_DELIMITED_JSON",
                    "schema": {"fields": load.staging_schema},
                    "destinationTable": {
                        "projectId": load.staging.project,
                        "datasetId": load.staging.dataset,
                        "tableId": load.staging.table,
                    },
                    "createDisposition": "CREATE_NEVER",
                    "writeDisposition": "WRITE_APPEND",
                    "ignoreUnknownValues": True,
                }
            }
            for start in range(0, len(load.uris), self.max_uris_per_load_job)
        ]

    def _merge_configuration(self, load: _Load) -> dict[str, Any]:
        statement = merge_statement(
            load.table,
            load.target,
            load.staging,
            load.scope.window,
            scope_columns=tuple(load.scope.values),
            extra_columns=load.extra_columns,
        )
        configuration: dict[str, Any] = {
            "query": {
                "query": statement.sql,
                "useLegacySql": False,
                "parameterMode": "NAMED",
                "queryParameters": statement.query_parameters(load.scope.values, load.scope.snapshots),
            }
        }
        if self.maximum_bytes_billed is not None:
            configuration["query"]["maximumBytesBilled"] = str(self.maximum_bytes_billed)
        return configuration

    def _drop_staging(self, load: _Load) -> None:
        load.hook.delete_table(table_id=str(load.staging), not_found_ok=True, project_id=load.staging.project)

    def _dataset_location(self, hook: BigQueryHook, target: TableRef, *, create_if_missing: bool) -> str:
        """The dataset's location, creating the dataset if it is missing and ``create_if_missing``.

        Looked up first: creating one, even with ``exists_ok``, needs ``bigquery.datasets.create``, which
        a least-privilege service account that only loads into an existing dataset does not hold. A
        resumed task does not create it: its jobs ran in the dataset that was there, and a dataset deleted
        while they ran fails the try, whose retry starts the load over.
        """
        from google.api_core.exceptions import NotFound

        try:
            dataset = hook.get_dataset(dataset_id=target.dataset, project_id=target.project)
        except NotFound:
            if not create_if_missing:
                raise SoundlinkError(
                    f"dataset {target.project}.{target.dataset} was deleted while this task waited for its "
                    "BigQuery jobs; the task's next try (if it has retries left) creates it and starts the "
                    "load over"
                ) from None
            self.log.info("Dataset %s.%s does not exist; creating it", target.project, target.dataset)
            created = hook.create_empty_dataset(
                dataset_id=target.dataset, project_id=target.project, location=self.location, exists_ok=True
            )
            return str(created.get("location") or self.location or "US")
        existing = str(dataset.location or "")
        if self.location and existing and existing.upper() != self.location.upper():
            raise SoundlinkConfigurationError(
                f"dataset {target.project}.{target.dataset} is in {existing}, not in "
                f"location={self.location!r}; set location to {existing!r} (the DAG param or "
                f"SOUNDLINK_BIGQUERY_LOCATION), or load into a dataset in {self.location}"
            )
        return existing or self.location or "US"

    def _check_bucket_locations(self, dataset_location: str, uris: Sequence[str]) -> None:
        """Fails before any job when a bucket is in a location the dataset cannot load from.

        Reading a bucket's location needs ``storage.buckets.get``; without it the check is skipped and
        BigQuery's own error, if any, comes from the load job.
        """
        from airflow.providers.google.cloud.hooks.gcs import GCSHook
        from google.api_core.exceptions import GoogleAPICallError

        buckets = sorted({uri.removeprefix("gs://").split("/", 1)[0] for uri in uris})
        if not buckets:
            return
        client = GCSHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain
        ).get_conn()
        for name in buckets:
            try:
                bucket_location = client.get_bucket(name).location
            except GoogleAPICallError as error:
                self.log.info("Could not read the location of bucket %s (%s); not checking it", name, error)
                continue
            if bucket_location and not locations_compatible(dataset_location, bucket_location):
                raise SoundlinkConfigurationError(
                    f"bucket {name} is in {bucket_location} but the dataset is in {dataset_location}; "
                    "BigQuery loads from Cloud Storage only when the dataset is in the bucket's location. "
                    "Export to a bucket in the dataset's location, or load into a dataset in the bucket's"
                )

    def _extra_columns(
        self,
        hook: BigQueryHook,
        table: TableDefinition,
        target: TableRef,
        entries: Sequence[ManifestEntry],
        location: str,
    ) -> list[dict[str, str]]:
        """The target's columns beyond the table definition, after adding the manifest's new fields as
        NULLABLE columns when ``add_new_fields`` is on."""
        from google.cloud.bigquery import SchemaField

        client = hook.get_client(project_id=target.project, location=location)
        stored = client.get_table(str(target))
        existing = {field.name.lower() for field in stored.schema}
        additions = self._new_columns(entries, existing) if self.add_new_fields else {}
        if additions:
            stored.schema = [
                *stored.schema,
                *(
                    SchemaField(name, column_type, mode="NULLABLE", description=NEW_COLUMN_DESCRIPTION)
                    for name, column_type in additions.items()
                ),
            ]
            stored = client.update_table(stored, ["schema"])
            self.log.info(
                "Added new export fields to %s as NULLABLE columns: %s",
                target,
                ", ".join(f"{name} {column_type}" for name, column_type in additions.items()),
            )
        return _columns_beyond(table, stored.schema)

    def _staged_extra_columns(
        self, hook: BigQueryHook, table: TableDefinition, staging: TableRef, location: str
    ) -> list[dict[str, str]]:
        client = hook.get_client(project_id=staging.project, location=location)
        return _columns_beyond(table, client.get_table(str(staging)).schema)

    def _new_columns(self, entries: Sequence[ManifestEntry], existing: set[str]) -> dict[str, str]:
        """The manifest's new fields that get a column now, with its type (see :mod:`.new_fields`)."""
        kinds: dict[str, set[str]] = {}
        unknown: set[str] = set()
        for entry in entries:
            entry_kinds = entry.get("new_field_kinds")
            for name in entry["new_fields"]:
                if entry_kinds is None or name not in entry_kinds:
                    unknown.add(name)
                else:
                    kinds.setdefault(name, set()).update(entry_kinds[name])
        columns: dict[str, str] = {}
        for name in sorted(kinds.keys() | unknown):
            if name.lower() in existing:
                continue
            reason = _unusable_column_name(name)
            if reason is None and name in unknown:
                reason = "its export did not record the kinds of its values; export it again"
            column_type = None if reason else new_column_type(kinds[name])
            if reason is None and column_type is None:
                reason = "every value is null so far"
            if reason:
                self.log.warning("New export field %r gets no column: %s", name, reason)
                continue
            columns[name] = str(column_type)
        return columns

    def _create_staging_table(self, load: _Load) -> None:
        expires_at = dt.datetime.now(dt.timezone.utc) + self.staging_expiration
        load.hook.create_table(
            dataset_id=load.staging.dataset,
            table_id=load.staging.table,
            table_resource={
                "description": f"Staging for a load into {load.table.name}; dropped after the MERGE.",
                "schema": {"fields": load.staging_schema},
                "expirationTime": str(int(expires_at.timestamp() * 1000)),
            },
            project_id=load.staging.project,
            location=load.location,
            # A second process of the same try finds the first one's table (see staging_table_name).
            exists_ok=True,
        )


NEW_COLUMN_DESCRIPTION = "A Soundlink export field added by airflow-provider-soundlink (add_new_fields)."
_RESERVED_COLUMN_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__", "_COLON_")
"""Prefixes BigQuery refuses for column names ("Column names")."""


def _unusable_column_name(name: str) -> str | None:
    if not COLUMN_NAME.fullmatch(name):
        return (
            "BigQuery column names are at most 300 letters, digits and underscores, not starting with a digit"
        )
    if name.upper().startswith(_RESERVED_COLUMN_PREFIXES):
        return f"BigQuery reserves the prefixes {', '.join(_RESERVED_COLUMN_PREFIXES)}"
    return None


def _columns_beyond(table: TableDefinition, schema: Sequence[Any]) -> list[dict[str, str]]:
    """The columns of a BigQuery schema that the table definition does not define, as schema fields."""
    defined = {name.lower() for name in table.column_names}
    return [
        {"name": field.name, "type": field.field_type, "mode": "NULLABLE"}
        for field in schema
        if field.name.lower() not in defined
    ]


def _describe_scope(scope: ManifestScope) -> str:
    return " x ".join(f"{len(values)} {column} value(s)" for column, values in scope.values.items())
