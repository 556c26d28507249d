"""What parsing the example DAG files costs on top of Airflow: ``make bench-parse``.

Airflow's dag processor re-parses every DAG file continuously, in a process that has Airflow loaded
already. So each file is parsed in a fresh interpreter that first imports Airflow, then parses the file
the way a DagBag does (timed: wall seconds and resident memory added), ``--repeat`` times; the table
shows medians. The reference is a DAG file that imports only Airflow (one DAG, one task). Target: each
example DAG file costs at most ``MAX_EXTRA_SECONDS`` more than the reference.

Before the parse, each process also resolves one ``bigquery://`` asset URI, timed and reported apart:
Airflow resolves any asset URI through every installed provider's asset handlers, which imports the
google provider's hooks (over a second, about 45 MiB) whatever the DAG's own code does, once per process.
The example DAGs' MERGE tasks declare their tables as such assets, so a process that parses them pays it
once: Airflow's price for URI assets, not the provider's, and too variable between runs (1.3 to 1.9 s
here) to sit inside a 0.3 s comparison.

Results are appended to ``benchmarks/RESULTS.md`` with the machine and the date. Exits 1 if a target is
missed. Run with the Airflow 3 environment: ``.venvs/af3/bin/python benchmarks/parse.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/run.py: Python puts a script's own folder first on sys.path.
from run import RESULTS, machine

REPO_ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))
MAX_EXTRA_SECONDS = 0.3
REFERENCE_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("reference", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
"""
REFERENCE = "reference_dag.py"
# The example DAGs read their settings from the environment when parsed.
DAG_ENVIRONMENT = {
    "SOUNDLINK_BIGQUERY_PROJECT": "my-project",
    "SOUNDLINK_GCS_BUCKET": "my-bucket",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmRSS")


def child(path: str) -> None:
    """Parse one DAG file in this fresh process, Airflow already imported, and print the figures."""
    # Airflow itself: loaded in the dag processor already. LOAD_EXAMPLES is off in the environment.
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Asset

    started = time.perf_counter()
    Asset("bigquery://my-project/soundlink/table")
    asset_seconds = time.perf_counter() - started
    before = rss_mib()
    started = time.perf_counter()
    bag = DagBag(dag_folder=path, safe_mode=False)
    seconds = time.perf_counter() - started
    if bag.import_errors or not bag.dags:
        raise SystemExit(f"{path} did not parse: {bag.import_errors}")
    print(json.dumps({"seconds": seconds, "added_mib": rss_mib() - before, "asset_seconds": asset_seconds}))


def parse_in_child(path: Path, home: Path) -> dict[str, float]:
    env = {**os.environ, **DAG_ENVIRONMENT, "AIRFLOW_HOME": str(home)}
    command = [sys.executable, __file__, "--child", str(path)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main(repeat: int) -> int:
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="soundlink-parse-") as scratch:
        reference = Path(scratch) / REFERENCE
        reference.write_text(REFERENCE_DAG)
        for path in (reference, *DAG_FILES):
            runs = [parse_in_child(path, Path(scratch) / "airflow") for _ in range(repeat)]
            figures[path.name] = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    base = figures[REFERENCE]["seconds"]
    checks = {
        f"{name}: {f['seconds'] - base:+.2f} s against {REFERENCE} (target <= +{MAX_EXTRA_SECONDS})": (
            f["seconds"] - base <= MAX_EXTRA_SECONDS
        )
        for name, f in figures.items()
        if name != REFERENCE
    }
    lines = [
        f"## Parse: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        f"`make bench-parse`: one DagBag parse per fresh process with Airflow imported, medians of {repeat}.",
        "",
        "| DAG file | parse s | memory added MiB | first asset URI resolved before it, s |",
        "|---|---|---|---|",
        *(
            f"| {name} | {f['seconds']:.2f} | {f['added_mib']:.0f} | {f['asset_seconds']:.2f} |"
            for name, f in figures.items()
        ),
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()),
        "",
    ]
    report = "\n".join(lines)
    print(report)
    with RESULTS.open("a") as results:
        results.write("\n" + report)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child)
    else:
        sys.exit(main(options.repeat))
