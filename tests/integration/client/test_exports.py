"""JSONL exports: exact rows, window limits, slicing, stream faults and their recovery."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_soundlink.compat import AirflowFailException
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import (
    SoundlinkConfigurationError,
    SoundlinkMalformedExportError,
    SoundlinkSchemaVersionError,
    SoundlinkServerError,
    SoundlinkStreamError,
)
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.testing import SandboxProcess
from support.connections import ClientFactory
from support.emulators import SANDBOX_TODAY

APRIL = DateWindow(dt.date(2026, 4, 1), dt.date(2026, 4, 30))
LAST_DAYS = DateWindow(dt.date(2026, 6, 5), dt.date(2026, 6, 20))  # runs past the sandbox's today


def export_requests(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.requests_log() if entry["path"].endswith("/export")]


def query_dates(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["query"]["startDate"], entry["query"]["endDate"]


def test_breakdown_export_is_exactly_the_truth(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    lines = list(make_client().iter_export(ExportKind.BREAKDOWN, track_campaign, APRIL))
    expected = truth.breakdown_rows(track_campaign, APRIL.start, APRIL.end, SANDBOX_TODAY)
    assert len(expected) > 300
    assert [line.row for line in lines] == expected
    assert all(json.loads(line.raw, parse_float=decimal.Decimal) == line.row for line in lines)
    assert all(not line.raw.endswith(b"\n") for line in lines)
    assert isinstance(lines[0].row["spend_total"], decimal.Decimal)
    (request,) = export_requests(sandbox)
    assert query_dates(request) == ("2026-04-01", "2026-04-30")


@pytest.mark.parametrize("engagement_context", [None, "playlist"])
def test_engagement_export_is_exactly_the_truth(
    make_client: ClientFactory, truth: SandboxData, playlist_campaign: str, engagement_context: str | None
) -> None:
    rows = [
        line.row
        for line in make_client().iter_export("engagement", playlist_campaign, LAST_DAYS, engagement_context)
    ]
    expected = truth.engagement_rows(
        playlist_campaign, LAST_DAYS.start, LAST_DAYS.end, SANDBOX_TODAY, engagement_context
    )
    assert rows == expected
    assert rows
    assert max(row["report_date"] for row in rows) == (SANDBOX_TODAY - dt.timedelta(days=1)).isoformat()


def test_a_91_day_window_is_refused_before_calling_the_api(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    window = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    with pytest.raises(SoundlinkConfigurationError) as raised:
        make_client().iter_export("breakdown", track_campaign, window)
    assert "2026-01-01..2026-04-01 holds 91 days" in str(raised.value)
    assert "slice_date_range" in str(raised.value)
    assert sandbox.requests_log() == []


def test_a_90_day_window_is_one_request(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    window = DateWindow(dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert window.days == 90
    summary = make_client().download_export("breakdown", track_campaign, window, io.BytesIO())
    assert summary.row_count == len(
        truth.breakdown_rows(track_campaign, window.start, window.end, SANDBOX_TODAY)
    )
    (request,) = export_requests(sandbox)
    assert (query_dates(request), request["status"]) == (("2026-01-01", "2026-03-31"), 200)


def test_a_range_across_a_leap_day_is_sliced_by_day_count(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    sandbox.set_today(dt.date(2028, 4, 10))
    start, end = dt.date(2028, 1, 1), dt.date(2028, 3, 31)
    rows = [line.row for line in make_client().iter_export_range("breakdown", track_campaign, start, end)]
    assert rows == truth.breakdown_rows(track_campaign, start, end, dt.date(2028, 4, 10))
    assert "2028-02-29" in {row["report_date"] for row in rows}
    assert [query_dates(entry) for entry in export_requests(sandbox)] == [
        ("2028-01-01", "2028-03-30"),
        ("2028-03-31", "2028-03-31"),
    ]


def test_download_writes_lines_and_summarises(
    make_client: ClientFactory, truth: SandboxData, playlist_campaign: str
) -> None:
    # Longer than the export, as a file reused from a bigger earlier run would be.
    target = io.BytesIO(b'{"stale": true}\n' * 100_000)
    summary = make_client().download_export("engagement", playlist_campaign, LAST_DAYS, target)
    expected = truth.engagement_rows(playlist_campaign, LAST_DAYS.start, LAST_DAYS.end, SANDBOX_TODAY)
    written = target.getvalue()
    assert written.endswith(b"\n")
    assert [json.loads(line, parse_float=decimal.Decimal) for line in written.splitlines()] == expected
    assert summary.row_count == len(expected)
    assert summary.new_fields == {}
    assert summary.file_name == f"engagement_{playlist_campaign}_2026-06-05_2026-06-20.jsonl"
    # The sandbox's clock (its Date header) reads noon of its today.
    assert summary.answered_at == dt.datetime.combine(SANDBOX_TODAY, dt.time(12), dt.UTC)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "cut", "after_lines": 5},
        {"kind": "short", "missing_lines": 3},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
    ],
)
def test_download_refetches_the_whole_window_after_a_broken_stream(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    truth: SandboxData,
    track_campaign: str,
    fault: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.add_fault(path="/breakdown/export", count=1, **fault)
    caplog.set_level(logging.WARNING, logger="airflow_provider_soundlink")
    target = io.BytesIO()
    summary = make_client().download_export("breakdown", track_campaign, APRIL, target)
    expected = truth.breakdown_rows(track_campaign, APRIL.start, APRIL.end, SANDBOX_TODAY)
    assert summary.row_count == len(expected)
    assert [
        json.loads(line, parse_float=decimal.Decimal) for line in target.getvalue().splitlines()
    ] == expected
    assert len(export_requests(sandbox)) == 2
    (retry,) = [record.getMessage() for record in caplog.records if "retrying in" in record.getMessage()]
    assert "attempt 1 of 5" in retry


class RecordedTargets:
    """Opens one in-memory target per attempt and records how each attempt's block ended."""

    def __init__(self) -> None:
        self.written: list[io.BytesIO] = []
        self.endings: list[type[BaseException] | None] = []

    @contextlib.contextmanager
    def open(self) -> Iterator[io.BytesIO]:
        target = io.BytesIO()
        self.written.append(target)
        try:
            yield target
        except BaseException as error:
            self.endings.append(type(error))
            raise
        self.endings.append(None)


@pytest.mark.parametrize(
    ("fault", "failed_attempt_error"),
    [
        ({"kind": "cut", "after_lines": 5}, SoundlinkStreamError),
        ({"kind": "short", "missing_lines": 3}, SoundlinkStreamError),
        ({"kind": "status", "status": 503}, SoundlinkServerError),
    ],
)
def test_stream_export_opens_a_target_per_attempt_and_ends_only_the_complete_one_normally(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    truth: SandboxData,
    track_campaign: str,
    fault: dict[str, Any],
    failed_attempt_error: type[Exception],
) -> None:
    """A target that publishes on a normal exit (an upload completed on close) publishes only the
    attempt whose stream was checked complete, never the broken one."""
    sandbox.add_fault(path="/breakdown/export", count=1, **fault)
    targets = RecordedTargets()

    summary = make_client().stream_export("breakdown", track_campaign, APRIL, targets.open)

    [failed, complete] = targets.endings
    assert failed is not None and issubclass(failed, failed_attempt_error)
    assert complete is None
    expected = truth.breakdown_rows(track_campaign, APRIL.start, APRIL.end, SANDBOX_TODAY)
    lines = targets.written[1].getvalue().splitlines()
    assert [json.loads(line, parse_float=decimal.Decimal) for line in lines] == expected
    assert summary.row_count == len(expected)


def test_stream_export_ends_every_target_with_the_error_when_every_attempt_fails(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="cut", after_lines=1, count=10)
    targets = RecordedTargets()

    with pytest.raises(SoundlinkStreamError, match="cut off"):
        make_client(max_attempts=3).stream_export("breakdown", track_campaign, APRIL, targets.open)

    assert targets.endings == [SoundlinkStreamError] * 3


@pytest.mark.parametrize(
    ("fault", "expected_text"),
    [
        ({"kind": "cut", "after_lines": 5}, "cut off after 5 of"),
        ({"kind": "short", "missing_lines": 3}, "but its X-Row-Count header announced"),
    ],
)
def test_iterating_a_broken_stream_raises_a_retryable_error(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    track_campaign: str,
    fault: dict[str, Any],
    expected_text: str,
) -> None:
    sandbox.add_fault(path="/breakdown/export", count=1, **fault)
    received = []
    with pytest.raises(SoundlinkStreamError) as raised:
        for line in make_client().iter_export("breakdown", track_campaign, APRIL):
            received.append(line)
    assert raised.value.retryable
    assert expected_text in str(raised.value)
    assert "request id: req_" in str(raised.value)
    assert len(received) == 5 if fault["kind"] == "cut" else len(received) > 5
    assert len(export_requests(sandbox)) == 1


def test_a_stream_that_keeps_breaking_gives_up(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="cut", after_lines=1, count=10)
    with pytest.raises(SoundlinkStreamError, match="cut off"):
        make_client(max_attempts=3).download_export("breakdown", track_campaign, APRIL, io.BytesIO())
    assert len(export_requests(sandbox)) == 3


def test_a_line_that_is_not_json_is_not_retried(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="bad_line", at_line=4, count=1)
    with pytest.raises(SoundlinkMalformedExportError) as raised:
        make_client().download_export("breakdown", track_campaign, APRIL, io.BytesIO())
    assert not raised.value.retryable
    # Under Airflow it fails the task without using its retries: the same bytes would come again.
    assert isinstance(raised.value, AirflowFailException)
    assert "line 4 is not JSON" in str(raised.value)
    assert "request id: req_" in str(raised.value)
    assert len(export_requests(sandbox)) == 1


def test_an_unknown_schema_version_is_refused(
    make_client: ClientFactory, sandbox: SandboxProcess, playlist_campaign: str
) -> None:
    sandbox.add_fault(path="/engagement/export", kind="schema_version", version="9.9", count=1)
    with pytest.raises(SoundlinkSchemaVersionError) as raised:
        make_client().download_export("engagement", playlist_campaign, LAST_DAYS, io.BytesIO())
    assert (raised.value.version, raised.value.supported, raised.value.retryable) == ("9.9", {"1.0"}, False)
    assert "'9.9'" in str(raised.value)
    assert "supports only 1.0" in str(raised.value)
    assert len(export_requests(sandbox)) == 1


def test_progress_is_logged_against_the_row_count(
    make_client: ClientFactory, truth: SandboxData, track_campaign: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_soundlink")
    list(make_client(progress_interval=0).iter_export("breakdown", track_campaign, APRIL))
    total = len(truth.breakdown_rows(track_campaign, APRIL.start, APRIL.end, SANDBOX_TODAY))
    progress = [record.getMessage() for record in caplog.records if "rows/s" in record.getMessage()]
    assert progress
    assert all(f" / {total} rows, " in text for text in progress)
    assert f": {total} / {total} rows, " in progress[-1]
