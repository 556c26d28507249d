"""The client in process, without Airflow or a server: what it sends, how it maps each error, when it
retries and waits, how it walks pages, and how it checks an export stream (tests/support/fake_api.py)."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
from typing import Any

import pytest
import requests

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import (
    SoundlinkAPIError,
    SoundlinkAuthError,
    SoundlinkBadRequestError,
    SoundlinkConfigurationError,
    SoundlinkListingChangedError,
    SoundlinkNetworkError,
    SoundlinkNotFoundError,
    SoundlinkRateLimitError,
    SoundlinkScopeError,
    SoundlinkServerError,
    SoundlinkStreamError,
    SoundlinkUnexpectedResponseError,
)
from support.export_rows import export_body, export_row
from support.fake_api import API_KEY, Answer, api_error, fake_client

MAY = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 7))


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the waits between attempts instead of sleeping them (tenacity sleeps through time.sleep)."""
    recorded: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", recorded.append)
    return recorded


def campaign_page(ids: list[str], total: int, pages: int) -> Answer:
    items = [{"campaignId": campaign_id, "name": campaign_id} for campaign_id in ids]
    pagination = {"totalCount": total, "totalPages": pages}
    return Answer(json={"data": {"items": items, "pagination": pagination}, "meta": {"requestId": "req_p"}})


def link_stats_page(groups: list[str], total: int) -> Answer:
    entries = [{"country": group, "count": 1} for group in groups]
    return Answer(json={"data": entries, "meta": {"count": total, "requestId": "req_l"}})


# --- what is sent ------------------------------------------------------------------------------------


def test_a_request_carries_the_key_in_its_header_and_escapes_the_campaign_id() -> None:
    client, api = fake_client(Answer(json={"data": {"campaignId": "camp a/1"}}))

    assert client.get_campaign("camp a/1") == {"campaignId": "camp a/1"}

    (sent,) = api.sent
    assert (sent.method, sent.path) == ("GET", "/v1/campaigns/camp%20a%2F1")
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["Accept"] == "application/json"
    assert "Authorization" not in sent.headers
    assert sent.headers["User-Agent"].startswith("airflow-provider-soundlink/")


def test_an_export_asks_for_jsonl_over_the_window_and_context() -> None:
    client, api = fake_client(Answer(body=b"", headers={"X-Row-Count": "0"}))

    assert list(client.iter_export("engagement", "camp_a", MAY, "catalog")) == []

    (sent,) = api.sent
    assert sent.path == "/v1/campaigns/camp_a/metrics/engagement/export"
    assert sent.query == {"startDate": "2026-05-01", "endDate": "2026-05-07", "engagementContext": "catalog"}
    assert sent.headers["Accept"] == "application/x-ndjson"


@pytest.mark.parametrize("campaign_id", ["", ".", ".."])
def test_an_id_that_would_address_another_resource_is_refused_before_sending(campaign_id: str) -> None:
    client, api = fake_client()
    with pytest.raises(SoundlinkConfigurationError, match="names no campaign"):
        client.get_campaign(campaign_id)
    assert api.sent == []


def test_a_window_beyond_the_export_cap_is_refused_before_sending() -> None:
    client, api = fake_client()
    with pytest.raises(SoundlinkConfigurationError, match="at most 90 days"):
        list(client.iter_export("breakdown", "camp_a", DateWindow(dt.date(2026, 1, 1), dt.date(2026, 4, 30))))
    assert api.sent == []


# --- errors: each status its error, with the fix and the request id ---------------------------------


@pytest.mark.parametrize(
    ("answer", "error_class", "words"),
    [
        (api_error(401, "api_key_revoked", "key revoked"), SoundlinkAuthError, "Create a new API key"),
        (
            api_error(403, "insufficient_scope", "missing metrics:read"),
            SoundlinkScopeError,
            "add metrics:read to the key",
        ),
        (api_error(404, "not_found", "no such campaign"), SoundlinkNotFoundError, "no such campaign"),
        (
            api_error(400, "invalid_date_range", "endDate before startDate"),
            SoundlinkBadRequestError,
            "endDate",
        ),
    ],
)
def test_a_refusal_fails_at_once_naming_the_fix_and_the_request_id(
    answer: Answer, error_class: type[SoundlinkAPIError], words: str, waits: list[float]
) -> None:
    client, api = fake_client(answer)

    with pytest.raises(error_class) as raised:
        client.get_overview("camp_a", MAY)

    assert words in str(raised.value)
    assert "(request id: req_unit1)" in str(raised.value)
    assert raised.value.request_id == "req_unit1"
    assert len(api.sent) == 1 and waits == []


def test_server_errors_are_retried_and_the_last_is_raised_once_attempts_run_out(
    waits: list[float],
) -> None:
    client, api = fake_client(*(api_error(503, "unavailable", "try later") for _ in range(3)), max_attempts=3)

    with pytest.raises(SoundlinkServerError) as raised:
        client.get_overview("camp_a", MAY)

    assert raised.value.status == 503
    assert len(api.sent) == 3 and len(waits) == 2


def test_a_server_error_then_success_returns_the_answer(waits: list[float]) -> None:
    client, api = fake_client(
        api_error(500, "internal_error", "oops"), Answer(json={"data": {"campaignId": "camp_a"}})
    )
    assert client.get_overview("camp_a", MAY) == {"campaignId": "camp_a"}
    assert len(api.sent) == 2


def test_an_error_body_that_is_not_the_documented_json_is_still_shown() -> None:
    client, _ = fake_client(Answer(502, body=b"<html>Bad Gateway from the edge</html>"), max_attempts=1)
    with pytest.raises(SoundlinkServerError, match="Bad Gateway from the edge"):
        client.get_campaign("camp_a")


def test_a_success_that_is_not_the_documented_envelope_is_an_unexpected_response() -> None:
    client, _ = fake_client(Answer(json=["not", "an", "object"]))
    with pytest.raises(SoundlinkUnexpectedResponseError, match="a JSON object"):
        client.get_campaign("camp_a")


def test_no_response_is_retried_then_a_network_error(waits: list[float]) -> None:
    refused = requests.ConnectionError("connection refused")
    client, api = fake_client(refused, refused, max_attempts=2)
    with pytest.raises(SoundlinkNetworkError, match="got no response"):
        client.get_campaign("camp_a")
    assert len(api.sent) == 2 and len(waits) == 1


def test_an_echoed_key_is_cut_from_the_error() -> None:
    client, _ = fake_client(api_error(401, "invalid_api_key", f"unknown key {API_KEY}"))
    with pytest.raises(SoundlinkAuthError) as raised:
        client.get_campaign("camp_a")
    assert API_KEY not in str(raised.value) + repr(raised.value)


# --- Retry-After ---------------------------------------------------------------------------------------


def test_rate_limits_wait_what_retry_after_asks_in_seconds(waits: list[float]) -> None:
    client, _ = fake_client(
        api_error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "7"}),
        Answer(json={"data": {"campaignId": "camp_a"}}),
    )
    assert client.get_campaign("camp_a") == {"campaignId": "camp_a"}
    assert waits == [7.0]


def test_retry_after_as_an_http_date_waits_until_then(waits: list[float]) -> None:
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    client, _ = fake_client(
        api_error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": later}),
        Answer(json={"data": {"campaignId": "camp_a"}}),
    )
    client.get_campaign("camp_a")
    (waited,) = waits
    assert 25 < waited <= 30


def test_a_retry_after_beyond_the_budget_fails_at_once_saying_what_to_raise(waits: list[float]) -> None:
    client, api = fake_client(
        api_error(429, "rate_limit_exceeded", "slow down", **{"Retry-After": "600"}), retry_budget=60
    )
    with pytest.raises(SoundlinkRateLimitError) as raised:
        client.get_campaign("camp_a")
    assert "asked to wait 600 s (Retry-After)" in str(raised.value)
    assert "raise it, or run later" in str(raised.value)
    assert len(api.sent) == 1 and waits == []


# --- pages -------------------------------------------------------------------------------------------


def test_campaigns_are_read_page_by_page_until_the_announced_total() -> None:
    client, api = fake_client(campaign_page(["a", "b"], 3, 2), campaign_page(["c"], 3, 2))

    assert [campaign["campaignId"] for campaign in client.list_campaigns()] == ["a", "b", "c"]
    assert [sent.query["page"] for sent in api.sent] == ["1", "2"]


def test_pages_that_end_short_of_their_total_fail_loudly() -> None:
    client, _ = fake_client(campaign_page(["a", "b"], 5, 2), campaign_page([], 5, 2))
    with pytest.raises(SoundlinkAPIError, match="ended after 2 of the 5 entries"):
        client.list_campaigns()


def test_a_listing_that_moves_while_read_is_read_again_from_the_start() -> None:
    # A campaign inserted before page 2 pushes "b" onto it: seen twice, so the whole listing is read again.
    client, api = fake_client(
        campaign_page(["a", "b"], 3, 2),
        campaign_page(["b", "c"], 4, 2),
        campaign_page(["new", "a"], 4, 2),
        campaign_page(["b", "c"], 4, 2),
    )
    assert [campaign["campaignId"] for campaign in client.list_campaigns()] == ["new", "a", "b", "c"]
    assert len(api.sent) == 4


def test_a_listing_that_keeps_moving_fails_after_max_attempts_reads() -> None:
    moving = [campaign_page(["a", "b"], 3, 2), campaign_page(["b"], 3, 2)]
    client, _ = fake_client(*moving, *moving, max_attempts=2)
    with pytest.raises(SoundlinkListingChangedError, match="changed while its pages were read"):
        client.list_campaigns()


def test_link_stats_advance_by_what_each_page_returned() -> None:
    when = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    client, api = fake_client(link_stats_page(["DE", "FR"], 3), link_stats_page(["US"], 3))

    entries = list(client.iter_link_stats(when, when + dt.timedelta(hours=1), "country", page_size=5))

    assert [entry["country"] for entry in entries] == ["DE", "FR", "US"]
    assert [sent.query["offset"] for sent in api.sent] == ["0", "2"]
    assert api.sent[0].query["limit"] == "5"


# --- export streams ----------------------------------------------------------------------------------


def export_answer(rows: list[dict[str, Any]], announced: int | None = None) -> Answer:
    headers = {"Content-Type": "application/x-ndjson"}
    if announced is not None:
        headers["X-Row-Count"] = str(announced)
    return Answer(body=export_body(rows), headers=headers)


def test_an_export_yields_each_line_with_its_exact_row() -> None:
    rows = [export_row(ExportKind.BREAKDOWN, country_code=code) for code in ("DE", "FR")]
    client, _ = fake_client(export_answer(rows, announced=2))

    lines = list(client.iter_export("breakdown", "camp_a", MAY))

    assert [line.row["country_code"] for line in lines] == ["DE", "FR"]
    assert lines[0].raw == export_body(rows[:1]).rstrip(b"\n")


def test_an_export_short_of_its_row_count_is_a_cut_stream() -> None:
    client, _ = fake_client(export_answer([export_row(ExportKind.BREAKDOWN)], announced=2))
    with pytest.raises(
        SoundlinkStreamError, match="ended after 1 rows, but its X-Row-Count header announced 2"
    ):
        list(client.iter_export("breakdown", "camp_a", MAY))


def test_a_broken_export_is_downloaded_again_whole(waits: list[float]) -> None:
    rows = [export_row(ExportKind.BREAKDOWN, country_code=code) for code in ("DE", "FR")]
    client, api = fake_client(export_answer(rows[:1], announced=2), export_answer(rows, announced=2))

    target = io.BytesIO()
    summary = client.download_export("breakdown", "camp_a", MAY, target)

    assert summary.row_count == 2
    assert target.getvalue() == export_body(rows)
    assert len(api.sent) == 2
