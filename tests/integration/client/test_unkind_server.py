"""What the hook does against a server less kind than the documentation promises, over real HTTP: pages
smaller than asked, waits asked for on any status, bytes trickling in, bodies ended by closing the
connection, redirects, and error messages that echo the key."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest

from airflow_provider_soundlink.compat import AirflowFailException
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import (
    SoundlinkAuthError,
    SoundlinkNetworkError,
    SoundlinkRedirectError,
    SoundlinkServerError,
    SoundlinkStreamError,
)
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL, KEY_REVOKED
from soundlink_sandbox.testing import SandboxProcess
from support.connections import ClientFactory, HookFactory
from support.emulators import SANDBOX_TODAY

UTC = dt.UTC
CLICKS_FROM = dt.datetime(2026, 5, 1, tzinfo=UTC)
CLICKS_TO = dt.datetime(2026, 5, 19, 23, 59, 59, 999000, tzinfo=UTC)
JUNE = DateWindow(dt.date(2026, 6, 1), dt.date(2026, 6, 14))


def test_link_stats_are_complete_when_the_server_serves_smaller_pages_than_asked(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData
) -> None:
    sandbox.add_fault(path="link/stats", kind="page_cap", max_items=7, count=1000)
    expected = truth.link_clicks(CLICKS_FROM, CLICKS_TO, group="subscriber_id")
    assert len(expected) > 100

    entries = list(make_client().iter_link_stats(CLICKS_FROM, CLICKS_TO, "subscriber_id", page_size=100))

    assert entries == expected
    offsets = [int(entry["query"]["offset"]) for entry in sandbox.requests_log()]
    assert offsets == list(range(0, len(expected), 7))


def test_paged_rows_are_complete_when_the_server_serves_smaller_pages_than_asked(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    sandbox.add_fault(path="/metrics/breakdown$", kind="page_cap", max_items=9, count=1000)

    rows = list(make_client().iter_breakdown(track_campaign, JUNE, page_size=500))

    assert rows == truth.breakdown_rows(track_campaign, JUNE.start, JUNE.end, SANDBOX_TODAY)
    assert len(sandbox.requests_log()) == -(-len(rows) // 9) > 1


def test_a_503_with_retry_after_waits_as_asked(make_hook: HookFactory, sandbox: SandboxProcess) -> None:
    sandbox.add_fault(path="/v1/ping", kind="status", status=503, retry_after=2, count=1)
    hook = make_hook(backoff_initial=0.01, backoff_max=0.01)

    started = time.monotonic()
    ok, message = hook.test_connection()

    assert ok, message
    # Only Retry-After can make the one retry wait this long: the backoff is 10 ms.
    assert time.monotonic() - started >= 2.0
    assert [entry["status"] for entry in sandbox.requests_log()] == [503, 200]


def test_a_retry_after_beyond_the_retry_budget_fails_at_once_with_the_error(
    make_client: ClientFactory, sandbox: SandboxProcess
) -> None:
    sandbox.add_fault(path="^/v1/campaigns$", kind="status", status=503, retry_after=600, count=1)

    started = time.monotonic()
    with pytest.raises(SoundlinkServerError, match="HTTP 503"):
        make_client(retry_budget=30).list_campaigns()
    assert time.monotonic() - started < 10
    assert len(sandbox.requests_log()) == 1


def test_a_trickling_json_answer_ends_in_a_clear_error_within_the_calls_deadline(
    make_client: ClientFactory, sandbox: SandboxProcess
) -> None:
    # The campaign list is a few kB: at 100 bytes/s the whole answer would take most of a minute.
    sandbox.add_fault(path="^/v1/campaigns$", kind="trickle", bytes_per_second=100, count=10)

    started = time.monotonic()
    with pytest.raises(
        SoundlinkNetworkError,
        match="did not answer completely: it did not finish within the connection's timeout",
    ):
        make_client(timeout=1, max_attempts=2).list_campaigns()

    # Two attempts of 1 s each, and a short backoff between them.
    assert time.monotonic() - started < 6
    assert len(sandbox.requests_log()) == 2


def test_a_trickling_export_is_cut_off_at_the_export_timeout_and_fetched_again(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="trickle", bytes_per_second=200, count=1)
    target = io.BytesIO()

    started = time.monotonic()
    summary = make_client(export_timeout=1).download_export("breakdown", track_campaign, JUNE, target)

    assert time.monotonic() - started < 8
    expected = truth.breakdown_rows(track_campaign, JUNE.start, JUNE.end, SANDBOX_TODAY)
    assert summary.row_count == len(target.getvalue().splitlines()) == len(expected)
    assert [entry["status"] for entry in sandbox.requests_log()] == [200, 200]


@pytest.mark.parametrize("row_count_header", [True, False])
def test_an_unframed_stream_cut_inside_a_line_is_fetched_again_and_completes(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    truth: SandboxData,
    track_campaign: str,
    row_count_header: bool,
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="unframed", row_count_header=row_count_header, count=2)
    sandbox.add_fault(path="/breakdown/export", kind="cut", after_lines=5, count=1)
    target = io.BytesIO()

    summary = make_client().download_export("breakdown", track_campaign, JUNE, target)

    expected = truth.breakdown_rows(track_campaign, JUNE.start, JUNE.end, SANDBOX_TODAY)
    assert summary.row_count == len(expected) > 5
    assert target.getvalue().count(b"\n") == len(expected)
    assert len(sandbox.requests_log()) == 2


def test_an_unframed_stream_cut_every_time_fails_as_cut_off(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="unframed", row_count_header=False, count=10)
    sandbox.add_fault(path="/breakdown/export", kind="cut", after_lines=3, count=10)

    with pytest.raises(
        SoundlinkStreamError, match="cut off after 3 of \\? rows: the body ended inside line 4"
    ):
        make_client(max_attempts=2).download_export("breakdown", track_campaign, JUNE, io.BytesIO())
    assert len(sandbox.requests_log()) == 2


def test_a_redirect_is_not_followed_and_the_error_says_where_and_why(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(
        path="/v1/campaigns/", kind="redirect", status=301, location="https://elsewhere.example/v2/x"
    )

    with pytest.raises(SoundlinkRedirectError) as raised:
        make_client().get_campaign(track_campaign)

    message = str(raised.value)
    assert "HTTP 301" in message
    assert "redirects to https://elsewhere.example/v2/x" in message
    assert "Redirects are not followed, so the API key never travels to another address" in message
    assert "host (base URL) of connection 'soundlink_default'" in message
    assert isinstance(raised.value, AirflowFailException)
    assert len(sandbox.requests_log()) == 1


@pytest.mark.parametrize(
    ("key", "fault", "error_class"),
    [
        (KEY_REVOKED, None, SoundlinkAuthError),
        (KEY_ALL, {"kind": "status", "status": 500, "count": 10}, SoundlinkServerError),
    ],
)
def test_no_exception_text_holds_the_key_even_when_the_api_echoes_it(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    track_campaign: str,
    key: str,
    fault: dict[str, object] | None,
    error_class: type[Exception],
) -> None:
    sandbox.add_fault(path="", kind="echo_key", count=10)
    if fault:
        sandbox.add_fault(path="/v1/campaigns/", **fault)

    with pytest.raises(error_class) as raised:
        make_client(key, max_attempts=2).get_campaign(track_campaign)

    texts = [str(raised.value), repr(raised.value), *map(str, raised.value.args)]
    assert all(key not in text for text in texts)
    assert "(x-api-key: <redacted>)" in str(raised.value)


def test_a_revoked_key_fails_the_task_without_airflow_retries(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    with pytest.raises(SoundlinkAuthError) as raised:
        make_client(KEY_REVOKED).get_campaign(track_campaign)

    # Airflow 2.11 and 3.x fail a task that raises AirflowFailException at once, whatever its retries.
    assert isinstance(raised.value, AirflowFailException)
    assert not raised.value.retryable
    assert len(sandbox.requests_log()) == 1
