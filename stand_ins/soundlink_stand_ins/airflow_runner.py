"""Run real Airflow (2.11 or 3.x, chosen by virtualenv) against a private AIRFLOW_HOME.

Every operation goes through the ``airflow`` CLI of the chosen virtualenv, exactly as a user would run it.
Results are read back from the environment's metadata database (SQLite by default, or the PostgreSQL
given as ``database_url``), which is faster than another CLI start-up (about 4 s each) and gives the raw
logical dates and data intervals.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from soundlink_stand_ins.paths import REPO_ROOT

logger = logging.getLogger(__name__)

INIT_SCRIPT = REPO_ROOT / "scripts" / "airflow-init.sh"
"""What a deployment runs once before its daemons start (docker-compose.yaml's airflow-init)."""


TERMINAL_RUN_STATES = frozenset({"success", "failed"})
FAILED_TASK_STATES = ("failed", "upstream_failed")
LOG_TAIL_LINES = 40
COMMAND_TIMEOUT_SECONDS = 300
# The longest backfill, 3 days of the daily DAG on 2.11, took 155 s here (two test processes sharing
# two cores); 10 days took 281-440 s. At least 3x the longest.
BACKFILL_TIMEOUT_SECONDS = 1350
POLL_INTERVAL_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 20
# A triggered daily run on the Celery stack took about 40 s here, 70 s with its MERGEs deferred: 3x and
# more.
RUN_TIMEOUT_SECONDS = 300
# The daemons' first parse of the DAGs took 10-35 s here.
PARSE_TIMEOUT_SECONDS = 120
WORKER_IDENTITY = "soundlink_stand_ins.worker_identity.worker_name"
"""``[core] hostname_callable`` of each Celery worker: the name it is given, so that task instances
record which worker ran them (the workers share one machine, and with it one host name)."""


class AirflowRunError(RuntimeError):
    """An Airflow command or DAG run failed; the message carries the output and task log tails."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output
        """The failed command's whole output, when a command failed."""


@dataclass(frozen=True)
class DagRunRecord:
    run_id: str
    run_type: str
    state: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime


def airflow_major_version(venv: Path) -> int:
    """Read the major version of the Airflow installed in ``venv`` from its dist-info directory name."""
    dist_infos = sorted(venv.glob("lib/python*/site-packages/apache_airflow-*.dist-info"))
    if not dist_infos:
        raise FileNotFoundError(f"no apache-airflow installed in {venv}")
    version = dist_infos[0].name.removeprefix("apache_airflow-").removesuffix(".dist-info")
    return int(version.split(".", 1)[0])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _in_process_task_log(output: str, task_id: str) -> str:
    """One task's whole section of ``airflow dags test`` output (both versions mark where each task
    starts and ends; its traceback and error are inside), or "" if the task did not run there. Tasks
    run one after another, so a failed task's error can be far above the end of the whole output."""
    start = f"[DAG TEST] starting task_id={task_id} "
    end = f"[DAG TEST] end task task_id={task_id} "
    section: list[str] | None = None
    for line in output.splitlines():
        if start in line:
            section = []
        if section is not None:
            section.append(line)
            if end in line:
                break
    return "\n".join(section) if section else ""


def _parse_db_timestamp(value: str | datetime) -> datetime:
    # SQLite gives UTC timestamps as naive "YYYY-MM-DD HH:MM:SS.ffffff" text, PostgreSQL as aware datetimes.
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass(frozen=True)
class CeleryWorker:
    """One ``airflow celery worker`` process with its own working directory and temp dir."""

    name: str
    directory: Path

    @property
    def temp_dir(self) -> Path:
        return self.directory / "tmp"


class AirflowEnvironment:
    """One Airflow installation (by virtualenv) with its own AIRFLOW_HOME, SQLite database and DAGs folder."""

    def __init__(
        self,
        venv: Path,
        home: Path,
        dags_folder: Path,
        env: Mapping[str, str] | None = None,
        database_url: str | None = None,
    ):
        self.venv = venv
        self.home = home
        self.dags_folder = dags_folder
        self.major_version = airflow_major_version(venv)
        self.database = home / "airflow.db"
        self.database_url = database_url or f"sqlite:///{self.database}"
        self.home.mkdir(parents=True, exist_ok=True)
        self._env = self._child_environment(env or {})

    @property
    def logical_date_column(self) -> str:
        return "logical_date" if self.major_version >= 3 else "execution_date"

    def _child_environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        # Inherited Airflow settings would leak another installation's home or database into this one.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AIRFLOW") and key not in {"VIRTUAL_ENV", "PYTHONPATH"}
        }
        settings = {
            # 2.11's executor starts `airflow tasks run` from PATH; it must be this venv's.
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{inherited.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.venv),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor" if self.major_version >= 3 else "SequentialExecutor",
            # Each LocalExecutor slot is a process; two match the machine's two cores.
            "AIRFLOW__CORE__PARALLELISM": "2",
            # 3.x only starts backfill runs of unpaused DAGs; without the job schedule, unpausing
            # creates no scheduled runs besides the ones a test asks for.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
        }
        return {**inherited, **settings, **extra}

    @property
    def command_log(self) -> Path:
        """Every ``airflow`` command's output, appended (``dags test`` prints its tasks' logs there)."""
        return self.home / "logs" / "airflow-commands.log"

    def run_airflow(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
        """Run ``airflow ARGS`` to completion and return its combined output (also appended to
        :attr:`command_log`); raise if it fails."""
        command = [str(self.venv / "bin" / "airflow"), *args]
        return self._run(command, f"airflow {' '.join(args)}", self._env, timeout)

    def migrate(self) -> None:
        self.run_airflow("db", "migrate")

    def run_init_script(self, extra: Mapping[str, str]) -> None:
        """Run scripts/airflow-init.sh, as docker-compose.yaml's airflow-init does, with ``extra`` added
        to this installation's environment (the connections it creates)."""
        self._run(
            ["bash", str(INIT_SCRIPT)], str(INIT_SCRIPT), {**self._env, **extra}, COMMAND_TIMEOUT_SECONDS
        )

    def _run(self, command: list[str], label: str, env: Mapping[str, str], timeout: float) -> str:
        """Run ``command`` (named ``label`` in logs and errors) to completion and return its combined
        output, also appended to :attr:`command_log`; raise if it fails."""
        started = time.monotonic()
        completed = subprocess.run(
            command,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        logger.info("%s (Airflow %d) took %.1f s", label, self.major_version, time.monotonic() - started)
        self.command_log.parent.mkdir(parents=True, exist_ok=True)
        with self.command_log.open("a", encoding="utf-8") as log_file:
            log_file.write(f"$ {label}\n{completed.stdout}\n")
        if completed.returncode != 0:
            raise AirflowRunError(
                f"`{label}` exited with {completed.returncode}:\n{_tail(completed.stdout)}",
                output=completed.stdout,
            )
        return completed.stdout

    def import_pools(self, pools: Mapping[str, int], description: str) -> None:
        """Create (or resize) the pools, ``name -> slots``, with one CLI call; a deferred task keeps its slot
        (``include_deferred``), as the README's pools do."""
        pools_file = self.home / "pools.json"
        pool_settings = {
            name: {"slots": slots, "description": description, "include_deferred": True}
            for name, slots in pools.items()
        }
        pools_file.write_text(json.dumps(pool_settings))
        self.run_airflow("pools", "import", str(pools_file))

    def dags_test(
        self,
        dag_id: str,
        logical_date: date,
        conf: Mapping[str, Any] | None = None,
        timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> DagRunRecord:
        """Run one DAG run in-process with ``airflow dags test``; return it, or raise with task logs."""
        args = ["dags", "test", dag_id, logical_date.isoformat()]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        try:
            self.run_airflow(*args, timeout=timeout)
        except AirflowRunError as command_failure:
            failed_runs = [
                run for run in self._runs_between(dag_id, logical_date, logical_date) if run.state == "failed"
            ]
            # `dags test` runs its tasks in-process: their logs are sections of the command's output.
            report = self._failure_report(dag_id, failed_runs, in_process_output=command_failure.output)
            raise AirflowRunError(f"{command_failure}\n{report}") from None
        runs = self._runs_between(dag_id, logical_date, logical_date)
        if not runs:
            raise AirflowRunError(f"`airflow dags test` left no run of {dag_id} at {logical_date}")
        self._raise_if_failed(dag_id, runs)
        return runs[-1]

    def backfill(
        self,
        dag_id: str,
        start: date,
        end: date,
        *,
        rerun_existing: bool = False,
        conf: Mapping[str, Any] | None = None,
        daemons: _ProcessGroup | None = None,
    ) -> list[DagRunRecord]:
        """Backfills ``dag_id`` from ``start`` to ``end`` (as the CLI reads them); returns the runs covered.

        Airflow 2.11 runs ``airflow dags backfill`` with the SequentialExecutor inside the CLI process, with
        Airflow's default configuration. Airflow 3.x writes the runs with ``airflow backfill create`` and
        then runs a scheduler, a dag-processor and the execution API until the scheduler marks the backfill
        complete (the ``daemons`` already running, if given).
        ``rerun_existing`` re-runs dates that already have runs (2.11 ``--reset-dagruns``, 3.x
        ``--reprocess-behavior completed``); without it both versions leave such dates alone.
        Raises AirflowRunError, with the failing tasks' log tails, when a covered run failed.
        """
        if self.major_version >= 3:
            runs = self._backfill_with_scheduler(dag_id, start, end, rerun_existing, conf, daemons)
        else:
            runs = self._backfill_in_process(dag_id, start, end, rerun_existing, conf)
        self._raise_if_failed(dag_id, runs)
        return runs

    def _backfill_in_process(
        self, dag_id: str, start: date, end: date, rerun_existing: bool, conf: Mapping[str, Any] | None
    ) -> list[DagRunRecord]:
        args = ["dags", "backfill", "-s", start.isoformat(), "-e", end.isoformat()]
        if rerun_existing:
            args += ["--reset-dagruns", "--yes"]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        try:
            self.run_airflow(*args, dag_id, timeout=BACKFILL_TIMEOUT_SECONDS)
        except AirflowRunError as command_failure:
            failed_runs = [run for run in self._runs_between(dag_id, start, end) if run.state == "failed"]
            raise AirflowRunError(f"{command_failure}\n{self._failure_report(dag_id, failed_runs)}") from None
        return self._runs_between(dag_id, start, end)

    def _runs_between(self, dag_id: str, start: date, end: date) -> list[DagRunRecord]:
        return [run for run in self.dag_runs(dag_id) if start <= run.logical_date.date() <= end]

    def _backfill_with_scheduler(
        self,
        dag_id: str,
        start: date,
        end: date,
        rerun_existing: bool,
        conf: Mapping[str, Any] | None,
        daemons: _ProcessGroup | None,
    ) -> list[DagRunRecord]:
        args = ["backfill", "create", "--dag-id", dag_id]
        args += ["--from-date", start.isoformat(), "--to-date", end.isoformat()]
        args += ["--reprocess-behavior", "completed" if rerun_existing else "none"]
        if conf is not None:
            args += ["--dag-run-conf", json.dumps(conf)]
        # `backfill create` reads the serialized DAG, which only a parse writes to the database.
        if daemons is None:
            # Nothing parses yet, and SQLite takes one writer at a time: parse and create the backfill
            # before the daemons start.
            self.run_airflow("dags", "reserialize")
        else:
            self.wait_for_serialized_dag(dag_id, daemons)
        # The scheduler marks a backfill complete on a fixed 30 s timer, and a DAG takes one active
        # backfill at a time: only a second backfill of the DAG waits for the first to be marked.
        earlier = self._query_one(
            "SELECT max(id) FROM backfill WHERE dag_id = ? AND completed_at IS NULL", (dag_id,)
        )
        if earlier is not None:
            with nullcontext(daemons) if daemons is not None else self.daemons() as group:
                group.wait_until(
                    lambda: self._query_one("SELECT completed_at FROM backfill WHERE id = ?", (earlier,)),
                    f"the earlier backfill {earlier} of {dag_id} to be marked complete",
                    BACKFILL_TIMEOUT_SECONDS,
                )
        self.run_airflow(*args)
        backfill_id = self._query_one("SELECT max(id) FROM backfill WHERE dag_id = ?", (dag_id,))
        with nullcontext(daemons) if daemons is not None else self.daemons() as group:
            group.wait_until(
                lambda: self._backfill_finished(backfill_id),
                f"backfill {backfill_id} of {dag_id}",
                BACKFILL_TIMEOUT_SECONDS,
            )
        return self._fetch_runs(
            f"dag_id = ? AND backfill_id = ? ORDER BY {self.logical_date_column}", (dag_id, backfill_id)
        )

    def _backfill_finished(self, backfill_id: int) -> bool:
        """Every run of the backfill has finished (or the scheduler marked it complete, as it does a
        backfill that created no run)."""
        if self._query_one("SELECT completed_at FROM backfill WHERE id = ?", (backfill_id,)):
            return True
        states = [
            state
            for (state,) in self._rows("SELECT state FROM dag_run WHERE backfill_id = ?", (backfill_id,))
        ]
        return bool(states) and all(state in TERMINAL_RUN_STATES for state in states)

    @contextmanager
    def daemons(
        self, celery_workers: Sequence[CeleryWorker] = (), triggerer: bool = False
    ) -> Iterator[_ProcessGroup]:
        """Start the long-running processes of a deployment, and stop them together on leaving the block.

        Airflow 3: the API server (tasks report to its execution API; it serves the UI at ``api_url``), a
        scheduler and a dag processor;
        Airflow 2: a scheduler, which parses the DAGs itself. With ``triggerer``, an ``airflow
        triggerer`` for deferred tasks. With ``celery_workers`` (and the CeleryExecutor in the
        environment), one ``airflow celery worker`` each, in its own working directory and temp dir,
        named by ``[core] hostname_callable``.
        """
        env = {**self._env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        airflow = str(self.venv / "bin" / "airflow")
        group = _ProcessGroup(self.home / "daemons", env)
        try:
            if self.major_version >= 3:
                api_port = free_port()
                env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{api_port}/execution/"
                api_server = [airflow, "api-server", "--workers", "1", "--host", "127.0.0.1"]
                group.start("api-server", [*api_server, "--port", str(api_port)], env)
                group.wait_for_port(api_port)
                group.api_url = f"http://127.0.0.1:{api_port}"
                group.start("dag-processor", [airflow, "dag-processor"], env)
            group.start("scheduler", [airflow, "scheduler"], env)
            if triggerer:
                group.start("triggerer", [airflow, "triggerer"], env)
            for worker in celery_workers:
                worker.temp_dir.mkdir(parents=True, exist_ok=True)
                worker_env = {
                    **env,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": WORKER_IDENTITY,
                    "SOUNDLINK_E2E_WORKER": worker.name,
                    "TMPDIR": str(worker.temp_dir),
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                }
                command = [airflow, "celery", "worker", "--concurrency", "1", "--celery-hostname"]
                group.start(worker.name, [*command, f"{worker.name}@%h"], worker_env, cwd=worker.directory)
            yield group
        finally:
            group.stop()

    @contextmanager
    def api_server(self) -> Iterator[str]:
        """Start an Airflow 3 API server alone, and stop it on leaving the block; yield its base URL."""
        port = free_port()
        group = _ProcessGroup(self.home / "api-server", self._env)
        airflow = str(self.venv / "bin" / "airflow")
        try:
            group.start(
                "api-server",
                [airflow, "api-server", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
            )
            group.wait_for_port(port)
            yield f"http://127.0.0.1:{port}"
        finally:
            group.stop()

    def trigger(
        self, dag_id: str, logical_date: date, conf: Mapping[str, Any], daemons: _ProcessGroup
    ) -> DagRunRecord:
        """Triggers a run, as a user does from the CLI or UI, and waits while ``daemons`` run it."""
        self.wait_for_serialized_dag(dag_id, daemons)
        run_id = f"manual__{logical_date.isoformat()}__{secrets.token_hex(4)}"
        date_flag = "--logical-date" if self.major_version >= 3 else "--exec-date"
        when = datetime(logical_date.year, logical_date.month, logical_date.day, tzinfo=UTC)
        args = ["dags", "trigger", dag_id, "--run-id", run_id, date_flag, when.isoformat()]
        self.run_airflow(*args, "--conf", json.dumps(conf))
        return self.wait_for_run(dag_id, run_id, daemons)

    def wait_for_run(self, dag_id: str, run_id: str, daemons: _ProcessGroup) -> DagRunRecord:
        """Wait while ``daemons`` run ``run_id`` (however it was triggered) to its end; raise with the failed
        tasks' logs if it failed."""

        def finished() -> bool:
            runs = self._fetch_runs("dag_id = ? AND run_id = ?", (dag_id, run_id))
            return bool(runs) and runs[0].state in TERMINAL_RUN_STATES

        daemons.wait_until(finished, f"run {run_id} of {dag_id}", RUN_TIMEOUT_SECONDS)
        runs = self._fetch_runs("dag_id = ? AND run_id = ?", (dag_id, run_id))
        self._raise_if_failed(dag_id, runs)
        return runs[0]

    def wait_for_serialized_dag(self, dag_id: str, daemons: _ProcessGroup) -> None:
        """Wait until the daemons' DAG parsing has written ``dag_id`` to the database, which triggering a run
        and ``backfill create`` read. (``airflow dags reserialize`` beside a running parser races it for the
        same rows: on PostgreSQL one of the two then fails on a duplicate key.)

        Both rows: Airflow 2.11 writes ``serialized_dag``, commits while syncing the DAG's permissions,
        and only then writes the ``dag`` row that ``dags trigger`` looks the DAG up in."""
        daemons.wait_until(
            lambda: self._query_one(
                "SELECT count(*) FROM serialized_dag JOIN dag ON dag.dag_id = serialized_dag.dag_id"
                " WHERE serialized_dag.dag_id = ?",
                (dag_id,),
            ),
            f"the first parse of {dag_id}",
            PARSE_TIMEOUT_SECONDS,
        )

    def xcom_values(self, dag_id: str, run_id: str, key: str) -> dict[str, Any]:
        """``task_id -> value`` of one XCom key in one run (stored as JSON by both versions)."""
        rows = self._rows(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = ?",
            (dag_id, run_id, key),
        )
        return {task_id: json.loads(value) for task_id, value in rows}

    def task_hosts(self, dag_id: str, run_id: str) -> dict[str, str]:
        """``task_id -> hostname`` of one run's task instances: where each ran."""
        rows = self._rows(
            "SELECT task_id, hostname FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        )
        return {task_id: hostname for task_id, hostname in rows}

    def dag_runs(self, dag_id: str) -> list[DagRunRecord]:
        """All runs of ``dag_id``, ordered by logical date."""
        return self._fetch_runs(f"dag_id = ? ORDER BY {self.logical_date_column}, id", (dag_id,))

    def task_instance_count(self, dag_id: str, run_id: str) -> int:
        """How many task instances one run of ``dag_id`` had."""
        count: int = self._query_one(
            "SELECT count(*) FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        )
        return count

    def _fetch_runs(self, where: str, parameters: Sequence[object]) -> list[DagRunRecord]:
        query = (
            f"SELECT run_id, run_type, state, {self.logical_date_column}, data_interval_start, "
            f"data_interval_end FROM dag_run WHERE {where}"
        )
        rows = self._rows(query, parameters)
        return [
            DagRunRecord(
                run_id=run_id,
                run_type=run_type,
                state=state,
                logical_date=_parse_db_timestamp(logical_date),
                data_interval_start=_parse_db_timestamp(interval_start),
                data_interval_end=_parse_db_timestamp(interval_end),
            )
            for run_id, run_type, state, logical_date, interval_start, interval_end in rows
        ]

    def _query_one(self, query: str, parameters: Sequence[object]) -> Any:
        rows = self._rows(query, parameters)
        return rows[0][0] if rows else None

    def _rows(self, query: str, parameters: Sequence[object]) -> list[tuple[Any, ...]]:
        """Fetch the rows of one query, written with ``?`` placeholders, on SQLite or PostgreSQL."""
        if self.database_url.startswith("sqlite"):
            with closing(
                sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
            ) as connection:
                return connection.execute(query, tuple(parameters)).fetchall()
        import psycopg2  # only the PostgreSQL tiers need it; the Airflow 3 environment has it

        dsn = self.database_url.replace("postgresql+psycopg2://", "postgresql://")
        with closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cursor:
            cursor.execute(query.replace("?", "%s"), tuple(parameters))
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int = LOG_TAIL_LINES) -> str:
        """Return the end of the most recently written attempt log of one task, or a note that none exists."""
        task_dir = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        attempts = sorted(task_dir.glob("**/attempt=*.log"), key=lambda path: path.stat().st_mtime)
        if not attempts:
            return f"(no log file under {task_dir})"
        return _tail(attempts[-1].read_text(encoding="utf-8", errors="replace"), lines)

    def _raise_if_failed(self, dag_id: str, runs: Sequence[DagRunRecord]) -> None:
        failed_runs = [run for run in runs if run.state == "failed"]
        if failed_runs:
            raise AirflowRunError(self._failure_report(dag_id, failed_runs))

    def _failure_report(
        self, dag_id: str, failed_runs: Sequence[DagRunRecord], in_process_output: str = ""
    ) -> str:
        sections = []
        for run in failed_runs:
            failed_tasks = self._rows(
                "SELECT DISTINCT task_id FROM task_instance WHERE dag_id = ? AND run_id = ? AND state IN "
                f"({', '.join('?' for _ in FAILED_TASK_STATES)}) ORDER BY task_id",
                (dag_id, run.run_id, *FAILED_TASK_STATES),
            )
            for (task_id,) in failed_tasks:
                log_tail = _in_process_task_log(in_process_output, task_id) or self.task_log_tail(
                    dag_id, run.run_id, task_id
                )
                sections.append(f"--- {dag_id}.{task_id} in {run.run_id} failed; log tail:\n{log_tail}")
        return f"{len(failed_runs)} run(s) of {dag_id} failed:\n" + "\n".join(sections)


class _ProcessGroup:
    """Airflow daemons sharing one process group, so their workers can be stopped with them by group id."""

    def __init__(self, log_dir: Path, env: Mapping[str, str]):
        self._log_dir = log_dir
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._env = dict(env)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._group_id: int | None = None
        self.api_url: str | None = None
        """The API server's (and the UI's) base URL, where the group runs one."""

    def _log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def start(
        self, name: str, command: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        with self._log_path(name).open("ab") as log_file:
            # A new group in this session: setpgid cannot join a group of another session (setsid).
            process = subprocess.Popen(
                command,
                env=dict(env) if env is not None else self._env,
                cwd=cwd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                process_group=0 if self._group_id is None else self._group_id,
            )
        if self._group_id is None:
            self._group_id = process.pid
        self._processes[name] = process

    def wait_for_port(self, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.raise_if_exited()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AirflowRunError(f"nothing listens on port {port} after {timeout} s:\n{self.all_log_tails()}")

    def wait_until(self, done: Callable[[], object], what: str, timeout: float) -> None:
        """Poll ``done`` while the daemons run; raise with their log tails if one exits or time runs out."""
        started = time.monotonic()
        while not done():
            self.raise_if_exited()
            if time.monotonic() - started > timeout:
                raise AirflowRunError(f"{what} unfinished after {timeout} s:\n{self.all_log_tails()}")
            time.sleep(POLL_INTERVAL_SECONDS)
        logger.info("%s took %.1f s", what, time.monotonic() - started)

    def raise_if_exited(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise AirflowRunError(
                    f"airflow {name} exited early with {process.returncode}:\n{self.log_tail(name)}"
                )

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def log(self, name: str) -> str:
        return self._log_path(name).read_text(encoding="utf-8", errors="replace")

    def log_tail(self, name: str) -> str:
        return _tail(self.log(name))

    def all_log_tails(self) -> str:
        return "\n".join(f"--- {name}:\n{self.log_tail(name)}" for name in self._processes)

    def stop(self) -> None:
        """SIGTERM to the whole group, then SIGKILL to whatever outlives the grace period."""
        if self._group_id is None:
            return
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for process in self._processes.values():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
        self._signal_group(signal.SIGKILL)
        for process in self._processes.values():
            process.wait()

    def _signal_group(self, signal_number: signal.Signals) -> None:
        assert self._group_id is not None
        with suppress(ProcessLookupError):
            os.killpg(self._group_id, signal_number)


def day_interval(day: date) -> tuple[datetime, datetime]:
    """Return the UTC day [day, day + 1) as a pair of aware datetimes."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)
