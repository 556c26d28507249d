"""Tracked clicks on the campaigns' smart links, and their counts as the link-stats endpoint pages them.

Clicks happen on the days a campaign is active, whatever the sandbox's today: a day's clicks are a
hash of the day, so any period can be produced in any order.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from soundlink_sandbox.campaigns import Campaign
from soundlink_sandbox.hashing import base62_id, hash_of, pick, splitmix64

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

_FIRST_NAMES = ("alex", "sam", "maria", "jonas", "li", "aisha", "tom", "nora", "diego", "yuki", "ola", "eva")
_DEVICES = ("iPhone", "Android", "Desktop", "iPad", "Android Tablet")
_BROWSERS = ("Chrome 131", "Safari 18", "Instagram App", "Facebook App", "Firefox 133", "Samsung Internet 27")
_IP_FIRST_OCTETS = (23, 45, 62, 81, 92, 145, 176, 185, 203, 212)
_SUBSCRIBER_POOL = 300
_IP_POOL = 500
_PROFILE_POOL = 3
_UTC = dt.UTC


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


class ClickLog:
    """The account's clicks: a fixed audience (subscribers, IPs, profiles) clicking on active campaigns."""

    def __init__(self, seed: int, campaigns: Sequence[Campaign]) -> None:
        self._campaigns = tuple(campaigns)
        self._subscribers = tuple(
            f"{pick(_FIRST_NAMES, seed, 'fan', index)}.{base62_id(5, seed, 'fan', index).lower()}@example.com"
            for index in range(_SUBSCRIBER_POOL)
        )
        self._ips = tuple(_ip_address(seed, index) for index in range(_IP_POOL))
        self._profiles = tuple(
            f"prof_{base62_id(10, seed, 'profile', index).lower()}" for index in range(_PROFILE_POOL)
        )
        self._clicks_on = lru_cache(maxsize=1024)(self._generate_clicks_on)

    def events(
        self,
        period_from: dt.datetime,
        period_to: dt.datetime,
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
    ) -> list[ClickEvent]:
        """List the clicks in ``period_from..period_to`` (both inclusive; naive means UTC), in time order."""
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

    def _generate_clicks_on(self, day: dt.date) -> tuple[ClickEvent, ...]:
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=_UTC)
        events = []
        for campaign in self._campaigns:
            if campaign.status_on(day) != "active":
                continue
            day_hash = splitmix64(campaign.clicks_key ^ day.toordinal())
            for index in range(6 + day_hash % 20):
                hashed = splitmix64(day_hash + index)
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


def count_clicks(events: list[ClickEvent], group: str | None, sort: str) -> list[dict[str, Any]]:
    """Click counts, grouped and sorted: what the link-stats endpoint pages.

    Without ``group`` the result is one entry ``{"count": N}``. Ties in the count are broken by the
    group fields, ascending, so offset paging is stable.
    """
    if sort not in LINK_STATS_SORTS:
        raise ValueError(f"sort must be one of {', '.join(LINK_STATS_SORTS)}, got {sort!r}")
    if group is None:
        return [{"count": len(events)}]
    fields = LINK_STATS_GROUP_FIELDS[group]
    counts = Counter(tuple(getattr(event, field) for field in fields) for event in events)
    sign = -1 if sort == "-count" else 1
    ordered = sorted(counts.items(), key=lambda item: (sign * item[1], item[0]))
    return [{**dict(zip(fields, values, strict=True)), "count": count} for values, count in ordered]


def _ip_address(seed: int, index: int) -> str:
    hashed = hash_of(seed, "ip", index)
    octets = (_IP_FIRST_OCTETS[hashed % len(_IP_FIRST_OCTETS)], (hashed >> 8) % 256, (hashed >> 16) % 256)
    return f"{octets[0]}.{octets[1]}.{octets[2]}.{1 + (hashed >> 24) % 254}"


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """Naive timestamps are read as UTC."""
    return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)


def _days_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for offset in range((last - first).days + 1):
        yield first + dt.timedelta(days=offset)
