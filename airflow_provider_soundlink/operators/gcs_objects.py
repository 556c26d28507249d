"""Writing an export's GCS object, the one way both export operators do it: streamed into a resumable
upload that becomes the object only when the export is complete."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from airflow_provider_soundlink.client.streams import NDJSON
from airflow_provider_soundlink.core.load_plan import bucket_location_problem
from airflow_provider_soundlink.errors import SoundlinkConfigurationError

if TYPE_CHECKING:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook
    from google.cloud.storage.fileio import BlobWriter

log = logging.getLogger(__name__)

UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
"""The resumable upload's chunk, which the writer holds in memory until it is sent: google-cloud-storage
buffers 100 MiB by default; chunks must be multiples of 256 KiB."""


def gcs_uri(bucket: str, object_name: str) -> str:
    return f"gs://{bucket}/{object_name}"


def bucket_locations(gcs: GCSHook, uris: Sequence[str]) -> dict[str, str | None]:
    """Read the location of each bucket the ``gs://`` URIs name; None where it cannot be read (reading it
    needs ``storage.buckets.get``, which a least-privilege account may lack)."""
    from google.api_core.exceptions import GoogleAPICallError

    client = gcs.get_conn()
    locations: dict[str, str | None] = {}
    for name in sorted({uri.removeprefix("gs://").split("/", 1)[0] for uri in uris}):
        try:
            locations[name] = client.get_bucket(name).location
        except GoogleAPICallError as error:
            log.info("Could not read the location of bucket %s (%s); not checking it", name, error)
            locations[name] = None
    return locations


def check_bucket_locations(
    gcp_conn_id: str,
    impersonation_chain: str | Sequence[str] | None,
    dataset_location: str,
    uris: Sequence[str],
) -> None:
    """Fail before any job when a bucket of ``uris`` is in a location the dataset cannot load from."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    gcs = GCSHook(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain)
    problem = bucket_location_problem(dataset_location, bucket_locations(gcs, uris))
    if problem is not None:
        raise SoundlinkConfigurationError(problem)


@contextlib.contextmanager
def complete_object_upload(gcs: GCSHook, bucket: str, object_name: str) -> Iterator[BlobWriter]:
    """Open a writer into ``gs://{bucket}/{object_name}`` whose object exists only once its block ends
    normally.

    Writes go out as the chunks of one resumable upload, so memory stays flat and no local file is
    written. "Only a completed resumable upload appears in your bucket and, if applicable, replaces an
    existing object with the same name" (Cloud Storage, "Resumable uploads"): the upload is completed on a
    normal exit only, after the last chunk's response is checked against the CRC32C of every byte sent,
    and cancelled when the block raises. So a failed or cut-off export never leaves a partial object under
    the final name, and a re-run, whose name depends only on the export's inputs, replaces the object.
    """
    blob = gcs.get_conn().bucket(bucket).blob(object_name)
    writer = blob.open("wb", chunk_size=UPLOAD_CHUNK_BYTES, content_type=NDJSON, checksum="crc32c")
    try:
        yield writer
    except BaseException:
        _cancel(writer, gcs_uri(bucket, object_name))
        raise
    writer.close()


def _cancel(writer: BlobWriter, uri: str) -> None:
    """Cancel an upload whose export failed, and make sure it can never be completed.

    ``terminate()`` closes the writer only after its cancel request succeeded. A writer left open would
    complete the partial object when it is closed later: ``IOBase.__del__`` closes it when it is
    collected, and ``close()`` sends the last chunk. So when the cancel fails, the writer's buffer is
    closed here (``close()`` then sends nothing), and the open session is never completed: it makes no
    object and expires ("a resumable upload must be completed within a week of being initiated").
    """
    try:
        writer.terminate()
    except Exception as error:  # the export's own error is the one to raise
        writer._buffer.close()
        log.warning("The unfinished upload to %s could not be cancelled (%s); it makes no object", uri, error)
