"""Shared fixtures: the local GCS/BigQuery emulators and the Soundlink sandbox, started once per session.

Tests that use them are marked ``integration`` and those under ``tests/e2e`` ``e2e`` automatically, so
``pytest -m "not integration and not e2e"`` (``make unit``) runs only the hermetic unit tier. A stand-in
that cannot start fails the test with its log, never skips it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from stand_ins import (
    GCP_PROJECT,
    REPO_ROOT,
    SANDBOX_TODAY,
    GcpEmulators,
    services,
    strictly_checked_insert_job,
)

if TYPE_CHECKING:
    from airflow_provider_soundlink.sandbox.testing import SandboxProcess


FIXTURES_NEEDING_STAND_INS = frozenset(
    {"gcp_emulators", "sandbox", "_sandbox_process", "soundlink_connection"}
)
E2E_DIRECTORY = REPO_ROOT / "tests" / "e2e"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Fail any test whose output (stdout, stderr, logs) holds a sandbox API key: no log or error of the
    provider may carry one, whatever a test provokes."""
    report = yield
    if report.when == "call" and report.passed:
        from airflow_provider_soundlink.sandbox.keys import KEY_GRANTS

        captured = "\n".join(content for _, content in report.sections)
        if any(key in captured for key in KEY_GRANTS):
            report.outcome = "failed"
            report.longrepr = "the test's output (stdout, stderr or logs) holds a sandbox API key"
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIRECTORY):
            item.add_marker(pytest.mark.e2e)
        elif FIXTURES_NEEDING_STAND_INS.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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
