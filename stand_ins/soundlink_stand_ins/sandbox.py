"""Start the Soundlink sandbox as a server process, and describe the connection that reaches it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from soundlink_stand_ins.processes import (
    START_TIMEOUT_SECONDS,
    RunningService,
    ServiceError,
    log_tail,
    spawn,
    stop_process_group,
)

SANDBOX_API_KEY = "sk_sandbox_all"


def start_sandbox(
    data_dir: Path,
    port: int = 0,
    today: str | None = None,
    scale: int | None = None,
    seed: int | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> RunningService:
    """Start the Soundlink sandbox API; it reports its bound port through ``--port-file``."""
    port_file = data_dir / "sandbox.port"
    port_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m", "soundlink_sandbox",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--port-file", str(port_file),
    ]  # fmt: skip
    for option, value in (("--today", today), ("--scale", scale), ("--seed", seed)):
        if value is not None:
            command += [option, str(value)]
    log_path = data_dir / "sandbox.log"
    process = spawn(command, log_path, {})
    deadline = time.monotonic() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None:
            raise ServiceError(
                f"sandbox exited with status {process.returncode} before serving; log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            stop_process_group(process.pid)
            raise ServiceError(f"sandbox wrote no port file within {timeout:.0f}s; log {log_path}")
        time.sleep(0.1)
    return RunningService("sandbox", process.pid, int(port_file.read_text().strip()), log_path)


def soundlink_connection_json(
    base_url: str, api_key: str = SANDBOX_API_KEY, pseudonymisation_secret: str | None = None
) -> str:
    connection: dict[str, Any] = {"conn_type": "soundlink", "host": base_url, "password": api_key}
    if pseudonymisation_secret:
        connection["extra"] = {"pseudonymisation_secret": pseudonymisation_secret}
    return json.dumps(connection)
