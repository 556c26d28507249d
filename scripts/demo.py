"""The whole pipeline on local stand-ins, with real Airflow 3: ``make demo``.

Starts the Soundlink sandbox (its "today" fixed, so the output is always the same), fake-gcs-server and
local-bigquery on 127.0.0.1, prepares a throw-away Airflow home over the repository's ``dags/``, then:

1. ``airflow dags test soundlink_metrics_daily`` for the sandbox's today; Airflow 3 gives this manual run
   the data interval that ended then, [yesterday, today), so it loads yesterday (the last closed day) and
   the 7 days before it;
2. ``airflow dags test soundlink_metrics_backfill`` over 120 days (two 90-day-or-less export slices per
   campaign, one MERGE per export);
3. prints what landed in BigQuery, and draws it (daily streams and spend per campaign) into
   ``.run/demo/soundlink-demo.png``.

Everything it started is stopped on the way out, also after a failure or Ctrl-C. Run it with the Airflow 3
environment's interpreter: ``.venvs/af3/bin/python scripts/demo.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import soundlink_stand_ins as stand_ins
from soundlink_stand_ins.chart import write_chart

REPO_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_TODAY = dt.date(2026, 6, 15)
LAST_CLOSED_DAY = SANDBOX_TODAY - dt.timedelta(days=1)
BACKFILL_START = dt.date(2026, 1, 1)
BACKFILL_END = dt.date(2026, 4, 30)
PROJECT = stand_ins.DEFAULT_PROJECT
DATASET = "soundlink_demo"
CHART = REPO_ROOT / ".run" / "demo" / "soundlink-demo.png"
BUCKET = "soundlink-demo"
POOLS = {
    "soundlink_api": (2, "concurrent Soundlink API calls"),
    "soundlink_bigquery_merge": (1, "one MERGE at a time into the Soundlink tables"),
}


class DemoError(RuntimeError):
    """A step failed; the message says which and ends with the tail of its log."""


class Demo:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.airflow_home = work_dir / "airflow"
        self.logs = work_dir / "logs"
        self.logs.mkdir(parents=True)
        self.started: list[stand_ins.RunningService] = []
        self.airflow_env: dict[str, str] = {}
        self.gcs_url = ""

    # Steps --------------------------------------------------------------------------------------------

    def start_services(self) -> None:
        gcs = self._started(stand_ins.start_fake_gcs(self.work_dir))
        bigquery = self._started(stand_ins.start_local_bigquery(self.work_dir, gcs.url, PROJECT))
        sandbox = self._started(stand_ins.start_sandbox(self.work_dir, today=SANDBOX_TODAY.isoformat()))
        self.gcs_url = gcs.url
        venv_bin = str(Path(sys.executable).parent)
        self.airflow_env = {
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "STORAGE_EMULATOR_HOST": gcs.url,
            "BIGQUERY_EMULATOR_HOST": bigquery.url,
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": stand_ins.google_connection_json(PROJECT),
            "AIRFLOW_CONN_SOUNDLINK_DEFAULT": stand_ins.soundlink_connection_json(sandbox.url),
            "SOUNDLINK_BIGQUERY_PROJECT": PROJECT,
            "SOUNDLINK_BIGQUERY_DATASET": DATASET,
            "SOUNDLINK_GCS_BUCKET": BUCKET,
        }
        for service in self.started:
            print(f"    {service.name:<15} {service.url}  (pid {service.pid})")

    def create_bucket(self) -> None:
        request = urllib.request.Request(
            f"{self.gcs_url}/storage/v1/b?project={PROJECT}",
            data=json.dumps({"name": BUCKET}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def prepare_airflow(self) -> None:
        self.airflow("db-migrate", "db", "migrate")
        for name, (slots, description) in POOLS.items():
            self.airflow(f"pool-{name}", "pools", "set", name, str(slots), description)

    def airflow(self, label: str, *arguments: str) -> None:
        """Run one Airflow CLI command in a process group of its own, logging to ``logs/<label>.log``."""
        log_path = self.logs / f"{label}.log"
        command = [str(Path(sys.executable).parent / "airflow"), *arguments]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.airflow_env},
                start_new_session=True,
            )
            try:
                returncode = process.wait()
            finally:
                # Reached with the command still running only on Ctrl-C or another interruption.
                stand_ins.stop_process_group(process.pid)
        if returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise DemoError(
                f"`airflow {' '.join(arguments)}` exited with {returncode}; log {log_path}:\n{tail}"
            )
        if "state=failed" in log_path.read_text(errors="replace"):
            raise DemoError(f"`airflow {' '.join(arguments)}` reports a failed run; see {log_path}")

    def report(self) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        os.environ["BIGQUERY_EMULATOR_HOST"] = self.airflow_env["BIGQUERY_EMULATOR_HOST"]
        client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials())

        def rows(sql: str) -> list[bigquery.Row]:
            return list(client.query(sql).result())

        print("\n    table                       rows  campaigns  first day   last day")
        for table in ("campaign_country_daily", "campaign_engagement_daily"):
            (summary,) = rows(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT campaign_id) AS campaigns, MIN(report_date) AS first,"
                f" MAX(report_date) AS last FROM `{PROJECT}.{DATASET}.{table}`"
            )
            print(f"    {table:<26} {summary.n:>5}  {summary.campaigns:>9}  {summary.first}  {summary.last}")
        print("\n    campaign                              days  spend_total (USD)     streams")
        per_campaign = rows(
            "SELECT campaign_id, COUNT(DISTINCT report_date) AS days, SUM(spend_total) AS spend,"
            f" SUM(streams) AS streams FROM `{PROJECT}.{DATASET}.campaign_country_daily`"
            " GROUP BY campaign_id ORDER BY campaign_id"
        )
        for row in per_campaign:
            print(f"    {row.campaign_id:<36} {row.days:>5}  {row.spend:>17,.2f}  {row.streams:>10,}")
        total_spend = sum(row.spend for row in per_campaign)
        total_streams = sum(row.streams for row in per_campaign)
        print(f"    {'all campaigns':<36} {'':>5}  {total_spend:>17,.2f}  {total_streams:>10,}")
        daily = rows(
            "SELECT campaign_id, report_date, SUM(streams) AS streams, SUM(spend_total) AS spend"
            f" FROM `{PROJECT}.{DATASET}.campaign_country_daily` GROUP BY campaign_id, report_date"
        )
        title = f"Soundlink campaigns in {PROJECT}.{DATASET}.campaign_country_daily"
        chart = write_chart((dict(row.items()) for row in daily), CHART, title)
        print(f"\n    chart of daily streams and spend per campaign: {chart}")

    def stop(self) -> None:
        for service in reversed(self.started):
            stand_ins.stop_process_group(service.pid)
        self.started.clear()

    def _started(self, service: stand_ins.RunningService) -> stand_ins.RunningService:
        self.started.append(service)
        return service


def step(title: str) -> float:
    print(f"==> {title}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    done in {time.monotonic() - started:.1f} s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, data) afterwards")
    args = parser.parse_args(argv)
    begin = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="soundlink-demo-"))
    demo = Demo(work_dir)
    succeeded = False
    try:
        started = step(f"Starting the sandbox (today {SANDBOX_TODAY}), fake-gcs-server and local-bigquery")
        demo.start_services()
        demo.create_bucket()
        done(started)
        started = step("Preparing Airflow: db migrate, pools")
        demo.prepare_airflow()
        done(started)
        started = step(
            f"airflow dags test soundlink_metrics_daily {SANDBOX_TODAY}"
            f" (report dates {LAST_CLOSED_DAY - dt.timedelta(days=7)}..{LAST_CLOSED_DAY})"
        )
        demo.airflow("dags-test-daily", "dags", "test", "soundlink_metrics_daily", SANDBOX_TODAY.isoformat())
        done(started)
        conf = {"start_date": BACKFILL_START.isoformat(), "end_date": BACKFILL_END.isoformat()}
        started = step(
            f"airflow dags test soundlink_metrics_backfill (report dates {BACKFILL_START}..{BACKFILL_END},"
            f" {(BACKFILL_END - BACKFILL_START).days + 1} days)"
        )
        demo.airflow(
            "dags-test-backfill",
            "dags", "test", "soundlink_metrics_backfill", SANDBOX_TODAY.isoformat(),
            "--conf", json.dumps(conf),
        )  # fmt: skip
        done(started)
        step(f"What landed in BigQuery ({PROJECT}.{DATASET})")
        demo.report()
        succeeded = True
    except (DemoError, stand_ins.ServiceError) as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        demo.stop()
        if succeeded and not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            print(f"work directory kept: {work_dir}", file=sys.stderr)
    print(f"\n{'demo finished' if succeeded else 'demo FAILED'} in {time.monotonic() - begin:.0f} s")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
