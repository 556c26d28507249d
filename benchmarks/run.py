"""Export speed and memory, side by side with a raw byte copy: ``make bench``.

One 90-day engagement export of a running sandbox campaign, at two sandbox scales (10x apart in rows), is
moved four ways, each in its own process so that its CPU time and peak resident memory are its own:

- ``raw copy``: curl reading the response into ``/dev/null``, the floor (the sandbox's own CPU is its limit);
- ``hook``: ``SoundlinkHook.stream_export``, every line checked, into ``/dev/null``: the export path both
  ``download_export`` and the operator take;
- ``operator``: ``SoundlinkExportToGCSOperator.execute`` into fake-gcs-server, the path DAGs run;
- ``raw upload``: the google provider's ``GCSHook.upload`` of the same bytes from a file, in the same chunk
  size, so the upload's own cost is visible apart from the operator's.

The raw copy and the hook discard the bytes because on this VM a file's page cache costs 1-3 s of system
time per GB at random (memory the guest freed is handed back to the host and faults in again when the
cache reuses it), which is neither the client's work nor curl's, and lands on either side by chance
(RESULTS.md, 2026-12-06). Each run starts once the files the previous one wrote are on disk (``sync``).
Wall and CPU seconds (user and system) cover the work only: not the interpreter's start, the imports,
nor the first use of the GCS client (one tiny upload first); peak RSS is the whole process's, and "added"
is what the work added to the process as it stood after its imports. The raw copy, the hook and the
operator run ``--repeat`` times and the table shows their medians (one run of the operator varies by a
second of CPU here); the raw upload runs once, as fake-gcs-server takes minutes to store a large upload.

Targets, checked at the larger scale:

- the hook's throughput is at least ``MIN_HOOK_SPEED`` of the raw copy's;
- the operator's own CPU time is at most ``MAX_OPERATOR_CPU`` x the raw copy's wall time (fake-gcs-server's
  time to store the upload is its own CPU, not the operator's);
- the hook and the operator add at most ``MAX_ADDED_MIB`` to their process's memory, and their peak RSS
  grows by at most ``MAX_RSS_GROWTH_MIB`` from the smaller export to the larger.

Airflow 3.3 and the google provider's GCS hook alone take about 165 MiB of a process before the first
byte, so the memory targets are on what the export adds, and the absolute peaks are recorded beside them.
Results are appended to ``benchmarks/RESULTS.md`` with the machine and the date. Exits 1 if a target is
missed. Run with the Airflow 3 environment: ``.venvs/af3/bin/python benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

import soundlink_stand_ins as stand_ins
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parents[1]

TODAY = dt.date(2026, 6, 15)
WINDOW = DateWindow(TODAY - dt.timedelta(days=90), TODAY - dt.timedelta(days=1))
SCALES = (10, 100)
PROJECT = stand_ins.DEFAULT_PROJECT
BUCKET = "soundlink-bench"
MIN_HOOK_SPEED = 0.8
MAX_OPERATOR_CPU = 1.25
MAX_ADDED_MIB = 64
MAX_RSS_GROWTH_MIB = 32
RESULTS = Path(__file__).with_name("RESULTS.md")
VARIANTS = ("raw copy", "hook", "operator", "raw upload")
Figures = dict[str, float]


def running_campaign() -> str:
    for campaign in SandboxData().campaigns(today=TODAY):
        if campaign["status"] == "active":
            return str(campaign["campaignId"])
    raise SystemExit("the sandbox data set has no running campaign")


def peak_rss_mib(pid: int | str = "self") -> float:
    """Read the process's peak resident memory, from its memory map's own high-water mark (``VmHWM``).

    Not ``getrusage``'s ``ru_maxrss``: across ``exec`` it keeps the peak of the process image it
    replaced, so a child started from this (large) parent would report the parent's memory.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM")


@contextmanager
def measured(figures: Figures) -> Iterator[None]:
    """Wall seconds and CPU seconds (user and system) of the block, peak RSS of the process, and what the
    block added to it."""
    figures["rss_before_mib"] = peak_rss_mib()
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    yield
    after = resource.getrusage(resource.RUSAGE_SELF)
    figures["seconds"] = time.perf_counter() - started
    figures.update(cpu_figures(after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))
    figures["peak_rss_mib"] = peak_rss_mib()


def cpu_figures(user: float, system: float) -> Figures:
    """CPU time split as the kernel accounts it: system time is the kernel's work for the process (socket
    and file copies, page cache it allocates), user time the checks and the rest of the Python code."""
    return {"cpu_seconds": user + system, "user_seconds": user, "system_seconds": system}


# --- the variants, each run in a child process: python benchmarks/run.py --child VARIANT ARGS ---


def hook_child(campaign_id: str, target: str) -> Figures:
    from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook

    client = SoundlinkHook(progress_interval=3600).get_conn()

    def sink() -> BinaryIO:
        return Path(target).open("wb")  # stream_export enters and closes it, once per attempt

    figures: Figures = {}
    with measured(figures):
        summary = client.stream_export(ExportKind.ENGAGEMENT, campaign_id, WINDOW, sink)
    figures["rows"] = summary.row_count
    return figures


def operator_child(campaign_id: str, prefix: str) -> Figures:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator

    operator = SoundlinkExportToGCSOperator(
        task_id="export",
        export=ExportKind.ENGAGEMENT,
        campaign_ids=[campaign_id],
        report_start_date=WINDOW.start,
        report_end_date=WINDOW.end,
        bucket=BUCKET,
        object_prefix=prefix,
    )
    warm_up_uploads(GCSHook())
    pushed: dict[str, object] = {}
    context = {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))}
    figures: Figures = {}
    with measured(figures):
        (entry,) = operator.execute(context)  # type: ignore[arg-type]
    figures["rows"] = entry["row_count"]
    return figures


def upload_child(source: str, object_name: str) -> Figures:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    from airflow_provider_soundlink.operators.gcs_objects import UPLOAD_CHUNK_BYTES

    gcs = GCSHook()
    warm_up_uploads(gcs)
    figures: Figures = {}
    with measured(figures):
        gcs.upload(BUCKET, object_name, filename=source, chunk_size=UPLOAD_CHUNK_BYTES)
    return figures


def warm_up_uploads(gcs: Any) -> None:
    """One tiny upload first: the modules google-cloud-storage imports on its first upload, and the
    client and credentials, are a task's start-up, not the cost of moving the export."""
    from airflow_provider_soundlink.operators.gcs_objects import complete_object_upload

    with complete_object_upload(gcs, BUCKET, "warm-up.jsonl") as upload:
        upload.write(b"{}\n")


CHILDREN: dict[str, Callable[[str, str], Figures]] = {
    "hook": hook_child,
    "operator": operator_child,
    "raw upload": upload_child,
}


# --- the parent: stand-ins, children, table, targets ---


def run_child(variant: str, arguments: tuple[str, str], env: dict[str, str]) -> Figures:
    command = [sys.executable, __file__, "--child", variant, *arguments]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def raw_copy(url: str, target: Path) -> Figures:
    """curl's wall time and CPU time, from the kernel's accounting of that one process, and its peak RSS,
    read while it runs (its memory is flat, so the last reading before it exits is its peak)."""
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("make bench needs curl for its raw copy (apt-get install curl)")
    headers = ["-H", f"x-api-key: {KEY_ALL}", "-H", "Accept: application/x-ndjson"]
    started = time.perf_counter()
    process = subprocess.Popen([curl, "-sS", "--fail", *headers, "-o", str(target), url])
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(OSError, RuntimeError):  # it is exiting
            peak = max(peak, peak_rss_mib(process.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"curl failed on {url}")
    process.returncode = 0
    return {
        "seconds": seconds,
        **cpu_figures(usage.ru_utime, usage.ru_stime),
        "peak_rss_mib": peak,
        "rss_before_mib": peak,
    }


def settled(figures: Figures) -> Figures:
    """Return a run's figures once the files it wrote are on disk: the next run then does not share the two
    cores with the kernel writing back the previous run's gigabyte."""
    os.sync()
    return figures


def median(runs: list[Figures]) -> Figures:
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def measure_scale(
    scale: int, campaign_id: str, repeat: int, work: Path, env: dict[str, str]
) -> dict[str, Figures]:
    export_file = work / f"export-{scale}.jsonl"
    runs: dict[str, list[Figures]] = {variant: [] for variant in VARIANTS}
    with SandboxProcess(today=TODAY, scale=scale) as sandbox:
        url = f"{sandbox.base_url}{ExportKind.ENGAGEMENT.export_path(campaign_id)}?" + (
            f"startDate={WINDOW.start}&endDate={WINDOW.end}"
        )
        child_env = {
            **env,
            "AIRFLOW_CONN_SOUNDLINK_DEFAULT": stand_ins.soundlink_connection_json(sandbox.base_url),
        }
        for _ in range(repeat):
            runs["raw copy"].append(settled(raw_copy(url, Path(os.devnull))))
            hook = run_child("hook", (campaign_id, os.devnull), child_env)
            runs["hook"].append(settled(hook))
            operator = run_child("operator", (campaign_id, f"bench/{scale}"), child_env)
            runs["operator"].append(settled(operator))
        # Once: fake-gcs-server takes minutes to store a large upload (its own CPU, not ours).
        raw_copy(url, export_file)
        upload = (str(export_file), f"raw-upload/{scale}.jsonl")
        runs["raw upload"].append(settled(run_child("raw upload", upload, child_env)))
    size_mib = export_file.stat().st_size / 2**20
    rows = runs["hook"][0]["rows"]
    return {variant: {**median(figures), "rows": rows, "mib": size_mib} for variant, figures in runs.items()}


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


def checks(figures: dict[int, dict[str, Figures]], small: int, large: int) -> dict[str, bool]:
    raw, hook, operator = (figures[large][variant] for variant in ("raw copy", "hook", "operator"))
    hook_speed = raw["seconds"] / hook["seconds"]
    operator_cpu = operator["cpu_seconds"] / raw["seconds"]
    results = {
        f"hook throughput {hook_speed:.2f}x the raw copy's (target >= {MIN_HOOK_SPEED}x)": (
            hook_speed >= MIN_HOOK_SPEED
        ),
        f"operator CPU {operator_cpu:.2f}x the raw copy's wall time (target <= {MAX_OPERATOR_CPU}x)": (
            operator_cpu <= MAX_OPERATOR_CPU
        ),
    }
    for variant in ("hook", "operator"):
        added = max(
            figures[scale][variant]["peak_rss_mib"] - figures[scale][variant]["rss_before_mib"]
            for scale in figures
        )
        growth = figures[large][variant]["peak_rss_mib"] - figures[small][variant]["peak_rss_mib"]
        results[f"{variant} adds {added:.0f} MiB to its process (target <= {MAX_ADDED_MIB})"] = (
            added <= MAX_ADDED_MIB
        )
        growth_check = f"{variant} peak RSS grows {growth:.1f} MiB from scale {small} to {large}"
        results[f"{growth_check} (target <= {MAX_RSS_GROWTH_MIB})"] = growth <= MAX_RSS_GROWTH_MIB
    return results


def report(figures: dict[int, dict[str, Figures]], results: dict[str, bool], repeat: int) -> str:
    lines = [
        f"## Export: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {machine()}",
        "",
        f"`make bench`: one 90-day engagement export; raw copy, hook and operator: medians of {repeat} "
        "runs; raw upload: one run; each run in its own process.",
        "",
        "| scale | rows | MiB | variant | wall s | MiB/s | x raw copy | CPU s | user s | system s "
        "| peak RSS MiB | added MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scale, variants in figures.items():
        raw_seconds = variants["raw copy"]["seconds"]
        for variant, f in variants.items():
            added = f["peak_rss_mib"] - f["rss_before_mib"]
            lines.append(
                f"| {scale} | {f['rows']:,.0f} | {f['mib']:,.0f} | {variant} | {f['seconds']:.1f} | "
                f"{f['mib'] / f['seconds']:,.0f} | {raw_seconds / f['seconds']:.2f} | "
                f"{f['cpu_seconds']:.1f} | {f['user_seconds']:.1f} | {f['system_seconds']:.1f} | "
                f"{f['peak_rss_mib']:.0f} | {added:.0f} |"
            )
    lines += ["", *(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in results.items()), ""]
    return "\n".join(lines)


def main(repeat: int, scales: tuple[int, int]) -> int:
    campaign_id = running_campaign()
    figures: dict[int, dict[str, Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="soundlink-bench-") as scratch:
        work = Path(scratch)
        gcs = stand_ins.start_fake_gcs(work)
        try:
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(work / "airflow"),
                "STORAGE_EMULATOR_HOST": gcs.url,
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": stand_ins.google_connection_json(PROJECT),
            }
            os.environ.update(env)
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            GCSHook().create_bucket(bucket_name=BUCKET, project_id=PROJECT)
            for scale in scales:
                figures[scale] = measure_scale(scale, campaign_id, repeat, work, env)
        finally:
            stand_ins.stop_process_group(gcs.pid)
    results = checks(figures, *scales)
    text = report(figures, results, repeat)
    print(text)
    with RESULTS.open("a") as results_file:
        results_file.write("\n" + text)
    return 0 if all(results.values()) else 1


def child(variant: str, arguments: list[str]) -> None:
    first, second = arguments
    print(json.dumps(CHILDREN[variant](first, second)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each variant per scale (medians shown)"
    )
    parser.add_argument("--scales", type=int, nargs=2, default=SCALES, metavar=("SMALL", "LARGE"))
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "ARG", "ARG"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child[0], options.child[1:])
    else:
        sys.exit(main(options.repeat, tuple(options.scales)))
