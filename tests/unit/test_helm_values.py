"""deploy/helm/values.yaml against the official Airflow chart's documented values.

The chart is not installable here (no Helm, no network), so its schema speaks through the part of it these
values use, copied below from apache/airflow ``chart/values.schema.json`` at commit
002e5532d7d55a375bbf71bd4e72d7e008635073: each key the values set must be a documented key of the
documented type, as ``helm install`` validates it.
"""

from __future__ import annotations

from typing import Any

import yaml

from soundlink_stand_ins.paths import REPO_ROOT

VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
DOCUMENTED: dict[str, tuple[str, ...]] = {
    "images.airflow.repository": ("string", "null"),
    "images.airflow.tag": ("string", "null"),
    "images.airflow.pullPolicy": ("string",),
    "airflowVersion": ("string",),
    "executor": ("string",),
    "workers.replicas": ("integer",),
    "triggerer.enabled": ("boolean",),
    "dagProcessor.enabled": ("boolean", "null"),
    "dags.persistence.enabled": ("boolean",),
    "dags.gitSync.enabled": ("boolean",),
    "migrateDatabaseJob.enabled": ("boolean",),
    "migrateDatabaseJob.command": ("array", "null"),
    "migrateDatabaseJob.args": ("array", "null"),
    "env": ("array",),
    "config": ("object",),
    "statsd.enabled": ("boolean",),
}
PULL_POLICIES = ("Always", "Never", "IfNotPresent")
JSON_TYPES = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "array": list,
    "object": dict,
    "null": type(None),
}


def leaves(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted paths of the values, down to a documented key (``config``'s sections are free-form)."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in DOCUMENTED or not isinstance(value, dict):
            found[path] = value
        else:
            found |= leaves(value, f"{path}.")
    return found


def is_of(value: Any, types: tuple[str, ...]) -> bool:
    # bool is an int in Python, never in JSON Schema.
    return any(
        isinstance(value, JSON_TYPES[name]) and not (name == "integer" and isinstance(value, bool))
        for name in types
    )


def test_every_value_is_a_documented_key_of_its_documented_type() -> None:
    values = yaml.safe_load(VALUES.read_text())
    for path, value in leaves(values).items():
        assert path in DOCUMENTED, f"{path} is not a key the chart documents (or not one checked here)"
        assert is_of(value, DOCUMENTED[path]), f"{path}: {value!r} is not {DOCUMENTED[path]}"
    assert values["images"]["airflow"]["pullPolicy"] in PULL_POLICIES
    # env items: exactly name and value, both strings (the chart refuses any other field).
    assert all(
        set(item) == {"name", "value"} and all(isinstance(v, str) for v in item.values())
        for item in values["env"]
    )
    # airflow.cfg sections of scalars.
    assert all(
        isinstance(setting, (bool, int, float, str))
        for section in values["config"].values()
        for setting in section.values()
    )
    assert all(
        isinstance(part, str)
        for part in [*values["migrateDatabaseJob"]["command"], *values["migrateDatabaseJob"]["args"]]
    )


def test_the_values_deploy_what_the_tests_run() -> None:
    values = yaml.safe_load(VALUES.read_text())
    bootstrap = (REPO_ROOT / "scripts" / "bootstrap.sh").read_text()
    assert f"AIRFLOW3_VERSION={values['airflowVersion']}" in bootstrap
    assert values["executor"] == "CeleryExecutor"
    # The chart's migration job also creates the pools, with the script docker-compose.yaml runs.
    assert "/opt/soundlink/scripts/airflow-init.sh" in " ".join(values["migrateDatabaseJob"]["args"])
    env = {item["name"]: item["value"] for item in values["env"]}
    assert {"SOUNDLINK_BIGQUERY_PROJECT", "SOUNDLINK_GCS_BUCKET", "SOUNDLINK_EXPORT_SHARDS"} <= set(env)
    assert values["config"]["secrets"]["backend"].endswith("CloudSecretManagerBackend")
    assert values["config"]["metrics"]["statsd_on"] == "True" and values["statsd"]["enabled"] is True
