"""The checked copy of an export (no server): runs of clean lines are checked whole, anything else line by
line, and both give the same verdicts and the same bytes."""

from __future__ import annotations

import decimal
import gzip
import io
import json

import pytest
import requests
import urllib3

from airflow_provider_soundlink.client import streams
from airflow_provider_soundlink.client.streams import copy_checked_export, export_lines
from airflow_provider_soundlink.core.load_values import LoadColumn
from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkMalformedExportError,
    SoundlinkSchemaVersionError,
    SoundlinkStreamError,
)

COLUMNS = (
    LoadColumn("schema_version", "STRING", required=False),
    LoadColumn("campaign_id", "STRING", required=True),
    LoadColumn("streams", "INT64", required=False),
)
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
    copied = copy_checked_export(
        CONTEXT,
        response(body, row_count, content_encoding),
        target,
        columns=COLUMNS,
        timeout=60,
        progress_interval=60,
    )
    # Every copy counts what it wrote, whichever path (bulk or line by line) wrote it.
    assert copied.bytes == len(target.getvalue())
    return copied.rows, copied.new_fields, target.getvalue()


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
    """Set the size of each read, and of the runs of lines checked at once (``EXPORT_BLOCK_BYTES``): 1 checks
    whatever lines a read completes, larger runs gather several reads."""
    read_bytes, block_bytes = request.param
    monkeypatch.setattr(streams, "EXPORT_READ_BYTES", read_bytes)
    monkeypatch.setattr(streams, "EXPORT_BLOCK_BYTES", block_bytes)
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
    lines = list(
        export_lines(CONTEXT, response(body, row_count=3), columns=COLUMNS, timeout=60, progress_interval=60)
    )
    assert [line.raw for line in lines] == [row(1), row(2, mood="calm"), row(3)]
    assert [line.row["streams"] for line in lines] == [1, 2, 3]


def test_clean_lines_are_not_parsed_one_by_one(read_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The speed of the copy rests on this: lines are parsed one at a time only where a run is not clean."""

    def parse_one_line(stream: object, raw: bytes, *args: object, **kwargs: object) -> object:
        raise AssertionError(f"parsed line by line: {raw!r}")

    monkeypatch.setattr(streams._ExportStream, "line", parse_one_line)
    body = b"".join(row(number) + b"\n" for number in range(50))
    assert copy(body, row_count=50) == (50, {}, body)


def test_reads_are_gathered_into_runs_of_about_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "EXPORT_READ_BYTES", 100)
    monkeypatch.setattr(streams, "EXPORT_BLOCK_BYTES", 1000)
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


# Every column type a table definition uses; the base row is canonical.
ALL_TYPES = (
    LoadColumn("schema_version", "STRING", required=False),
    LoadColumn("campaign_id", "STRING", required=True),
    LoadColumn("report_date", "DATE", required=True),
    LoadColumn("exported_at", "TIMESTAMP", required=True),
    LoadColumn("streams", "INT64", required=False),
    LoadColumn("spend", "NUMERIC", required=False),
    LoadColumn("spl", "FLOAT64", required=False),
    LoadColumn("pseudonymised", "BOOL", required=False),
)
BASE = (
    b'{"schema_version":"1.0","campaign_id":"c1","report_date":"2026-06-01",'
    b'"exported_at":"2026-06-09T06:00:00Z","streams":12,"spend":12.5,"spl":1.25,"pseudonymised":false}'
)


def with_value(field: str, json_value: bytes) -> bytes:
    """Return BASE with ``field``'s JSON text replaced (or added)."""
    start = BASE.find(b'"' + field.encode() + b'":')
    if start < 0:
        return BASE[:-1] + b',"' + field.encode() + b'":' + json_value + b"}"
    end = start + len(field) + 3
    stop = min(index for index in (BASE.find(b",", end), BASE.find(b"}", end)) if index >= 0)
    if BASE[end : end + 1] == b'"':
        stop = BASE.find(b'"', end + 1) + 1
    return BASE[:end] + json_value + BASE[stop:]


def copy_all_types(lines: list[bytes]) -> tuple[int, bytes]:
    target = io.BytesIO()
    copied = copy_checked_export(
        CONTEXT,
        response(b"\n".join(lines) + b"\n", len(lines)),
        target,
        columns=ALL_TYPES,
        timeout=60,
        progress_interval=60,
    )
    return copied.rows, target.getvalue()


# Cases from BigQuery's documentation ("Loading JSON data from Cloud Storage", "Data types"), not from the
# emulator, which accepts and rounds several of them (see tests/integration/core/test_load_values.py).
REFUSED = [
    ("streams", b"12.5", "an INT64 column takes a whole number without a fraction or an exponent"),
    ("streams", b"12.0", "an INT64 column takes a whole number without a fraction or an exponent"),
    ("streams", b"1e2", "an INT64 column takes a whole number without a fraction or an exponent"),
    ("streams", b"9007199254740993", "an integer beyond +-9,007,199,254,740,991 must come as a string"),
    ("streams", b'"9223372036854775808"', "it is outside INT64's range"),
    ("streams", b'"12.5"', "an INT64 column takes a whole number"),
    ("streams", b"true", "an INT64 column takes a whole number"),
    ("spend", b"0." + b"1" * 39, "more than 38 fractional digits"),
    ("spend", b"1.2345678901234567e-25", "more than 38 fractional digits"),
    ("spend", b"1e30", "it does not fit NUMERIC's 29 integer digits"),
    ("spend", b"99999999999999999999999999999.9999999995", "it does not fit NUMERIC's 29 integer digits"),
    ("spend", b'"NaN"', "a number column takes a finite number (no NaN, no Infinity)"),
    ("spend", b'"Infinity"', "a number column takes a finite number (no NaN, no Infinity)"),
    ("spend", b'"12,5"', "a number column takes a finite number"),
    ("spl", b'"-Infinity"', "a number column takes a finite number (no NaN, no Infinity)"),
    ("spl", b"1e400", "it is beyond FLOAT64's range"),
    ("report_date", b'"2026-02-30"', "it is not a calendar date"),
    ("report_date", b'"2026/06/01"', "a DATE column takes a YYYY-MM-DD string"),
    ("report_date", b"null", "field 'report_date' is missing or null, but its column is REQUIRED"),
    ("exported_at", b'"2026-06-09"', "it is not a timestamp in a form BigQuery's load reads"),
    ("exported_at", b'"2026-06-09T06:00:00.1234567Z"', "it is not a timestamp in a form BigQuery's load"),
    ("exported_at", b'"2026-06-09t06:00:00z"', "it is not a timestamp in a form BigQuery's load reads"),
    ("exported_at", b'"2026-06-09T25:00:00Z"', "it is not a calendar date and time"),
    ("exported_at", b"1781006400", "a TIMESTAMP column takes a date and time as a string"),
    ("campaign_id", b"42", "a STRING column takes a JSON string"),
    ("pseudonymised", b'"maybe"', "a BOOL column takes true or false"),
]


@pytest.mark.parametrize(
    ("field", "value", "problem"), REFUSED, ids=[f"{f}={v.decode()}" for f, v, _ in REFUSED]
)
def test_a_value_bigquerys_load_refuses_fails_the_copy_naming_line_field_and_value(
    read_bytes: int, field: str, value: bytes, problem: str
) -> None:
    lines = [BASE, BASE, with_value(field, value), BASE]

    with pytest.raises(SoundlinkMalformedExportError) as raised:
        copy_all_types(lines)

    message = str(raised.value)
    assert f"line 3: field {field!r}" in message
    assert problem in message
    if value != b"null":
        # The value as written, an exact number as Python's Decimal spells it (1e30 as 1E+30).
        parsed = json.loads(value, parse_float=decimal.Decimal)
        shown = str(parsed) if isinstance(parsed, decimal.Decimal) else value.decode()
        assert f"holds {shown[:60]}" in message
    assert "BigQuery's load job would refuse it" in message
    assert not raised.value.retryable


ACCEPTED = [
    ("streams", b'"12"'),
    ("streams", b'"-9223372036854775808"'),
    ("streams", b"-9007199254740991"),
    ("spend", b'"12.50"'),
    ("spend", b"0." + b"1" * 38),
    ("spend", b"1.5e-5"),
    ("spend", b"99999999999999999999999999999.999999999"),
    ("spl", b"1.5e300"),
    ("spl", b"3"),
    ("exported_at", b'"2026-06-09 06:00:00"'),
    ("exported_at", b'"2026/06/09T06:00"'),
    ("exported_at", b'"2018-08-19T07:11:35.220 -05:00"'),
    ("exported_at", b'"2018-07-05T12:54:00 UTC"'),
    ("pseudonymised", b'"yes"'),
    ("pseudonymised", b"1"),
    ("spend", b"null"),
    ("streams", b"null"),
]


@pytest.mark.parametrize(("field", "value"), ACCEPTED, ids=[f"{f}={v.decode()}" for f, v in ACCEPTED])
def test_every_form_bigquerys_load_accepts_is_copied_as_received(
    read_bytes: int, field: str, value: bytes
) -> None:
    lines = [BASE, with_value(field, value), BASE]

    assert copy_all_types(lines) == (3, b"\n".join(lines) + b"\n")


def test_constants_that_are_not_json_are_refused_by_every_reader(read_bytes: int) -> None:
    lines = [BASE, with_value("spl", b"NaN"), BASE]
    with pytest.raises(SoundlinkMalformedExportError, match="line 2 is not JSON"):
        copy_all_types(lines)
    body = b"\n".join(lines)
    with pytest.raises(SoundlinkMalformedExportError, match="line 2 is not JSON"):
        list(export_lines(CONTEXT, response(body, 3), columns=ALL_TYPES, timeout=60, progress_interval=60))


def test_rows_for_callers_are_held_to_the_same_rules(read_bytes: int) -> None:
    body = b"\n".join([BASE, with_value("streams", b"12.5")])
    lines = export_lines(CONTEXT, response(body, 2), columns=ALL_TYPES, timeout=60, progress_interval=60)

    assert next(lines).row["streams"] == 12
    with pytest.raises(SoundlinkMalformedExportError, match=r"line 2: field 'streams' holds 12\.5"):
        next(lines)
