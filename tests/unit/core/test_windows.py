import datetime as dt
import itertools

import pytest

from airflow_provider_soundlink.core.windows import MAX_EXPORT_DAYS, DateWindow, slice_date_range


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def spans(start: str, end: str, max_days: int = MAX_EXPORT_DAYS) -> list[tuple[str, str]]:
    return [
        (window.start.isoformat(), window.end.isoformat())
        for window in slice_date_range(d(start), d(end), max_days)
    ]


def test_window_counts_days_inclusively() -> None:
    assert DateWindow(d("2026-04-01"), d("2026-04-01")).days == 1
    assert DateWindow(d("2026-04-01"), d("2026-06-29")).days == 90
    assert DateWindow(d("2026-04-01"), d("2026-06-30")).days == 91


def test_window_refuses_an_end_before_its_start() -> None:
    with pytest.raises(ValueError, match=r"2026-04-02 \.\. 2026-04-01"):
        DateWindow(d("2026-04-02"), d("2026-04-01"))


def test_exactly_90_days_is_one_window() -> None:
    assert spans("2026-04-01", "2026-06-29") == [("2026-04-01", "2026-06-29")]


def test_91_days_spill_one_day_into_a_second_window() -> None:
    assert spans("2026-04-01", "2026-06-30") == [("2026-04-01", "2026-06-29"), ("2026-06-30", "2026-06-30")]


def test_the_vendor_quarter_example_is_not_what_we_send() -> None:
    # The vendor's documented slice 2026-04-01..2026-06-30 is 91 days, which the API refuses.
    assert ("2026-04-01", "2026-06-30") not in spans("2026-01-01", "2026-12-31")


def test_leap_day_counts_as_a_day() -> None:
    # 2028-01-01..2028-03-30 holds 31 + 29 + 30 = 90 days because of 2028-02-29.
    assert spans("2028-01-01", "2028-03-31") == [("2028-01-01", "2028-03-30"), ("2028-03-31", "2028-03-31")]
    assert spans("2027-01-01", "2027-03-31") == [("2027-01-01", "2027-03-31")]


def test_a_window_may_start_or_end_on_the_leap_day() -> None:
    assert spans("2028-02-29", "2028-05-29") == [("2028-02-29", "2028-05-28"), ("2028-05-29", "2028-05-29")]
    assert spans("2027-12-02", "2028-02-29") == [("2027-12-02", "2028-02-29")]


@pytest.mark.parametrize(
    ("start", "end", "max_days"),
    [
        ("2026-01-01", "2026-01-01", 90),
        ("2025-11-15", "2028-03-01", 90),
        ("2028-02-01", "2028-03-31", 7),
        ("2026-01-01", "2026-01-10", 1),
    ],
)
def test_windows_cover_the_range_without_gaps_or_overlaps(start: str, end: str, max_days: int) -> None:
    windows = list(slice_date_range(d(start), d(end), max_days))
    assert windows[0].start == d(start)
    assert windows[-1].end == d(end)
    for previous, following in itertools.pairwise(windows):
        assert following.start == previous.end + dt.timedelta(days=1)
    assert all(1 <= window.days <= max_days for window in windows)
    assert all(window.days == max_days for window in windows[:-1])
    assert sum(window.days for window in windows) == (d(end) - d(start)).days + 1


def test_max_days_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(slice_date_range(d("2026-01-01"), d("2026-01-02"), 0))


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        list(slice_date_range(d("2026-01-02"), d("2026-01-01")))
