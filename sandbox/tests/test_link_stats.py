"""Link click statistics: groupings agree with each other, paging is stable, filters filter."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pytest

from soundlink_sandbox.data import LINK_STATS_GROUP_FIELDS, SandboxData

from .conftest import SandboxClient

PERIOD = {"period_from": "2026-03-01T00:00:00.000Z", "period_to": "2026-03-31T23:59:59.999Z"}
PERIOD_BOUNDS = (
    dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 31, 23, 59, 59, 999000, tzinfo=dt.UTC),
)
PATH = "/tracking/link/stats/aggregated"


def all_pages(client: SandboxClient, limit: int, **params: str) -> tuple[list[dict[str, Any]], int]:
    entries: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = client.get(PATH, offset=str(offset), limit=str(limit), **PERIOD, **params).json()
        assert (body["meta"]["offset"], body["meta"]["limit"]) == (offset, limit)
        entries += body["data"]
        offset += limit
        if offset >= body["meta"]["count"]:
            return entries, body["meta"]["count"]


def test_every_grouping_sums_to_the_ungrouped_total(client: SandboxClient) -> None:
    total = client.get(PATH, **PERIOD).json()
    assert total["meta"]["count"] == 1
    (ungrouped,) = total["data"]
    assert set(ungrouped) == {"count"} and ungrouped["count"] > 100
    for group, fields in LINK_STATS_GROUP_FIELDS.items():
        entries, count = all_pages(client, 1000, group=group)
        assert len(entries) == count
        assert sum(entry["count"] for entry in entries) == ungrouped["count"], group
        assert all(set(entry) == {*fields, "count"} for entry in entries)
        assert len({tuple(entry[field] for field in fields) for entry in entries}) == len(entries)


def test_paging_many_small_pages_matches_one_big_page(client: SandboxClient, truth: SandboxData) -> None:
    small, count = all_pages(client, 7, group="ip", sort="count")
    assert count > 50
    assert small == all_pages(client, 1000, group="ip", sort="count")[0]
    assert small == truth.link_clicks(*PERIOD_BOUNDS, group="ip", sort="count")
    counts = [(entry["count"], entry["ip"]) for entry in small]
    assert counts == sorted(counts)
    assert all(ipaddress.ip_address(entry["ip"]).version == 4 for entry in small)


def test_default_sort_is_descending_count_with_ties_by_group(client: SandboxClient) -> None:
    entries, _ = all_pages(client, 1000, group="subscriber_id")
    keys = [(-entry["count"], entry["subscriber_id"]) for entry in entries]
    assert keys == sorted(keys)
    assert all("@" in entry["subscriber_id"] for entry in entries)


@pytest.mark.parametrize(
    ("filter_name", "group"),
    [("campaign_id", "device"), ("subscriber_id", "campaign_id"), ("profile_id", "country")],
)
def test_filters_restrict_every_grouping_consistently(
    client: SandboxClient, truth: SandboxData, filter_name: str, group: str
) -> None:
    chosen = getattr(truth.click_events(*PERIOD_BOUNDS)[0], filter_name)
    filtered_total = client.get(PATH, **PERIOD, **{filter_name: chosen}).json()["data"][0]["count"]
    unfiltered_total = client.get(PATH, **PERIOD).json()["data"][0]["count"]
    assert 0 < filtered_total < unfiltered_total
    assert filtered_total == len(truth.click_events(*PERIOD_BOUNDS, **{filter_name: chosen}))
    entries, _ = all_pages(client, 1000, group=group, **{filter_name: chosen})
    assert sum(entry["count"] for entry in entries) == filtered_total


def test_period_bounds_are_inclusive(client: SandboxClient, truth: SandboxData) -> None:
    event = truth.click_events(*PERIOD_BOUNDS)[0]
    stamp = event.timestamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    exact = client.get(PATH, period_from=stamp, period_to=stamp).json()["data"][0]["count"]
    assert exact == len(truth.click_events(event.timestamp, event.timestamp)) >= 1
    after = (event.timestamp + dt.timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert client.get(PATH, period_from=stamp, period_to=after).json()["data"][0]["count"] == exact
