"""Dry-run the provider's MERGE against your own BigQuery dataset and print what it would process.

BigQuery's dry run reports the bytes a query would process without running it or billing it, so a user
can see partition pruning for themselves before the first load: the MERGE over a 1-day window should
process about 1/30 of the 30-day one, and neither should grow with the table's history.

    python -m airflow_provider_soundlink.bigquery_check --project my-project --dataset soundlink

It reads the Google Cloud connection (``--gcp-conn-id``, default ``google_cloud_default``) as the
operators do, creates an empty staging table that expires within the hour (dropped at the end), and
writes nothing else. Tables that do not exist yet are reported and skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from airflow_provider_soundlink.exports import CAMPAIGN_EXPORTS
from airflow_provider_soundlink.schemas import table_definition
from airflow_provider_soundlink.sql import TableRef, merge_statement
from airflow_provider_soundlink.windows import DateWindow

if TYPE_CHECKING:
    from google.cloud.bigquery import QueryJob

WINDOW_DAYS = (1, 30)
STAGING_LIFETIME = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DryRun:
    table: str
    window_days: int
    bytes_processed: int | None
    """None when the table does not exist yet."""


def dry_run_merges(
    project: str,
    dataset: str,
    location: str | None,
    gcp_conn_id: str,
    campaign_ids: Sequence[str],
    last_day: dt.date,
) -> list[DryRun]:
    """Dry-runs each export's MERGE over windows of ``WINDOW_DAYS`` days ending on ``last_day``."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
    from google.api_core.exceptions import NotFound

    hook = BigQueryHook(gcp_conn_id=gcp_conn_id, location=location, use_legacy_sql=False)
    results = []
    for kind in CAMPAIGN_EXPORTS:
        table = table_definition(kind)
        target = TableRef(project, dataset, table.name)
        try:
            hook.get_client(project_id=project).get_table(str(target))
        except NotFound:
            results += [DryRun(table.name, days, None) for days in WINDOW_DAYS]
            continue
        staging = TableRef(project, dataset, f"{table.name}__dry_run_{secrets.token_hex(4)}")
        expires_at = dt.datetime.now(dt.timezone.utc) + STAGING_LIFETIME
        hook.create_table(
            dataset_id=dataset,
            table_id=staging.table,
            project_id=project,
            location=location,
            table_resource={
                "schema": {"fields": table.staging_schema()},
                "expirationTime": str(int(expires_at.timestamp() * 1000)),
            },
        )
        try:
            for days in WINDOW_DAYS:
                window = DateWindow(last_day - dt.timedelta(days=days - 1), last_day)
                statement = merge_statement(table, target, staging, window, ("campaign_id",))
                job = hook.insert_job(
                    configuration={
                        "query": {
                            "query": statement.sql,
                            "useLegacySql": False,
                            "parameterMode": "NAMED",
                            "queryParameters": statement.query_parameters(
                                {"campaign_id": list(campaign_ids)}
                            ),
                        },
                        "dryRun": True,
                    },
                    project_id=project,
                    location=location,
                )
                processed = cast("QueryJob", job).total_bytes_processed
                results.append(DryRun(table.name, days, int(processed or 0)))
        finally:
            hook.delete_table(table_id=str(staging), not_found_ok=True, project_id=project)
    return results


def report(results: Sequence[DryRun]) -> str:
    lines = [f"{'table':<28} {'window':>8} {'bytes processed':>18}"]
    for result in results:
        processed = "no such table" if result.bytes_processed is None else f"{result.bytes_processed:,}"
        lines.append(f"{result.table:<28} {result.window_days:>6} d {processed:>18}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_soundlink.bigquery_check",
        description="Dry-run the Soundlink MERGE on your dataset and print the bytes it would process.",
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
        default=dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1),
        help="last report date of the windows, YYYY-MM-DD (default: yesterday, UTC)",
    )
    args = parser.parse_args(argv)
    campaign_ids = [part.strip() for part in args.campaign_ids.split(",") if part.strip()]
    if not campaign_ids:
        parser.error("--campaign-ids needs at least one id")
    results = dry_run_merges(
        args.project, args.dataset, args.location, args.gcp_conn_id, campaign_ids, args.last_day
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
