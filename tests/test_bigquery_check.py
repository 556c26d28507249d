"""The dry-run check through a recording transport: real dry-run jobs are sent, and the figures decide."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from airflow_provider_soundlink import bigquery_check
from airflow_provider_soundlink.bigquery_check import FULL_SCAN, NOT_MEASURED, PRUNED, check_tables, report

PROJECT, DATASET = "my-project", "soundlink"
LAST_DAY = dt.date(2026, 6, 14)
# 90 days of history, 1,000 bytes a day.
HISTORY = [LAST_DAY - dt.timedelta(days=offset) for offset in range(90)]
TABLE_BYTES = 1000 * len(HISTORY)


@pytest.fixture(autouse=True)
def google_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook reads its connection when built; it never uses its credentials here."""
    connection = {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": PROJECT}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))


class RecordingTransport:
    """BigQuery's REST API as far as the check uses it: one table with a day-partitioned history, and
    dry-run jobs answered with ``bytes_for(window days)``."""

    is_mtls = False

    def __init__(self, bytes_for: Callable[[int], int | None]) -> None:
        self.bytes_for = bytes_for
        self.sent: list[tuple[str, str, Any]] = []
        self.staging: set[str] = set()

    def request(self, method: str, url: str, data: Any = None, **_: Any) -> requests.Response:
        response = self.answer(method, url, json.loads(data) if data else None)
        response.request = requests.Request(method, url).prepare()
        return response

    def answer(self, method: str, url: str, body: Any) -> requests.Response:
        path = urlsplit(url).path.removeprefix("/bigquery/v2")
        self.sent.append((method, path, body))
        tables = f"/projects/{PROJECT}/datasets/{DATASET}/tables"
        if method == "GET" and path == f"{tables}/campaign_country_daily":
            return answer(200, self.table("campaign_country_daily", TABLE_BYTES))
        if method == "GET" and path == f"{tables}/campaign_country_daily$__PARTITIONS_SUMMARY__":
            return answer(200, self.partition_summary())
        if method == "GET" and path == f"{tables}/campaign_country_daily$__PARTITIONS_SUMMARY__/data":
            rows = [{"f": [{"v": day.strftime("%Y%m%d")}]} for day in HISTORY]
            return answer(200, {"rows": rows, "totalRows": str(len(rows))})
        if method == "POST" and path == tables:
            self.staging.add(body["tableReference"]["tableId"])
            return answer(200, body)
        if method == "DELETE" and path.startswith(f"{tables}/"):
            self.staging.discard(path.rsplit("/", 1)[1])
            return answer(204, None)
        if method == "POST" and path == f"/projects/{PROJECT}/jobs":
            return answer(200, self.dry_run(body))
        return answer(404, {"error": {"code": 404, "message": f"Not found: {path}", "errors": []}})

    def table(self, name: str, size: int) -> dict[str, Any]:
        return {
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": name},
            "numBytes": str(size),
            "numRows": str(size // 100),
            "timePartitioning": {"type": "DAY", "field": "report_date"},
        }

    def partition_summary(self) -> dict[str, Any]:
        summary = self.table("campaign_country_daily$__PARTITIONS_SUMMARY__", 0)
        return {**summary, "schema": {"fields": [{"name": "partition_id", "type": "STRING"}]}}

    def dry_run(self, job: dict[str, Any]) -> dict[str, Any]:
        start, end = re.findall(r"DATE '(\d{4}-\d{2}-\d{2})'", job["configuration"]["query"]["query"])[:2]
        days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1
        processed = self.bytes_for(days)
        statistics: dict[str, Any] = {"query": {}}
        if processed is not None:
            statistics = {
                "totalBytesProcessed": str(processed),
                "query": {"totalBytesProcessed": str(processed)},
            }
        return {**job, "status": {"state": "DONE"}, "statistics": statistics}

    def dry_runs(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.sent if method == "POST" and path.endswith("/jobs")]


def answer(status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    return response


class RecordingHook(BigQueryHook):
    def __init__(self, transport: RecordingTransport) -> None:
        super().__init__(use_legacy_sql=False)
        self.transport = transport

    def get_client(self, project_id: str | None = None, location: str | None = None) -> bigquery.Client:
        return bigquery.Client(
            project=project_id or PROJECT,
            credentials=AnonymousCredentials(),
            _http=self.transport,  # type: ignore[arg-type]
            location=location,
        )


def run(bytes_for: Callable[[int], int | None]) -> tuple[RecordingTransport, list[Any]]:
    transport = RecordingTransport(bytes_for)
    checks = check_tables(RecordingHook(transport), PROJECT, DATASET, None, ["camp_a"], LAST_DAY)
    return transport, checks


def test_each_window_is_sent_to_bigquery_as_a_dry_run_and_pruning_is_judged_by_the_figures() -> None:
    transport, checks = run(lambda days: 1000 * days)

    dry_runs = transport.dry_runs()
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
    assert transport.staging == set()
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
    ("bytes_for", "code"), [(lambda days: 1000 * days, 0), (lambda days: TABLE_BYTES, 1), (lambda days: 0, 2)]
)
def test_the_command_exits_by_the_verdict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bytes_for: Any, code: int
) -> None:
    transport = RecordingTransport(bytes_for)
    monkeypatch.setattr(
        "airflow.providers.google.cloud.hooks.bigquery.BigQueryHook.get_client",
        lambda self, project_id=None, location=None: RecordingHook(transport).get_client(
            project_id, location
        ),
    )

    exit_code = bigquery_check.main(["--project", PROJECT, "--dataset", DATASET, "--last-day", "2026-06-14"])

    assert exit_code == code
    assert "campaign_country_daily" in capsys.readouterr().out


def test_the_command_refuses_an_empty_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bigquery_check.main(["--project", "my-project", "--dataset", "soundlink", "--campaign-ids", " , "])
    assert "--campaign-ids needs at least one id" in capsys.readouterr().err
