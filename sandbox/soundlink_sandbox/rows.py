"""Metric rows: the values of ``campaign_country_daily`` and ``campaign_engagement_daily`` rows as JSON.

Rows are rendered once, straight to JSON text, because that is the hot path of a large export: what
never changes from row to row (the account and campaign fields, a country's code, an engaged track's
fields) is rendered once per campaign and spliced into every row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import NamedTuple

from soundlink_sandbox.campaigns import Campaign
from soundlink_sandbox.encoding import (
    MICROS_PER_UNIT,
    divide_rounded,
    float_quotient_literal,
    micros_literal,
    ratio_micros,
)
from soundlink_sandbox.hashing import fraction_of, splitmix64

SCHEMA_VERSION = "1.0"
PROVIDER = "soundlink"
CURRENCY = "USD"
RESULT_TYPE = "follow"

REVISABLE_DAYS = 7
"""A report date stays revisable for this many days after it closes (at 00:00 UTC the next day)."""

# Share of a report date's final values already known, by days since the date's start (1..8):
# late Meta and Spotify events keep arriving during the revision window, then the row is final.
_COMPLETENESS_PER_MILLE = (0, 800, 880, 930, 960, 980, 990, 996, 1000)


def revision_day(report_date: dt.date, today: dt.date) -> dt.date:
    """Return the day whose knowledge a row reflects: today, or the day its revision window closed."""
    return min(today, report_date + dt.timedelta(days=REVISABLE_DAYS + 1))


class BreakdownRecord(NamedTuple):
    """One ``campaign_country_daily`` row: its numbers (for sorting and totals) and its JSON line."""

    report_date: str
    country_code: str
    impressions: int
    ad_clicks: int
    link_clicks: int | None
    streams: int
    listeners: int
    followers: int
    spend_media_micros: int
    spend_total_micros: int
    fees_micros: int
    line: str


class CampaignRows:
    """One campaign's rows for any report date, rendered from fragments of JSON prepared once."""

    def __init__(self, campaign: Campaign, account_id: str, full_precision: bool) -> None:
        """``full_precision``: see :class:`~soundlink_sandbox.data.SandboxData`."""
        self.campaign = campaign
        self.full_precision = full_precision
        self._account_fields = f'"provider":"{PROVIDER}","account_id":{_json_str(account_id)}'
        self._campaign_fields = (
            f'"campaign_id":{_json_str(campaign.campaign_id)},"campaign_name":{_json_str(campaign.name)},'
            f'"campaign_target_type":{_json_str(campaign.blueprint.target_type)},'
            f'"campaign_target_isrc":{_json_str(campaign.target_isrc)},'
            f'"campaign_target_spotify_track_id":{_json_str(campaign.target_track_id)},'
            f'"campaign_target_playlist_id":{_json_str(campaign.target_playlist_id)}'
        )
        # A country's fragment is its country_code value and the separator after it; a track's, the
        # engaged-track fields up to "new_listeners":. Both line up with the campaign's tuples.
        self._country_fragments = tuple(f"{_json_str(country.code)}," for country in campaign.countries)
        self._engaged_country_fragments = tuple(
            f"{_json_str(country.code)}," for country in campaign.engaged_countries
        )
        self._track_fragments = tuple(
            f'"engaged_track_isrc":{_json_str(track.isrc)},'
            f'"engaged_spotify_track_id":{_json_str(track.spotify_id)},'
            f'"engaged_track_name":{_json_str(track.name)},'
            f'"playlist_position":{json.dumps(track.playlist_position)},"new_listeners":'
            for track in campaign.tracks
        )

    def _row_head(self, day: dt.date, today: dt.date, schema_version: str) -> str:
        """Render the common leading fields of a row for ``day``, up to the country_code value."""
        revision = revision_day(day, today)
        return (
            f'{{{self._account_fields},"schema_version":{_json_str(schema_version)},'
            f'"report_date":"{day.isoformat()}","report_date_timezone":"UTC",'
            f'"exported_at":"{revision.isoformat()}T{self.campaign.export_clock}",{self._campaign_fields},'
        )

    def breakdown_day(self, day: dt.date, today: dt.date, schema_version: str) -> Iterator[BreakdownRecord]:
        """Yield the day's ``campaign_country_daily`` rows by country code, as known on ``today``."""
        campaign = self.campaign
        completeness = _COMPLETENESS_PER_MILLE[(revision_day(day, today) - day).days]
        head = self._row_head(day, today, schema_version) + '"country_code":'
        report_date = day.isoformat()
        day_hash = splitmix64(campaign.breakdown_key ^ day.toordinal())
        budget = campaign.daily_budget_cents * campaign.ad_delivery_on(day)
        audience = campaign.listeners_per_day * campaign.audience_on(day)
        fee_divisor = 10_000 - campaign.fee_basis_points
        for country, country_fragment in zip(campaign.countries, self._country_fragments, strict=True):
            hashed = splitmix64(day_hash ^ country.key)
            more = splitmix64(hashed)
            spend_cents = int(budget * country.share * (0.75 + 0.5 * fraction_of(hashed, 0)))
            impressions = int(spend_cents * (2.0 + 4.0 * fraction_of(hashed, 16)))
            ad_clicks = int(impressions * (0.006 + 0.018 * fraction_of(hashed, 32)))
            link_clicks_final = int(ad_clicks * (0.35 + 0.4 * fraction_of(hashed, 44)))
            listeners = int(audience * country.share * (0.6 + 0.8 * fraction_of(more, 0)))
            streams = listeners + int(listeners * (0.2 + 1.3 * fraction_of(more, 16)))
            followers = int(listeners * (0.03 + 0.12 * fraction_of(more, 32)))

            spend_media = spend_cents * completeness // 1000 * 10_000
            impressions = impressions * completeness // 1000
            ad_clicks = ad_clicks * completeness // 1000
            # Meta does not report outbound clicks for every placement: about one row in sixteen.
            link_clicks = None if hashed >> 60 == 0 else link_clicks_final * completeness // 1000
            streams = streams * completeness // 1000
            listeners = listeners * completeness // 1000
            followers = followers * completeness // 1000

            spend_total = divide_rounded(spend_media * 10_000, fee_divisor)
            fees = spend_total - spend_media
            # Ratios are 0 when their divisor is 0, the click-based ones null when it is null or 0.
            spl = micros_literal(ratio_micros(streams, listeners) if listeners else 0)
            if self.full_precision:
                spend = spend_media / MICROS_PER_UNIT
                spend_total_text = float_quotient_literal(spend * 10_000, fee_divisor)
                fees_text = float_quotient_literal(float(spend_total_text) - spend, 1)
                cpl = float_quotient_literal(spend, listeners) if listeners else "0.0"
                cpf = float_quotient_literal(spend, followers) if followers else "0.0"
                cpc_linkclick = float_quotient_literal(spend, link_clicks) if link_clicks else "null"
            else:
                spend_total_text = micros_literal(spend_total)
                fees_text = micros_literal(fees)
                cpl = micros_literal(divide_rounded(spend_media, listeners) if listeners else 0)
                cpf = micros_literal(divide_rounded(spend_media, followers) if followers else 0)
                cpc_linkclick = _optional(divide_rounded(spend_media, link_clicks) if link_clicks else None)
            ctr_linkclick = _optional(
                ratio_micros(link_clicks, impressions) if link_clicks is not None and impressions else None
            )
            ctr_adclick = _optional(ratio_micros(ad_clicks, impressions) if impressions else None)
            line = (
                f'{head}{country_fragment}"impressions":{impressions},"ad_clicks":{ad_clicks},'
                f'"link_clicks":{"null" if link_clicks is None else link_clicks},'
                f'"streams":{streams},"listeners":{listeners},"followers":{followers},'
                f'"spend_media":{micros_literal(spend_media)},"spend_total":{spend_total_text},'
                f'"fees":{fees_text},"currency":"{CURRENCY}","currency_account":"{CURRENCY}",'
                f'"streams_per_listener":{spl},"cpl":{cpl},"cpf":{cpf},"cost_per_result":{cpf},'
                f'"result_type":"{RESULT_TYPE}","cpc_linkclick":{cpc_linkclick},'
                f'"ctr_linkclick":{ctr_linkclick},"ctr_adclick":{ctr_adclick}}}\n'
            )
            yield BreakdownRecord(
                report_date,
                country.code,
                impressions,
                ad_clicks,
                link_clicks,
                streams,
                listeners,
                followers,
                spend_media,
                spend_total,
                fees,
                line,
            )

    def engagement_day(self, day: dt.date, today: dt.date, schema_version: str) -> list[str]:
        """Render the day's ``campaign_engagement_daily`` lines in export order, as known on ``today``.

        A whole day at once, as a list, so that a descending listing can reverse it.
        """
        campaign = self.campaign
        completeness = _COMPLETENESS_PER_MILLE[(revision_day(day, today) - day).days]
        head = (
            f'{self._row_head(day, today, schema_version)}"status":"{campaign.status_on(day)}",'
            f'"engagement_context":"{campaign.engagement_context}","country_code":'
        )
        day_hash = splitmix64(campaign.engagement_key ^ day.toordinal())
        audience = campaign.listeners_per_day * campaign.audience_on(day)
        tracks = tuple(zip(campaign.tracks, self._track_fragments, strict=True))
        lines: list[str] = []
        append = lines.append
        for country, country_fragment in zip(
            campaign.engaged_countries, self._engaged_country_fragments, strict=True
        ):
            country_hash = splitmix64(day_hash ^ country.key)
            country_audience = audience * country.share
            country_head = head + country_fragment
            for track, track_fragment in tracks:
                hashed = splitmix64(country_hash ^ track.key)
                listeners = int(country_audience * track.weight * (0.5 + (hashed & 0xFFFF) / 65536.0))
                new = listeners * (30 + (hashed >> 16) % 50) // 100
                returning = listeners - new
                new_streams = (new + new * ((hashed >> 24) & 0xFF) // 170) * completeness // 1000
                returning_streams = (
                    (returning + returning * ((hashed >> 32) & 0xFF) // 128) * completeness // 1000
                )
                new = new * completeness // 1000
                returning = returning * completeness // 1000
                listeners = new + returning
                streams = new_streams + returning_streams
                spl = micros_literal(ratio_micros(streams, listeners)) if listeners else "0.0"
                append(
                    f'{country_head}{track_fragment}{new},"returning_listeners":{returning},'
                    f'"listeners":{listeners},"new_listener_streams":{new_streams},'
                    f'"returning_listener_streams":{returning_streams},"streams":{streams},"spl":{spl}}}\n'
                )
        return lines


def _json_str(value: str | None) -> str:
    return json.dumps(value)


def _optional(micros: int | None) -> str:
    return "null" if micros is None else micros_literal(micros)
