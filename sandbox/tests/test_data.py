"""The data set on its own: determinism, seeds, scale and the campaign timeline."""

from __future__ import annotations

import datetime as dt

import pytest

from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.encoding import dumps, loads, micros_literal

from .conftest import TODAY

WINDOW_90 = (TODAY - dt.timedelta(days=90), TODAY - dt.timedelta(days=1))


def test_same_seed_same_data_other_seed_other_data() -> None:
    first, again, other = SandboxData(seed=7), SandboxData(seed=7), SandboxData(seed=8)
    first_ids = [campaign["campaignId"] for campaign in first.campaigns(TODAY)]
    assert first_ids == [campaign["campaignId"] for campaign in again.campaigns(TODAY)]
    assert set(first_ids).isdisjoint(campaign["campaignId"] for campaign in other.campaigns(TODAY))
    assert first.account_id == again.account_id != other.account_id
    campaign_id = first_ids[2]
    assert first.engagement_rows(campaign_id, *WINDOW_90, TODAY) == again.engagement_rows(
        campaign_id, *WINDOW_90, TODAY
    )


def test_scale_one_is_small_and_scale_one_hundred_passes_a_million_rows() -> None:
    small, large = SandboxData(scale=1), SandboxData(scale=100)
    for campaign in small.campaigns(TODAY):
        if campaign["status"] != "active":
            continue
        rows_small = small.engagement_row_count(campaign["campaignId"], *WINDOW_90, TODAY)
        rows_large = large.engagement_row_count(campaign["campaignId"], *WINDOW_90, TODAY)
        assert 1000 <= rows_small <= 9000
        assert rows_large >= 1_000_000


def test_scale_keeps_breakdown_rows_and_must_be_positive() -> None:
    small, large = SandboxData(scale=1), SandboxData(scale=3)
    campaign_id = small.campaigns(TODAY)[2]["campaignId"]
    assert small.breakdown_rows(campaign_id, *WINDOW_90, TODAY) == large.breakdown_rows(
        campaign_id, *WINDOW_90, TODAY
    )
    with pytest.raises(ValueError, match="scale"):
        SandboxData(scale=0)


def test_campaign_report_ranges_follow_today() -> None:
    data = SandboxData()
    running = data.campaigns(TODAY)[2]
    assert running["lastReportDate"] == TODAY - dt.timedelta(days=1)
    ended = data.campaigns(TODAY)[0]
    assert ended["lastReportDate"] == dt.date(2025, 7, 7)
    before_any = data.campaigns(dt.date(2025, 1, 1))
    assert {(campaign["firstReportDate"], campaign["lastReportDate"]) for campaign in before_any} == {
        (None, None)
    }
    assert {campaign["status"] for campaign in before_any} == {"scheduled"}


def test_leap_day_has_rows_for_running_campaigns() -> None:
    data = SandboxData()
    today = dt.date(2028, 3, 5)
    campaign_id = data.campaigns(today)[3]["campaignId"]
    leap_rows = data.breakdown_rows(campaign_id, dt.date(2028, 2, 29), dt.date(2028, 2, 29), today)
    assert leap_rows and {row["report_date"] for row in leap_rows} == {"2028-02-29"}


def test_engagement_paging_skips_and_reverses_like_the_full_list() -> None:
    data = SandboxData()
    campaign_id = data.campaigns(TODAY)[3]["campaignId"]
    window = (TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1))
    everything = list(data.engagement_lines(campaign_id, *window, TODAY))
    assert list(data.engagement_lines(campaign_id, *window, TODAY, skip=45)) == everything[45:]
    assert (
        list(data.engagement_lines(campaign_id, *window, TODAY, descending=True, skip=45))
        == everything[::-1][45:]
    )


@pytest.mark.parametrize(
    ("micros", "literal"), [(0, "0.0"), (12_000_000, "12.0"), (1_480_000, "1.48"), (14_286, "0.014286")]
)
def test_decimal_literals_are_exact(micros: int, literal: str) -> None:
    assert micros_literal(micros) == literal
    assert dumps(loads(f'{{"value":{literal}}}')) == f'{{"value":{literal}}}'


def test_thousands_of_campaigns_mostly_long_ended_keep_the_six_fixed_ones() -> None:
    fixed = SandboxData().campaigns(TODAY)
    many = SandboxData(campaigns=3000)
    listed = many.campaigns(TODAY)

    assert len(listed) == len({campaign["campaignId"] for campaign in listed}) == 3000
    assert listed[:6] == fixed
    assert [campaign["campaignId"] for campaign in SandboxData(campaigns=3000).campaigns(TODAY)] == [
        campaign["campaignId"] for campaign in listed
    ]
    recent = [
        c for c in listed if c["lastReportDate"] and c["lastReportDate"] >= TODAY - dt.timedelta(days=8)
    ]
    ended_long_ago = [c for c in listed if c["lastReportDate"] and c["lastReportDate"] < dt.date(2025, 1, 1)]
    assert 20 < len(recent) < 150
    assert len(ended_long_ago) > 2500
    assert all(c["status"] == "ended" for c in ended_long_ago)


def test_fewer_campaigns_than_the_fixed_six_are_refused() -> None:
    with pytest.raises(ValueError, match="campaigns must be at least 6"):
        SandboxData(campaigns=5)
