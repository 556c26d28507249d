"""The export operator streams each window into a resumable upload of several chunks: the object is
exactly the bytes the API sent, and a stream that breaks after chunks went out leaves no partial object."""

from __future__ import annotations

import datetime as dt
import gc
import logging
from typing import Any

import pytest
import requests
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.cloud.storage.fileio import BlobWriter

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.errors import SoundlinkStreamError
from airflow_provider_soundlink.operators import gcs_objects
from support.operator_pipeline import TRACK_CAMPAIGN, YESTERDAY, Pipeline

# 2,610 lines, about 2.1 MB at the sandbox's scale 1: eight chunks of the smallest size GCS allows.
WINDOW = (YESTERDAY - dt.timedelta(days=89), YESTERDAY)
SMALLEST_CHUNK_BYTES = 256 * 1024
EXPORT_PATH = f"/v1/campaigns/{TRACK_CAMPAIGN}/metrics/breakdown/export"


class ChunkCount:
    """Counts the chunks every upload sent before it was completed or cancelled."""

    def __init__(self) -> None:
        self.sent = 0
        self.cancelled = 0


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> ChunkCount:
    monkeypatch.setattr(gcs_objects, "UPLOAD_CHUNK_BYTES", SMALLEST_CHUNK_BYTES)
    count = ChunkCount()
    upload_chunks = BlobWriter._upload_chunks_from_buffer
    terminate = BlobWriter.terminate

    def counted_upload_chunks(writer: BlobWriter, num_chunks: int) -> None:
        count.sent += num_chunks
        upload_chunks(writer, num_chunks)

    def counted_terminate(writer: BlobWriter) -> None:
        count.cancelled += 1
        terminate(writer)

    monkeypatch.setattr(BlobWriter, "_upload_chunks_from_buffer", counted_upload_chunks)
    monkeypatch.setattr(BlobWriter, "terminate", counted_terminate)
    return count


def api_bytes(pipeline: Pipeline, key: str = "sk_sandbox_all") -> bytes:
    response = requests.get(
        pipeline.sandbox.base_url + EXPORT_PATH,
        headers={"x-api-key": key},
        params={"startDate": WINDOW[0].isoformat(), "endDate": WINDOW[1].isoformat()},
        timeout=30,
    )
    response.raise_for_status()
    return response.content


def stored_object(pipeline: Pipeline) -> tuple[bytes, str | None]:
    [name] = pipeline.objects()
    blob = GCSHook().get_conn().bucket(pipeline.bucket).get_blob(name)
    return blob.download_as_bytes(), blob.content_type


def export(pipeline: Pipeline) -> list[Any]:
    return pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], WINDOW)


def test_an_export_of_many_chunks_is_the_object_byte_for_byte(pipeline: Pipeline, chunks: ChunkCount) -> None:
    expected = api_bytes(pipeline)
    assert len(expected) > 6 * SMALLEST_CHUNK_BYTES

    manifest = export(pipeline)

    assert stored_object(pipeline) == (expected, "application/x-ndjson")
    assert manifest[0]["row_count"] == expected.count(b"\n")
    assert chunks.sent == len(expected) // SMALLEST_CHUNK_BYTES + 1
    assert chunks.cancelled == 0


def test_a_stream_cut_after_chunks_went_out_leaves_the_previous_object_whole(
    pipeline: Pipeline, chunks: ChunkCount
) -> None:
    export(pipeline)
    before = stored_object(pipeline)
    chunks.sent = 0
    pipeline.retry_exports_once()
    pipeline.sandbox.add_fault(kind="cut", path=EXPORT_PATH, after_lines=2000, count=2)

    with pytest.raises(SoundlinkStreamError, match="cut off after 2000"):
        export(pipeline)

    assert chunks.sent >= 2 * 5  # each attempt sent chunks before its stream broke
    assert chunks.cancelled == 2
    assert stored_object(pipeline) == before


def test_a_stream_cut_once_after_chunks_went_out_is_uploaded_whole_by_the_next_attempt(
    pipeline: Pipeline, chunks: ChunkCount
) -> None:
    pipeline.sandbox.add_fault(kind="cut", path=EXPORT_PATH, after_lines=2000, count=1)

    export(pipeline)

    assert stored_object(pipeline)[0] == api_bytes(pipeline)
    assert chunks.cancelled == 1


def test_a_chunk_whose_connection_drops_is_sent_again(
    pipeline: Pipeline, chunks: ChunkCount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that drops before the server has a chunk: google-cloud-storage sends it again."""
    dropped: list[str] = []
    request = requests.Session.request

    def drop_the_third_chunk(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        if (
            method == "PUT"
            and "upload_id" in url
            and kwargs.get("headers", {})
            .get("content-range", "")
            .startswith(f"bytes {2 * SMALLEST_CHUNK_BYTES}-")
            and not dropped
        ):
            dropped.append(url)
            raise requests.ConnectionError("connection reset by peer")
        return request(session, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", drop_the_third_chunk)

    export(pipeline)

    assert dropped
    assert stored_object(pipeline)[0] == api_bytes(pipeline)


def test_an_upload_that_cannot_be_cancelled_still_fails_with_the_export_error(
    pipeline: Pipeline, chunks: ChunkCount, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unreachable(writer: BlobWriter) -> None:
        raise requests.ConnectionError("storage is unreachable")

    monkeypatch.setattr(BlobWriter, "terminate", unreachable)
    pipeline.retry_exports_once()
    pipeline.sandbox.add_fault(kind="cut", path=EXPORT_PATH, after_lines=2000, count=2)

    with caplog.at_level(logging.WARNING), pytest.raises(SoundlinkStreamError, match="cut off after 2000"):
        export(pipeline)

    # The failed attempts' writers outlive the task's error in its traceback; when they are collected,
    # IOBase.__del__ calls close(), which would send the last chunk and complete a partial object.
    for writer in [thing for thing in gc.get_objects() if isinstance(thing, BlobWriter)]:
        writer.close()
    assert pipeline.objects() == []
    assert "could not be cancelled (storage is unreachable); it makes no object" in caplog.text
