"""Inclusive date windows, cut to the API's 90-day export cap."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from airflow_provider_soundlink.errors import SoundlinkConfigurationError

MAX_EXPORT_DAYS = 90

DEFAULT_REVISION_DAYS = 7
"""Soundlink revises a report date for 7 days after it closes, so a daily run re-loads the 7 days before."""


@dataclass(frozen=True, order=True)
class DateWindow:
    """An inclusive range of UTC report dates, ``start`` and ``end`` both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise SoundlinkConfigurationError(
                f"date window ends before it starts: {self.start.isoformat()} .. {self.end.isoformat()}; "
                "give an end date on or after the start date"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def slice_date_range(start: dt.date, end: dt.date, max_days: int = MAX_EXPORT_DAYS) -> list[DateWindow]:
    """Cut ``start..end`` (inclusive) into consecutive windows of at most ``max_days`` days.

    Windows are counted in days, never by calendar quarter: a quarter can hold 92 days, which the
    API refuses.
    """
    if max_days < 1:
        raise SoundlinkConfigurationError(f"max_days must be at least 1, got {max_days}")
    whole = DateWindow(start, end)
    windows = []
    cursor = whole.start
    step = dt.timedelta(days=max_days - 1)
    while cursor <= whole.end:
        window_end = min(cursor + step, whole.end)
        windows.append(DateWindow(cursor, window_end))
        cursor = window_end + dt.timedelta(days=1)
    return windows


def revision_window(report_date: dt.date, revision_days: int) -> DateWindow:
    """List the report dates a run for ``report_date`` loads: that day and the ``revision_days`` before it."""
    if revision_days < 0:
        raise SoundlinkConfigurationError(f"revision_days must be 0 or more, got {revision_days}")
    return DateWindow(report_date - dt.timedelta(days=revision_days), report_date)
