"""Operators that export Soundlink metrics and link statistics to GCS, merge them into BigQuery and check
the result against Soundlink's totals."""

from __future__ import annotations

from airflow_provider_soundlink.operators.bigquery_merge import SoundlinkBigQueryMergeOperator
from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.link_stats_to_gcs import SoundlinkLinkStatsToGCSOperator
from airflow_provider_soundlink.operators.reconcile import SoundlinkReconcileOperator

__all__ = [
    "SoundlinkBigQueryMergeOperator",
    "SoundlinkExportToGCSOperator",
    "SoundlinkLinkStatsToGCSOperator",
    "SoundlinkReconcileOperator",
]
