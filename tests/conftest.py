"""Shared fixtures: the local GCS/BigQuery emulators and the Soundlink sandbox, started once per session.

Tests that use them are marked ``integration`` and those under ``tests/e2e`` ``e2e`` automatically, so
``pytest -m "not integration and not e2e"`` (``make unit``) runs only the hermetic unit tier. A stand-in
that cannot start fails the test with its log, never skips it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_soundlink.sandbox.testing import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
GCP_PROJECT = "soundlink-local"
SANDBOX_TODAY = dt.date(2026, 6, 15)
"""A fixed "today" for the sandbox, so its data (and every assertion on it) never depends on the clock."""

FIXTURES_NEEDING_STAND_INS = frozenset(
    {"gcp_emulators", "sandbox", "sandbox_process", "_sandbox_process", "soundlink_connection"}
)
E2E_DIRECTORY = REPO_ROOT / "tests" / "e2e"


def _load_services() -> ModuleType:
    # scripts/ is not a package; load the module by path so the fixtures and the CLI share one copy.
    spec = importlib.util.spec_from_file_location("soundlink_services", REPO_ROOT / "scripts" / "services.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


services = _load_services()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIRECTORY):
            item.add_marker(pytest.mark.e2e)
        elif FIXTURES_NEEDING_STAND_INS.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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
    (tests/bigquery_rules.py), reading every source object, so a value BigQuery would reject fails the
    test even where the emulator accepts it."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    from bigquery_rules import check_rows, check_source_uris

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


@pytest.fixture(scope="session")
def gcp_emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpEmulators]:
    """fake-gcs-server and local-bigquery on free ports, with Airflow's google hooks pointed at them,
    and every load job through ``BigQueryHook`` checked against BigQuery's rules first."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    data_dir = tmp_path_factory.mktemp("gcp")
    started = []
    with pytest.MonkeyPatch.context() as env:
        try:
            gcs = services.start_fake_gcs(data_dir)
            started.append(gcs)
            bigquery = services.start_local_bigquery(data_dir, gcs.url, GCP_PROJECT)
            started.append(bigquery)
        except services.ServiceError as error:
            for service in started:
                services.stop_process_group(service.pid)
            pytest.fail(f"the GCP emulators did not start: {error}", pytrace=False)
        env.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        env.setenv("BIGQUERY_EMULATOR_HOST", bigquery.url)
        env.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", services.google_connection_json(GCP_PROJECT))
        env.setattr(BigQueryHook, "insert_job", strictly_checked_insert_job(BigQueryHook.insert_job))
        try:
            yield GcpEmulators(project=GCP_PROJECT, gcs_url=gcs.url, bigquery_url=bigquery.url)
        finally:
            for service in reversed(started):
                services.stop_process_group(service.pid)


@pytest.fixture(scope="session")
def _sandbox_process() -> Iterator[SandboxProcess]:
    from airflow_provider_soundlink.sandbox.testing import SandboxProcess

    with SandboxProcess(today=SANDBOX_TODAY) as process:
        yield process


@pytest.fixture
def sandbox(_sandbox_process: SandboxProcess) -> SandboxProcess:
    """The session's sandbox, reset for this test: no faults, empty request log, ``SANDBOX_TODAY``."""
    _sandbox_process.reset()
    return _sandbox_process


@pytest.fixture
def soundlink_connection(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``soundlink_default`` pointing at the sandbox with a key holding every scope; returns its fields."""
    connection: dict[str, Any] = json.loads(services.soundlink_connection_json(sandbox.base_url))
    monkeypatch.setenv("AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps(connection))
    return connection
