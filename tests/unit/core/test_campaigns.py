"""Which listed campaigns can have rows in a window: the skip rule never drops a campaign with rows."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.dag_factory import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    campaigns_with_possible_rows,
)
from soundlink_sandbox.data import SandboxData


def _has_rows_in(campaign: dict[str, object], window: DateWindow) -> bool:
    first, last = campaign["firstReportDate"], campaign["lastReportDate"]
    return first is not None and last is not None and first <= window.end and last >= window.start  # type: ignore[operator]


@pytest.mark.parametrize("tail_days", [8, DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS])
def test_the_skip_rule_never_skips_a_campaign_with_rows_in_the_window(tail_days: int) -> None:
    truth = SandboxData()
    skipped_any = False
    for today in (dt.date(2025, 3, 1) + dt.timedelta(days=offset) for offset in range(0, 520, 3)):
        campaigns = truth.campaigns(today)
        window = DateWindow(today - dt.timedelta(days=8), today - dt.timedelta(days=1))
        choice = campaigns_with_possible_rows(campaigns, window, tail_days)

        by_id = {campaign["campaignId"]: campaign for campaign in campaigns}
        assert not [c for c in choice.created_later + choice.ended_before if _has_rows_in(by_id[c], window)]
        assert sorted(choice.chosen + choice.created_later + choice.ended_before) == sorted(by_id)
        skipped_any = skipped_any or bool(choice.ended_before)
    assert skipped_any


def test_without_the_skip_rule_only_campaigns_created_later_are_skipped() -> None:
    campaigns = SandboxData().campaigns(dt.date(2026, 6, 15))
    window = DateWindow(dt.date(2026, 6, 7), dt.date(2026, 6, 14))

    with_rule = campaigns_with_possible_rows(campaigns, window, DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS)
    without = campaigns_with_possible_rows(campaigns, window, None)

    assert with_rule.ended_before
    assert without.ended_before == []
    assert sorted(without.chosen) == sorted(with_rule.chosen + with_rule.ended_before)
    assert "skipped 0 created after 2026-06-14 and" in with_rule.describe(len(campaigns), window, 30)
    assert "ended campaigns kept" in without.describe(len(campaigns), window, None)
