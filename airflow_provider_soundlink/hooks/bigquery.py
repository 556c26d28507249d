"""The google provider's BigQuery hook, as every operator here uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook


def standard_sql_hook(
    gcp_conn_id: str, location: str | None, impersonation_chain: str | Sequence[str] | None
) -> BigQueryHook:
    """A ``BigQueryHook`` for GoogleSQL jobs in ``location`` (None: the dataset's own location)."""
    # Imported here, not at module level: DAG files import the operators on every parse, and the BigQuery
    # hook brings pandas and more (seconds and about 100 MiB per parse).
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    return BigQueryHook(
        gcp_conn_id=gcp_conn_id,
        location=location,
        impersonation_chain=impersonation_chain,
        use_legacy_sql=False,
    )
