"""The sandbox's data set: one account, a handful of campaigns, and their metrics, computed on demand.

Nothing is stored. Every value is a pure function of the seed, the scale, the campaign, the report
date and the revision day, obtained by hashing, so any row can be produced in any order, an export
of any size streams in constant memory, and two processes with the same seed agree on every byte.

:class:`SandboxData` is the one entry point; the parts live beside it: deterministic values in
:mod:`.hashing`, the campaign model in :mod:`.campaigns`, metric rows and their JSON lines in
:mod:`.rows`, link clicks in :mod:`.clicks`. The row dictionaries handed to tests are the rendered
text parsed back (:func:`encoding.loads`), so the truth a test compares against is exactly what the
server sends.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from soundlink_sandbox.campaigns import (
    ATTRIBUTION_DAYS,
    BASE_ENGAGED_MARKETS,
    BASE_ENGAGED_TRACKS,
    BLUEPRINTS,
    ENGAGEMENT_CONTEXTS,
    Campaign,
    generated_blueprint,
)
from soundlink_sandbox.clicks import (
    LINK_STATS_GROUP_FIELDS,
    LINK_STATS_SORTS,
    ClickEvent,
    ClickLog,
    count_clicks,
)
from soundlink_sandbox.encoding import (
    decimal_from_micros,
    divide_rounded,
    loads,
    ratio_micros,
)
from soundlink_sandbox.hashing import uuid_of
from soundlink_sandbox.rows import (
    CURRENCY,
    PROVIDER,
    RESULT_TYPE,
    REVISABLE_DAYS,
    SCHEMA_VERSION,
    BreakdownRecord,
    CampaignRows,
)

__all__ = [
    "ATTRIBUTION_DAYS",
    "BASE_ENGAGED_MARKETS",
    "BASE_ENGAGED_TRACKS",
    "CURRENCY",
    "DEFAULT_SEED",
    "ENGAGEMENT_CONTEXTS",
    "LINK_STATS_GROUP_FIELDS",
    "LINK_STATS_SORTS",
    "PROVIDER",
    "RESULT_TYPE",
    "REVISABLE_DAYS",
    "SCHEMA_VERSION",
    "BreakdownRecord",
    "ClickEvent",
    "SandboxData",
    "UnknownCampaignError",
    "utc_today",
]

DEFAULT_SEED = 1


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class UnknownCampaignError(KeyError):
    """The campaign id belongs to no campaign of the sandbox account."""


class SandboxData:
    """Deterministic Soundlink data for one account: campaigns, metric rows and link clicks."""

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        scale: int = 1,
        full_precision: bool = False,
        campaigns: int = len(BLUEPRINTS),
    ) -> None:
        """``full_precision`` sends the money Soundlink derives by division (spend_total, fees, cpl, cpf,
        cost_per_result, cpc_linkclick) with every digit of a double, as the API documents no scale;
        otherwise every amount is a literal of at most six decimal places. ``campaigns`` above the six
        fixed ones adds generated campaigns, most of them ended long ago (see ``generated_blueprint``)."""
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        if campaigns < len(BLUEPRINTS):
            raise ValueError(f"campaigns must be at least {len(BLUEPRINTS)}, got {campaigns}")
        self.seed = seed
        self.scale = scale
        self.full_precision = full_precision
        self.account_id = uuid_of(seed, "account")
        blueprints = [
            *BLUEPRINTS,
            *(generated_blueprint(seed, index) for index in range(len(BLUEPRINTS), campaigns)),
        ]
        built = [Campaign(blueprint, index, seed, scale) for index, blueprint in enumerate(blueprints)]
        self._campaigns = {campaign.campaign_id: campaign for campaign in built}
        self._rows = {
            campaign.campaign_id: CampaignRows(campaign, self.account_id, full_precision)
            for campaign in built
        }
        self._clicks = ClickLog(seed, built)

    # Campaigns -----------------------------------------------------------------------------------

    def campaign_ids(self) -> list[str]:
        return list(self._campaigns)

    def has_campaign(self, campaign_id: str) -> bool:
        return campaign_id in self._campaigns

    def _campaign(self, campaign_id: str) -> Campaign:
        try:
            return self._campaigns[campaign_id]
        except KeyError:
            raise UnknownCampaignError(campaign_id) from None

    def campaign(self, campaign_id: str, today: dt.date) -> dict[str, Any]:
        """Render the campaign as ``GET /v1/campaigns/{campaignId}`` returns it on ``today``."""
        campaign = self._campaign(campaign_id)
        blueprint = campaign.blueprint
        daily_budget = campaign.daily_budget_cents * 10_000
        duration = None if blueprint.end is None else (blueprint.end - blueprint.start).days + 1
        # Ended campaigns were last touched when they closed; running ones when they were launched.
        touched = blueprint.end or blueprint.start
        updated_at = dt.datetime.combine(touched, blueprint.created_at.timetz()) + dt.timedelta(days=1)
        return {
            "campaignId": campaign.campaign_id,
            "organizationId": self.account_id,
            "status": campaign.status_on(today),
            "socialPlatform": "meta",
            "dailyBudget": decimal_from_micros(daily_budget),
            "totalBudget": None if duration is None else decimal_from_micros(daily_budget * duration),
            "campaignDuration": duration,
            "strategyType": blueprint.strategy_type,
            "createdAt": blueprint.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updatedAt": updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def campaigns(self, today: dt.date | None = None) -> list[dict[str, Any]]:
        """Every campaign, oldest first, as the API shows it on ``today`` (default: the real UTC date).

        Each dict also carries ``firstReportDate`` and ``lastReportDate`` (``datetime.date``, or None
        for both while no report date has closed): the dates with rows as of ``today``.
        """
        on = today or utc_today()
        result = []
        for campaign_id, campaign in self._campaigns.items():
            report_range = campaign.report_range(on)
            result.append(
                {
                    **self.campaign(campaign_id, on),
                    "firstReportDate": report_range[0] if report_range else None,
                    "lastReportDate": report_range[1] if report_range else None,
                }
            )
        return result

    def fee_pct(self, campaign_id: str) -> Decimal:
        """Soundlink's fee share of spend_total for the campaign (spend_total = spend_media / (1 - fee))."""
        return Decimal(self._campaign(campaign_id).fee_basis_points) / 10_000

    # Breakdown -----------------------------------------------------------------------------------

    def breakdown_row_count(self, campaign_id: str, start: dt.date, end: dt.date, today: dt.date) -> int:
        campaign = self._campaign(campaign_id)
        return len(campaign.report_dates(start, end, today)) * len(campaign.countries)

    def breakdown_records(
        self,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        today: dt.date,
        schema_version: str = SCHEMA_VERSION,
    ) -> Iterator[BreakdownRecord]:
        """Yield the window's rows in export order (report_date, country_code), produced lazily."""
        campaign = self._campaign(campaign_id)
        rows = self._rows[campaign_id]
        for day in campaign.report_dates(start, end, today):
            yield from rows.breakdown_day(day, today, schema_version)

    def breakdown_rows(
        self, campaign_id: str, start: dt.date, end: dt.date, today: dt.date
    ) -> list[dict[str, Any]]:
        """Exactly the rows a breakdown export of the window returns on ``today``, in export order."""
        return [loads(record.line) for record in self.breakdown_records(campaign_id, start, end, today)]

    def overview(self, campaign_id: str, start: dt.date, end: dt.date, today: dt.date) -> dict[str, Any]:
        """Campaign totals over the window: sums of the breakdown rows, ratios of those sums."""
        totals = Counter[str]()
        link_clicks_known = False
        for record in self.breakdown_records(campaign_id, start, end, today):
            totals.update(
                listeners=record.listeners,
                streams=record.streams,
                followers=record.followers,
                impressions=record.impressions,
                ad_clicks=record.ad_clicks,
                link_clicks=record.link_clicks or 0,
                spend_media=record.spend_media_micros,
                spend_total=record.spend_total_micros,
                fees=record.fees_micros,
            )
            link_clicks_known = link_clicks_known or record.link_clicks is not None
        listeners, followers = totals["listeners"], totals["followers"]
        return {
            "campaignId": campaign_id,
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "listeners": listeners,
            "streams": totals["streams"],
            "followers": followers,
            "impressions": totals["impressions"],
            "ad_clicks": totals["ad_clicks"],
            "link_clicks": totals["link_clicks"] if link_clicks_known else None,
            "spend_media": decimal_from_micros(totals["spend_media"]),
            "spend_total": decimal_from_micros(totals["spend_total"]),
            "fees": decimal_from_micros(totals["fees"]),
            "currency": CURRENCY,
            "cpl": decimal_from_micros(divide_rounded(totals["spend_media"], listeners) if listeners else 0),
            "cpf": decimal_from_micros(divide_rounded(totals["spend_media"], followers) if followers else 0),
            "streams_per_listener": decimal_from_micros(
                ratio_micros(totals["streams"], listeners) if listeners else 0
            ),
        }

    # Engagement ----------------------------------------------------------------------------------

    def _engagement_campaign(self, campaign_id: str, engagement_context: str | None) -> Campaign | None:
        """Return the campaign if it has rows in the requested context, else None."""
        campaign = self._campaign(campaign_id)
        if campaign.engagement_context is None:
            return None
        if engagement_context is not None and engagement_context != campaign.engagement_context:
            return None
        return campaign

    def engagement_row_count(
        self,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        today: dt.date,
        engagement_context: str | None = None,
    ) -> int:
        campaign = self._engagement_campaign(campaign_id, engagement_context)
        if campaign is None:
            return 0
        rows_per_day = len(campaign.engaged_countries) * len(campaign.tracks)
        return len(campaign.report_dates(start, end, today)) * rows_per_day

    def engagement_lines(
        self,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        today: dt.date,
        engagement_context: str | None = None,
        *,
        schema_version: str = SCHEMA_VERSION,
        descending: bool = False,
        skip: int = 0,
    ) -> Iterator[str]:
        """Yield the window's rows as JSON lines in export order (or its reverse), after skipping ``skip``.

        Produced one report date at a time, so memory stays flat however long the stream; whole
        days inside ``skip`` are never rendered.
        """
        campaign = self._engagement_campaign(campaign_id, engagement_context)
        if campaign is None:
            return
        rows = self._rows[campaign_id]
        rows_per_day = len(campaign.engaged_countries) * len(campaign.tracks)
        days = campaign.report_dates(start, end, today)
        skipped_days, skip_in_day = divmod(skip, rows_per_day) if rows_per_day else (len(days), 0)
        ordered = days[::-1] if descending else days
        for day in ordered[skipped_days:]:
            lines = rows.engagement_day(day, today, schema_version)
            if descending:
                lines.reverse()
            yield from islice(lines, skip_in_day, None)
            skip_in_day = 0

    def engagement_rows(
        self,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        today: dt.date,
        engagement_context: str | None = None,
    ) -> list[dict[str, Any]]:
        """Exactly the rows an engagement export of the window returns on ``today``, in export order."""
        return [
            loads(line) for line in self.engagement_lines(campaign_id, start, end, today, engagement_context)
        ]

    # Link clicks ---------------------------------------------------------------------------------

    def click_events(
        self,
        period_from: dt.datetime,
        period_to: dt.datetime,
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
    ) -> list[ClickEvent]:
        """List the tracked clicks in ``period_from..period_to`` (both inclusive; naive means UTC), in time
        order.

        Clicks happen on the days a campaign is active, whatever the sandbox's today.
        """
        return self._clicks.events(period_from, period_to, campaign_id, subscriber_id, profile_id)

    def link_clicks(
        self,
        period_from: dt.datetime,
        period_to: dt.datetime,
        group: str | None = None,
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
        sort: str = "-count",
    ) -> list[dict[str, Any]]:
        """Click counts in the period, grouped, sorted and unpaged: what the link-stats endpoint pages.

        Without ``group`` the result is one entry ``{"count": N}``. Ties in the count are broken by
        the group fields, ascending, so offset paging is stable.
        """
        events = self._clicks.events(period_from, period_to, campaign_id, subscriber_id, profile_id)
        return count_clicks(events, group, sort)
