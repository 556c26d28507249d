"""The README's "First daily run", command by command, in a clean install of the wheel on Airflow 3.3,
against the sandbox and the local stand-ins: a newcomer who follows it gets a successful daily run."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest

from airflow_provider_soundlink.core.windows import DateWindow
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.paths import REPO_ROOT
from soundlink_stand_ins.pipeline import TRUTH, Warehouse
from support.clean_install import CleanInstall
from support.emulators import GCP_PROJECT, SANDBOX_TODAY, GcpEmulators

FIRST_RUN = re.compile(r"<!-- first-run -->\n```bash\n(.*?)```\n<!-- /first-run -->", re.DOTALL)
COMMAND_TIMEOUT_SECONDS = 600
"""The slowest command, ``airflow dags test`` of the whole DAG, took about 60 s here."""


def readme_commands() -> list[str]:
    match = FIRST_RUN.search((REPO_ROOT / "README.md").read_text())
    assert match, "README.md has no first-run block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def with_stand_ins(command: str, sandbox_url: str, bucket: str) -> str:
    """Fill the command's placeholders with the stand-ins: the key, the project and the bucket, and the
    sandbox's address beside the key (the README's connection takes Soundlink's default)."""
    substituted = (
        command.replace(
            "--conn-password 'sk_live_...'", f"--conn-host {sandbox_url} --conn-password {KEY_ALL}"
        )
        .replace('{"project": "my-project"}', f'{{"project": "{GCP_PROJECT}", "is_anonymous": true}}')
        .replace("my-project", GCP_PROJECT)
        .replace("my-bucket", bucket)
        .replace("2026-06-15", SANDBOX_TODAY.isoformat())
    )
    assert "sk_live" not in substituted and "my-" not in substituted, substituted
    return substituted


@pytest.mark.parametrize("install", ["airflow3"], indirect=True)
def test_the_readmes_first_run_reaches_a_successful_daily_run(
    install: CleanInstall,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
    tmp_path: Path,
) -> None:
    bucket = gcp_emulators.create_bucket("first-run")
    home = tmp_path / "airflow"
    environment = {
        **install.environment(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "STORAGE_EMULATOR_HOST": gcp_emulators.gcs_url,
        "BIGQUERY_EMULATOR_HOST": gcp_emulators.bigquery_url,
    }
    (home / "dags").mkdir(parents=True)
    subprocess.run([str(install.venv / "bin" / "airflow"), "db", "migrate"], env=environment, check=True,
                   capture_output=True, timeout=COMMAND_TIMEOUT_SECONDS)  # fmt: skip
    # One shell, so that the README's exports reach the commands after them.
    script = "set -euo pipefail\n" + "\n".join(
        with_stand_ins(command, _sandbox_process.base_url, bucket) for command in readme_commands()
    )
    finished = subprocess.run(
        ["bash", "-c", script],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]

    # `dags test` for T runs the day D = T - 1 and loads D-7 .. D.
    window = DateWindow(SANDBOX_TODAY - dt.timedelta(days=8), SANDBOX_TODAY - dt.timedelta(days=1))
    campaign_ids = [campaign["campaignId"] for campaign in TRUTH.campaigns(SANDBOX_TODAY)]
    counts = Warehouse(GCP_PROJECT, "soundlink").assert_matches_truth(campaign_ids, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
