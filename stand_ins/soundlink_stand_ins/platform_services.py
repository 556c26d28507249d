"""Start the metadata database and broker platform teams run Airflow on: PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from soundlink_stand_ins.processes import (
    START_TIMEOUT_SECONDS,
    RunningService,
    ServiceError,
    free_port,
    log_tail,
    spawn,
    stop_process_group,
)


def _postgres_program(name: str) -> str:
    """Find a PostgreSQL server program from Debian's ``postgresql`` package (newest major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise ServiceError(f"PostgreSQL's {name} is missing: run scripts/bootstrap.sh system")
    return str(found[-1])


def _as_postgres_user() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: started by root, it runs as ``nobody``."""
    return {"user": "nobody", "group": "nogroup"} if os.geteuid() == 0 else {}


def start_postgres(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 with the superuser ``airflow`` (trust authentication,
    no password); :func:`create_postgres_database` adds databases. The cluster lives in
    ``/tmp/soundlink-postgres-<port>`` (a directory PostgreSQL's user can reach); :func:`stop_postgres`
    removes it."""
    port = port or free_port()
    cluster = postgres_cluster_dir(port)
    shutil.rmtree(cluster, ignore_errors=True)
    cluster.mkdir(mode=0o700)
    as_user = _as_postgres_user()
    if as_user:
        shutil.chown(cluster, as_user["user"], as_user["group"])
    log_path = data_dir / "postgres.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        subprocess.run(
            [_postgres_program("initdb"), "-D", str(cluster / "data"), "-U", "airflow", "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            stdout=log, stderr=subprocess.STDOUT, check=True, timeout=timeout, **as_user,
        )  # fmt: skip
        process = subprocess.Popen(
            [_postgres_program("postgres"), "-D", str(cluster / "data"), "-h", "127.0.0.1", "-p", str(port),
             "-k", str(cluster), "-c", "fsync=off", "-c", "max_connections=200"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **as_user,
        )  # fmt: skip
    service = RunningService("postgres", process.pid, port, log_path)
    ready = [_postgres_program("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "-q"]
    deadline = time.monotonic() + timeout
    while subprocess.run(ready, check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_postgres(service)
            raise ServiceError(f"PostgreSQL did not start; log {log_path}:\n{log_tail(log_path)}")
        time.sleep(0.2)
    return service


def postgres_cluster_dir(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"soundlink-postgres-{port}"


def create_postgres_database(service: RunningService, name: str) -> str:
    """Create a new, empty database in the cluster (one per Airflow installation); return its name."""
    create = [
        _postgres_program("createdb"),
        "-h",
        "127.0.0.1",
        "-p",
        str(service.port),
        "-U",
        "airflow",
        name,
    ]
    subprocess.run(create, check=True, capture_output=True, timeout=START_TIMEOUT_SECONDS)
    return name


def postgres_url(service: RunningService, database: str, driver: str = "postgresql+psycopg2") -> str:
    """Build the SQLAlchemy URL of one database: Airflow's ``sql_alchemy_conn`` (``db+postgresql`` for
    Celery's result backend)."""
    return f"{driver}://airflow@127.0.0.1:{service.port}/{database}"


def stop_postgres(service: RunningService) -> None:
    stop_process_group(service.pid)
    shutil.rmtree(postgres_cluster_dir(service.port), ignore_errors=True)


def start_redis(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """Start a throwaway Redis on 127.0.0.1, in memory only (no snapshots, no append-only file)."""
    program = shutil.which("redis-server")
    if program is None:
        raise ServiceError("redis-server is missing: run scripts/bootstrap.sh system")
    port = port or free_port()
    command = [program, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
               "--save", "", "--appendonly", "no"]  # fmt: skip
    log_path = data_dir / "redis.log"
    process = spawn(command, log_path, {})
    service = RunningService("redis", process.pid, port, log_path)
    deadline = time.monotonic() + timeout
    while not _redis_answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process.pid)
            raise ServiceError(f"Redis did not start; log {log_path}:\n{log_tail(log_path)}")
        time.sleep(0.1)
    return service


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
