"""Airflow 3.3's UI in headless Chromium, as a newcomer uses it: the Soundlink connection made in the
connection form (which names and explains every field), then the copyable DAG triggered from its page
for a chosen logical date; the run succeeds with that connection and loads the sandbox's truth."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from e2e.conftest import make_dags_environment
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.paths import AIRFLOW3_VENV
from soundlink_stand_ins.pipeline import TRUTH, Warehouse
from support.browser import chromium_page
from support.emulators import GCP_PROJECT, SANDBOX_TODAY, GcpEmulators

COPYABLE_DAG = "soundlink_metrics_example"
DATASET = "soundlink_ui"
EXTRA_FIELD_LABELS = [
    "Request timeout (seconds)",
    "Export timeout per attempt (seconds)",
    "Max attempts per request",
    "Retry time budget (seconds)",
    "Allow plain http to a non-loopback host (private networks only)",
    "Pseudonymisation secret (hashes personal data)",
]


def add_soundlink_connection(page: Page, ui_url: str, base_url: str, api_key: str) -> None:
    """Fill Admin > Connections > Add Connection as the README's first run describes, and save."""
    page.goto(f"{ui_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    page.get_by_label("Connection ID").fill(SoundlinkHook.default_conn_name)
    page.get_by_role("combobox", name="Connection Type").fill("Soundlink")
    page.get_by_role("option", name="Soundlink", exact=True).click()

    page.get_by_role("button", name="Extra Fields", exact=True).click()
    for label in EXTRA_FIELD_LABELS:
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    # Every extra says what it does and its default; the secret is a password field.
    expect(page.get_by_text("Default:")).to_have_count(len(EXTRA_FIELD_LABELS))
    secret = page.get_by_role("group").filter(has_text="Pseudonymisation secret (hashes personal data)")
    expect(secret.locator("input")).to_have_attribute("type", "password")

    page.get_by_role("button", name="Standard Fields", exact=True).click()
    page.get_by_label("Base URL").fill(base_url)
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text(SoundlinkHook.default_conn_name, exact=True)).to_be_visible()


def trigger_run(page: Page, ui_url: str, dag_id: str, logical_date: dt.date, run_id: str) -> None:
    """Trigger one run of ``dag_id`` from its page, for ``logical_date`` (00:00 UTC) and with ``run_id``."""
    page.goto(f"{ui_url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("datetime-input").click()
    page.get_by_placeholder("YYYY/MM/DD").fill(logical_date.strftime("%Y/%m/%d"))
    page.get_by_placeholder("HH:mm").fill("00:00")
    dialog.get_by_text(f"Trigger Dag - {dag_id}").click()
    expect(dialog.get_by_test_id("datetime-input")).to_contain_text(logical_date.strftime("%b %d, %Y 00:00"))
    dialog.get_by_role("button", name="Advanced Options").click()
    dialog.locator("input[name=dagRunId]").fill(run_id)
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_a_connection_saved_in_the_ui_runs_the_copyable_dag_triggered_from_the_ui(
    tmp_path_factory: pytest.TempPathFactory,
    gcp_emulators: GcpEmulators,
    _sandbox_process: SandboxProcess,
) -> None:
    environment = make_dags_environment(
        AIRFLOW3_VENV,
        2,
        tmp_path_factory,
        gcp_emulators,
        _sandbox_process,
        # Every visitor is an admin: the test walks the pages, not the login.
        deployment={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"},
        dataset=DATASET,
        soundlink_connection=False,
    )
    airflow = environment.airflow
    run_id = f"ui__{SANDBOX_TODAY.isoformat()}"

    with airflow.daemons() as daemons, chromium_page() as page:
        assert daemons.api_url is not None
        add_soundlink_connection(page, daemons.api_url, _sandbox_process.base_url, KEY_ALL)
        airflow.wait_for_serialized_dag(COPYABLE_DAG, daemons)
        trigger_run(page, daemons.api_url, COPYABLE_DAG, SANDBOX_TODAY, run_id)
        run = airflow.wait_for_run(COPYABLE_DAG, run_id, daemons)
        # The MERGE's SQL, known only once the task had read its manifest, is its rendered "merge_sql".
        task_url = f"{daemons.api_url}/dags/{COPYABLE_DAG}/runs/{run_id}/tasks/merge_breakdown"
        page.goto(f"{task_url}/rendered_templates")
        expect(page.get_by_text("merge_sql", exact=True)).to_be_visible()
        table = f"{GCP_PROJECT}.{DATASET}.{ExportKind.BREAKDOWN.table_name}"
        expect(page.get_by_text(f"MERGE `{table}` AS target")).to_be_visible()

    assert (run.state, run.logical_date.date()) == ("success", SANDBOX_TODAY)
    # The run for T loads the 8 days closed by then, T-8 .. T-1.
    window = DateWindow(SANDBOX_TODAY - dt.timedelta(days=8), SANDBOX_TODAY - dt.timedelta(days=1))
    campaign_ids = [campaign["campaignId"] for campaign in TRUTH.campaigns(SANDBOX_TODAY)]
    counts = Warehouse(GCP_PROJECT, DATASET).assert_matches_truth(campaign_ids, window, SANDBOX_TODAY)
    assert all(count > 0 for count in counts.values())
