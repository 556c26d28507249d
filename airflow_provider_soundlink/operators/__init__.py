"""Operators that export Soundlink metrics and link statistics to GCS and merge them into BigQuery."""

from __future__ import annotations

from airflow_provider_soundlink.operators.bigquery_merge import SoundlinkBigQueryMergeOperator
from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.link_stats_to_gcs import SoundlinkLinkStatsToGCSOperator

__all__ = [
    "SoundlinkBigQueryMergeOperator",
    "SoundlinkExportToGCSOperator",
    "SoundlinkLinkStatsToGCSOperator",
]
