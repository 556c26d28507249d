"""The two JSONL exports of the Metrics API and the tables they land in."""

from __future__ import annotations

import enum


class ExportKind(str, enum.Enum):
    """Which export: per-country daily rows, or per-track daily engagement rows."""

    BREAKDOWN = "breakdown"
    ENGAGEMENT = "engagement"

    @property
    def table_name(self) -> str:
        """The row schema's name, used as the default BigQuery table name."""
        return _TABLES[self]

    def export_path(self, campaign_id: str) -> str:
        return f"/v1/campaigns/{campaign_id}/metrics/{self.value}/export"

    def paginated_path(self, campaign_id: str) -> str:
        return f"/v1/campaigns/{campaign_id}/metrics/{self.value}"


_TABLES = {
    ExportKind.BREAKDOWN: "campaign_country_daily",
    ExportKind.ENGAGEMENT: "campaign_engagement_daily",
}

SUPPORTED_SCHEMA_VERSIONS = frozenset({"1.0"})
