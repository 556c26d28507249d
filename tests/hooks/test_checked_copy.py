"""The checked copy of an export (no server): runs of clean lines are checked whole, anything else line by
line, and both give the same verdicts and the same bytes."""

from __future__ import annotations

import gzip
import io

import pytest
import requests
import urllib3

from airflow_provider_soundlink.client import exports
from airflow_provider_soundlink.client.errors import (
    RequestContext,
    SoundlinkMalformedExportError,
    SoundlinkSchemaVersionError,
    SoundlinkStreamError,
)
from airflow_provider_soundlink.client.exports import copy_checked_export, export_lines

EXPORT_FIELDS = ("schema_version", "campaign_id", "streams")
CONTEXT = RequestContext(
    "soundlink_default", "/v1/export", {"startDate": "2026-06-01", "endDate": "2026-06-02"}
)


def row(number: int, **extra: object) -> bytes:
    fields = {"schema_version": "1.0", "campaign_id": "c1", "streams": number, **extra}
    return (
        b"{"
        + b",".join(f'"{name}":{value!r}'.replace("'", '"').encode() for name, value in fields.items())
        + b"}"
    )


def response(
    body: bytes, row_count: int | None = None, content_encoding: str | None = None
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    headers = {"Content-Encoding": content_encoding} if content_encoding else {}
    answer.raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers=headers, preload_content=False)
    answer.headers.update(headers)
    if row_count is not None:
        answer.headers["X-Row-Count"] = str(row_count)
    return answer


def copy(
    body: bytes,
    row_count: int | None = None,
    *,
    content_encoding: str | None = None,
    target: io.BytesIO | None = None,
) -> tuple[int, dict[str, frozenset[str]], bytes]:
    target = io.BytesIO() if target is None else target
    rows, new_fields = copy_checked_export(
        CONTEXT,
        response(body, row_count, content_encoding),
        target,
        export_fields=EXPORT_FIELDS,
        timeout=60,
        progress_interval=60,
    )
    return rows, new_fields, target.getvalue()


@pytest.fixture(
    params=[(7, 1), (7, 180), (100, 1), (100, 250), (1024 * 1024, 1024 * 1024)],
    ids=[
        "reads-inside-lines",
        "reads-inside-lines-gathered",
        "reads-of-a-few-lines",
        "reads-of-a-few-lines-gathered",
        "one-read",
    ],
)
def read_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The size of each read, and of the runs of lines checked at once (``EXPORT_BLOCK_BYTES``): 1 checks
    whatever lines a read completes, larger runs gather several reads."""
    read_bytes, block_bytes = request.param
    monkeypatch.setattr(exports, "EXPORT_READ_BYTES", read_bytes)
    monkeypatch.setattr(exports, "EXPORT_BLOCK_BYTES", block_bytes)
    return int(read_bytes)


def test_clean_lines_are_copied_byte_for_byte(read_bytes: int) -> None:
    body = b"".join(row(number) + b"\n" for number in range(50))
    assert copy(body, row_count=50) == (50, {}, body)


def test_a_last_line_without_newline_is_a_row_and_gets_one(read_bytes: int) -> None:
    body = b"\n".join(row(number) for number in range(5))
    assert copy(body) == (5, {}, body + b"\n")


def test_blank_lines_are_dropped_and_other_line_ends_kept(read_bytes: int) -> None:
    body = row(1) + b"\n\n" + row(2) + b"\r\n" + b"   \n" + row(3) + b"\n"
    assert copy(body, row_count=3) == (3, {}, row(1) + b"\n" + row(2) + b"\r\n" + row(3) + b"\n")


def test_fields_outside_the_table_are_named_with_the_kinds_of_their_values_and_kept(read_bytes: int) -> None:
    lines = [row(1), row(2, audience_segment="fans"), row(3, audience_segment=7), row(4, mood=1.5)]
    body = b"\n".join(lines) + b"\n"
    new_fields = {"audience_segment": frozenset({"string", "integer"}), "mood": frozenset({"number"})}
    assert copy(body) == (4, new_fields, body)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # Two objects on one line: a whitespace-separated JSON reader would count them as two rows.
        ([row(1), row(2) + b" " + row(3), row(4)], "line 2 is not JSON"),
        # One object over two lines, next to a line of two: as many values as lines.
        (
            [row(1) + b" " + row(2), b'{"schema_version":"1.0",', b'"streams":3}', row(4)],
            "line 1 is not JSON",
        ),
        ([row(1), b"[1, 2]", row(3)], "line 2 is JSON but not an object"),
        ([row(1), b"{not json}", row(3)], "line 2 is not JSON"),
    ],
    ids=["two-objects-on-a-line", "an-object-over-two-lines", "an-array", "not-json"],
)
def test_a_line_that_is_not_one_object_is_named(read_bytes: int, lines: list[bytes], message: str) -> None:
    with pytest.raises(SoundlinkMalformedExportError, match=message) as raised:
        copy(b"\n".join(lines) + b"\n")
    assert not raised.value.retryable


def test_an_unknown_schema_version_is_named_with_its_line(read_bytes: int) -> None:
    lines = [row(number) for number in range(1, 7)]
    lines[4] = lines[4].replace(b'"1.0"', b'"9.9"')
    with pytest.raises(SoundlinkSchemaVersionError, match="line 5") as raised:
        copy(b"\n".join(lines) + b"\n")
    assert raised.value.version == "9.9"


def test_a_body_ending_inside_a_line_is_a_cut(read_bytes: int) -> None:
    body = b"".join(row(number) + b"\n" for number in range(3)) + row(3)[:10]
    with pytest.raises(SoundlinkStreamError, match="cut off after 3 of 4 rows: the body ended inside line 4"):
        copy(body, row_count=4)


def test_fewer_rows_than_announced_is_a_cut(read_bytes: int) -> None:
    body = b"".join(row(number) + b"\n" for number in range(3))
    with pytest.raises(
        SoundlinkStreamError, match="ended after 3 rows, but its X-Row-Count header announced 4"
    ):
        copy(body, row_count=4)


def test_rows_for_callers_hold_the_same_lines(read_bytes: int) -> None:
    body = row(1) + b"\n\n" + row(2, mood="calm") + b"\n" + row(3)
    lines = list(export_lines(CONTEXT, response(body, row_count=3), timeout=60, progress_interval=60))
    assert [line.raw for line in lines] == [row(1), row(2, mood="calm"), row(3)]
    assert [line.row["streams"] for line in lines] == [1, 2, 3]


def test_clean_lines_are_not_parsed_one_by_one(read_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed of the copy rests on this: lines are parsed one at a time only where a run is not clean."""

    def parse_one_line(raw: bytes) -> object:
        raise AssertionError(f"parsed line by line: {raw!r}")

    monkeypatch.setattr(exports, "checked_row", parse_one_line)
    body = b"".join(row(number) + b"\n" for number in range(50))
    assert copy(body, row_count=50) == (50, {}, body)


def test_reads_are_gathered_into_runs_of_about_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "EXPORT_READ_BYTES", 100)
    monkeypatch.setattr(exports, "EXPORT_BLOCK_BYTES", 1000)
    body = b"".join(row(number) + b"\n" for number in range(200))
    writes: list[bytes] = []

    class RecordingFile(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            writes.append(bytes(data))
            return super().write(data)

    assert copy(body, 200, target=RecordingFile()) == (200, {}, body)
    assert len(writes) <= len(body) // 1000 + 1
    # Reads are gathered to 1000 bytes, and each run ends at the last newline of its last read.
    assert all(len(run) > 1000 - 100 for run in writes[:-1]), [len(run) for run in writes]
    assert all(run.endswith(b"\n") for run in writes)


def test_a_compressed_body_is_decoded_and_checked(read_bytes: int) -> None:
    body = b"".join(row(number) + b"\n" for number in range(50))
    assert copy(gzip.compress(body), 50, content_encoding="gzip") == (50, {}, body)
