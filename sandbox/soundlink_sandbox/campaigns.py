"""The campaign model: six fixed blueprints, and per campaign what does not change from row to row.

A blueprint fixes a campaign's shape (target type, id style, timeline, strategy); the seed decides
its ids, names, budget, fee, markets and engaged tracks, and the scale how many of those it has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from soundlink_sandbox.hashing import (
    base62_id,
    fraction_of,
    hash_of,
    isrc_of,
    pick,
    splitmix64,
    uuid_of,
)

ATTRIBUTION_DAYS = 7
"""Streams keep being attributed this many days after a campaign ends (7-day click-through window)."""

BASE_ENGAGED_TRACKS = 5
"""Engaged tracks per campaign at scale 1; ``--scale N`` multiplies it by N."""

BASE_ENGAGED_MARKETS = 8
"""Countries with engagement rows per campaign at scale 1; grows by this much per scale step."""

ENGAGEMENT_CONTEXTS = ("catalog", "playlist")

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
_LINK_TITLES = ("Listen on Spotify", "Pre-save", "Official Video", "Tour Dates")
_ENGAGEMENT_CONTEXT_BY_TARGET = {"track": "catalog", "playlist": "playlist"}


@dataclass(frozen=True)
class Blueprint:
    """The fixed shape of one campaign; the seed decides its ids, names and numbers."""

    uuid_id: bool
    target_type: str | None
    created_at: dt.datetime
    start: dt.date
    end: dt.date | None
    strategy_type: str


_UTC = dt.UTC
BLUEPRINTS = (
    Blueprint(False, "track", dt.datetime(2025, 3, 3, 14, 22, 5, tzinfo=_UTC), dt.date(2025, 3, 5),
              dt.date(2025, 6, 30), "followers"),
    Blueprint(True, "playlist", dt.datetime(2025, 4, 14, 9, 5, 41, tzinfo=_UTC), dt.date(2025, 4, 16),
              dt.date(2025, 9, 30), "streams"),
    Blueprint(True, "track", dt.datetime(2025, 5, 19, 17, 48, 12, tzinfo=_UTC), dt.date(2025, 5, 20),
              None, "followers"),
    Blueprint(False, "playlist", dt.datetime(2025, 8, 28, 11, 3, 57, tzinfo=_UTC), dt.date(2025, 9, 1),
              None, "streams"),
    Blueprint(False, "track", dt.datetime(2025, 11, 3, 8, 30, 0, tzinfo=_UTC), dt.date(2025, 11, 5),
              dt.date(2026, 4, 30), "streams"),
    Blueprint(True, None, dt.datetime(2026, 1, 12, 15, 0, 9, tzinfo=_UTC), dt.date(2026, 1, 12),
              dt.date(2026, 2, 28), "reach"),
)  # fmt: skip


_STRATEGIES = ("followers", "streams", "reach")
_TARGETS = ("track", "playlist", None)
_GENERATED_RUNNING_PER_MILLE = 20
"""Of the campaigns beyond the six blueprints, about this many per thousand are still running; the rest
ended long ago, as in an agency account with years of history."""
_GENERATED_HISTORY_START = dt.datetime(2022, 1, 3, 9, 0, 0, tzinfo=_UTC)
_GENERATED_RUNNING_START = dt.datetime(2025, 6, 2, 9, 0, 0, tzinfo=_UTC)


def generated_blueprint(seed: int, index: int) -> Blueprint:
    """Generate the blueprint of campaign ``index`` beyond the fixed six (``--campaigns N``): mostly campaigns
    of two to sixteen weeks that ended between 2022 and 2024, a few running since mid-2025."""
    tag = (seed, "generated", index)
    running = hash_of(*tag, "running") % 1000 < _GENERATED_RUNNING_PER_MILLE
    if running:
        created = _GENERATED_RUNNING_START + dt.timedelta(days=hash_of(*tag, "created") % 300)
    else:
        created = _GENERATED_HISTORY_START + dt.timedelta(days=hash_of(*tag, "created") % (3 * 360))
    created += dt.timedelta(seconds=hash_of(*tag, "clock") % 86_400)
    start = created.date() + dt.timedelta(days=hash_of(*tag, "start") % 3)
    end = None if running else start + dt.timedelta(days=14 + hash_of(*tag, "length") % 99)
    return Blueprint(
        uuid_id=hash_of(*tag, "id-style") % 2 == 0,
        target_type=_TARGETS[hash_of(*tag, "target") % len(_TARGETS)],
        created_at=created,
        start=start,
        end=end,
        strategy_type=pick(_STRATEGIES, *tag, "strategy"),
    )


class Country(NamedTuple):
    code: str
    share: float
    """The country's share of the campaign's audience and spend."""
    key: int


class Track(NamedTuple):
    spotify_id: str
    isrc: str | None
    name: str
    playlist_position: int | None
    weight: float
    """The track's relative share of the engaged listeners."""
    key: int


class Campaign:
    """One campaign of the account, with everything that does not change from row to row precomputed."""

    def __init__(self, blueprint: Blueprint, index: int, seed: int, scale: int) -> None:
        self.blueprint = blueprint
        tag = (seed, "campaign", index)
        self.campaign_id = uuid_of(*tag) if blueprint.uuid_id else f"camp_{base62_id(12, *tag, 'id').lower()}"
        self.name = f"{pick(_WORDS_A, *tag, 'a')} {pick(_WORDS_B, *tag, 'b')}"
        self.breakdown_key = hash_of(*tag, "breakdown")
        self.engagement_key = hash_of(*tag, "engagement")
        self.clicks_key = hash_of(*tag, "clicks")
        self.daily_budget_cents = (2500, 4000, 5000, 7500, 12000)[hash_of(*tag, "budget") % 5]
        self.fee_basis_points = (1500, 2000, 2500)[hash_of(*tag, "fee") % 3]
        self.listeners_per_day = (
            self.daily_budget_cents / 100 * (3.0 + fraction_of(hash_of(*tag, "reach"), 0) * 3)
        )
        # The time of day (UTC) the campaign's rows are exported, as ``exported_at`` shows it.
        clock = hash_of(*tag, "clock")
        self.export_clock = f"06:{clock % 60:02d}:{(clock >> 8) % 60:02d}Z"

        target = blueprint.target_type
        self.target_isrc = isrc_of(*tag, "target") if target == "track" else None
        self.target_track_id = base62_id(22, *tag, "target") if target == "track" else None
        self.target_playlist_id = base62_id(22, *tag, "playlist") if target == "playlist" else None
        self.engagement_context = _ENGAGEMENT_CONTEXT_BY_TARGET.get(target or "")

        self.countries = self._pick_countries(tag)
        by_share = sorted(self.countries, key=lambda country: -country.share)
        engaged = by_share[: BASE_ENGAGED_MARKETS * scale]
        self.engaged_countries = tuple(sorted(engaged, key=lambda country: country.code))
        self.tracks = self._make_tracks(tag, BASE_ENGAGED_TRACKS * scale)
        # The campaign's smart link: the titles its buttons carry and the UTM parameters of its ads.
        self.link_titles = _LINK_TITLES[: 2 + hash_of(*tag, "titles") % 3]
        slug = self.name.lower().replace(" ", "-")
        self.link_params = (
            ("utm_source", "instagram"),
            ("utm_source", "facebook"),
            ("utm_medium", "paid_social"),
            ("utm_campaign", slug),
        )

    def _pick_countries(self, tag: tuple[object, ...]) -> tuple[Country, ...]:
        count = 25 + hash_of(*tag, "countries") % 16
        ranked = sorted(_COUNTRY_POOL, key=lambda code: hash_of(*tag, "market", code))[:count]
        # Zipf-like audience shares: a few big markets and a long tail, as ad delivery tends to give.
        weights = [1.0 / (rank + 1.5) for rank in range(count)]
        total = sum(weights)
        countries = [
            Country(code, weight / total, hash_of(*tag, "country", code))
            for code, weight in zip(ranked, weights, strict=True)
        ]
        return tuple(sorted(countries, key=lambda country: country.code))

    def _make_tracks(self, tag: tuple[object, ...], count: int) -> tuple[Track, ...]:
        if self.engagement_context is None:
            return ()
        tracks = []
        for rank in range(count):
            is_target = rank == 0 and self.blueprint.target_type == "track"
            spotify_id = self.target_track_id if is_target else base62_id(22, *tag, "track", rank)
            assert spotify_id is not None
            if is_target:
                isrc: str | None = self.target_isrc
            else:
                # Every fourth track's ISRC is unresolved, as happens with catalog spillover.
                isrc = None if rank % 4 == 3 else isrc_of(*tag, "track", rank)
            name = f"{pick(_WORDS_A, *tag, 'track-a', rank)} {pick(_WORDS_B, *tag, 'track-b', rank)}"
            position = rank + 1 if self.engagement_context == "playlist" else None
            weight = 1.0 / (rank + 1) ** 0.8
            tracks.append(Track(spotify_id, isrc, name, position, weight, hash_of(*tag, "track-key", rank)))
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
        return 0.85 + 0.15 * fraction_of(splitmix64(self.breakdown_key ^ day.toordinal()), 48)

    def audience_on(self, day: dt.date) -> float:
        """Return listening relative to a running day: none before start, halving daily after the end."""
        status = self.status_on(day)
        if status == "scheduled":
            return 0.0
        if status == "ended":
            assert self.blueprint.end is not None
            return 0.5 ** (day - self.blueprint.end).days
        return 1.0
