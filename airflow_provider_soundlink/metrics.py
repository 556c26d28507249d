"""Emit the provider's metrics through Airflow's own ``Stats``, so StatsD and OpenTelemetry both get them.

Every metric is a counter under Airflow's prefix (``[metrics] statsd_prefix``, ``airflow`` by default),
sent twice, as Airflow sends its own: once with tags, once with its main tag in the name, since plain
StatsD drops tags.

- ``soundlink.export.rows`` and ``soundlink.export.bytes`` (``soundlink.export.<export>.rows``, ...):
  what an export task wrote to GCS, per object; tags ``export``, ``dag_id``, ``task_id``.
- ``soundlink.api.retries`` (``soundlink.api.retries.<reason>``): Soundlink API calls tried again; tag
  ``reason``, the HTTP status or ``network`` or ``stream``.
- ``soundlink.merge.rows_inserted`` and ``soundlink.merge.rows_deleted``
  (``soundlink.merge.<table>.rows_inserted``, ...): what a MERGE task changed; tags ``table``,
  ``dag_id``, ``task_id``.
- ``soundlink.bigquery.bytes_billed`` (``soundlink.bigquery.<table>.bytes_billed``): what BigQuery billed
  for a MERGE task's jobs; the same tags.
"""

from __future__ import annotations

from airflow_provider_soundlink.compat import Stats
from airflow_provider_soundlink.errors import SoundlinkError, SoundlinkNetworkError, SoundlinkStreamError

PREFIX = "soundlink"


def _count(name: str, named: str, count: int, tags: dict[str, str]) -> None:
    """Send ``name`` with ``tags``, and ``named`` (the name holding its main tag) without."""
    Stats.incr(f"{PREFIX}.{name}", count, tags=tags)
    Stats.incr(f"{PREFIX}.{named}", count)


def exported(export: str, rows: int, byte_count: int, dag_id: str, task_id: str) -> None:
    """Count one object an export task wrote to GCS."""
    tags = {"export": export, "dag_id": dag_id, "task_id": task_id}
    _count("export.rows", f"export.{export}.rows", rows, tags)
    _count("export.bytes", f"export.{export}.bytes", byte_count, tags)


def api_retry(error: SoundlinkError) -> None:
    """Count one Soundlink API call about to be tried again after ``error``."""
    reason = retry_reason(error)
    _count("api.retries", f"api.retries.{reason}", 1, {"reason": reason})


def retry_reason(error: SoundlinkError) -> str:
    """Why a call was tried again, as a metric tag: the HTTP status, ``network`` or ``stream``."""
    status = getattr(error, "status", None)
    if status:
        return str(status)
    if isinstance(error, SoundlinkNetworkError):
        return "network"
    if isinstance(error, SoundlinkStreamError):
        return "stream"
    return type(error).__name__


def merged(table: str, inserted: int, deleted: int, bytes_billed: int, dag_id: str, task_id: str) -> None:
    """Count what one MERGE task changed and what BigQuery billed for its jobs."""
    tags = {"table": table, "dag_id": dag_id, "task_id": task_id}
    _count("merge.rows_inserted", f"merge.{table}.rows_inserted", inserted, tags)
    _count("merge.rows_deleted", f"merge.{table}.rows_deleted", deleted, tags)
    _count("bigquery.bytes_billed", f"bigquery.{table}.bytes_billed", bytes_billed, tags)
