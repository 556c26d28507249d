"""The DAGs' configuration: environment variables at parse time, DAG params per run, one documented table."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest

from airflow_provider_soundlink.core.campaigns import MIN_ENDED_CAMPAIGN_TAIL_DAYS
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.dag_factory import (
    DEFAULT_EXPORT_SHARDS,
    PipelineConfig,
    link_stats_groupings,
    plan_exports,
)
from airflow_provider_soundlink.dag_factory.config import SETTINGS, settings_table
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from soundlink_stand_ins.paths import REPO_ROOT

WINDOW_FOR_CONFIG = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 8))


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


def test_the_documented_settings_table_is_rendered_from_the_settings() -> None:
    assert settings_table() in (REPO_ROOT / "docs" / "dags.md").read_text()


def test_every_environment_variable_the_configuration_reads_is_a_documented_setting() -> None:
    source = inspect.getsource(PipelineConfig.from_environment)
    read = set(re.findall(r'"(SOUNDLINK_[A-Z_]+)"', source))
    assert read == {setting.variable for setting in SETTINGS if setting.variable}


def test_every_param_is_a_documented_setting_and_optional_ones_say_so() -> None:
    config = PipelineConfig.from_environment({"SOUNDLINK_RECONCILE": "warn"})
    params = {**config.params(), **config.link_stats_params()}
    documented = {name.strip() for setting in SETTINGS for name in setting.param.split(",") if name.strip()}
    assert set(params) <= documented
    # Empty is a valid value of these, so Airflow 3's trigger form must not mark them required.
    for name in ("campaign_ids", "link_stats_groupings"):
        assert "null" in params[name].schema["type"]


def test_a_tail_shorter_than_the_revision_days_is_refused_in_the_form_and_in_the_plan() -> None:
    params = PipelineConfig.from_environment({}).params()
    assert params["ended_campaign_tail_days"].schema["minimum"] == MIN_ENDED_CAMPAIGN_TAIL_DAYS == 7
    with pytest.raises(SoundlinkConfigurationError, match="ended_campaign_tail_days=3 would skip"):
        plan_exports(
            WINDOW_FOR_CONFIG,
            {"project_id": "p", "bucket": "b", "ended_campaign_tail_days": 3},
            "unused",
            shards=1,
        )
