"""The dry-run check through a recording transport: real dry-run jobs are sent, and the figures decide."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

from airflow_provider_soundlink import bigquery_check
from airflow_provider_soundlink.bigquery_check import FULL_SCAN, NOT_MEASURED, PRUNED, check_tables, report
from support.bigquery_api import Answer, FakeBigQueryApi

PROJECT, DATASET = "my-project", "soundlink"
LAST_DAY = dt.date(2026, 6, 14)
# 90 days of history, 1,000 bytes a day.
HISTORY = [LAST_DAY - dt.timedelta(days=offset) for offset in range(90)]
TABLE_BYTES = 1000 * len(HISTORY)
TABLES = f"/projects/{PROJECT}/datasets/{DATASET}/tables"


@pytest.fixture(autouse=True)
def google_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the hook a connection to read when built; it never uses its credentials here."""
    connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": PROJECT}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))


def dataset_api(bytes_for: Callable[[int], int | None]) -> FakeBigQueryApi:
    """One breakdown table with a day-partitioned history; dry runs answered with ``bytes_for(days)``."""
    api = FakeBigQueryApi()
    reference = {"projectId": PROJECT, "datasetId": DATASET, "tableId": "campaign_country_daily"}
    table = {
        "tableReference": reference,
        "numBytes": str(TABLE_BYTES),
        "numRows": str(TABLE_BYTES // 100),
        "timePartitioning": {"type": "DAY", "field": "report_date"},
    }
    summary = {
        "tableReference": {**reference, "tableId": "campaign_country_daily$__PARTITIONS_SUMMARY__"},
        "schema": {"fields": [{"name": "partition_id", "type": "STRING"}]},
    }
    rows = [{"f": [{"v": day.strftime("%Y%m%d")}]} for day in HISTORY]

    def dry_run(match: re.Match[str], job: dict[str, Any]) -> Answer:
        start, end = re.findall(r"DATE '(\d{4}-\d{2}-\d{2})'", job["configuration"]["query"]["query"])[:2]
        processed = bytes_for((dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1)
        statistics: dict[str, Any] = {"query": {}}
        if processed is not None:
            statistics = {
                "totalBytesProcessed": str(processed),
                "query": {"totalBytesProcessed": str(processed)},
            }
        return 200, {**job, "status": {"state": "DONE"}, "statistics": statistics}

    api.route("GET", f"{TABLES}/campaign_country_daily", (200, table))
    api.route("GET", rf"{TABLES}/campaign_country_daily\$__PARTITIONS_SUMMARY__", (200, summary))
    api.route(
        "GET",
        rf"{TABLES}/campaign_country_daily\$__PARTITIONS_SUMMARY__/data",
        (200, {"rows": rows, "totalRows": str(len(rows))}),
    )
    api.route("POST", TABLES, lambda match, body: (200, body))
    api.route("DELETE", rf"{TABLES}/[^/]+", (204, None))
    api.route("POST", f"/projects/{PROJECT}/jobs", dry_run)
    return api


class ApiHook(BigQueryHook):
    def __init__(self, api: FakeBigQueryApi) -> None:
        super().__init__(use_legacy_sql=False)
        self.api = api

    def get_client(self, project_id: str | None = None, location: str | None = None) -> Any:
        return self.api.client(project_id, location)


def run(bytes_for: Callable[[int], int | None]) -> tuple[FakeBigQueryApi, list[Any]]:
    api = dataset_api(bytes_for)
    return api, check_tables(ApiHook(api), PROJECT, DATASET, None, ["camp_a"], LAST_DAY)


def test_each_window_is_sent_to_bigquery_as_a_dry_run_and_pruning_is_judged_by_the_figures() -> None:
    api, checks = run(lambda days: 1000 * days)

    dry_runs = api.bodies("POST", f"/projects/{PROJECT}/jobs")
    assert [job["configuration"]["dryRun"] for job in dry_runs] == [True, True, True]
    assert all(job["configuration"]["query"]["query"].startswith("MERGE ") for job in dry_runs)
    breakdown, engagement = checks
    assert [(w.days, w.partitions, w.bytes_processed) for w in breakdown.windows] == [
        (1, 1, 1000),
        (7, 7, 7000),
        (30, 30, 30000),
    ]
    assert (breakdown.verdict, breakdown.partitions, breakdown.bytes) == (PRUNED, 90, TABLE_BYTES)
    assert not engagement.exists
    created = [body["tableReference"]["tableId"] for body in api.bodies("POST", TABLES)]
    dropped = [path.rsplit("/", 1)[1] for method, path, _ in api.sent if method == "DELETE"]
    assert created == dropped and len(created) == 1
    text = report(checks)
    assert "campaign_country_daily: 900 rows, 90,000 bytes, 90 day partitions" in text
    assert "      30 d          30            30,000         33.3%" in text
    assert "pruning holds" in text
    assert "campaign_engagement_daily: no such table" in text


def test_a_window_that_reads_the_whole_table_is_a_full_scan() -> None:
    _, checks = run(lambda days: TABLE_BYTES)

    assert checks[0].verdict == FULL_SCAN
    assert "FULL SCAN" in report(checks)


def test_a_dry_run_that_reports_nothing_is_not_taken_for_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIGQUERY_EMULATOR_HOST", raising=False)
    _, checks = run(lambda days: None)

    assert checks[0].verdict == NOT_MEASURED
    assert "NOT MEASURED: BigQuery reported no bytes" in report(checks)
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9050")
    assert "the local emulator cannot dry-run a MERGE" in report(checks)


@pytest.mark.parametrize(
    ("bytes_for", "code"),
    [(lambda days: 1000 * days, 0), (lambda days: TABLE_BYTES, 1), (lambda days: 0, 2)],
    ids=["pruned", "full scan", "nothing reported"],
)
def test_the_command_exits_by_the_verdict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bytes_for: Any, code: int
) -> None:
    api = dataset_api(bytes_for)
    monkeypatch.setattr(
        BigQueryHook,
        "get_client",
        lambda self, project_id=None, location=None: api.client(project_id, location),
    )

    exit_code = bigquery_check.main(["--project", PROJECT, "--dataset", DATASET, "--last-day", "2026-06-14"])

    assert exit_code == code
    assert "campaign_country_daily" in capsys.readouterr().out


def test_the_command_refuses_an_empty_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bigquery_check.main(["--project", "my-project", "--dataset", "soundlink", "--campaign-ids", " , "])
    assert "--campaign-ids needs at least one id" in capsys.readouterr().err
