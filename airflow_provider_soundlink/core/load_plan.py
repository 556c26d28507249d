"""Plan the BigQuery jobs of one load, with no I/O: their identity, their configurations, their labels, and
which of their errors a later attempt can get past.

A load is ``load`` jobs (into a staging table, at most 10,000 source URIs each) and then ``merge`` jobs
(one per at most 4,000 days of the window), run in that order. Each job is a step such as ``load_0_1``
or ``merge_0_2`` (kind, index, attempt): an attempt that failed with a transient error is run again as a
job of its own, since a failed job cannot run again under its id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, wait_exponential_jitter

from airflow_provider_soundlink.core.manifest import ManifestScope
from airflow_provider_soundlink.core.schemas import TableDefinition
from airflow_provider_soundlink.core.sql import TableRef, merge_statement
from airflow_provider_soundlink.core.windows import DateWindow, slice_date_range
from airflow_provider_soundlink.errors import SoundlinkConfigurationError

MAX_SOURCE_URIS_PER_LOAD_JOB = 10_000
"""BigQuery "Quotas and limits", load jobs: "A job configuration can have up to 10,000 source URIs."."""
MAX_PARTITIONS_PER_JOB = 4_000
"""BigQuery "Quotas and limits", partitioned tables: "Maximum number of partitions modified by a single
job: 4,000" (a MERGE over more days is refused); a longer window is merged in parts."""

# BigQuery's message names the table in some reports ("Could not serialize access to table p:d.t due to
# concurrent update") and not in others; both mean the statement changed nothing. "Troubleshoot quota and
# limit errors" lists the others, each a refusal to start or to commit, so the job changed nothing either.
_TRANSIENT_JOB_ERRORS = re.compile(
    "|".join(
        [
            r"could not serialize access to table(?:\s.*?)?\s+due to concurrent update",
            r"transaction is aborted due to concurrent update",
            r"too many dml statements outstanding against table",
            r"dml statement has been queued for too long",
            r"exceeded rate limits: too many table update operations",
            r"your table exceeded quota for total number of dml jobs writing to a table",
        ]
    ),
    re.IGNORECASE | re.DOTALL,
)
# BigQuery job ids: "letters (a-z, A-Z), numbers (0-9), underscores (_), or dashes (-)", at most 1,024.
_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_JOB_ID_READABLE_CHARACTERS = 200
# Labels ("Requirements for labels"): keys and values of at most 63 lowercase letters, digits, underscores
# and dashes (international letters too), keys starting with a lowercase letter; at most 64 per resource.
_LABEL_UNSAFE = re.compile(r"[^\w-]+")
_LABEL_KEY = re.compile(r"[^\W\d_A-Z][\w-]{0,62}")
_LABEL_VALUE = re.compile(r"[\w-]{0,63}")
MAX_LABELS = 64
# A single region ("us-central1", "europe-west4"), as opposed to a multi-region ("US", "EU") or a
# dual-region ("NAM4", "EUR4").
_SINGLE_REGION = re.compile(r"[A-Z]+-[A-Z]+[0-9]+")
_EU_BUCKET_PREFIXES = ("EU", "EUROPE-")


@dataclass(frozen=True)
class Step:
    """One job of a load: ``kind`` ("load" or "merge"), its ``index`` among those, and the ``attempt``."""

    kind: str
    index: int
    attempt: int = 1

    def __str__(self) -> str:
        return f"{self.kind}_{self.index}_{self.attempt}"

    @classmethod
    def parse(cls, text: str) -> Step:
        kind, index, attempt = text.rsplit("_", 2)
        return cls(kind, int(index), int(attempt))

    def again(self) -> Step:
        return Step(self.kind, self.index, self.attempt + 1)


def job_steps(kinds: Sequence[str]) -> list[Step]:
    """Return the first attempt of each job, numbered per kind: ``["load", "load", "merge"]`` gives load_0_1,
    load_1_1, merge_0_1."""
    counts: dict[str, int] = {}
    steps = []
    for kind in kinds:
        steps.append(Step(kind, counts.get(kind, 0)))
        counts[kind] = counts.get(kind, 0) + 1
    return steps


def is_transient_job_error(error: BaseException) -> bool:
    """Whether BigQuery refused or aborted a job only for a reason that passes (a concurrent update, DML
    concurrency or rate limits), so that the same job run again may succeed; any other error is final."""
    from google.api_core.exceptions import GoogleAPICallError

    return isinstance(error, GoogleAPICallError) and bool(_TRANSIENT_JOB_ERRORS.search(str(error)))


def retry_wait(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait after failed attempt ``attempt``: tenacity's exponential backoff with up to a second
    of jitter, ``initial`` doubling per attempt, at most ``maximum``."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return float(wait_exponential_jitter(initial=initial, max=maximum, jitter=1)(state))


@dataclass(frozen=True)
class TryIdentity:
    """What names one execution of a task try: dag, run, task, map index, try number, and ``execution``,
    which tells apart two executions that share all of those (see
    :func:`airflow_provider_soundlink.operators.bigquery_jobs.try_identity`)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    execution: str

    @property
    def key(self) -> str:
        return "\x00".join(
            map(
                str, (self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number, self.execution)
            )
        )


def staging_table_name(table_name: str, identity: TryIdentity) -> str:
    """Name the staging table of this try of this task instance.

    Fixed per try, so a second process of the same try (a task the executor delivered twice, or one
    started again after its worker died) finds the table, and the jobs, of the first.
    """
    digest = hashlib.sha256(identity.key.encode()).hexdigest()[:16]
    return f"{table_name}__staging_{digest}"


def job_id(identity: TryIdentity, step: Step, configuration: Mapping[str, Any]) -> str:
    """Derive a BigQuery job id fixed by the try, the step and the job's configuration.

    A second process of the same try submits the same id, gets "Already Exists" and reattaches to the
    job instead of running it twice; the configuration in the hash keeps apart two Airflow deployments
    that share dag and run ids but load other tables (as the google provider's ``generate_job_id`` does).
    """
    digest = hashlib.sha256(
        f"{identity.key}\x00{step}\x00{json.dumps(configuration, sort_keys=True)}".encode()
    ).hexdigest()
    readable = _JOB_ID_UNSAFE.sub("_", f"soundlink_{identity.dag_id}_{identity.task_id}_{step}")
    return f"{readable[:_JOB_ID_READABLE_CHARACTERS]}_{digest}"


def job_labels(dag_id: str, task_id: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """Return the labels of every job: ``labels`` (checked against BigQuery's rules) and, as the google
    provider's operators set them, ``airflow-dag`` and ``airflow-task`` made to fit the rules."""
    given = dict(labels or {})
    for key, value in given.items():
        if not (_fits_label(key, _LABEL_KEY) and _fits_label(value, _LABEL_VALUE)):
            raise SoundlinkConfigurationError(
                f"label {key!r}: {value!r} breaks BigQuery's label rules: keys and values of at most 63 "
                "lowercase letters, digits, underscores or dashes, keys starting with a letter"
            )
    automatic = {"airflow-dag": _label_value(dag_id), "airflow-task": _label_value(task_id)}
    merged = {**automatic, **given}
    if len(merged) > MAX_LABELS:
        raise SoundlinkConfigurationError(
            f"{len(merged)} labels (with airflow-dag and airflow-task); BigQuery takes at most {MAX_LABELS}"
        )
    return merged


def _fits_label(text: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(text, str) and text == text.lower() and bool(pattern.fullmatch(text))


def _label_value(text: str) -> str:
    return _LABEL_UNSAFE.sub("-", text.lower())[:63]


def load_configurations(
    uris: Sequence[str],
    schema: Sequence[Mapping[str, str]],
    staging: TableRef,
    labels: Mapping[str, str],
    max_uris: int = MAX_SOURCE_URIS_PER_LOAD_JOB,
) -> list[dict[str, Any]]:
    """One NEWLINE_DELIMITED_JSON load job per ``max_uris`` objects, appended to the staging table."""
    return [
        {
            "load": {
                "sourceUris": list(uris[start : start + max_uris]),
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "schema": {"fields": [dict(field) for field in schema]},
                "destinationTable": {
                    "projectId": staging.project,
                    "datasetId": staging.dataset,
                    "tableId": staging.table,
                },
                "createDisposition": "CREATE_NEVER",
                "writeDisposition": "WRITE_APPEND",
                "ignoreUnknownValues": True,
            },
            "labels": dict(labels),
        }
        for start in range(0, len(uris), max_uris)
    ]


def merge_windows(window: DateWindow, max_days: int = MAX_PARTITIONS_PER_JOB) -> list[DateWindow]:
    """Split ``window`` into the parts each MERGE covers: at most ``max_days`` days (partitions) each. Each
    part is atomic; the snapshot rule decides each day on its own, so the parts add up to one MERGE's
    result."""
    return slice_date_range(window.start, window.end, max_days=max_days)


def load_jobs(
    table: TableDefinition,
    target: TableRef,
    staging: TableRef,
    scope: ManifestScope,
    uris: Sequence[str],
    extra_columns: Sequence[Mapping[str, str]],
    labels: Mapping[str, str],
    *,
    max_uris: int = MAX_SOURCE_URIS_PER_LOAD_JOB,
    maximum_bytes_billed: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """List the (kind, configuration) of each job of a load, in order: the loads of ``uris`` into staging,
    then a MERGE per part of the scope's window. ``extra_columns`` are the target's columns beyond the table
    definition (new fields), staged and carried like the defined ones."""
    schema = [*table.staging_schema(), *extra_columns]
    names = [column["name"] for column in extra_columns]
    jobs = [("load", job) for job in load_configurations(uris, schema, staging, labels, max_uris)]
    for part in merge_windows(scope.window):
        merge = merge_statement(table, target, staging, part, tuple(scope.values), names)
        parameters = merge.query_parameters(scope.values, scope.snapshots)
        jobs.append(("merge", query_configuration(merge.sql, parameters, labels, maximum_bytes_billed)))
    return jobs


def query_configuration(
    sql: str,
    parameters: Sequence[Mapping[str, Any]],
    labels: Mapping[str, str],
    maximum_bytes_billed: int | None = None,
) -> dict[str, Any]:
    """Configure a GoogleSQL query job with named parameters, labelled, capped at ``maximum_bytes_billed``."""
    query: dict[str, Any] = {
        "query": sql,
        "useLegacySql": False,
        "parameterMode": "NAMED",
        "queryParameters": [dict(parameter) for parameter in parameters],
    }
    if maximum_bytes_billed is not None:
        query["maximumBytesBilled"] = str(maximum_bytes_billed)
    return {"query": query, "labels": dict(labels)}


def expiring_days(expiration: dt.timedelta | None, window: DateWindow, today: dt.date) -> DateWindow | None:
    """Find the report dates of ``window`` that a table whose partitions expire after ``expiration`` has
    already deleted, or soon will: BigQuery deletes a partition once its date is older than the expiration."""
    if expiration is None:
        return None
    oldest_kept = today - expiration
    if window.start >= oldest_kept:
        return None
    return DateWindow(window.start, min(window.end, oldest_kept - dt.timedelta(days=1)))


def bucket_location_problem(dataset_location: str, bucket_locations: Mapping[str, str | None]) -> str | None:
    """Why a dataset in ``dataset_location`` cannot load from these buckets (name -> location, None where it
    could not be read), or None."""
    for name, bucket_location in sorted(bucket_locations.items()):
        if bucket_location and not locations_compatible(dataset_location, bucket_location):
            return (
                f"bucket {name} is in {bucket_location} but the dataset is in {dataset_location}; BigQuery "
                "loads from Cloud Storage only when the dataset is in the bucket's location. Export to a "
                "bucket in the dataset's location, or load into a dataset in the bucket's"
            )
    return None


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


__all__ = [
    "MAX_PARTITIONS_PER_JOB",
    "MAX_SOURCE_URIS_PER_LOAD_JOB",
    "Step",
    "TryIdentity",
    "bucket_location_problem",
    "expiring_days",
    "is_transient_job_error",
    "job_id",
    "job_labels",
    "job_steps",
    "load_configurations",
    "load_jobs",
    "locations_compatible",
    "merge_windows",
    "query_configuration",
    "retry_wait",
    "staging_table_name",
]


@dataclass(frozen=True)
class MergeCounts:
    """What a task's MERGE jobs changed, from their statistics, and what BigQuery billed for them."""

    inserted: int
    deleted: int
    affected: int
    bytes_billed: int


def merge_counts(merges: Sequence[Any]) -> MergeCounts:
    """Add up finished MERGE jobs' DML statistics (``dml_stats``, ``num_dml_affected_rows``) and billed
    bytes (``total_bytes_billed``, None until BigQuery reports it)."""
    stats = [job.dml_stats for job in merges if job.dml_stats is not None]
    return MergeCounts(
        inserted=sum(int(stat.inserted_row_count or 0) for stat in stats),
        deleted=sum(int(stat.deleted_row_count or 0) for stat in stats),
        affected=sum(int(job.num_dml_affected_rows or 0) for job in merges),
        bytes_billed=sum(int(job.total_bytes_billed or 0) for job in merges),
    )


def merge_sql(jobs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Join the SQL of the MERGE jobs among ``jobs`` (as :func:`load_jobs` plans them) into one script."""
    return ";\n\n".join(configuration["query"]["query"] for kind, configuration in jobs if kind == "merge")


def load_summary(
    target: TableRef, scope: ManifestScope, objects_loaded: int, rows_loaded: int, counts: MergeCounts
) -> dict[str, Any]:
    """Describe a finished load as the MERGE task returns it (its XCom)."""
    return {
        "table": str(target),
        "export": scope.export,
        "window_start": scope.window.start.isoformat(),
        "window_end": scope.window.end.isoformat(),
        "scope": {column: list(values) for column, values in scope.values.items()},
        "objects_loaded": objects_loaded,
        "rows_loaded": rows_loaded,
        "rows_affected": counts.affected,
        "rows_inserted": counts.inserted,
        "rows_deleted": counts.deleted,
    }
