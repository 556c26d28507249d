"""Does the warehouse agree with Soundlink? Campaign totals from the table against the overview endpoint.

The overview endpoint returns one campaign's totals over a window. Only the metrics that add up across
report dates and countries are compared: spend, impressions, clicks, streams and followers. Listeners
are never compared: a listener counts on every day they listen, so neither daily nor per-country
listener counts add up to a window's listeners.

A metric agrees when ``|table - api| <= max(absolute, relative x |api|)``: by default within 0.1 % or
0.01, whichever is larger, which forgives the API's rounding of money to cents or micros and nothing a
lost day or country would cause. A missing value (``link_clicks`` may be null) counts as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from airflow_provider_soundlink.errors import SoundlinkConfigurationError

RECONCILED_METRICS = (
    "spend_media",
    "spend_total",
    "impressions",
    "ad_clicks",
    "link_clicks",
    "streams",
    "followers",
)
"""The ``campaign_country_daily`` columns that sum to the overview's fields of the same names."""

Totals = Mapping[str, Mapping[str, object]]
"""Campaign id -> metric -> value (a number, or None for a missing value)."""


@dataclass(frozen=True)
class Tolerance:
    relative: Decimal = Decimal("0.001")
    absolute: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        if self.relative < 0 or self.absolute < 0:
            raise SoundlinkConfigurationError(
                f"tolerances must be 0 or more, got relative {self.relative} and absolute {self.absolute}"
            )

    def allows(self, table: Decimal, api: Decimal) -> bool:
        return abs(table - api) <= max(self.absolute, self.relative * abs(api))

    def __str__(self) -> str:
        return (
            f"{(self.relative * 100).normalize():f} % or {self.absolute.normalize():f}, whichever is larger"
        )


@dataclass(frozen=True)
class Difference:
    campaign_id: str
    metric: str
    table: Decimal
    api: Decimal

    def as_dict(self) -> dict[str, str]:
        return {
            "campaign_id": self.campaign_id,
            "metric": self.metric,
            "table": str(self.table),
            "api": str(self.api),
            "difference": str(self.table - self.api),
        }


def sum_totals(parts: Iterable[Mapping[str, object]], metrics: Sequence[str]) -> dict[str, Decimal]:
    """Totals of one campaign from the overviews of consecutive windows (each at most 90 days)."""
    totals = dict.fromkeys(metrics, Decimal(0))
    for part in parts:
        for metric in metrics:
            totals[metric] += _number(part.get(metric))
    return totals


def compare_totals(
    table: Totals, api: Totals, campaign_ids: Sequence[str], metrics: Sequence[str], tolerance: Tolerance
) -> list[Difference]:
    """Find the metrics of each campaign whose table total and API total differ beyond ``tolerance``; a
    campaign without rows in the table has table totals of 0."""
    differences = []
    for campaign_id in campaign_ids:
        stored, reported = table.get(campaign_id, {}), api.get(campaign_id, {})
        for metric in metrics:
            table_value, api_value = _number(stored.get(metric)), _number(reported.get(metric))
            if not tolerance.allows(table_value, api_value):
                differences.append(Difference(campaign_id, metric, table_value, api_value))
    return differences


def difference_table(differences: Sequence[Difference]) -> str:
    """Lay out the differences as an aligned text table, for a log or an error message."""
    header = ("campaign_id", "metric", "table", "api", "difference")
    rows = [header, *(tuple(difference.as_dict().values()) for difference in differences)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _number(value: object) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, (Decimal, int)):
        return Decimal(value)
    return Decimal(str(value))
