"""Fixtures every tier shares, and the tiers themselves.

The folder is the tier: ``tests/unit`` is hermetic (no server, no Airflow process; ``make unit``),
``tests/integration`` runs against the local stand-ins (the sandbox, fake-gcs-server, local-bigquery),
``tests/e2e`` drives real Airflow installations. Each test is marked with its folder's tier, and a unit
test that asks for a stand-in fails at collection. A stand-in that cannot start fails the test with its
log, never skips it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import soundlink_stand_ins as stand_ins
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL, KEY_GRANTS
from support.connections import ConnectionSetter
from support.emulators import GCP_PROJECT, SANDBOX_TODAY, GcpEmulators, strictly_checked_insert_job

if TYPE_CHECKING:
    from soundlink_sandbox.testing import SandboxProcess

TIERS = {"unit": None, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}
FIXTURES_NEEDING_STAND_INS = frozenset(
    {"gcp_emulators", "sandbox", "_sandbox_process", "soundlink_connection"}
)
TESTS_ROOT = Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Fail any test whose output (stdout, stderr, logs) holds a sandbox API key: no log or error of the
    provider may carry one, whatever a test provokes."""
    report = yield
    if report.when == "call" and report.passed:
        captured = "\n".join(content for _, content in report.sections)
        if any(key in captured for key in KEY_GRANTS):
            report.outcome = "failed"
            report.longrepr = "the test's output (stdout, stderr or logs) holds a sandbox API key"
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.relative_to(TESTS_ROOT).parts[0] if item.path.is_relative_to(TESTS_ROOT) else None
        if tier not in TIERS:
            continue
        if tier == "unit" and FIXTURES_NEEDING_STAND_INS.intersection(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but needs a stand-in: move it to tests/integration"
            )
        marker = TIERS[tier]
        if marker is not None:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def truth() -> SandboxData:
    """Build what the sandbox serves: its data set, from the same seed, in process."""
    return SandboxData()


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> ConnectionSetter:
    """Define ``soundlink_default`` through the environment, the way deployments often do."""

    def set_connection(host: str | None, api_key: str | None = KEY_ALL, **extra: Any) -> None:
        connection: dict[str, Any] = {"conn_type": "soundlink", "extra": extra}
        if host is not None:
            connection["host"] = host
        if api_key is not None:
            connection["password"] = api_key
        monkeypatch.setenv("AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps(connection))

    return set_connection


@pytest.fixture(scope="session")
def gcp_emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpEmulators]:
    """fake-gcs-server and local-bigquery on free ports, with Airflow's google hooks pointed at them,
    and every load job through ``BigQueryHook`` checked against BigQuery's rules first."""
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    data_dir = tmp_path_factory.mktemp("gcp")
    started = []
    with pytest.MonkeyPatch.context() as env:
        try:
            gcs = stand_ins.start_fake_gcs(data_dir)
            started.append(gcs)
            bigquery = stand_ins.start_local_bigquery(data_dir, gcs.url, GCP_PROJECT)
            started.append(bigquery)
        except stand_ins.ServiceError as error:
            for service in started:
                stand_ins.stop_process_group(service.pid)
            pytest.fail(f"the GCP emulators did not start: {error}", pytrace=False)
        env.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        env.setenv("BIGQUERY_EMULATOR_HOST", bigquery.url)
        env.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", stand_ins.google_connection_json(GCP_PROJECT))
        env.setattr(BigQueryHook, "insert_job", strictly_checked_insert_job(BigQueryHook.insert_job))
        try:
            yield GcpEmulators(project=GCP_PROJECT, gcs_url=gcs.url, bigquery_url=bigquery.url)
        finally:
            for service in reversed(started):
                stand_ins.stop_process_group(service.pid)


@pytest.fixture(scope="session")
def _sandbox_process() -> Iterator[SandboxProcess]:
    from soundlink_sandbox.testing import SandboxProcess

    with SandboxProcess(today=SANDBOX_TODAY) as process:
        yield process


@pytest.fixture
def sandbox(_sandbox_process: SandboxProcess) -> SandboxProcess:
    """Reset the session's sandbox for this test: no faults, empty request log, ``SANDBOX_TODAY``."""
    _sandbox_process.reset()
    return _sandbox_process


@pytest.fixture
def soundlink_connection(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``soundlink_default`` pointing at the sandbox with a key holding every scope; returns its fields."""
    connection: dict[str, Any] = json.loads(stand_ins.soundlink_connection_json(sandbox.base_url))
    monkeypatch.setenv("AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps(connection))
    return connection
