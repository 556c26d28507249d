"""The example DAGs' planning: export shards from configuration, campaigns dealt round-robin over them."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_soundlink.client.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.example_dags_support import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    DEFAULT_EXPORT_SHARDS,
    PipelineConfig,
    campaigns_with_possible_rows,
    link_stats_groupings,
    plan_exports,
    shard_key,
)
from airflow_provider_soundlink.sandbox.data import SandboxData
from airflow_provider_soundlink.windows import DateWindow

WINDOW = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 8))
PARAMS = {"project_id": "soundlink-local", "bucket": "exports"}


def test_the_shard_count_comes_from_the_environment_with_a_default() -> None:
    assert PipelineConfig.from_environment({}).export_shards == DEFAULT_EXPORT_SHARDS
    assert PipelineConfig.from_environment({"SOUNDLINK_EXPORT_SHARDS": " 7 "}).export_shards == 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("four", "SOUNDLINK_EXPORT_SHARDS='four' is not a whole number"),
        ("0", "SOUNDLINK_EXPORT_SHARDS=0 is out of range: give a whole number from 1 to 64"),
        ("65", "SOUNDLINK_EXPORT_SHARDS=65 is out of range"),
    ],
)
def test_an_unusable_shard_count_fails_the_parse_with_the_fix(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_environment({"SOUNDLINK_EXPORT_SHARDS": value})


def test_campaigns_are_dealt_round_robin_so_every_shard_has_a_share_and_none_is_lost() -> None:
    campaigns = [f"camp_{number}" for number in range(7)] + ["camp_0"]

    plan = plan_exports(WINDOW, {**PARAMS, "campaign_ids": campaigns}, "unused", shards=3)

    assert plan["report_start_date"] == "2026-05-01"
    assert plan["report_end_date"] == "2026-05-08"
    shares = [plan[shard_key(shard)] for shard in range(3)]
    assert shares == [["camp_0", "camp_3", "camp_6"], ["camp_1", "camp_4"], ["camp_2", "camp_5"]]


def test_shards_beyond_the_campaign_count_get_an_empty_share() -> None:
    plan = plan_exports(WINDOW, {**PARAMS, "campaign_ids": ["camp_a"]}, "unused", shards=4)

    assert [plan[shard_key(shard)] for shard in range(4)] == [["camp_a"], [], [], []]


@pytest.mark.parametrize("missing", ["project_id", "bucket"])
def test_a_run_without_project_or_bucket_fails_before_any_call(missing: str) -> None:
    params = {**PARAMS, missing: "", "campaign_ids": ["camp_a"]}
    with pytest.raises(ValueError, match=f"no {missing} configured"):
        plan_exports(WINDOW, params, "unused", shards=1)


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


def test_link_stats_groupings_come_from_the_environment_and_total_is_the_ungrouped_total() -> None:
    assert PipelineConfig.from_environment({}).link_stats_groupings == ()
    config = PipelineConfig.from_environment({"SOUNDLINK_LINK_STATS_GROUPINGS": " total, country,total"})
    assert config.link_stats_groupings == ("total", "country")
    assert link_stats_groupings(config.link_stats_groupings) == [None, "country"]
    assert link_stats_groupings([]) == []


def test_an_unknown_link_stats_grouping_fails_naming_the_setting_and_the_choices() -> None:
    with pytest.raises(
        SoundlinkConfigurationError, match=r"SOUNDLINK_LINK_STATS_GROUPINGS holds 'city'.*total"
    ):
        PipelineConfig.from_environment({"SOUNDLINK_LINK_STATS_GROUPINGS": "country,city"})
    with pytest.raises(SoundlinkConfigurationError, match=r"param link_stats_groupings holds 'None'"):
        link_stats_groupings(["None"])


def test_reconciliation_is_off_unless_the_environment_chooses_warn_or_fail() -> None:
    assert PipelineConfig.from_environment({}).reconcile == "off"
    assert "reconcile" not in PipelineConfig.from_environment({}).params()
    config = PipelineConfig.from_environment({"SOUNDLINK_RECONCILE": " WARN "})
    assert config.reconcile == "warn"
    assert config.params()["reconcile"].value == "warn"
    with pytest.raises(SoundlinkConfigurationError, match="SOUNDLINK_RECONCILE='always' is not a choice"):
        PipelineConfig.from_environment({"SOUNDLINK_RECONCILE": "always"})


def test_new_fields_become_columns_only_when_switched_on() -> None:
    assert PipelineConfig.from_environment({}).add_new_fields is False
    assert PipelineConfig.from_environment({"SOUNDLINK_ADD_NEW_FIELDS": "True"}).add_new_fields is True
    with pytest.raises(SoundlinkConfigurationError, match="SOUNDLINK_ADD_NEW_FIELDS='yes' is not a switch"):
        PipelineConfig.from_environment({"SOUNDLINK_ADD_NEW_FIELDS": "yes"})
