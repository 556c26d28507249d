"""Start and stop the demo's stand-ins from the command line, recorded in a state directory::

    python -m soundlink_stand_ins up [--state-dir .run] [--project soundlink-local]
    source .run/services.env
    python -m soundlink_stand_ins status
    python -m soundlink_stand_ins down

``up`` starts fake-gcs-server, local-bigquery and the Soundlink sandbox, each in its own process group on
127.0.0.1, and records each group's id in a pid file; ``down`` stops exactly those and is safe to repeat.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from soundlink_stand_ins.gcp import (
    DEFAULT_PROJECT,
    google_connection_json,
    start_fake_gcs,
    start_local_bigquery,
)
from soundlink_stand_ins.paths import REPO_ROOT
from soundlink_stand_ins.processes import (
    RunningService,
    ServiceError,
    group_alive,
    start_time,
    stop_process_group,
)
from soundlink_stand_ins.sandbox import soundlink_connection_json, start_sandbox

SERVICE_NAMES = ("fake-gcs", "local-bigquery", "sandbox")


@dataclasses.dataclass(frozen=True)
class RecordedService:
    """What ``up`` wrote to ``<name>.pid``."""

    pid: int
    port: int
    started: str | None
    """The process start time (clock ticks since boot): it tells the recorded server apart from an
    unrelated process that later got the same pid."""

    def still_running(self) -> bool:
        return group_alive(self.pid) and start_time(self.pid) == self.started


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def _record(state_dir: Path, service: RunningService) -> None:
    record = RecordedService(service.pid, service.port, start_time(service.pid))
    _pid_file(state_dir, service.name).write_text(json.dumps(dataclasses.asdict(record)))


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
