"""One migrated Airflow home per version for the whole session, parsing the repository's ``dags/`` with
the pools created, pointed at the Soundlink sandbox and the GCP emulators.

Sharing a home is safe because every test writes to its own BigQuery dataset and GCS prefix (given in the
run's conf) and uses its own logical dates, so no run of one test counts in another's assertions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import soundlink_stand_ins as stand_ins
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.airflow_runner import AirflowEnvironment
from soundlink_stand_ins.paths import AIRFLOW2_VENV, AIRFLOW3_VENV
from soundlink_stand_ins.pipeline import (
    DAGS_FOLDER,
    LINEAGE_EVENTS,
    POOLS,
    PSEUDONYMISATION_KEY,
    dag_settings,
)
from support.clean_install import CleanInstall, Release, build_release, install_release
from support.emulators import GCP_PROJECT, GcpEmulators
from support.statsd import StatsdListener, statsd_listener


@dataclass(frozen=True)
class DagsEnvironment:
    """An Airflow environment running the example DAGs, and the bucket they export to."""

    airflow: AirflowEnvironment
    bucket: str
    reconcile: str
    """``SOUNDLINK_RECONCILE``: whether the breakdown's MERGE is followed by its check, and what it does."""


def make_dags_environment(
    venv: Path,
    export_shards: int,
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    sandbox_process: SandboxProcess,
    database_url: str | None = None,
    deployment: Mapping[str, str] | None = None,
    reconcile: str = "off",
    statsd: StatsdListener | None = None,
    init_script: bool = False,
    dataset: str = "outlets",
    soundlink_connection: bool = True,
) -> DagsEnvironment:
    """``database_url`` and ``deployment`` (executor settings) default to SQLite and each version's
    local executor; ``reconcile`` is the DAGs' ``SOUNDLINK_RECONCILE``; with ``statsd``, Airflow sends
    its metrics (and the provider's) there. ``init_script`` sets the installation up as
    docker-compose.yaml does, with scripts/airflow-init.sh (pools, and connections in the database);
    otherwise the pools are imported and the connections are environment variables. ``dataset`` is the
    DAGs' ``SOUNDLINK_BIGQUERY_DATASET``; without ``soundlink_connection``, ``soundlink_default`` is left
    for the test to create."""
    bucket = gcp_emulators.create_bucket(f"dags-{venv.name}")
    settings = {
        "STORAGE_EMULATOR_HOST": gcp_emulators.gcs_url,
        "BIGQUERY_EMULATOR_HOST": gcp_emulators.bigquery_url,
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": stand_ins.google_connection_json(GCP_PROJECT),
        # The factory-built DAGs take their dataset per run (conf "dataset_id"): this one only names their
        # MERGE outlets. The copyable DAG loads into it.
        **dag_settings(
            project=GCP_PROJECT,
            dataset=dataset,
            bucket=bucket,
            export_shards=export_shards,
            reconcile=reconcile,
        ),
        **(deployment or {}),
        **(statsd.settings() if statsd is not None else {}),
    }
    if soundlink_connection:
        settings["AIRFLOW_CONN_SOUNDLINK_DEFAULT"] = stand_ins.soundlink_connection_json(
            sandbox_process.base_url, pseudonymisation_secret=PSEUDONYMISATION_KEY
        )
    home = tmp_path_factory.mktemp(f"airflow-{venv.name}")
    # The openlineage provider's listener writes every event of every run to one file.
    settings["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(home / LINEAGE_EVENTS), "append": True}
    )
    settings["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "soundlink-e2e"
    if init_script:
        connections = {
            "SOUNDLINK_CONNECTION_JSON": settings.pop("AIRFLOW_CONN_SOUNDLINK_DEFAULT"),
            "GOOGLE_CLOUD_CONNECTION_JSON": settings.pop("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"),
        }
    airflow = AirflowEnvironment(venv, home, DAGS_FOLDER, settings, database_url)
    if init_script:
        airflow.run_init_script(connections)
    else:
        airflow.migrate()
        airflow.import_pools(POOLS, "Soundlink end-to-end tests")
    return DagsEnvironment(airflow, bucket, reconcile)


@pytest.fixture(scope="session")
def statsd() -> Iterator[StatsdListener]:
    """Start the StatsD server the session's Airflow environments send their metrics to."""
    with statsd_listener() as listener:
        yield listener


@pytest.fixture(scope="session")
def airflow3(
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
    statsd: StatsdListener,
) -> DagsEnvironment:
    # Two shards: the tests' two campaigns land in different export tasks. Every run checks its breakdown
    # against the overview and fails on a difference.
    return make_dags_environment(
        AIRFLOW3_VENV, 2, tmp_path_factory, gcp_emulators, _sandbox_process, reconcile="fail", statsd=statsd
    )


@pytest.fixture(scope="session")
def airflow2(
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
    statsd: StatsdListener,
) -> DagsEnvironment:
    # One shard: 2.11 runs every task instance of a backfill as a process of its own, one after another.
    return make_dags_environment(
        AIRFLOW2_VENV, 1, tmp_path_factory, gcp_emulators, _sandbox_process, statsd=statsd
    )


@pytest.fixture(
    params=[
        pytest.param("airflow3", id="airflow3"),
        pytest.param("airflow2", id="airflow2", marks=pytest.mark.airflow2),
    ]
)
def any_airflow(request: pytest.FixtureRequest) -> DagsEnvironment:
    """Each version's environment in turn."""
    environment: DagsEnvironment = request.getfixturevalue(request.param)
    return environment


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """Build the wheel and sdist from this checkout, and run their index check."""
    return build_release(tmp_path_factory.mktemp("dist"))


_INSTALLS: dict[str, CleanInstall] = {}


@pytest.fixture
def install(
    request: pytest.FixtureRequest, release: Release, tmp_path_factory: pytest.TempPathFactory
) -> CleanInstall:
    """Make a clean install of the wheel with the Airflow named by the test's param (``airflow3``,
    ``airflow2``), once per session."""
    name: str = request.param
    if name not in _INSTALLS:
        venv = AIRFLOW3_VENV if name == "airflow3" else AIRFLOW2_VENV
        _INSTALLS[name] = install_release(release.wheel, venv, tmp_path_factory.mktemp(f"install-{name}"))
    return _INSTALLS[name]
