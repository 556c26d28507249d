"""Draw what a load put into BigQuery: daily streams and spend per campaign, as a PNG (``make demo``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

WIDTH_INCHES, HEIGHT_INCHES, DPI = 11, 7, 100


def write_chart(rows: Iterable[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Write one panel of daily ``streams`` and one of daily ``spend`` (USD), a line per ``campaign_id``
    over ``report_date``, to ``path``; return it."""
    from matplotlib.figure import Figure  # the Agg canvas: no display, no global pyplot state

    series: dict[str, list[tuple[dt.date, int, Decimal]]] = {}
    for row in rows:
        series.setdefault(str(row["campaign_id"]), []).append(
            (row["report_date"], int(row["streams"]), Decimal(row["spend"]))
        )
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    streams_axes, spend_axes = figure.subplots(2, 1, sharex=True)
    for campaign_id, points in sorted(series.items()):
        days, streams, spend = _with_gaps(sorted(points))
        streams_axes.plot(days, streams, label=campaign_id, linewidth=1.2)
        spend_axes.plot(days, spend, linewidth=1.2)
    streams_axes.set_ylabel("streams per day")
    spend_axes.set_ylabel("spend_total per day (USD)")
    spend_axes.set_xlabel("report date")
    streams_axes.legend(fontsize=8, loc="upper left")
    for axes in (streams_axes, spend_axes):
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def _with_gaps(
    points: list[tuple[dt.date, int, Decimal]],
) -> tuple[list[dt.date], list[float], list[float]]:
    """Lay out the points as plot columns, with a NaN on each day missing between two loaded days: the line
    breaks there instead of bridging days that were not loaded."""
    days: list[dt.date] = []
    streams: list[float] = []
    spend: list[float] = []
    for day, day_streams, day_spend in points:
        if days and (day - days[-1]).days > 1:
            days.append(days[-1] + dt.timedelta(days=1))
            streams.append(math.nan)
            spend.append(math.nan)
        days.append(day)
        streams.append(float(day_streams))
        spend.append(float(day_spend))
    return days, streams, spend
