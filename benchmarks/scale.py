"""The daily DAG at agency scale: ``make bench-scale``.

Runs ``soundlink_metrics_daily`` once under ``airflow dags test`` (Airflow 3) against a sandbox account of
``--campaigns`` campaigns (3,000 by default, most of them ended long ago), fake-gcs-server and
local-bigquery, without ``campaign_ids``, so the DAG lists the campaigns and skips those that cannot have
rows. Then it checks the tables against the sandbox's truth and records:

- wall time of the run;
- task instances of the run, against ``1 + 2 x shards + 2`` (the plan, the export shards, the MERGEs):
  fixed by configuration, whatever the number of campaigns;
- API calls, against the campaign-list pages plus one export call per export and campaign that can
  have rows;
- MERGE jobs, against one per export.

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

REPO_ROOT = Path(__file__).resolve().parents[1]
# The end-to-end tests' harness drives Airflow's CLI and reads its database: the same code, reused.
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "scripts"), str(REPO_ROOT / "benchmarks")]

import services  # noqa: E402  (scripts/services.py)
from e2e.airflow_runner import AIRFLOW3_VENV, AirflowEnvironment  # noqa: E402
from e2e.dags_support import DAGS_FOLDER, POOLS, Warehouse, dag_settings  # noqa: E402
from run import RESULTS, machine  # noqa: E402  (benchmarks/run.py)

from airflow_provider_soundlink.example_dags_support import (  # noqa: E402
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    campaigns_with_possible_rows,
    revision_window,
)
from airflow_provider_soundlink.exports import CAMPAIGN_EXPORTS  # noqa: E402
from airflow_provider_soundlink.sandbox.data import SandboxData  # noqa: E402
from airflow_provider_soundlink.sandbox.testing import SandboxProcess  # noqa: E402

TODAY = dt.date(2026, 6, 15)
PROJECT = services.DEFAULT_PROJECT
DAILY_DAG = "soundlink_metrics_daily"
EXPORT_SHARDS = 4
CAMPAIGNS_PAGE_SIZE = 100


@contextmanager
def gcp_emulators(data_dir: Path) -> Iterator[tuple[str, str]]:
    started = []
    try:
        gcs = services.start_fake_gcs(data_dir)
        started.append(gcs)
        bigquery = services.start_local_bigquery(data_dir, gcs.url, PROJECT)
        started.append(bigquery)
        yield gcs.url, bigquery.url
    finally:
        for service in reversed(started):
            services.stop_process_group(service.pid)


def main(campaign_count: int) -> int:
    truth = SandboxData(campaigns=campaign_count)
    window = revision_window(TODAY - dt.timedelta(days=1), 7)
    listed = truth.campaigns(TODAY)
    choice = campaigns_with_possible_rows(listed, window, DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS)
    with tempfile.TemporaryDirectory(prefix="soundlink-scale-") as work, gcp_emulators(Path(work)) as urls:
        gcs_url, bigquery_url = urls
        os.environ.update(
            {
                "STORAGE_EMULATOR_HOST": gcs_url,
                "BIGQUERY_EMULATOR_HOST": bigquery_url,
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": services.google_connection_json(PROJECT),
            }
        )
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        GCSHook().create_bucket(bucket_name="soundlink-scale", project_id=PROJECT)
        with SandboxProcess(today=TODAY, campaigns=campaign_count) as sandbox:
            settings = {
                "STORAGE_EMULATOR_HOST": gcs_url,
                "BIGQUERY_EMULATOR_HOST": bigquery_url,
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": services.google_connection_json(PROJECT),
                "AIRFLOW_CONN_SOUNDLINK_DEFAULT": services.soundlink_connection_json(sandbox.base_url),
                **dag_settings(
                    project=PROJECT,
                    dataset="soundlink_scale",
                    bucket="soundlink-scale",
                    export_shards=EXPORT_SHARDS,
                ),
            }
            airflow = AirflowEnvironment(AIRFLOW3_VENV, Path(work) / "airflow", DAGS_FOLDER, settings)
            airflow.migrate()
            airflow.import_pools(POOLS, "scale benchmark")
            sandbox.reset()
            started = time.monotonic()
            run = airflow.dags_test(DAILY_DAG, TODAY, {"campaign_ids": []})
            seconds = time.monotonic() - started
            api_calls = sandbox.requests_log()
        task_instances = airflow.task_instance_count(DAILY_DAG, run.run_id)
        warehouse = Warehouse(PROJECT, "soundlink_scale")
        counts = warehouse.assert_matches_truth(choice.chosen, window, TODAY, truth)
        client = BigQueryHook(use_legacy_sql=False).get_client(project_id=PROJECT)
        merges = sum(
            1
            for job in client.list_jobs(project=PROJECT)
            if job.job_type == "query" and str(getattr(job, "query", "")).lstrip().startswith("MERGE")
        )

    pages = math.ceil(campaign_count / CAMPAIGNS_PAGE_SIZE)
    expected_calls = pages + len(CAMPAIGN_EXPORTS) * len(choice.chosen)
    expected_tasks = 1 + len(CAMPAIGN_EXPORTS) * EXPORT_SHARDS + len(CAMPAIGN_EXPORTS)
    checks = {
        f"task instances = {expected_tasks} (1 plan + {EXPORT_SHARDS} shards x 2 exports + 2 MERGEs)": (
            task_instances == expected_tasks
        ),
        f"API calls = {expected_calls} ({pages} list pages + 2 x {len(choice.chosen)} campaigns with rows)": (
            len(api_calls) == expected_calls
        ),
        f"MERGE jobs = {len(CAMPAIGN_EXPORTS)}": merges == len(CAMPAIGN_EXPORTS),
    }
    lines = [
        f"## Scale: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        f"`make bench-scale`: one `airflow dags test {DAILY_DAG} {TODAY}` (Airflow 3, {EXPORT_SHARDS} export "
        f"shards) over a sandbox account of {campaign_count:,} campaigns, window {window}.",
        "",
        "| campaigns listed | can have rows | skipped (ended) | wall s | task instances | API calls | "
        "MERGEs | rows loaded |",
        "|---|---|---|---|---|---|---|---|",
        f"| {len(listed):,} | {len(choice.chosen)} | {len(choice.ended_before):,} | {seconds:.0f} | "
        f"{task_instances} | {len(api_calls)} | {merges} | {sum(counts.values()):,} |",
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()),
        "- PASS: both tables equal the sandbox's truth",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    with RESULTS.open("a") as results:
        results.write(report + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=3000, help="campaigns in the sandbox account")
    sys.exit(main(parser.parse_args().campaigns))
