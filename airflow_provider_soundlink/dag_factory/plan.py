"""Plan a run: its campaigns (given, or listed through the API and filtered) dealt over the export shards."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_soundlink.core.campaigns import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    MIN_ENDED_CAMPAIGN_TAIL_DAYS,
    campaigns_with_possible_rows,
)
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook

log = logging.getLogger(__name__)


def shard_key(shard: int) -> str:
    """Name the plan's XCom key holding the campaigns of one export shard."""
    return f"shard_{shard}"


def plan_exports(
    window: DateWindow, params: Mapping[str, Any], soundlink_conn_id: str, shards: int
) -> dict[str, Any]:
    """Make the run's export plan: its report dates and, under :func:`shard_key`, each shard's campaigns.

    The plan task returns it with ``multiple_outputs``, so each export task pulls only its own share.
    Campaigns come from the ``campaign_ids`` param or, when it is empty, from the campaigns endpoint
    (see :func:`campaigns_with_possible_rows`); they are dealt round-robin, so shard sizes differ by at
    most one. Fails early when the project or bucket is not configured.
    """
    for param, variable in (("project_id", "SOUNDLINK_BIGQUERY_PROJECT"), ("bucket", "SOUNDLINK_GCS_BUCKET")):
        if not params.get(param):
            raise SoundlinkConfigurationError(
                f"no {param} configured: set the environment variable {variable} for the DAG processor and "
                f"workers, or pass the param {param} when triggering the run"
            )
    campaign_ids = list(dict.fromkeys(params.get("campaign_ids") or ()))
    if campaign_ids:
        log.info("Loading the %d campaigns given: %s", len(campaign_ids), ", ".join(campaign_ids))
    else:
        tail_days = params.get("ended_campaign_tail_days", DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS)
        if tail_days < MIN_ENDED_CAMPAIGN_TAIL_DAYS:
            raise SoundlinkConfigurationError(
                f"ended_campaign_tail_days={tail_days} would skip ended campaigns whose last days Soundlink "
                f"still revises, and lose their rows: give at least {MIN_ENDED_CAMPAIGN_TAIL_DAYS}"
            )
        if not params.get("skip_ended_campaigns", True):
            tail_days = None
        listed = SoundlinkHook(soundlink_conn_id=soundlink_conn_id).get_conn().list_campaigns()
        choice = campaigns_with_possible_rows(listed, window, tail_days)
        campaign_ids = choice.chosen
        log.info("No campaign_ids given; %s", choice.describe(len(listed), window, tail_days))
    plan: dict[str, Any] = {
        "report_start_date": window.start.isoformat(),
        "report_end_date": window.end.isoformat(),
        "campaign_ids": campaign_ids,
    }
    for shard in range(shards):
        plan[shard_key(shard)] = campaign_ids[shard::shards]
        log.info("Export shard %d of %d: %d campaign(s)", shard + 1, shards, len(plan[shard_key(shard)]))
    return plan
