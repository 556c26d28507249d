"""Campaigns, paginated metrics and link statistics, each read to the last page."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from airflow_provider_soundlink.client.api import LINK_STATS_GROUPS
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError, SoundlinkSchemaVersionError
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.testing import SandboxProcess
from support.connections import ClientFactory
from support.emulators import SANDBOX_TODAY

UTC = dt.UTC
MAY = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 19))
CLICKS_FROM = dt.datetime(2026, 5, 1, tzinfo=UTC)
CLICKS_TO = dt.datetime(2026, 5, 19, 23, 59, 59, 999000, tzinfo=UTC)


def pages_requested(sandbox: SandboxProcess, path_end: str, parameter: str) -> list[str]:
    return [entry["query"][parameter] for entry in sandbox.requests_log() if entry["path"].endswith(path_end)]


def test_list_campaigns_returns_every_campaign(
    make_client: ClientFactory, sandbox: SandboxProcess, campaigns: list[dict[str, Any]]
) -> None:
    listed = make_client().list_campaigns()
    expected = [
        {name: value for name, value in campaign.items() if name not in {"firstReportDate", "lastReportDate"}}
        for campaign in campaigns
    ]
    assert listed == expected
    (request,) = sandbox.requests_log()
    assert request["query"] == {"page": "1", "pageSize": "100", "sortBy": "createdAt", "sortOrder": "asc"}


def test_get_campaign(make_client: ClientFactory, truth: SandboxData, playlist_campaign: str) -> None:
    assert make_client().get_campaign(playlist_campaign) == truth.campaign(playlist_campaign, SANDBOX_TODAY)


def test_get_overview(make_client: ClientFactory, truth: SandboxData, track_campaign: str) -> None:
    overview = make_client().get_overview(track_campaign, MAY)
    assert overview == truth.overview(track_campaign, MAY.start, MAY.end, SANDBOX_TODAY)
    assert overview["spend_total"] > 0


def test_breakdown_pages_are_read_to_the_end(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    expected = truth.breakdown_rows(track_campaign, MAY.start, MAY.end, SANDBOX_TODAY)
    rows = list(make_client().iter_breakdown(track_campaign, MAY, page_size=37))
    assert rows == expected
    page_count = math.ceil(len(expected) / 37)
    assert page_count > 5
    assert pages_requested(sandbox, "/metrics/breakdown", "page") == [
        str(page) for page in range(1, page_count + 1)
    ]


def test_breakdown_sorted_by_spend(
    make_client: ClientFactory, truth: SandboxData, track_campaign: str
) -> None:
    rows = list(make_client().iter_breakdown(track_campaign, MAY, sort_by="spend_total", sort_order="desc"))
    spends = [row["spend_total"] for row in rows]
    assert spends == sorted(spends, reverse=True)
    assert len(rows) == len(truth.breakdown_rows(track_campaign, MAY.start, MAY.end, SANDBOX_TODAY))


def test_engagement_pages_are_read_to_the_end(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, playlist_campaign: str
) -> None:
    window = DateWindow(dt.date(2026, 5, 15), dt.date(2026, 5, 19))
    expected = truth.engagement_rows(playlist_campaign, window.start, window.end, SANDBOX_TODAY)
    rows = list(make_client().iter_engagement(playlist_campaign, window, page_size=60))
    assert rows == expected
    assert len(pages_requested(sandbox, "/metrics/engagement", "page")) == math.ceil(len(expected) / 60)


def test_engagement_pages_filtered_by_context(
    make_client: ClientFactory, truth: SandboxData, track_campaign: str
) -> None:
    window = DateWindow(dt.date(2026, 5, 15), dt.date(2026, 5, 19))
    hook = make_client()
    catalog = list(hook.iter_engagement(track_campaign, window, engagement_context="catalog"))
    assert catalog == truth.engagement_rows(
        track_campaign, window.start, window.end, SANDBOX_TODAY, "catalog"
    )
    assert catalog
    assert list(hook.iter_engagement(track_campaign, window, engagement_context="playlist")) == []


def test_paginated_rows_with_an_unknown_schema_version_are_refused(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/metrics/breakdown$", kind="schema_version", version="2.0", count=1)
    with pytest.raises(SoundlinkSchemaVersionError, match=r"page 1 row 1 has schema_version '2\.0'"):
        list(make_client().iter_breakdown(track_campaign, MAY))


def test_an_oversized_page_is_refused_before_calling_the_api(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    with pytest.raises(SoundlinkConfigurationError, match="page_size must be between 1 and 500, got 501"):
        make_client().iter_engagement(track_campaign, MAY, page_size=501)
    with pytest.raises(SoundlinkConfigurationError, match="between 1 and 1000, got 1001"):
        make_client().iter_link_stats(CLICKS_FROM, CLICKS_TO, page_size=1001)
    assert sandbox.requests_log() == []


def test_link_stats_page_through_many_pages(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData
) -> None:
    expected = truth.link_clicks(CLICKS_FROM, CLICKS_TO, group="subscriber_id")
    entries = list(make_client().iter_link_stats(CLICKS_FROM, CLICKS_TO, "subscriber_id", page_size=25))
    assert entries == expected
    page_count = math.ceil(len(expected) / 25)
    assert page_count > 4
    assert pages_requested(sandbox, "/aggregated", "offset") == [str(25 * page) for page in range(page_count)]
    first = sandbox.requests_log()[0]["query"]
    assert (first["period_from"], first["period_to"]) == (
        "2026-05-01T00:00:00.000Z",
        "2026-05-19T23:59:59.999Z",
    )
    assert (first["limit"], first["sort"], first["group"]) == ("25", "-count", "subscriber_id")


@pytest.mark.parametrize("group", LINK_STATS_GROUPS)
def test_every_grouping_sums_to_the_ungrouped_total(
    make_client: ClientFactory, truth: SandboxData, group: str
) -> None:
    hook = make_client()
    (total,) = hook.iter_link_stats(CLICKS_FROM, CLICKS_TO)
    entries = list(hook.iter_link_stats(CLICKS_FROM, CLICKS_TO, group, sort="count"))
    assert entries == truth.link_clicks(CLICKS_FROM, CLICKS_TO, group=group, sort="count")
    assert sum(entry["count"] for entry in entries) == total["count"] > 0


def test_link_stats_filters(make_client: ClientFactory, truth: SandboxData, track_campaign: str) -> None:
    entries = list(
        make_client().iter_link_stats(CLICKS_FROM, CLICKS_TO, "country", campaign_id=track_campaign)
    )
    assert entries == truth.link_clicks(CLICKS_FROM, CLICKS_TO, group="country", campaign_id=track_campaign)
    everyone = truth.link_clicks(CLICKS_FROM, CLICKS_TO, group="country")
    assert sum(entry["count"] for entry in entries) < sum(entry["count"] for entry in everyone)


def test_link_stats_convert_other_time_zones_to_utc(
    make_client: ClientFactory, sandbox: SandboxProcess
) -> None:
    berlin_summer = dt.timezone(dt.timedelta(hours=2))
    list(
        make_client().iter_link_stats(
            dt.datetime(2026, 5, 1, 2, 0, 0, 123456, tzinfo=berlin_summer), CLICKS_TO
        )
    )
    assert sandbox.requests_log()[0]["query"]["period_from"] == "2026-05-01T00:00:00.123Z"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"group": "email"}, "group must be one of campaign_id, subscriber_id"),
        ({"sort": "-clicks"}, "sort must be one of -count, count"),
        ({"period_from": dt.datetime(2026, 5, 1)}, "has no time zone"),
        ({"period_from": CLICKS_TO, "period_to": CLICKS_FROM}, "is before period_from"),
    ],
)
def test_link_stats_arguments_are_checked_before_calling_the_api(
    make_client: ClientFactory, sandbox: SandboxProcess, arguments: dict[str, Any], message: str
) -> None:
    call = {"period_from": CLICKS_FROM, "period_to": CLICKS_TO, **arguments}
    with pytest.raises(SoundlinkConfigurationError, match=message):
        make_client().iter_link_stats(**call)
    assert sandbox.requests_log() == []
