"""The demo's chart: a PNG of the size asked, one line per campaign in each panel."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from PIL import Image

from soundlink_stand_ins.chart import DPI, HEIGHT_INCHES, WIDTH_INCHES, write_chart


def test_the_chart_is_a_png_of_daily_streams_and_spend(tmp_path: Path) -> None:
    days = [dt.date(2026, 6, 1) + dt.timedelta(days=offset) for offset in range(10)]
    rows = [
        {
            "campaign_id": campaign,
            "report_date": day,
            "streams": 100 * offset,
            "spend": Decimal("12.5") * offset,
        }
        for campaign in ("camp_a", "camp_b")
        for offset, day in enumerate(days, start=1)
    ]

    path = write_chart(rows, tmp_path / "charts" / "demo.png", "What landed")

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.size == (WIDTH_INCHES * DPI, HEIGHT_INCHES * DPI)
        # Lines were drawn: the picture is not a blank canvas.
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 10


def test_a_day_not_loaded_breaks_the_line_instead_of_bridging_it() -> None:
    from soundlink_stand_ins.chart import _with_gaps

    first, last = dt.date(2026, 4, 30), dt.date(2026, 6, 7)
    days, streams, spend = _with_gaps([(first, 5, Decimal("1.5")), (last, 7, Decimal("2"))])

    assert days == [first, first + dt.timedelta(days=1), last]
    assert streams[0] == 5 and streams[2] == 7 and streams[1] != streams[1]  # NaN
    assert spend[1] != spend[1]
