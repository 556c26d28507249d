"""Manifest entries as an export task returns them, for tests of what reads manifests."""

from __future__ import annotations

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.manifest import ManifestEntry


def entry(
    campaign_id: str = "camp_a",
    start: str = "2026-01-01",
    end: str = "2026-03-31",
    export: str = "breakdown",
    engagement_context: str | None = None,
    row_count: int = 3,
) -> ManifestEntry:
    """One campaign export's entry, with a URI of its own."""
    scope = {"campaign_id": campaign_id}
    if engagement_context is not None:
        scope["engagement_context"] = engagement_context
    return ManifestEntry(
        export=export,
        table=ExportKind(export).table_name,
        scope=scope,
        start_date=start,
        end_date=end,
        uri=f"gs://bucket/{campaign_id}/{start}_{end}.jsonl",
        row_count=row_count,
        new_fields=[],
    )
