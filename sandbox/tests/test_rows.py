"""Shapes, headers, order and values of the campaign and metrics endpoints."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.encoding import loads

from .conftest import TODAY, SandboxClient

COMMON_LEADING_FIELDS = [
    "provider",
    "account_id",
    "schema_version",
    "report_date",
    "report_date_timezone",
    "exported_at",
    "campaign_id",
    "campaign_name",
    "campaign_target_type",
    "campaign_target_isrc",
    "campaign_target_spotify_track_id",
    "campaign_target_playlist_id",
]
BREAKDOWN_FIELDS = [
    *COMMON_LEADING_FIELDS,
    "country_code",
    "impressions",
    "ad_clicks",
    "link_clicks",
    "streams",
    "listeners",
    "followers",
    "spend_media",
    "spend_total",
    "fees",
    "currency",
    "currency_account",
    "streams_per_listener",
    "cpl",
    "cpf",
    "cost_per_result",
    "result_type",
    "cpc_linkclick",
    "ctr_linkclick",
    "ctr_adclick",
]
ENGAGEMENT_FIELDS = [
    *COMMON_LEADING_FIELDS,
    "status",
    "engagement_context",
    "country_code",
    "engaged_track_isrc",
    "engaged_spotify_track_id",
    "engaged_track_name",
    "playlist_position",
    "new_listeners",
    "returning_listeners",
    "listeners",
    "new_listener_streams",
    "returning_listener_streams",
    "streams",
    "spl",
]
SIX_PLACES = Decimal("0.000001")
WINDOW = (TODAY - dt.timedelta(days=90), TODAY - dt.timedelta(days=1))


def six_places(value: Decimal) -> Decimal:
    return value.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def jsonl(body: bytes) -> list[dict[str, Any]]:
    return [loads(line) for line in body.splitlines() if line]


def test_campaign_list_envelope_and_order(client: SandboxClient, truth: SandboxData) -> None:
    first = client.get("/v1/campaigns", pageSize="4").json()
    second = client.get("/v1/campaigns", pageSize="4", page="2").json()
    assert first["data"]["pagination"] == {"page": 1, "pageSize": 4, "totalCount": 6, "totalPages": 2}
    assert second["data"]["pagination"]["page"] == 2
    listed = first["data"]["items"] + second["data"]["items"]
    expected = [
        {key: value for key, value in campaign.items() if key not in ("firstReportDate", "lastReportDate")}
        for campaign in reversed(truth.campaigns(TODAY))
    ]
    assert [loads(json.dumps(item)) for item in listed] == expected
    ascending = client.get("/v1/campaigns", sortOrder="asc").json()["data"]["items"]
    assert [item["createdAt"] for item in ascending] == sorted(item["createdAt"] for item in listed)


def test_campaign_mix_covers_targets_states_and_id_styles(campaigns: dict[str, dict[str, Any]]) -> None:
    ids = [campaign["campaignId"] for campaign in campaigns.values()]
    uuid_shape = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert any(campaign_id.startswith("camp_") for campaign_id in ids)
    assert any(uuid_shape.fullmatch(campaign_id) for campaign_id in ids)
    assert {campaign["status"] for campaign in campaigns.values()} == {"active", "ended"}
    first_dates = [campaign["firstReportDate"] for campaign in campaigns.values()]
    assert TODAY - min(first_dates) > dt.timedelta(days=365)


def test_get_campaign_matches_the_truth(client: SandboxClient, campaigns: dict[str, dict[str, Any]]) -> None:
    campaign = campaigns["active_playlist"]
    body = client.get(f"/v1/campaigns/{campaign['campaignId']}").content
    data = loads(body)["data"]
    assert data == {key: value for key, value in campaign.items() if not key.endswith("ReportDate")}
    assert data["status"] == "active"
    assert re.search(rb'"dailyBudget":\d+\.\d+,', body)


def test_breakdown_export_headers_and_rows_match_the_truth(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    start, end = WINDOW
    response = client.export("breakdown", campaign_id, start, end)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="breakdown_{campaign_id}_{start.isoformat()}_{end.isoformat()}.jsonl"'
    )
    rows = jsonl(response.content)
    assert (
        int(response.headers["X-Row-Count"]) == len(rows) == 90 * len({row["country_code"] for row in rows})
    )
    assert 25 <= len({row["country_code"] for row in rows}) <= 40
    assert rows == truth.breakdown_rows(campaign_id, start, end, TODAY)
    assert all(list(row) == BREAKDOWN_FIELDS for row in rows)
    keys = [(row["report_date"], row["country_code"]) for row in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(("role", "context"), [("active_track", "catalog"), ("active_playlist", "playlist")])
def test_engagement_export_headers_and_rows_match_the_truth(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]], role: str, context: str
) -> None:
    campaign_id = campaigns[role]["campaignId"]
    start, end = WINDOW
    response = client.export("engagement", campaign_id, start, end)
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="engagement_{campaign_id}_{start.isoformat()}_{end.isoformat()}.jsonl"'
    )
    rows = jsonl(response.content)
    assert 1000 <= int(response.headers["X-Row-Count"]) == len(rows) <= 9000
    assert rows == truth.engagement_rows(campaign_id, start, end, TODAY)
    assert all(list(row) == ENGAGEMENT_FIELDS for row in rows)
    assert {row["engagement_context"] for row in rows} == {context}
    keys = [
        (row["report_date"], row["engagement_context"], row["country_code"], row["engaged_spotify_track_id"])
        for row in rows
    ]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    positions = {row["playlist_position"] for row in rows}
    if context == "playlist":
        assert None not in positions
        assert min(positions) == 1
        assert all(row["campaign_target_playlist_id"] and not row["campaign_target_isrc"] for row in rows)
    else:
        assert positions == {None}
        assert all(row["campaign_target_isrc"] and row["campaign_target_spotify_track_id"] for row in rows)
        target = rows[0]["campaign_target_spotify_track_id"]
        assert target in {row["engaged_spotify_track_id"] for row in rows}


def test_engagement_context_filter(client: SandboxClient, campaigns: dict[str, dict[str, Any]]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    day = TODAY - dt.timedelta(days=10)
    catalog = client.export("engagement", campaign_id, day, day, engagementContext="catalog")
    playlist = client.export("engagement", campaign_id, day, day, engagementContext="playlist")
    assert int(catalog.headers["X-Row-Count"]) == len(jsonl(catalog.content)) > 0
    assert playlist.headers["X-Row-Count"] == "0"
    assert playlist.content == b""


def test_untargeted_campaign_has_breakdown_but_no_engagement(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign = campaigns["untargeted"]
    start = campaign["firstReportDate"]
    end = start + dt.timedelta(days=20)
    breakdown = jsonl(client.export("breakdown", campaign["campaignId"], start, end).content)
    assert breakdown
    assert {row["campaign_target_type"] for row in breakdown} == {None}
    assert client.export("engagement", campaign["campaignId"], start, end).headers["X-Row-Count"] == "0"


def test_breakdown_derived_fields_are_consistent(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign = campaigns["recently_ended_track"]
    fee = truth.fee_pct(campaign["campaignId"])
    # The window spans the campaign's end, after which ad delivery stops and divisors become 0.
    end = campaign["lastReportDate"]
    rows = jsonl(client.export("breakdown", campaign["campaignId"], end - dt.timedelta(days=60), end).content)
    null_link_clicks = 0
    for row in rows:
        spend_media, spend_total = row["spend_media"], row["spend_total"]
        assert isinstance(spend_media, Decimal)
        assert spend_total == six_places(spend_media / (1 - fee))
        assert row["fees"] == spend_total - spend_media
        listeners, followers, impressions = row["listeners"], row["followers"], row["impressions"]
        assert row["cpl"] == (six_places(spend_media / listeners) if listeners else 0)
        assert (
            row["cpf"] == row["cost_per_result"] == (six_places(spend_media / followers) if followers else 0)
        )
        assert row["streams_per_listener"] == (
            six_places(Decimal(row["streams"]) / listeners) if listeners else 0
        )
        assert row["result_type"] == "follow"
        assert row["currency"] == row["currency_account"] == "USD"
        link_clicks = row["link_clicks"]
        null_link_clicks += link_clicks is None
        assert row["cpc_linkclick"] == (six_places(spend_media / link_clicks) if link_clicks else None)
        expected_ctr = (
            six_places(Decimal(link_clicks) / impressions)
            if link_clicks is not None and impressions
            else None
        )
        assert row["ctr_linkclick"] == expected_ctr
        assert row["ctr_adclick"] == (
            six_places(Decimal(row["ad_clicks"]) / impressions) if impressions else None
        )
        for name in ("spend_media", "spend_total", "fees", "cpl", "cpf", "streams_per_listener"):
            assert -row[name].as_tuple().exponent <= 6
    assert null_link_clicks > 0
    after_end = [row for row in rows if row["report_date"] > "2026-04-30"]
    assert after_end and all(row["impressions"] == 0 and row["ctr_adclick"] is None for row in after_end)
    assert any(row["streams"] > 0 for row in after_end)


def test_money_is_written_as_exact_decimal_literals(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    body = client.export("breakdown", campaign_id, WINDOW[0], WINDOW[0]).content.decode()
    spends = re.findall(r'"spend_total":([^,]+),', body)
    assert spends and all(re.fullmatch(r"\d+\.\d{1,6}", spend) for spend in spends)


def test_engagement_derived_fields_and_statuses(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign = campaigns["recently_ended_track"]
    first = campaign["firstReportDate"]
    lead_in = jsonl(
        client.export("engagement", campaign["campaignId"], first, first + dt.timedelta(days=5)).content
    )
    tail = jsonl(
        client.export(
            "engagement", campaign["campaignId"], dt.date(2026, 4, 25), campaign["lastReportDate"]
        ).content
    )
    statuses = {row["report_date"]: row["status"] for row in lead_in + tail}
    assert statuses["2025-11-03"] == statuses["2025-11-04"] == "scheduled"
    assert statuses["2025-11-05"] == statuses["2026-04-30"] == "active"
    assert statuses["2026-05-01"] == statuses["2026-05-07"] == "ended"
    assert "2026-05-08" not in statuses
    for row in lead_in + tail:
        assert row["listeners"] == row["new_listeners"] + row["returning_listeners"]
        assert row["streams"] == row["new_listener_streams"] + row["returning_listener_streams"]
        expected_spl = six_places(Decimal(row["streams"]) / row["listeners"]) if row["listeners"] else 0
        assert row["spl"] == expected_spl
        assert min(row["new_listeners"], row["returning_listeners"], row["streams"]) >= 0
    assert any(row["listeners"] == 0 and row["spl"] == 0 for row in lead_in)
    assert any(row["engaged_track_isrc"] is None for row in tail)


def test_rows_stop_the_day_before_today(client: SandboxClient, campaigns: dict[str, dict[str, Any]]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.export(
        "breakdown", campaign_id, TODAY - dt.timedelta(days=2), TODAY + dt.timedelta(days=30)
    )
    assert response.status_code == 200
    dates = {row["report_date"] for row in jsonl(response.content)}
    assert dates == {(TODAY - dt.timedelta(days=2)).isoformat(), (TODAY - dt.timedelta(days=1)).isoformat()}


def test_omitted_dates_mean_the_last_90_days(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.get(f"/v1/campaigns/{campaign_id}/metrics/breakdown/export")
    start = TODAY - dt.timedelta(days=89)
    assert f"_{start.isoformat()}_{TODAY.isoformat()}.jsonl" in response.headers["Content-Disposition"]
    assert min(row["report_date"] for row in jsonl(response.content)) == start.isoformat()


def test_breakdown_pages_cover_the_export_in_each_sort(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_playlist"]["campaignId"]
    start, end = TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=1)
    expected = truth.breakdown_rows(campaign_id, start, end, TODAY)
    path = f"/v1/campaigns/{campaign_id}/metrics/breakdown"
    dates = {"startDate": start.isoformat(), "endDate": end.isoformat()}
    for sort_by, sort_order in (("report_date", "asc"), ("report_date", "desc"), ("spend_total", "desc")):
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = loads(
                client.get(
                    path, page=str(page), pageSize="250", sortBy=sort_by, sortOrder=sort_order, **dates
                ).content
            )
            assert body["data"]["schemaVersion"] == "1.0"
            pagination = body["data"]["pagination"]
            assert pagination["totalCount"] == len(expected)
            items += body["data"]["items"]
            if page >= pagination["totalPages"]:
                break
            page += 1
        assert pagination["totalPages"] == -(-len(expected) // 250)
        if sort_by == "report_date":
            assert items == (expected if sort_order == "asc" else expected[::-1])
        else:
            spends = [item["spend_total"] for item in items]
            assert spends == sorted(spends, reverse=True)
            assert sorted(items, key=lambda item: (item["report_date"], item["country_code"])) == expected


def test_engagement_pages_cover_the_export(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    start, end = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=1)
    expected = truth.engagement_rows(campaign_id, start, end, TODAY)
    path = f"/v1/campaigns/{campaign_id}/metrics/engagement"
    dates = {"startDate": start.isoformat(), "endDate": end.isoformat()}
    for sort_order, order in (("asc", expected), ("desc", expected[::-1])):
        items = []
        for page in range(1, 100):
            data = loads(
                client.get(path, page=str(page), pageSize="33", sortOrder=sort_order, **dates).content
            )["data"]
            items += data["items"]
            if page == data["pagination"]["totalPages"]:
                break
        assert data["pagination"]["totalCount"] == len(expected)
        assert items == order


def test_overview_totals_are_the_breakdown_sums(
    client: SandboxClient, truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    start, end = WINDOW
    overview = loads(
        client.get(
            f"/v1/campaigns/{campaign_id}/metrics/overview",
            startDate=start.isoformat(),
            endDate=end.isoformat(),
        ).content
    )["data"]
    rows = truth.breakdown_rows(campaign_id, start, end, TODAY)
    for name in (
        "listeners",
        "streams",
        "followers",
        "impressions",
        "ad_clicks",
        "spend_media",
        "spend_total",
        "fees",
    ):
        assert overview[name] == sum(row[name] for row in rows), name
    assert overview["link_clicks"] == sum(row["link_clicks"] or 0 for row in rows)
    assert overview["cpl"] == six_places(overview["spend_media"] / overview["listeners"])
    assert overview["cpf"] == six_places(overview["spend_media"] / overview["followers"])
    assert overview["streams_per_listener"] == six_places(
        Decimal(overview["streams"]) / overview["listeners"]
    )
    assert overview["currency"] == "USD"
    assert (overview["campaignId"], overview["startDate"], overview["endDate"]) == (
        campaign_id,
        start.isoformat(),
        end.isoformat(),
    )
