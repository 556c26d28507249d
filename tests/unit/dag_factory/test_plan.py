"""The example DAGs' planning: export shards from configuration, campaigns dealt round-robin over them."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.dag_factory import (
    plan_exports,
    shard_key,
)

WINDOW = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 8))
PARAMS = {"project_id": "soundlink-local", "bucket": "exports"}


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
