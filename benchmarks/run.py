"""Export throughput and memory benchmark: ``make bench``.

Streams one 90-day engagement export of a running sandbox campaign through
``SoundlinkHook.download_export`` at two sandbox scales, each in a fresh child process so that its peak
resident memory is its own, and checks two targets:

- throughput: at least ``MIN_ROWS_PER_SECOND`` rows per second at the large scale;
- flat memory: the client's peak RSS grows by at most ``MAX_RSS_GROWTH_MIB`` from the small export to
  the large one (about ten times the rows).

Results are appended to ``benchmarks/RESULTS.md`` with the machine and the date. Exits 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_soundlink.sandbox.data import SandboxData
from airflow_provider_soundlink.sandbox.keys import KEY_ALL
from airflow_provider_soundlink.sandbox.testing import SandboxProcess

TODAY = dt.date(2026, 6, 15)
WINDOW_END = TODAY - dt.timedelta(days=1)
WINDOW_START = WINDOW_END - dt.timedelta(days=89)
SMALL_SCALE = 10
LARGE_SCALE = 100
MIN_ROWS_PER_SECOND = 50_000
MAX_RSS_GROWTH_MIB = 32
RESULTS = Path(__file__).with_name("RESULTS.md")


def running_campaign() -> str:
    for campaign in SandboxData().campaigns(today=TODAY):
        if campaign["status"] == "active":
            return str(campaign["campaignId"])
    raise SystemExit("the sandbox data set has no running campaign")


def measure_in_child(base_url: str, campaign_id: str) -> dict[str, float]:
    """Run one export in a new interpreter and return its figures."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_SOUNDLINK_DEFAULT": json.dumps(
            {"conn_type": "soundlink", "host": base_url, "password": KEY_ALL}
        ),
    }
    output = subprocess.run(
        [sys.executable, __file__, "--child", campaign_id],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def child(campaign_id: str) -> None:
    from airflow_provider_soundlink.exports import ExportKind
    from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
    from airflow_provider_soundlink.windows import DateWindow

    hook = SoundlinkHook(progress_interval=3600)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryFile() as sink:
        started = time.perf_counter()
        summary = hook.download_export(
            ExportKind.ENGAGEMENT, campaign_id, DateWindow(WINDOW_START, WINDOW_END), sink
        )
        seconds = time.perf_counter() - started
        size = sink.tell()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": summary.row_count,
                "seconds": seconds,
                "megabytes": size / 2**20,
                "baseline_rss_mib": baseline_kib / 1024,
                "peak_rss_mib": peak_kib / 1024,
            }
        )
    )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {python}"


def main() -> int:
    campaign_id = running_campaign()
    figures: dict[int, dict[str, float]] = {}
    for scale in (SMALL_SCALE, LARGE_SCALE):
        with SandboxProcess(today=TODAY, scale=scale) as sandbox:
            figures[scale] = measure_in_child(sandbox.base_url, campaign_id)
    small, large = figures[SMALL_SCALE], figures[LARGE_SCALE]
    rows_per_second = large["rows"] / large["seconds"]
    growth = large["peak_rss_mib"] - small["peak_rss_mib"]
    checks = {
        f"throughput >= {MIN_ROWS_PER_SECOND:,} rows/s": rows_per_second >= MIN_ROWS_PER_SECOND,
        f"peak RSS growth <= {MAX_RSS_GROWTH_MIB} MiB": growth <= MAX_RSS_GROWTH_MIB,
    }
    lines = [
        f"## {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        "| scale | rows | MiB | seconds | rows/s | client peak RSS MiB |",
        "|---|---|---|---|---|---|",
        *(
            f"| {scale} | {f['rows']:,.0f} | {f['megabytes']:,.0f} | {f['seconds']:.1f} | "
            f"{f['rows'] / f['seconds']:,.0f} | {f['peak_rss_mib']:.0f} |"
            for scale, f in figures.items()
        ),
        "",
        *(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()),
        f"- peak RSS growth from scale {SMALL_SCALE} to {LARGE_SCALE}: {growth:.1f} MiB",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nWritten by `make bench` (`benchmarks/run.py`): one 90-day engagement "
            "export streamed through `SoundlinkHook.download_export` from the sandbox, per scale.\n\n"
        )
    with RESULTS.open("a") as results:
        results.write(report + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", metavar="CAMPAIGN_ID", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
    else:
        sys.exit(main())
