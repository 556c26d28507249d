"""Choose the campaigns that can have rows in a window of report dates, from the API's campaign listing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_soundlink.core.windows import DEFAULT_REVISION_DAYS, DateWindow

DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS = 30
"""Days after an ended campaign's last change during which it may still get rows; see
:func:`campaigns_with_possible_rows`."""
MIN_ENDED_CAMPAIGN_TAIL_DAYS = DEFAULT_REVISION_DAYS
"""A shorter tail would skip an ended campaign whose last days Soundlink still revises, and lose rows."""


@dataclass(frozen=True)
class CampaignChoice:
    """Which listed campaigns a run exports, and which it skips because they cannot have rows."""

    chosen: list[str]
    created_later: list[str]
    ended_before: list[str]

    def describe(self, listed: int, window: DateWindow, tail_days: int | None) -> str:
        ended = (
            f"{len(self.ended_before)} ended long enough before {window.start.isoformat()} "
            f"(updatedAt + {tail_days} days of late rows)"
            if tail_days is not None
            else "ended campaigns kept (skip_ended_campaigns is off)"
        )
        return (
            f"{len(self.chosen)} of the {listed} campaigns listed can have rows in {window}; skipped "
            f"{len(self.created_later)} created after {window.end.isoformat()} and {ended}"
        )


def campaigns_with_possible_rows(
    campaigns: Iterable[Mapping[str, Any]], window: DateWindow, ended_tail_days: int | None
) -> CampaignChoice:
    """Return the campaigns that can have rows in ``window``, in the order given, and the ones that cannot.

    A campaign cannot have rows in the window when either:

    * it was created after the window's last day (its first report date is the day it was created); or
    * with ``ended_tail_days`` set: its status is ``ended`` and its record last changed (``updatedAt``,
      which the change to ``ended`` moved) more than ``ended_tail_days`` days before the window's first
      day. Rows keep arriving for a while after a campaign ends (listening attributed to its last ads),
      and Soundlink documents no limit for that, so the tail must be generous; revisions (7 days after a
      date closes) only rewrite dates that have rows, so they add nothing to it.

    Every other campaign is kept, whatever its status: an export that turns out empty costs one call.
    """
    chosen, created_later, ended_before = [], [], []
    for campaign in campaigns:
        campaign_id = str(campaign["campaignId"])
        if _utc_date(campaign["createdAt"]) > window.end:
            created_later.append(campaign_id)
        elif (
            ended_tail_days is not None
            and campaign.get("status") == "ended"
            and campaign.get("updatedAt")
            and _utc_date(campaign["updatedAt"]) + dt.timedelta(days=ended_tail_days) < window.start
        ):
            ended_before.append(campaign_id)
        else:
            chosen.append(campaign_id)
    return CampaignChoice(chosen, created_later, ended_before)


def _utc_date(timestamp: object) -> dt.date:
    return dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).astimezone(dt.UTC).date()
