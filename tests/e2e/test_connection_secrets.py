"""Airflow 3.3's REST API, as its connection editor reads it, hides the pseudonymisation secret: Airflow
hides an extra only when a sensitive word is in its name, and ``pseudonymisation_key`` held none."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from soundlink_stand_ins.airflow_runner import AirflowEnvironment
from soundlink_stand_ins.paths import AIRFLOW3_VENV


def test_the_rest_api_hides_the_pseudonymisation_secret(tmp_path: Path) -> None:
    airflow = AirflowEnvironment(
        AIRFLOW3_VENV,
        tmp_path / "home",
        tmp_path / "dags",
        # Every request is an admin's: the test reads what any user allowed to see connections sees.
        {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"},
    )
    (tmp_path / "dags").mkdir()
    airflow.migrate()
    extra = {"pseudonymisation_secret": "pepper-new-0123", "pseudonymisation_key": "pepper-old-0123"}
    connection = {
        "conn_type": "soundlink",
        "host": "https://api.example",
        "password": "sk_live_x",
        "extra": extra,
    }
    airflow.run_airflow("connections", "add", "soundlink_secrets", "--conn-json", json.dumps(connection))

    with airflow.api_server() as base_url:
        token = requests.get(f"{base_url}/auth/token", timeout=30).json()["access_token"]
        answer = requests.get(
            f"{base_url}/api/v2/connections/soundlink_secrets",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    answer.raise_for_status()
    shown = answer.json()
    assert shown["password"] == "***"
    assert json.loads(shown["extra"])["pseudonymisation_secret"] == "***"
    # Why the extra was renamed: the old name is shown in clear (the hook still reads it, and warns).
    assert json.loads(shown["extra"])["pseudonymisation_key"] == "pepper-old-0123"
    assert "pepper-new-0123" not in answer.text
