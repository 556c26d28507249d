"""Operators that export Soundlink metrics to GCS and merge them into BigQuery."""

from __future__ import annotations

from airflow_provider_soundlink.operators.bigquery_merge import SoundlinkBigQueryMergeOperator
from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator

__all__ = ["SoundlinkBigQueryMergeOperator", "SoundlinkExportToGCSOperator"]
