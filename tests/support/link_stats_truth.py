"""What ``link_clicks_daily`` must hold after a link-stats load, from the sandbox's own click events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_soundlink.core.pseudonymise import pseudonymise
from soundlink_sandbox.data import SandboxData

TRUTH = SandboxData()
Row = dict[str, Any]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(day, dt.time(), dt.UTC),
        dt.datetime.combine(day, dt.time(23, 59, 59, 999_000), dt.UTC),
    )


def link_stats_truth(
    days: Iterable[dt.date],
    groupings: Sequence[str | None],
    key: str | None,
    *,
    campaign_id: str = "",
    subscriber: str = "",
) -> list[Row]:
    """Compute the rows the table must hold, without the timestamps, sorted; personal values pseudonymised
    under ``key`` (None: stored raw)."""
    rows = []
    hide = (lambda value: pseudonymise(value, key)) if key else (lambda value: value)
    for day in days:
        for grouping in groupings:
            entries = TRUTH.link_clicks(
                *day_bounds(day),
                group=grouping,
                campaign_id=campaign_id or None,
                subscriber_id=subscriber or None,
            )
            for entry in entries:
                value = "" if grouping in (None, "params") else entry[grouping]
                personal = grouping in ("ip", "subscriber_id")
                rows.append(
                    {
                        "report_date": day,
                        "group_by": grouping or "total",
                        "group_value": hide(value) if personal else value,
                        "params_name": entry.get("params_name", ""),
                        "params_value": entry.get("params_value", ""),
                        "filter_campaign_id": campaign_id,
                        "filter_subscriber_id": hide(subscriber) if subscriber else "",
                        "filter_profile_id": "",
                        "count": entry["count"],
                        "pseudonymised": key is not None and (personal or bool(subscriber)),
                    }
                )
    return sorted(rows, key=repr)


def personal_values(days: Iterable[dt.date]) -> set[str]:
    """Every raw IP address and subscriber id of the sandbox's clicks on these days."""
    events = [event for day in days for event in TRUTH.click_events(*day_bounds(day))]
    return {event.ip for event in events} | {event.subscriber_id for event in events}
