"""Writing an export's complete local file to its GCS object, the one way both export operators do it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_soundlink.client.exports import NDJSON

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
"""The resumable upload's chunk, which the client holds in memory: google-cloud-storage buffers 100 MiB
by default, so memory would grow with the export; chunks must be multiples of 256 KiB."""


def upload_complete_file(gcs: GCSHook, bucket: str, object_name: str, local_path: Path) -> str:
    """Upload a file that holds a whole, checked export; returns the object's ``gs://`` URI.

    Only complete files are uploaded, so a failed download never leaves a partial object under the
    final name, and the name depends only on the export's inputs, so a re-run overwrites it.
    """
    gcs.upload(
        bucket_name=bucket,
        object_name=object_name,
        filename=str(local_path),
        mime_type=NDJSON,
        chunk_size=UPLOAD_CHUNK_BYTES,
    )
    return f"gs://{bucket}/{object_name}"
