"""What the test tiers share besides fixtures: the stand-ins' settings and helpers (imported by the
fixtures in conftest.py and by tests)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

GCP_PROJECT = "soundlink-local"
SANDBOX_TODAY = dt.date(2026, 6, 15)
"""A fixed "today" for the sandbox, so its data (and every assertion on it) never depends on the clock."""


@dataclass
class GcpEmulators:
    """The running fake-gcs-server and local-bigquery, and a way to get a fresh bucket or dataset."""

    project: str
    gcs_url: str
    bigquery_url: str
    _names: Iterator[int] = field(default_factory=itertools.count)

    def create_bucket(self, prefix: str = "bucket") -> str:
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        name = f"{prefix}-{next(self._names)}"
        GCSHook().create_bucket(bucket_name=name, project_id=self.project)
        return name

    def create_dataset(self, prefix: str = "dataset") -> str:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        name = f"{prefix}_{next(self._names)}"
        BigQueryHook(use_legacy_sql=False).create_empty_dataset(
            dataset_id=name, project_id=self.project, exists_ok=False
        )
        return name


def strictly_checked_insert_job(insert_job: Any) -> Any:
    """``BigQueryHook.insert_job`` that first checks a load job against BigQuery's documented rules
    (tests/support/bigquery_rules.py), reading every source object, so a value BigQuery would reject fails the
    test even where the emulator accepts it."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from support.bigquery_rules import check_rows, check_source_uris

    def checked(self: Any, **kwargs: Any) -> Any:
        load = kwargs["configuration"].get("load")
        if load is not None:
            check_source_uris(load["sourceUris"])
            for uri in load["sourceUris"]:
                bucket, _, name = uri.removeprefix("gs://").partition("/")
                data = GCSHook().download(bucket_name=bucket, object_name=name)
                check_rows(load["schema"]["fields"], data.splitlines(), uri)
        return insert_job(self, **kwargs)

    return checked
