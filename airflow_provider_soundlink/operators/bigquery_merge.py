"""Load an export's GCS objects into BigQuery with one load job and one MERGE."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any, cast

from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from google.api_core.exceptions import GoogleAPICallError
from google.cloud.bigquery import LoadJob, QueryJob
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from airflow_provider_soundlink.compat import Asset, BaseOperator, Context
from airflow_provider_soundlink.exports import ExportKind
from airflow_provider_soundlink.manifest import (
    EXPORT_TABLES,
    ManifestScope,
    export_name,
    flatten_manifests,
    manifest_scope,
)
from airflow_provider_soundlink.operators.arguments import is_template
from airflow_provider_soundlink.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.sql import TableRef, merge_statement

MERGE_POOL = "soundlink_bigquery_merge"
"""The pool (one slot) that serialises the MERGEs into the Soundlink tables; see the operator."""

_CONCURRENT_UPDATE = re.compile(
    r"could not serialize access to table .* due to concurrent update"
    r"|transaction is aborted due to concurrent update",
    re.IGNORECASE | re.DOTALL,
)


def is_concurrent_update_error(error: BaseException) -> bool:
    """Whether BigQuery refused a DML statement only because another one changed the table meanwhile.

    Such a statement changed nothing, so running it again is safe; any other error is final.
    """
    return isinstance(error, GoogleAPICallError) and bool(_CONCURRENT_UPDATE.search(str(error)))


def bigquery_asset_uri(project_id: str, dataset_id: str, table_id: str) -> str:
    return f"bigquery://{project_id}/{dataset_id}/{table_id}"


def staging_table_name(table_name: str, context: Context) -> str:
    """A staging table name unique to this try of this task instance, and random beyond that.

    The hash names the try (dag, run, task, map index, try number), so a leftover table can be matched to
    it; the random part keeps two processes of the same try (a zombie and its replacement) apart.
    """
    ti = context["ti"]
    try_key = f"{ti.dag_id}\x00{ti.run_id}\x00{ti.task_id}\x00{ti.map_index}\x00{ti.try_number}"
    digest = hashlib.sha256(try_key.encode()).hexdigest()[:16]
    return f"{table_name}__staging_{digest}_{secrets.token_hex(4)}"


class SoundlinkBigQueryMergeOperator(BaseOperator):
    """Load the objects of an export manifest into a BigQuery table: one load job, then one MERGE.

    The manifest (the return value of
    :class:`~airflow_provider_soundlink.operators.export_to_gcs.SoundlinkExportToGCSOperator`, or the list
    of those from a mapped export task, or of
    :class:`~airflow_provider_soundlink.operators.link_stats_to_gcs.SoundlinkLinkStatsToGCSOperator`)
    defines the scope: the window from its earliest start to its latest end x the values it covers of the
    table definition's scope columns (its campaigns, and its engagement context if it has one; for link
    statistics its groupings and filters). Every combination must have been exported over that whole
    window, because inside the scope the export is the truth: the MERGE updates
    rows (unless the stored row was exported later), inserts new ones, and deletes stored rows the export no
    longer holds. Rows outside the scope are never touched.

    Steps: create the dataset and the target table if missing (partitioned by ``report_date``, clustered,
    from the table definition); create a staging table that expires after ``staging_expiration``; load all
    non-empty objects into it with one ``NEWLINE_DELIMITED_JSON`` load job (fields the definition lacks are
    ignored); run one MERGE with the scope as query parameters; drop the staging table whatever happened.
    A MERGE that BigQuery aborts because of a concurrent update of the same table is retried with
    exponential backoff; any other error fails the task at once and leaves the target as it was.

    BigQuery aborts all but one of concurrent MERGEs into a table, so runs that overlap (a daily run and a
    backfill) waste retries. Serialise them with a pool of one slot::

        airflow pools set soundlink_bigquery_merge 1 "one MERGE at a time into the Soundlink tables"

    and ``pool=MERGE_POOL`` (``"soundlink_bigquery_merge"``) on this operator.

    When ``project_id``, ``dataset_id`` and ``table_id`` are plain strings and no ``outlets`` are given, the
    task declares the asset ``bigquery://{project_id}/{dataset_id}/{table_id}`` as its outlet.

    :param export: ``"breakdown"``, ``"engagement"`` (or an :class:`ExportKind`) or ``"link_stats"``; must
        match the manifest.
    :param manifest: a manifest, or a list of manifests from a mapped export task (templated).
    :param project_id: the BigQuery project of the dataset (templated).
    :param dataset_id: the dataset of the target and staging tables (templated).
    :param table_id: the target table (templated); defaults to the export's table name.
    :param location: the BigQuery location for the dataset and the jobs (templated).
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate (templated).
    :param staging_expiration: how long a staging table lives if dropping it fails.
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
        merge_max_attempts: int = 5,
        merge_retry_initial_wait: dt.timedelta = dt.timedelta(seconds=5),
        merge_retry_max_wait: dt.timedelta = dt.timedelta(minutes=2),
        **kwargs: Any,
    ) -> None:
        export = export_name(export)
        table_id = table_id or EXPORT_TABLES[export]
        identifiers = (project_id, dataset_id, table_id)
        if not any(is_template(identifier) for identifier in identifiers):
            TableRef(project_id, dataset_id, table_id)
            kwargs.setdefault("outlets", [Asset(bigquery_asset_uri(project_id, dataset_id, table_id))])
        if staging_expiration <= dt.timedelta(0):
            raise ValueError(f"staging_expiration must be positive, got {staging_expiration}")
        if merge_max_attempts < 1:
            raise ValueError(f"merge_max_attempts must be at least 1, got {merge_max_attempts}")
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
        self.merge_max_attempts = merge_max_attempts
        self.merge_retry_initial_wait = merge_retry_initial_wait
        self.merge_retry_max_wait = merge_retry_max_wait

    def execute(self, context: Context) -> dict[str, Any]:
        entries = flatten_manifests(self.manifest)
        scope = manifest_scope(entries)
        if scope.export != self.export:
            raise ValueError(
                f"the manifest holds the {scope.export!r} export but this task loads {self.export!r}; pass "
                "the matching export task's output"
            )
        table = table_definition(scope.table)
        target = TableRef(self.project_id, self.dataset_id, self.table_id)
        staging = TableRef(self.project_id, self.dataset_id, staging_table_name(table.name, context))
        hook = BigQueryHook(
            gcp_conn_id=self.gcp_conn_id,
            location=self.location,
            impersonation_chain=self.impersonation_chain,
            use_legacy_sql=False,
        )
        hook.create_empty_dataset(
            dataset_id=target.dataset, project_id=target.project, location=self.location, exists_ok=True
        )
        hook.create_table(
            dataset_id=target.dataset,
            table_id=target.table,
            table_resource=table.table_resource(),
            project_id=target.project,
            location=self.location,
            exists_ok=True,
        )
        uris = [entry["uri"] for entry in entries if entry["row_count"] > 0]
        self.log.info(
            "Loading %d of %d exported objects (the rest are empty) for %s over %s into %s",
            len(uris),
            len(entries),
            _describe_scope(scope),
            scope.window,
            target,
        )
        self._create_staging_table(hook, table, staging)
        try:
            rows_loaded = self._load(hook, table, staging, uris) if uris else 0
            rows_affected = self._merge(hook, table, target, staging, scope)
        finally:
            hook.delete_table(table_id=str(staging), not_found_ok=True, project_id=staging.project)
        self.log.info(
            "Loaded %d rows into staging; the MERGE into %s affected %d rows",
            rows_loaded,
            target,
            rows_affected,
        )
        return {
            "table": str(target),
            "export": scope.export,
            "window_start": scope.window.start.isoformat(),
            "window_end": scope.window.end.isoformat(),
            "scope": {column: list(values) for column, values in scope.values.items()},
            "objects_loaded": len(uris),
            "rows_loaded": rows_loaded,
            "rows_affected": rows_affected,
        }

    def _create_staging_table(self, hook: BigQueryHook, table: TableDefinition, staging: TableRef) -> None:
        expires_at = dt.datetime.now(dt.timezone.utc) + self.staging_expiration
        hook.create_table(
            dataset_id=staging.dataset,
            table_id=staging.table,
            table_resource={
                "description": f"Staging for a load into {table.name}; dropped after the MERGE.",
                "schema": {"fields": _staging_schema(table)},
                "expirationTime": str(int(expires_at.timestamp() * 1000)),
            },
            project_id=staging.project,
            location=self.location,
            exists_ok=False,
        )

    def _load(self, hook: BigQueryHook, table: TableDefinition, staging: TableRef, uris: list[str]) -> int:
        job = hook.insert_job(
            configuration={
                "load": {
                    "sourceUris": uris,
                    "sourceFormat": "NEWLINE_DELIMITED_JSON",
                    "schema": {"fields": _staging_schema(table)},
                    "destinationTable": {
                        "projectId": staging.project,
                        "datasetId": staging.dataset,
                        "tableId": staging.table,
                    },
                    "createDisposition": "CREATE_NEVER",
                    "writeDisposition": "WRITE_APPEND",
                    "ignoreUnknownValues": True,
                }
            },
            project_id=staging.project,
            location=self.location,
        )
        rows: int = cast(LoadJob, job).output_rows or 0
        return rows

    def _merge(
        self,
        hook: BigQueryHook,
        table: TableDefinition,
        target: TableRef,
        staging: TableRef,
        scope: ManifestScope,
    ) -> int:
        statement = merge_statement(table, target, staging, scope_columns=tuple(scope.values))
        configuration = {
            "query": {
                "query": statement.sql,
                "useLegacySql": False,
                "parameterMode": "NAMED",
                "queryParameters": statement.query_parameters(scope.window, scope.values),
            }
        }
        retrying = Retrying(
            retry=retry_if_exception(is_concurrent_update_error),
            stop=stop_after_attempt(self.merge_max_attempts),
            wait=wait_exponential_jitter(
                initial=self.merge_retry_initial_wait.total_seconds(),
                max=self.merge_retry_max_wait.total_seconds(),
            ),
            before_sleep=self._log_merge_retry,
            reraise=True,
        )
        job = retrying(
            hook.insert_job, configuration=configuration, project_id=target.project, location=self.location
        )
        affected: int = cast(QueryJob, job).num_dml_affected_rows or 0
        return affected

    def _log_merge_retry(self, state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        self.log.warning(
            "A concurrent update of the table aborted the MERGE (attempt %d of %d); retrying in %.1fs: %s",
            state.attempt_number,
            self.merge_max_attempts,
            wait,
            error,
        )


def _staging_schema(table: TableDefinition) -> list[dict[str, str]]:
    """The export's columns: the target's schema without the load time the MERGE stamps."""
    return [field for field in table.bigquery_schema() if field["name"] in table.export_column_names]


def _describe_scope(scope: ManifestScope) -> str:
    return " x ".join(f"{len(values)} {column} value(s)" for column, values in scope.values.items())
