"""docker-compose.yaml is valid and wires the local stack together (no Docker engine is needed to check)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKER_COMPOSE = shutil.which("docker-compose")

pytestmark = pytest.mark.skipif(
    DOCKER_COMPOSE is None, reason="docker-compose is missing: run scripts/bootstrap.sh compose"
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


def test_the_stack_has_airflow_the_sandbox_and_both_gcp_emulators(services: dict[str, Any]) -> None:
    assert sorted(services) == ["airflow", "bigquery", "gcs", "sandbox"]
    assert services["airflow"]["build"]["target"] == "airflow"
    assert services["airflow"]["command"] == "standalone"
    assert services["gcs"]["image"] == "fsouza/fake-gcs-server:1.54.0"
    assert set(services["airflow"]["depends_on"]) == {"sandbox", "gcs", "bigquery"}
    assert services["airflow"]["volumes"] == [f"{REPO_ROOT / 'dags'}:/opt/airflow/dags:rw"]


def test_airflow_reaches_each_stand_in_by_its_service_name(services: dict[str, Any]) -> None:
    environment = services["airflow"]["environment"]
    assert environment["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert environment["BIGQUERY_EMULATOR_HOST"] == "http://bigquery:9050"
    assert services["bigquery"]["environment"]["STORAGE_EMULATOR_HOST"] == "http://gcs:4443"
    assert "http -host 0.0.0.0 -port 4443" in " ".join(services["gcs"]["entrypoint"])
    assert services["bigquery"]["command"][services["bigquery"]["command"].index("--port") + 1] == "9050"
    sandbox_command = " ".join(services["sandbox"]["entrypoint"])
    assert "-m airflow_provider_soundlink.sandbox --host 0.0.0.0 --port 8080" in sandbox_command


def test_the_connections_use_the_sandbox_key_and_anonymous_gcp(services: dict[str, Any]) -> None:
    environment = services["airflow"]["environment"]
    soundlink = json.loads(environment["AIRFLOW_CONN_SOUNDLINK_DEFAULT"])
    assert soundlink == {
        "conn_type": "soundlink",
        "host": "http://sandbox:8080",
        "password": "sk_sandbox_all",
        "extra": {"allow_insecure_http": True},
    }
    google = json.loads(environment["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"])
    assert google["extra"]["is_anonymous"] is True
    assert google["extra"]["project"] == environment["SOUNDLINK_BIGQUERY_PROJECT"]
    assert environment["SOUNDLINK_BIGQUERY_PROJECT"] in services["bigquery"]["command"]
    assert f"/storage/{environment['SOUNDLINK_GCS_BUCKET']}" in " ".join(services["gcs"]["entrypoint"])
