"""docker-compose.yaml is valid and wires the local stack together (no Docker engine is needed to check)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from soundlink_stand_ins.paths import REPO_ROOT
from soundlink_stand_ins.pipeline import POOLS, celery_deployment, dag_settings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
INIT_SCRIPT = REPO_ROOT / "scripts" / "airflow-init.sh"
DOCKER_COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    DOCKER_COMPOSE is None, reason="docker-compose is missing: run scripts/bootstrap.sh system"
)


def compose(*args: str) -> str:
    assert DOCKER_COMPOSE is not None
    completed = subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(compose("config"))
    return parsed["services"]


def test_the_compose_file_is_valid() -> None:
    assert compose("config", "-q") == ""


AIRFLOW_DAEMONS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker-1": "celery worker",
    "airflow-worker-2": "celery worker",
}


def test_the_stack_is_the_official_airflow_layout_plus_the_stand_ins(services: dict[str, Any]) -> None:
    assert set(services) == {
        "postgres",
        "redis",
        "airflow-init",
        *AIRFLOW_DAEMONS,
        "sandbox",
        "gcs",
        "bigquery",
    }
    for name, command in AIRFLOW_DAEMONS.items():
        assert services[name]["build"]["target"] == "airflow"
        assert services[name]["command"] == command
        assert services[name]["volumes"] == [
            f"{REPO_ROOT / 'dags'}:/opt/airflow/dags:rw",
            "airflow-logs:/opt/airflow/logs:rw",
        ]
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert {"postgres", "redis", "sandbox", "gcs", "bigquery"} <= set(services[name]["depends_on"])
    assert services["gcs"]["image"] == "fsouza/fake-gcs-server:1.54.0"


def test_airflow_runs_as_the_platform_end_to_end_tests_run_it(services: dict[str, Any]) -> None:
    """Same executor, database kind and drivers, and setting names as tests/e2e/test_platform_topology."""
    environment = services["airflow-scheduler"]["environment"]
    tested = celery_deployment(
        database_url="postgresql+psycopg2://airflow@127.0.0.1:5432/airflow",
        broker_url="redis://127.0.0.1:6379/0",
        result_backend="db+postgresql+psycopg2://airflow@127.0.0.1:5432/airflow",
    )
    assert set(tested) <= set(environment)
    for name, value in tested.items():
        assert environment[name].split("://")[0] == value.split("://")[0], name
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert environment["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    # The DAGs' own settings, by the names the tests give them.
    dag_environment = dag_settings(project="p", dataset="d", bucket="b", export_shards=4)
    assert set(dag_environment) - {"SOUNDLINK_CAMPAIGN_IDS"} <= set(environment)
    # Every Airflow process has the same settings; the init adds the connections it creates, the workers
    # their warm shutdown.
    own = {"SOUNDLINK_CONNECTION_JSON", "GOOGLE_CLOUD_CONNECTION_JSON", "DUMB_INIT_SETSID"}
    every_airflow_service = [services[name]["environment"] for name in (*AIRFLOW_DAEMONS, "airflow-init")]
    assert all(
        {key: value for key, value in other.items() if key not in own} == environment
        for other in every_airflow_service
    )


def test_the_init_service_runs_the_init_script_the_platform_tests_run(services: dict[str, Any]) -> None:
    init = services["airflow-init"]
    assert init["command"] == ["/opt/soundlink/scripts/airflow-init.sh"]
    script = INIT_SCRIPT.read_text()
    assert script.index("airflow db migrate") < script.index("airflow pools set")
    for pool in POOLS:
        assert f"airflow pools set {pool} " in script
    assert 'airflow pools set soundlink_api "${SOUNDLINK_EXPORT_SHARDS:-4}"' in script
    soundlink = json.loads(init["environment"]["SOUNDLINK_CONNECTION_JSON"])
    assert soundlink == {
        "conn_type": "soundlink",
        "host": "http://sandbox:8080",
        "password": "sk_sandbox_all",
        "extra": {"allow_insecure_http": True},
    }
    google = json.loads(init["environment"]["GOOGLE_CLOUD_CONNECTION_JSON"])
    assert google["extra"]["is_anonymous"] is True
    project = services["airflow-scheduler"]["environment"]["SOUNDLINK_BIGQUERY_PROJECT"]
    assert google["extra"]["project"] == project
    assert project in services["bigquery"]["command"]


def test_every_service_restarts_and_every_airflow_daemon_has_the_official_healthcheck(
    services: dict[str, Any],
) -> None:
    assert all(
        service.get("restart") == "always" for name, service in services.items() if name != "airflow-init"
    )
    probes = {
        "airflow-apiserver": "http://localhost:8080/api/v2/version",
        "airflow-scheduler": "http://localhost:8974/health",
        "airflow-dag-processor": "--job-type DagProcessorJob",
        "airflow-triggerer": "--job-type TriggererJob",
        "airflow-worker-1": "inspect ping",
        "airflow-worker-2": "inspect ping",
    }
    for name, probe in probes.items():
        assert probe in " ".join(services[name]["healthcheck"]["test"]), name
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_workers_start_after_a_healthy_api_server_and_shut_down_warm(services: dict[str, Any]) -> None:
    for name in ("airflow-worker-1", "airflow-worker-2"):
        assert services[name]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
        assert services[name]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_the_dags_run_without_a_step_by_hand(services: dict[str, Any]) -> None:
    assert (
        services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    )


def test_airflow_reaches_each_stand_in_by_its_service_name(services: dict[str, Any]) -> None:
    environment = services["airflow-scheduler"]["environment"]
    assert environment["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert environment["BIGQUERY_EMULATOR_HOST"] == "http://bigquery:9050"
    assert (
        environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    )
    assert services["bigquery"]["environment"]["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert "http -host 0.0.0.0 -port 4443" in " ".join(services["gcs"]["entrypoint"])
    assert services["bigquery"]["command"][services["bigquery"]["command"].index("--port") + 1] == "9050"
    sandbox_command = " ".join(services["sandbox"]["entrypoint"])
    assert "-m soundlink_sandbox --host 0.0.0.0 --port 8080" in sandbox_command
    assert f"/storage/{environment['SOUNDLINK_GCS_BUCKET']}" in " ".join(services["gcs"]["entrypoint"])
