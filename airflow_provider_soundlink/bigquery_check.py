"""Dry-run the provider's MERGE against your own BigQuery dataset and say whether partition pruning holds.

BigQuery's dry run reports the bytes a query would process without running it or billing it ("If the
query is valid, a dry run ... returns statistics about the job such as how many bytes would be
processed"). For each table, the MERGE over windows of 1, 7 and 30 days ending yesterday is dry-run and
its bytes are printed beside the table's size and the partitions each window holds. Pruning holds when
the bytes follow the window, not the table: a window that leaves some of the table's partitions out but
reads as many bytes as the whole table is a full scan.

    python -m airflow_provider_soundlink.bigquery_check --project my-project --dataset soundlink

It reads the Google Cloud connection (``--gcp-conn-id``, default ``google_cloud_default``) as the
operators do, creates an empty staging table that expires within the hour (dropped at the end), and
writes nothing else. It exits 0 when pruning holds or a table has no rows yet to judge by, 1 when a
window scans the whole table, and 2 when BigQuery reports no bytes for a table that has rows (a dry run
that was not sent, or a stand-in that cannot dry-run, such as the local emulator).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS
from airflow_provider_soundlink.core.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.core.sql import TableRef, merge_statement
from airflow_provider_soundlink.core.windows import DateWindow

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.cloud.bigquery import QueryJob

WINDOW_DAYS = (1, 7, 30)
STAGING_LIFETIME = dt.timedelta(hours=1)
PRUNED, NOTHING_TO_JUDGE, FULL_SCAN, NOT_MEASURED = "pruned", "nothing to judge", "full scan", "not measured"
EXIT_CODES = {PRUNED: 0, NOTHING_TO_JUDGE: 0, FULL_SCAN: 1, NOT_MEASURED: 2}


@dataclass(frozen=True)
class WindowDryRun:
    days: int
    partitions: int | None
    """The table's partitions inside the window; None when BigQuery did not list them."""
    bytes_processed: int | None
    """What the dry run reported; None when it reported nothing."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    exists: bool
    rows: int = 0
    bytes: int = 0
    partitions: int | None = None
    windows: tuple[WindowDryRun, ...] = ()

    @property
    def verdict(self) -> str:
        if not self.exists or self.rows == 0:
            return NOTHING_TO_JUDGE
        if any(not window.bytes_processed for window in self.windows):
            return NOT_MEASURED
        for window in self.windows:
            leaves_partitions_out = (
                window.partitions is not None
                and self.partitions is not None
                and window.partitions < self.partitions
            )
            if leaves_partitions_out and (window.bytes_processed or 0) >= self.bytes:
                return FULL_SCAN
        return PRUNED


def check_tables(
    hook: BigQueryHook,
    project: str,
    dataset: str,
    location: str | None,
    campaign_ids: Sequence[str],
    last_day: dt.date,
) -> list[TableCheck]:
    """Dry-run each export's MERGE over windows of ``WINDOW_DAYS`` days ending on ``last_day``."""
    from google.api_core.exceptions import NotFound

    client = hook.get_client(project_id=project, location=location)
    checks = []
    for kind in CAMPAIGN_EXPORTS:
        table = table_definition(kind)
        target = TableRef(project, dataset, table.name)
        try:
            stored = client.get_table(str(target))
        except NotFound:
            checks.append(TableCheck(table.name, exists=False))
            continue
        partitions = _partition_days(client, target)
        staging = TableRef(project, dataset, f"{table.name}__dry_run_{secrets.token_hex(4)}")
        _create_staging(hook, table, staging, location)
        try:
            windows = tuple(
                _dry_run(hook, table, target, staging, location, campaign_ids, last_day, days, partitions)
                for days in WINDOW_DAYS
            )
        finally:
            hook.delete_table(table_id=str(staging), not_found_ok=True, project_id=project)
        checks.append(
            TableCheck(
                table.name,
                exists=True,
                rows=int(stored.num_rows or 0),
                bytes=int(stored.num_bytes or 0),
                partitions=None if partitions is None else len(partitions),
                windows=windows,
            )
        )
    return checks


def _partition_days(client: Any, target: TableRef) -> list[dt.date] | None:
    """Return the table's day partitions, from BigQuery's partition summary (metadata, not billed); None when
    it cannot be read."""
    from google.api_core.exceptions import GoogleAPICallError

    try:
        ids = client.list_partitions(str(target))
    except GoogleAPICallError:
        return None
    return sorted(
        dt.datetime.strptime(partition, "%Y%m%d").date() for partition in ids if partition.isdigit()
    )


def _create_staging(
    hook: BigQueryHook, table: TableDefinition, staging: TableRef, location: str | None
) -> None:
    expires_at = dt.datetime.now(dt.UTC) + STAGING_LIFETIME
    hook.create_table(
        dataset_id=staging.dataset,
        table_id=staging.table,
        project_id=staging.project,
        location=location,
        table_resource={
            "schema": {"fields": table.staging_schema()},
            "expirationTime": str(int(expires_at.timestamp() * 1000)),
        },
    )


def _dry_run(
    hook: BigQueryHook,
    table: TableDefinition,
    target: TableRef,
    staging: TableRef,
    location: str | None,
    campaign_ids: Sequence[str],
    last_day: dt.date,
    days: int,
    partitions: list[dt.date] | None,
) -> WindowDryRun:
    """Dry-run the MERGE over ``days`` days ending on ``last_day``.

    The job is begun, not waited on (``nowait``): a dry-run job is answered when it is inserted, and
    ``QueryJob.result()``, which a waiting ``insert_job`` calls, returns at once for a dry run without
    ever sending it.
    """
    from google.api_core.exceptions import GoogleAPICallError

    window = DateWindow(last_day - dt.timedelta(days=days - 1), last_day)
    statement = merge_statement(table, target, staging, window, ("campaign_id",))
    try:
        job = hook.insert_job(
            configuration={
                "query": {
                    "query": statement.sql,
                    "useLegacySql": False,
                    "useQueryCache": False,
                    "parameterMode": "NAMED",
                    "queryParameters": statement.query_parameters({"campaign_id": list(campaign_ids)}),
                },
                "dryRun": True,
            },
            project_id=target.project,
            location=location,
            nowait=True,
        )
        processed = cast("QueryJob", job).total_bytes_processed
    except GoogleAPICallError:
        processed = None
    in_window = None if partitions is None else sum(window.start <= day <= window.end for day in partitions)
    return WindowDryRun(days, in_window, None if processed is None else int(processed))


def report(checks: Sequence[TableCheck]) -> str:
    """Describe the figures of each table and the verdict, in plain text."""
    lines = []
    for check in checks:
        if not check.exists:
            lines.append(f"{check.table}: no such table (nothing loaded yet)")
            continue
        partitions = "?" if check.partitions is None else f"{check.partitions:,}"
        lines.append(
            f"{check.table}: {check.rows:,} rows, {check.bytes:,} bytes, {partitions} day partitions"
        )
        lines.append(f"  {'window':>8} {'partitions':>11} {'bytes processed':>17} {'of the table':>13}")
        for window in check.windows:
            in_window = "?" if window.partitions is None else f"{window.partitions:,}"
            processed = "nothing" if window.bytes_processed is None else f"{window.bytes_processed:,}"
            share = (
                f"{window.bytes_processed / check.bytes:.1%}"
                if window.bytes_processed is not None and check.bytes
                else "-"
            )
            lines.append(f"  {window.days:>6} d {in_window:>11} {processed:>17} {share:>13}")
        lines.append(f"  {_verdict_text(check)}")
    return "\n".join(lines)


def _verdict_text(check: TableCheck) -> str:
    verdict = check.verdict
    if verdict == PRUNED:
        return "pruning holds: the MERGE reads the window's partitions, not the whole table"
    if verdict == FULL_SCAN:
        return (
            "FULL SCAN: a window that leaves partitions out reads as many bytes as the whole table; "
            "check that the table is partitioned by report_date (the MERGE's constant DATE filters prune "
            "only a partitioned table)"
        )
    if verdict == NOT_MEASURED:
        where = (
            " BIGQUERY_EMULATOR_HOST is set: the local emulator cannot dry-run a MERGE, so nothing can be "
            "measured here; run the check against BigQuery itself."
            if os.environ.get("BIGQUERY_EMULATOR_HOST")
            else ""
        )
        return f"NOT MEASURED: BigQuery reported no bytes for a dry run of a table that has rows.{where}"
    return "nothing to judge: the table has no rows yet"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_soundlink.bigquery_check",
        description="Dry-run the Soundlink MERGE on your dataset and say whether partition pruning holds.",
    )
    parser.add_argument("--project", required=True, help="BigQuery project of the dataset")
    parser.add_argument("--dataset", required=True, help="dataset holding the Soundlink tables")
    parser.add_argument("--location", help="BigQuery location (default: the dataset's)")
    parser.add_argument("--gcp-conn-id", default="google_cloud_default", help="Airflow Google connection")
    parser.add_argument(
        "--campaign-ids",
        default="camp_dry_run",
        help="comma-separated campaign ids of the scope (the window, not these, decides the partitions)",
    )
    parser.add_argument(
        "--last-day",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1),
        help="last report date of the windows, YYYY-MM-DD (default: yesterday, UTC)",
    )
    args = parser.parse_args(argv)
    campaign_ids = [part.strip() for part in args.campaign_ids.split(",") if part.strip()]
    if not campaign_ids:
        parser.error("--campaign-ids needs at least one id")
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    hook = BigQueryHook(gcp_conn_id=args.gcp_conn_id, location=args.location, use_legacy_sql=False)
    checks = check_tables(hook, args.project, args.dataset, args.location, campaign_ids, args.last_day)
    print(report(checks))
    return max((EXIT_CODES[check.verdict] for check in checks), default=0)


if __name__ == "__main__":
    sys.exit(main())
