"""Comparing campaign totals: the tolerance rule, missing values and campaigns, and the report table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_soundlink.core.reconciliation import (
    Difference,
    Tolerance,
    compare_totals,
    difference_table,
    sum_totals,
)
from airflow_provider_soundlink.errors import SoundlinkConfigurationError


@pytest.mark.parametrize(
    ("table", "api", "allowed"),
    [
        ("100.00", "100.10", True),  # 0.1 % of 100.10
        ("100.00", "100.11", False),
        ("0.01", "0", True),  # the absolute floor
        ("0.02", "0", False),
        ("1000000", "1001000", True),
        ("1000000", "1001002", False),
    ],
)
def test_a_metric_agrees_within_the_larger_of_the_relative_and_absolute_tolerance(
    table: str, api: str, allowed: bool
) -> None:
    assert Tolerance().allows(Decimal(table), Decimal(api)) is allowed


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(SoundlinkConfigurationError, match="tolerances must be 0 or more"):
        Tolerance(relative=Decimal("-0.1"))


def test_overviews_of_consecutive_windows_add_up_and_a_missing_value_counts_as_zero() -> None:
    parts = [
        {"streams": 10, "spend_media": Decimal("1.25"), "link_clicks": None},
        {"streams": 5, "spend_media": Decimal("0.75"), "link_clicks": 3},
    ]
    assert sum_totals(parts, ["streams", "spend_media", "link_clicks"]) == {
        "streams": Decimal(15),
        "spend_media": Decimal("2.00"),
        "link_clicks": Decimal(3),
    }


def test_only_metrics_beyond_the_tolerance_differ_and_a_campaign_without_rows_counts_as_zero() -> None:
    table = {"camp_a": {"streams": 100, "followers": None}}
    api = {
        "camp_a": {"streams": Decimal(100), "followers": Decimal(0)},
        "camp_b": {"streams": Decimal(7), "followers": Decimal(0)},
    }
    differences = compare_totals(table, api, ["camp_a", "camp_b"], ["streams", "followers"], Tolerance())
    assert differences == [Difference("camp_b", "streams", Decimal(0), Decimal(7))]


def test_the_difference_table_aligns_its_columns() -> None:
    text = difference_table(
        [
            Difference("camp_a", "spend_media", Decimal("1.50"), Decimal("2.00")),
            Difference("camp_long_id", "streams", Decimal(10), Decimal(9)),
        ]
    )
    assert text.splitlines() == [
        "campaign_id   metric       table  api   difference",
        "camp_a        spend_media  1.50   2.00  -0.50",
        "camp_long_id  streams      10     9     1",
    ]
