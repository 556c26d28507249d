"""When the API answered an export: read from its Date header, in UTC, or unknown."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from airflow_provider_soundlink.client.streams import answer_time


def answer(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.headers.update(headers)
    return response


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 09 Jun 2026 12:00:00 GMT", dt.datetime(2026, 6, 9, 12, tzinfo=dt.UTC)),
        ("Tue, 09 Jun 2026 14:00:00 +0200", dt.datetime(2026, 6, 9, 12, tzinfo=dt.UTC)),
        ("Tue, 09 Jun 2026 12:00:00 -0000", dt.datetime(2026, 6, 9, 12, tzinfo=dt.UTC)),
    ],
)
def test_the_date_header_names_the_answer_time_in_utc(date: str, expected: dt.datetime) -> None:
    answered = answer_time(answer({"Date": date}))

    assert answered == expected
    assert answered is not None and answered.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("headers", [{}, {"Date": ""}, {"Date": "yesterday"}, {"Date": "Tue, 99 Jun 2026"}])
def test_a_missing_or_unreadable_date_is_unknown(headers: dict[str, str]) -> None:
    assert answer_time(answer(headers)) is None
