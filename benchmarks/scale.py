"""The daily DAG at agency scale: ``make bench-scale``.

Runs ``soundlink_metrics_daily`` once under ``airflow dags test`` (Airflow 3) against a sandbox account of
``--campaigns`` campaigns (3,000 by default, most of them ended long ago), fake-gcs-server and
local-bigquery, without ``campaign_ids``, so the DAG lists the campaigns and skips those that cannot have
rows. Then it checks the tables against the sandbox's truth and records:

- wall time of the run;
- task instances of the run, against ``1 + 2 x shards + 2 + 3`` (the plan, the export shards, the
  MERGEs, and the link-stats check with its two tasks, skipped): fixed by configuration, whatever the
  number of campaigns;
- API calls, against the campaign-list pages plus one export call per export and campaign that can
  have rows;
- MERGE jobs, against one per export.

With ``--backfill``, it runs ``soundlink_metrics_backfill`` instead: ``--backfill-years`` of history
(3 by default) for ``--backfill-campaigns`` explicit campaigns (200 by default: the six fixed ones and
the first generated ones), checked against the truth the same way, with one MERGE per export.

Results are appended to ``benchmarks/RESULTS.md`` with the machine and the date. Exits 1 if a target is
missed. Run with the Airflow 3 environment: ``.venvs/af3/bin/python benchmarks/scale.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# benchmarks/run.py: Python puts a script's own folder first on sys.path.
from run import RESULTS, machine

import soundlink_stand_ins as stand_ins
from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS
from airflow_provider_soundlink.core.windows import DateWindow, slice_date_range
from airflow_provider_soundlink.dag_factory import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    campaigns_with_possible_rows,
    revision_window,
)
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.airflow_runner import AirflowEnvironment
from soundlink_stand_ins.paths import AIRFLOW3_VENV
from soundlink_stand_ins.pipeline import DAGS_FOLDER, POOLS, Warehouse, dag_settings

REPO_ROOT = Path(__file__).resolve().parents[1]

TODAY = dt.date(2026, 6, 15)
PROJECT = stand_ins.DEFAULT_PROJECT
DAILY_DAG = "soundlink_metrics_daily"
BACKFILL_DAG = "soundlink_metrics_backfill"
# A long backfill runs thousands of export calls and loads about a million rows into the emulator.
BACKFILL_TIMEOUT_SECONDS = 3600
EXPORT_SHARDS = 4
LINK_STATS_TASKS = 3
"""plan_link_stats, which skips export_link_stats and merge_link_stats: no groupings are configured."""
CAMPAIGNS_PAGE_SIZE = 100
DATASET = "soundlink_scale"
BUCKET = "soundlink-scale"


@contextmanager
def gcp_emulators(data_dir: Path) -> Iterator[tuple[str, str]]:
    started = []
    try:
        gcs = stand_ins.start_fake_gcs(data_dir)
        started.append(gcs)
        bigquery = stand_ins.start_local_bigquery(data_dir, gcs.url, PROJECT)
        started.append(bigquery)
        yield gcs.url, bigquery.url
    finally:
        for service in reversed(started):
            stand_ins.stop_process_group(service.pid)


@contextmanager
def running_stand_ins(work: Path, campaign_count: int) -> Iterator[tuple[AirflowEnvironment, SandboxProcess]]:
    """Start the emulators, a sandbox of ``campaign_count`` campaigns and a migrated Airflow 3 home over them,
    and stop them on leaving."""
    with gcp_emulators(work) as (gcs_url, bigquery_url):
        google = {
            "STORAGE_EMULATOR_HOST": gcs_url,
            "BIGQUERY_EMULATOR_HOST": bigquery_url,
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": stand_ins.google_connection_json(PROJECT),
        }
        os.environ.update(google)
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        GCSHook().create_bucket(bucket_name=BUCKET, project_id=PROJECT)
        with SandboxProcess(today=TODAY, campaigns=campaign_count) as sandbox:
            settings = {
                **google,
                "AIRFLOW_CONN_SOUNDLINK_DEFAULT": stand_ins.soundlink_connection_json(sandbox.base_url),
                **dag_settings(project=PROJECT, dataset=DATASET, bucket=BUCKET, export_shards=EXPORT_SHARDS),
            }
            airflow = AirflowEnvironment(AIRFLOW3_VENV, work / "airflow", DAGS_FOLDER, settings)
            airflow.migrate()
            airflow.import_pools(POOLS, "scale benchmark")
            sandbox.reset()
            yield airflow, sandbox


def merge_jobs() -> int:
    from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

    client = BigQueryHook(use_legacy_sql=False).get_client(project_id=PROJECT)
    return sum(
        1
        for job in client.list_jobs(project=PROJECT)
        if job.job_type == "query" and str(getattr(job, "query", "")).lstrip().startswith("MERGE")
    )


def daily(campaign_count: int) -> tuple[list[str], dict[str, bool]]:
    truth = SandboxData(campaigns=campaign_count)
    window = revision_window(TODAY - dt.timedelta(days=1), 7)
    listed = truth.campaigns(TODAY)
    choice = campaigns_with_possible_rows(listed, window, DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS)
    with (
        tempfile.TemporaryDirectory(prefix="soundlink-scale-") as work,
        running_stand_ins(Path(work), campaign_count) as (airflow, sandbox),
    ):
        started = time.monotonic()
        run = airflow.dags_test(DAILY_DAG, TODAY, {"campaign_ids": []})
        seconds = time.monotonic() - started
        api_calls = len(sandbox.requests_log())
        task_instances = airflow.task_instance_count(DAILY_DAG, run.run_id)
        counts = Warehouse(PROJECT, DATASET).assert_matches_truth(choice.chosen, window, TODAY, truth)
        merges = merge_jobs()
    pages = math.ceil(campaign_count / CAMPAIGNS_PAGE_SIZE)
    expected_calls = pages + len(CAMPAIGN_EXPORTS) * len(choice.chosen)
    expected_tasks = 1 + len(CAMPAIGN_EXPORTS) * EXPORT_SHARDS + len(CAMPAIGN_EXPORTS) + LINK_STATS_TASKS
    checks = {
        f"task instances = {expected_tasks} (1 plan + {EXPORT_SHARDS} shards x 2 exports + 2 MERGEs + "
        f"{LINK_STATS_TASKS} link-stats tasks, skipped but for their check)": (
            task_instances == expected_tasks
        ),
        f"API calls = {expected_calls} ({pages} list pages + 2 x {len(choice.chosen)} campaigns with rows)": (
            api_calls == expected_calls
        ),
        f"MERGE jobs = {len(CAMPAIGN_EXPORTS)}": merges == len(CAMPAIGN_EXPORTS),
    }
    lines = [
        f"`make bench-scale`: one `airflow dags test {DAILY_DAG} {TODAY}` (Airflow 3, {EXPORT_SHARDS} export "
        f"shards) over a sandbox account of {campaign_count:,} campaigns, window {window}.",
        "",
        "| campaigns listed | can have rows | skipped (ended) | wall s | task instances | API calls | "
        "MERGEs | rows loaded |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(listed):,} | {len(choice.chosen)} | {len(choice.ended_before):,} | {seconds:.0f} | "
        f"{task_instances} | {api_calls} | {merges} | {sum(counts.values()):,} |",
    ]
    return lines, checks


def backfill(campaign_count: int, years: int) -> tuple[list[str], dict[str, bool]]:
    truth = SandboxData(campaigns=max(campaign_count, 6))
    window = DateWindow(TODAY - dt.timedelta(days=365 * years), TODAY - dt.timedelta(days=1))
    campaign_ids = truth.campaign_ids()[:campaign_count]
    conf = {
        "campaign_ids": campaign_ids,
        "start_date": window.start.isoformat(),
        "end_date": window.end.isoformat(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="soundlink-scale-") as work,
        running_stand_ins(Path(work), campaign_count) as (airflow, sandbox),
    ):
        started = time.monotonic()
        run = airflow.dags_test(BACKFILL_DAG, TODAY, conf, timeout=BACKFILL_TIMEOUT_SECONDS)
        seconds = time.monotonic() - started
        api_calls = len(sandbox.requests_log())
        task_instances = airflow.task_instance_count(BACKFILL_DAG, run.run_id)
        counts = Warehouse(PROJECT, DATASET).assert_matches_truth(campaign_ids, window, TODAY, truth)
        merges = merge_jobs()
    slices = len(list(slice_date_range(window.start, window.end)))
    checks = {
        f"API calls = {len(CAMPAIGN_EXPORTS)} x {campaign_count} campaigns x {slices} slices": (
            api_calls == len(CAMPAIGN_EXPORTS) * campaign_count * slices
        ),
        f"MERGE jobs = {len(CAMPAIGN_EXPORTS)}": merges == len(CAMPAIGN_EXPORTS),
    }
    lines = [
        f"`make bench-scale BACKFILL=1`: one `airflow dags test {BACKFILL_DAG}` (Airflow 3, {EXPORT_SHARDS} "
        f"export shards) for {campaign_count} campaigns over {window} ({years} years, {slices} slices).",
        "",
        "| campaigns | wall s | task instances | API calls | MERGEs | rows loaded |",
        "|---|---|---|---|---|---|",
        f"| {campaign_count} | {seconds:.0f} | {task_instances} | {api_calls:,} | {merges} | "
        f"{sum(counts.values()):,} |",
    ]
    return lines, checks


def main(arguments: argparse.Namespace) -> int:
    if arguments.backfill:
        lines, checks = backfill(arguments.backfill_campaigns, arguments.backfill_years)
    else:
        lines, checks = daily(arguments.campaigns)
    report = "\n".join(
        [
            f"## Scale: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}",
            "",
            *lines,
            "",
            *(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()),
            "- PASS: both tables equal the sandbox's truth",
            "",
        ]
    )
    print(report)
    with RESULTS.open("a") as results:
        results.write(report + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=3000, help="campaigns in the sandbox account")
    parser.add_argument("--backfill", action="store_true", help="run the backfill DAG over years instead")
    parser.add_argument("--backfill-campaigns", type=int, default=200, help="campaigns of the backfill")
    parser.add_argument("--backfill-years", type=int, default=3, help="years of history of the backfill")
    sys.exit(main(parser.parse_args()))
