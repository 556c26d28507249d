"""The exports this provider loads and the tables they land in: one vocabulary for every layer."""

from __future__ import annotations

import enum

from airflow_provider_soundlink.errors import SoundlinkConfigurationError


class ExportKind(str, enum.Enum):
    """What is exported: per-country daily rows, per-track daily engagement rows (both JSONL exports
    of one campaign), or link click statistics (paged counts, one object per day and grouping)."""

    BREAKDOWN = "breakdown"
    ENGAGEMENT = "engagement"
    LINK_STATS = "link_stats"

    @property
    def table_name(self) -> str:
        """The row schema's name, used as the default BigQuery table name."""
        return _TABLES[self]

    def export_path(self, campaign_id: str) -> str:
        return f"/v1/campaigns/{campaign_id}/metrics/{self._campaign_export()}/export"

    def paginated_path(self, campaign_id: str) -> str:
        return f"/v1/campaigns/{campaign_id}/metrics/{self._campaign_export()}"

    def _campaign_export(self) -> str:
        if self not in CAMPAIGN_EXPORTS:
            raise SoundlinkConfigurationError(
                f"{self.value!r} has no campaign export; the campaign exports are "
                f"{', '.join(kind.value for kind in CAMPAIGN_EXPORTS)}"
            )
        return self.value


CAMPAIGN_EXPORTS = (ExportKind.BREAKDOWN, ExportKind.ENGAGEMENT)
"""The JSONL exports of one campaign's metrics."""

_TABLES = {
    ExportKind.BREAKDOWN: "campaign_country_daily",
    ExportKind.ENGAGEMENT: "campaign_engagement_daily",
    ExportKind.LINK_STATS: "link_clicks_daily",
}


def export_kind(export: ExportKind | str, among: tuple[ExportKind, ...] = tuple(ExportKind)) -> ExportKind:
    """``export`` as an :class:`ExportKind` of ``among``, or an error that lists them."""
    try:
        kind = ExportKind(export)
    except ValueError:
        kind = None
    if kind not in among:
        known = ", ".join(repr(member.value) for member in among)
        raise SoundlinkConfigurationError(f"unknown export {export!r}: give one of {known}")
    return kind


SUPPORTED_SCHEMA_VERSIONS = frozenset({"1.0"})
ENGAGEMENT_CONTEXTS = ("catalog", "playlist")
"""The values of ``engagement_context``: engagement with the artist's catalog, or within a playlist."""
PERSONAL_LINK_STATS_FIELDS = frozenset({"ip", "subscriber_id"})
"""Link statistics fields (as group or as filter) that identify a person."""
