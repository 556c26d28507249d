"""The sandbox's data set: one account, a handful of campaigns, and their metrics, computed on demand.

Nothing is stored. Every value is a pure function of the seed, the scale, the campaign, the report
date and the revision day, obtained by hashing, so any row can be produced in any order, an export
of any size streams in constant memory, and two processes with the same seed agree on every byte.

Rows are rendered once, straight to JSON text, because that is the hot path of a large export; the
row dictionaries handed to tests are that same text parsed back (:func:`encoding.loads`), so the
truth a test compares against is exactly what the server sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from airflow_provider_soundlink.sandbox.encoding import (
    MICROS_PER_UNIT,
    decimal_from_micros,
    divide_rounded,
    float_quotient_literal,
    loads,
    micros_literal,
    ratio_micros,
)

SCHEMA_VERSION = "1.0"
DEFAULT_SEED = 1
PROVIDER = "soundlink"
CURRENCY = "USD"
RESULT_TYPE = "follow"

REVISABLE_DAYS = 7
"""A report date stays revisable for this many days after it closes (at 00:00 UTC the next day)."""

ATTRIBUTION_DAYS = 7
"""Streams keep being attributed this many days after a campaign ends (7-day click-through window)."""

BASE_ENGAGED_TRACKS = 5
"""Engaged tracks per campaign at scale 1; ``--scale N`` multiplies it by N."""

BASE_ENGAGED_MARKETS = 8
"""Countries with engagement rows per campaign at scale 1; grows by this much per scale step."""

ENGAGEMENT_CONTEXTS = ("catalog", "playlist")

LINK_STATS_GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "campaign_id": ("campaign_id",),
    "subscriber_id": ("subscriber_id",),
    "device": ("device",),
    "country": ("country",),
    "ip": ("ip",),
    "browser": ("browser",),
    "custom_link_title": ("custom_link_title",),
    "params": ("params_name", "params_value"),
}
LINK_STATS_SORTS = ("-count", "count")

# Share of a report date's final values already known, by days since the date's start (1..8):
# late Meta and Spotify events keep arriving during the revision window, then the row is final.
_COMPLETENESS_PER_MILLE = (0, 800, 880, 930, 960, 980, 990, 996, 1000)

_MASK64 = (1 << 64) - 1
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_COUNTRY_POOL = (
    "US", "GB", "DE", "FR", "BR", "MX", "CA", "AU", "ES", "IT", "NL", "SE", "NO", "DK", "FI", "PL",
    "PT", "IE", "BE", "AT", "CH", "AR", "CL", "CO", "PE", "JP", "KR", "IN", "ID", "PH", "TH", "VN",
    "MY", "SG", "NZ", "ZA", "NG", "KE", "EG", "MA", "TR", "GR", "CZ", "HU", "RO", "UA", "IL", "AE",
    "SA", "TW", "HK", "EC", "UY", "CR", "DO", "GT",
)  # fmt: skip
_WORDS_A = (
    "Midnight", "Golden", "Electric", "Silent", "Neon", "Paper", "Velvet", "Crystal", "Wild", "Broken",
    "Summer", "Hollow", "Lucky", "Northern", "Burning", "Distant", "Sweet", "Restless", "Blue", "Final",
)  # fmt: skip
_WORDS_B = (
    "Sunrise", "Hearts", "Skyline", "Rivers", "Echoes", "Letters", "Motel", "Horizons", "Signals",
    "Lights", "Dreams", "Waves", "Parade", "Shadows", "Satellites", "Roses", "Static", "Avenue",
)  # fmt: skip
_FIRST_NAMES = ("alex", "sam", "maria", "jonas", "li", "aisha", "tom", "nora", "diego", "yuki", "ola", "eva")
_DEVICES = ("iPhone", "Android", "Desktop", "iPad", "Android Tablet")
_BROWSERS = ("Chrome 131", "Safari 18", "Instagram App", "Facebook App", "Firefox 133", "Samsung Internet 27")
_LINK_TITLES = ("Listen on Spotify", "Pre-save", "Official Video", "Tour Dates")
_IP_FIRST_OCTETS = (23, 45, 62, 81, 92, 145, 176, 185, 203, 212)
_SUBSCRIBER_POOL = 300
_IP_POOL = 500


@dataclass(frozen=True)
class _Blueprint:
    """The fixed shape of one campaign; the seed decides its ids, names and numbers."""

    uuid_id: bool
    target_type: str | None
    created_at: dt.datetime
    start: dt.date
    end: dt.date | None
    strategy_type: str


_UTC = dt.timezone.utc
_BLUEPRINTS = (
    _Blueprint(False, "track", dt.datetime(2025, 3, 3, 14, 22, 5, tzinfo=_UTC), dt.date(2025, 3, 5),
               dt.date(2025, 6, 30), "followers"),
    _Blueprint(True, "playlist", dt.datetime(2025, 4, 14, 9, 5, 41, tzinfo=_UTC), dt.date(2025, 4, 16),
               dt.date(2025, 9, 30), "streams"),
    _Blueprint(True, "track", dt.datetime(2025, 5, 19, 17, 48, 12, tzinfo=_UTC), dt.date(2025, 5, 20),
               None, "followers"),
    _Blueprint(False, "playlist", dt.datetime(2025, 8, 28, 11, 3, 57, tzinfo=_UTC), dt.date(2025, 9, 1),
               None, "streams"),
    _Blueprint(False, "track", dt.datetime(2025, 11, 3, 8, 30, 0, tzinfo=_UTC), dt.date(2025, 11, 5),
               dt.date(2026, 4, 30), "streams"),
    _Blueprint(True, None, dt.datetime(2026, 1, 12, 15, 0, 9, tzinfo=_UTC), dt.date(2026, 1, 12),
               dt.date(2026, 2, 28), "reach"),
)  # fmt: skip


def utc_today() -> dt.date:
    return dt.datetime.now(_UTC).date()


def _mix(value: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread 64-bit hash of an integer."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _key(*parts: object) -> int:
    """A 64-bit key for set-up values (names, ids), from readable parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _unit(hashed: int, shift: int) -> float:
    """16 bits of a hash as a fraction in [0, 1)."""
    return ((hashed >> shift) & 0xFFFF) / 65536.0


def _pick(options: tuple[str, ...], *parts: object) -> str:
    return options[_key(*parts) % len(options)]


def _base62(length: int, *parts: object) -> str:
    hashed = _key(*parts)
    chars = []
    for index in range(length):
        if index % 10 == 0:
            hashed = _mix(hashed + index)
        chars.append(_BASE62[hashed % 62])
        hashed //= 62
    return "".join(chars)


def _uuid(*parts: object) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _isrc(*parts: object) -> str:
    hashed = _key(*parts)
    registrant = _base62(3, "registrant", *parts).upper()
    return f"{_pick(('DE', 'GB', 'US', 'QZ'), *parts)}{registrant}25{hashed % 100000:05d}"


def _json_str(value: str | None) -> str:
    return json.dumps(value)


def _revision_day(report_date: dt.date, today: dt.date) -> dt.date:
    """The day whose knowledge a row reflects: today, or the day its revision window closed."""
    return min(today, report_date + dt.timedelta(days=REVISABLE_DAYS + 1))


class _Country(NamedTuple):
    code: str
    share: float
    key: int
    fragment: str  # the country_code value and its separator, ready to splice into a row


class _Track(NamedTuple):
    spotify_id: str
    isrc: str | None
    name: str
    weight: float
    key: int
    fragment: str  # the engaged-track fields up to "new_listeners":, ready to splice into a row


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


class ClickEvent(NamedTuple):
    """One tracked click on a campaign's smart link."""

    timestamp: dt.datetime
    campaign_id: str
    subscriber_id: str
    profile_id: str
    device: str
    country: str
    ip: str
    browser: str
    custom_link_title: str
    params_name: str
    params_value: str


class UnknownCampaignError(KeyError):
    """The campaign id belongs to no campaign of the sandbox account."""


class _Campaign:
    """One campaign with everything that does not change from row to row precomputed."""

    def __init__(self, blueprint: _Blueprint, index: int, seed: int, scale: int, account_id: str) -> None:
        self.blueprint = blueprint
        tag = (seed, "campaign", index)
        self.campaign_id = _uuid(*tag) if blueprint.uuid_id else f"camp_{_base62(12, *tag, 'id').lower()}"
        self.name = f"{_pick(_WORDS_A, *tag, 'a')} {_pick(_WORDS_B, *tag, 'b')}"
        self.key = _key(*tag, "breakdown")
        self.engagement_key = _key(*tag, "engagement")
        self.clicks_key = _key(*tag, "clicks")
        self.daily_budget_cents = (2500, 4000, 5000, 7500, 12000)[_key(*tag, "budget") % 5]
        self.fee_basis_points = (1500, 2000, 2500)[_key(*tag, "fee") % 3]
        self.listeners_per_day = self.daily_budget_cents / 100 * (3.0 + _unit(_key(*tag, "reach"), 0) * 3)
        clock = _key(*tag, "clock")
        self.export_clock = f"06:{clock % 60:02d}:{(clock >> 8) % 60:02d}Z"

        target = blueprint.target_type
        self.target_isrc = _isrc(*tag, "target") if target == "track" else None
        self.target_track_id = _base62(22, *tag, "target") if target == "track" else None
        self.target_playlist_id = _base62(22, *tag, "playlist") if target == "playlist" else None
        self.engagement_context = {"track": "catalog", "playlist": "playlist"}.get(target or "")

        self.countries = self._pick_countries(tag)
        by_share = sorted(self.countries, key=lambda country: -country.share)
        engaged = by_share[: BASE_ENGAGED_MARKETS * scale]
        self.engaged_countries = tuple(sorted(engaged, key=lambda country: country.code))
        self.tracks = self._make_tracks(tag, BASE_ENGAGED_TRACKS * scale)
        self.link_titles = _LINK_TITLES[: 2 + _key(*tag, "titles") % 3]
        slug = self.name.lower().replace(" ", "-")
        self.link_params = (
            ("utm_source", "instagram"),
            ("utm_source", "facebook"),
            ("utm_medium", "paid_social"),
            ("utm_campaign", slug),
        )
        self.leading_fields = (
            f'"campaign_id":{_json_str(self.campaign_id)},"campaign_name":{_json_str(self.name)},'
            f'"campaign_target_type":{_json_str(target)},"campaign_target_isrc":{_json_str(self.target_isrc)},'
            f'"campaign_target_spotify_track_id":{_json_str(self.target_track_id)},'
            f'"campaign_target_playlist_id":{_json_str(self.target_playlist_id)}'
        )
        self.account_fields = f'"provider":"{PROVIDER}","account_id":{_json_str(account_id)}'

    def _pick_countries(self, tag: tuple[object, ...]) -> tuple[_Country, ...]:
        count = 25 + _key(*tag, "countries") % 16
        ranked = sorted(_COUNTRY_POOL, key=lambda code: _key(*tag, "market", code))[:count]
        # Zipf-like audience shares: a few big markets and a long tail, as ad delivery tends to give.
        weights = [1.0 / (rank + 1.5) for rank in range(count)]
        total = sum(weights)
        countries = [
            _Country(code, weight / total, _key(*tag, "country", code), f"{_json_str(code)},")
            for code, weight in zip(ranked, weights, strict=True)
        ]
        return tuple(sorted(countries, key=lambda country: country.code))

    def _make_tracks(self, tag: tuple[object, ...], count: int) -> tuple[_Track, ...]:
        if self.engagement_context is None:
            return ()
        tracks = []
        for rank in range(count):
            is_target = rank == 0 and self.blueprint.target_type == "track"
            spotify_id = self.target_track_id if is_target else _base62(22, *tag, "track", rank)
            assert spotify_id is not None
            if is_target:
                isrc: str | None = self.target_isrc
            else:
                # Every fourth track's ISRC is unresolved, as happens with catalog spillover.
                isrc = None if rank % 4 == 3 else _isrc(*tag, "track", rank)
            name = f"{_pick(_WORDS_A, *tag, 'track-a', rank)} {_pick(_WORDS_B, *tag, 'track-b', rank)}"
            position = rank + 1 if self.engagement_context == "playlist" else None
            fragment = (
                f'"engaged_track_isrc":{_json_str(isrc)},"engaged_spotify_track_id":{_json_str(spotify_id)},'
                f'"engaged_track_name":{_json_str(name)},"playlist_position":{json.dumps(position)},'
                '"new_listeners":'
            )
            weight = 1.0 / (rank + 1) ** 0.8
            tracks.append(_Track(spotify_id, isrc, name, weight, _key(*tag, "track-key", rank), fragment))
        return tuple(sorted(tracks, key=lambda track: track.spotify_id))

    @property
    def first_report_date(self) -> dt.date:
        return self.blueprint.created_at.date()

    @property
    def final_report_date(self) -> dt.date | None:
        """The last date that ever gets rows, or None while the campaign runs open-ended."""
        end = self.blueprint.end
        return None if end is None else end + dt.timedelta(days=ATTRIBUTION_DAYS)

    def report_range(self, today: dt.date) -> tuple[dt.date, dt.date] | None:
        """First and last report date with rows as of ``today``, or None before the first closes."""
        last = today - dt.timedelta(days=1)
        final = self.final_report_date
        if final is not None:
            last = min(last, final)
        return (self.first_report_date, last) if last >= self.first_report_date else None

    def report_dates(self, start: dt.date, end: dt.date, today: dt.date) -> list[dt.date]:
        available = self.report_range(today)
        if available is None:
            return []
        first = max(start, available[0])
        last = min(end, available[1])
        return [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]

    def status_on(self, day: dt.date) -> str:
        if day < self.blueprint.start:
            return "scheduled"
        if self.blueprint.end is not None and day > self.blueprint.end:
            return "ended"
        return "active"

    def ad_delivery_on(self, day: dt.date) -> float:
        """Fraction of the daily budget delivered: paced while active, nothing otherwise."""
        if self.status_on(day) != "active":
            return 0.0
        return 0.85 + 0.15 * _unit(_mix(self.key ^ day.toordinal()), 48)

    def audience_on(self, day: dt.date) -> float:
        """Listening relative to a running day: none before start, halving daily after the end."""
        status = self.status_on(day)
        if status == "scheduled":
            return 0.0
        if status == "ended":
            assert self.blueprint.end is not None
            return 0.5 ** (day - self.blueprint.end).days
        return 1.0

    def row_head(self, day: dt.date, today: dt.date, schema_version: str) -> str:
        """The common leading fields of a row for ``day``, up to the country_code value."""
        revision = _revision_day(day, today)
        return (
            f'{{{self.account_fields},"schema_version":{_json_str(schema_version)},'
            f'"report_date":"{day.isoformat()}","report_date_timezone":"UTC",'
            f'"exported_at":"{revision.isoformat()}T{self.export_clock}",{self.leading_fields},'
        )


class SandboxData:
    """Deterministic Soundlink data for one account: campaigns, metric rows and link clicks."""

    def __init__(self, seed: int = DEFAULT_SEED, scale: int = 1, full_precision: bool = False) -> None:
        """``full_precision`` sends the money Soundlink derives by division (spend_total, fees, cpl, cpf,
        cost_per_result, cpc_linkclick) with every digit of a double, as the API documents no scale;
        otherwise every amount is a literal of at most six decimal places."""
        if scale < 1:
            raise ValueError(f"scale must be at least 1, got {scale}")
        self.seed = seed
        self.scale = scale
        self.full_precision = full_precision
        self.account_id = _uuid(seed, "account")
        self._campaigns = {
            campaign.campaign_id: campaign
            for campaign in (
                _Campaign(blueprint, index, seed, scale, self.account_id)
                for index, blueprint in enumerate(_BLUEPRINTS)
            )
        }
        self._subscribers = tuple(
            f"{_pick(_FIRST_NAMES, seed, 'fan', index)}.{_base62(5, seed, 'fan', index).lower()}@example.com"
            for index in range(_SUBSCRIBER_POOL)
        )
        self._ips = tuple(self._ip(index) for index in range(_IP_POOL))
        self._profiles = tuple(f"prof_{_base62(10, seed, 'profile', index).lower()}" for index in range(3))
        self._clicks_on = lru_cache(maxsize=1024)(self._generate_clicks_on)

    # Campaigns -----------------------------------------------------------------------------------

    def has_campaign(self, campaign_id: str) -> bool:
        return campaign_id in self._campaigns

    def _campaign(self, campaign_id: str) -> _Campaign:
        try:
            return self._campaigns[campaign_id]
        except KeyError:
            raise UnknownCampaignError(campaign_id) from None

    def campaign(self, campaign_id: str, today: dt.date) -> dict[str, Any]:
        """The campaign as ``GET /v1/campaigns/{campaignId}`` returns it on ``today``."""
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
        """The window's rows in export order (report_date, country_code), produced lazily."""
        campaign = self._campaign(campaign_id)
        for day in campaign.report_dates(start, end, today):
            yield from self._breakdown_day(campaign, day, today, schema_version)

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

    def _breakdown_day(
        self, campaign: _Campaign, day: dt.date, today: dt.date, schema_version: str
    ) -> Iterator[BreakdownRecord]:
        completeness = _COMPLETENESS_PER_MILLE[(_revision_day(day, today) - day).days]
        head = campaign.row_head(day, today, schema_version) + '"country_code":'
        report_date = day.isoformat()
        day_hash = _mix(campaign.key ^ day.toordinal())
        budget = campaign.daily_budget_cents * campaign.ad_delivery_on(day)
        audience = campaign.listeners_per_day * campaign.audience_on(day)
        fee_divisor = 10_000 - campaign.fee_basis_points
        for country in campaign.countries:
            hashed = _mix(day_hash ^ country.key)
            more = _mix(hashed)
            spend_cents = int(budget * country.share * (0.75 + 0.5 * _unit(hashed, 0)))
            impressions = int(spend_cents * (2.0 + 4.0 * _unit(hashed, 16)))
            ad_clicks = int(impressions * (0.006 + 0.018 * _unit(hashed, 32)))
            link_clicks_final = int(ad_clicks * (0.35 + 0.4 * _unit(hashed, 44)))
            listeners = int(audience * country.share * (0.6 + 0.8 * _unit(more, 0)))
            streams = listeners + int(listeners * (0.2 + 1.3 * _unit(more, 16)))
            followers = int(listeners * (0.03 + 0.12 * _unit(more, 32)))

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
                f'{head}{country.fragment}"impressions":{impressions},"ad_clicks":{ad_clicks},'
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

    # Engagement ----------------------------------------------------------------------------------

    def _engagement_campaign(self, campaign_id: str, engagement_context: str | None) -> _Campaign | None:
        """The campaign if it has rows in the requested context, else None."""
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
        """The window's rows as JSON lines in export order (or its reverse), after skipping ``skip``.

        Produced one report date at a time, so memory stays flat however long the stream; whole
        days inside ``skip`` are never rendered.
        """
        campaign = self._engagement_campaign(campaign_id, engagement_context)
        if campaign is None:
            return
        rows_per_day = len(campaign.engaged_countries) * len(campaign.tracks)
        days = campaign.report_dates(start, end, today)
        skipped_days, skip_in_day = divmod(skip, rows_per_day) if rows_per_day else (len(days), 0)
        ordered = days[::-1] if descending else days
        for day in ordered[skipped_days:]:
            lines = self._engagement_day(campaign, day, today, schema_version)
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

    def _engagement_day(
        self, campaign: _Campaign, day: dt.date, today: dt.date, schema_version: str
    ) -> list[str]:
        completeness = _COMPLETENESS_PER_MILLE[(_revision_day(day, today) - day).days]
        head = (
            f'{campaign.row_head(day, today, schema_version)}"status":"{campaign.status_on(day)}",'
            f'"engagement_context":"{campaign.engagement_context}","country_code":'
        )
        day_hash = _mix(campaign.engagement_key ^ day.toordinal())
        audience = campaign.listeners_per_day * campaign.audience_on(day)
        lines: list[str] = []
        append = lines.append
        for country in campaign.engaged_countries:
            country_hash = _mix(day_hash ^ country.key)
            country_audience = audience * country.share
            country_head = head + country.fragment
            for track in campaign.tracks:
                hashed = _mix(country_hash ^ track.key)
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
                    f'{country_head}{track.fragment}{new},"returning_listeners":{returning},'
                    f'"listeners":{listeners},"new_listener_streams":{new_streams},'
                    f'"returning_listener_streams":{returning_streams},"streams":{streams},"spl":{spl}}}\n'
                )
        return lines

    # Link clicks ---------------------------------------------------------------------------------

    def click_events(
        self,
        period_from: dt.datetime,
        period_to: dt.datetime,
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
    ) -> list[ClickEvent]:
        """The tracked clicks in ``period_from..period_to`` (both inclusive; naive means UTC), in time order.

        Clicks happen on the days a campaign is active, whatever the sandbox's today.
        """
        start, end = _as_utc(period_from), _as_utc(period_to)
        return [
            event
            for day in _days_between(start.date(), end.date())
            for event in self._clicks_on(day)
            if start <= event.timestamp <= end
            and (campaign_id is None or event.campaign_id == campaign_id)
            and (subscriber_id is None or event.subscriber_id == subscriber_id)
            and (profile_id is None or event.profile_id == profile_id)
        ]

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
        if sort not in LINK_STATS_SORTS:
            raise ValueError(f"sort must be one of {', '.join(LINK_STATS_SORTS)}, got {sort!r}")
        events = self.click_events(period_from, period_to, campaign_id, subscriber_id, profile_id)
        if group is None:
            return [{"count": len(events)}]
        fields = LINK_STATS_GROUP_FIELDS[group]
        counts = Counter(tuple(getattr(event, field) for field in fields) for event in events)
        sign = -1 if sort == "-count" else 1
        ordered = sorted(counts.items(), key=lambda item: (sign * item[1], item[0]))
        return [{**dict(zip(fields, values, strict=True)), "count": count} for values, count in ordered]

    def _generate_clicks_on(self, day: dt.date) -> tuple[ClickEvent, ...]:
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=_UTC)
        events = []
        for campaign in self._campaigns.values():
            if campaign.status_on(day) != "active":
                continue
            day_hash = _mix(campaign.clicks_key ^ day.toordinal())
            for index in range(6 + day_hash % 20):
                hashed = _mix(day_hash + index)
                params_name, params_value = campaign.link_params[(hashed >> 52) % len(campaign.link_params)]
                events.append(
                    ClickEvent(
                        timestamp=midnight + dt.timedelta(seconds=hashed % 86_400),
                        campaign_id=campaign.campaign_id,
                        subscriber_id=self._subscribers[(hashed >> 17) % _SUBSCRIBER_POOL],
                        profile_id=self._profiles[(hashed >> 26) % len(self._profiles)],
                        device=_DEVICES[(hashed >> 28) % len(_DEVICES)],
                        country=campaign.engaged_countries[
                            (hashed >> 32) % len(campaign.engaged_countries)
                        ].code,
                        ip=self._ips[(hashed >> 36) % _IP_POOL],
                        browser=_BROWSERS[(hashed >> 45) % len(_BROWSERS)],
                        custom_link_title=campaign.link_titles[(hashed >> 49) % len(campaign.link_titles)],
                        params_name=params_name,
                        params_value=params_value,
                    )
                )
        return tuple(sorted(events))

    def _ip(self, index: int) -> str:
        hashed = _key(self.seed, "ip", index)
        octets = (_IP_FIRST_OCTETS[hashed % len(_IP_FIRST_OCTETS)], (hashed >> 8) % 256, (hashed >> 16) % 256)
        return f"{octets[0]}.{octets[1]}.{octets[2]}.{1 + (hashed >> 24) % 254}"


def _optional(micros: int | None) -> str:
    return "null" if micros is None else micros_literal(micros)


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """Naive timestamps are read as UTC."""
    return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)


def _days_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for offset in range((last - first).days + 1):
        yield first + dt.timedelta(days=offset)
