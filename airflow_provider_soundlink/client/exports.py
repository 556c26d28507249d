"""Reading a JSONL export stream: every line a JSON object of a known schema version, all of them there.

A stream is complete when it ends on a line boundary with as many rows as its X-Row-Count announced.
Anything else is a cut-off stream, retryable by fetching the window again: a broken chunked body, a
connection closed in the middle of a line (a server that sends no length framing ends the body only by
closing), fewer rows than announced, or an attempt that outlives ``export_timeout``. A line that is
complete but not a JSON object, or a schema version this provider does not know, is final: the same
bytes would come again.
"""

from __future__ import annotations

import decimal
import email.message
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import orjson
import requests

from airflow_provider_soundlink.client.errors import (
    RequestContext,
    SoundlinkMalformedExportError,
    SoundlinkSchemaVersionError,
    SoundlinkStreamError,
)
from airflow_provider_soundlink.client.transport import BodyReadError, iter_body
from airflow_provider_soundlink.exports import SUPPORTED_SCHEMA_VERSIONS

log = logging.getLogger("airflow_provider_soundlink.client")

NDJSON = "application/x-ndjson"


class ExportLine(NamedTuple):
    """One export line: the bytes as received (newline stripped) and the parsed row."""

    raw: bytes
    row: dict[str, Any]


class ExportSummary(NamedTuple):
    """What :meth:`~airflow_provider_soundlink.client.SoundlinkApi.download_export` wrote."""

    row_count: int
    field_names: frozenset[str]
    file_name: str


class _ProgressLog:
    """Logs rows received against the announced total, at most once per ``interval`` seconds."""

    def __init__(self, label: str, expected: int | None, interval: float) -> None:
        self._label = label
        self._expected = "?" if expected is None else str(expected)
        self._interval = interval
        self._started = self._last = time.monotonic()

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        elapsed = now - self._started
        rate = rows / elapsed if elapsed else 0.0
        log.info("%s: %d / %s rows, %.0f rows/s", self._label, rows, self._expected, rate)


RowParser = Callable[[bytes], Any]


def exact_row(raw: bytes) -> Any:
    """A line as the rows handed to callers: every fractional number an exact Decimal."""
    return json.loads(raw, parse_float=decimal.Decimal)


def checked_row(raw: bytes) -> Any:
    """A line parsed only to check it (a JSON object, its schema version, its field names), its values
    thrown away: orjson, several times faster than exact decimals, and as strict about what is JSON."""
    return orjson.loads(raw)


def export_lines(
    context: RequestContext,
    response: requests.Response,
    *,
    timeout: float,
    progress_interval: float,
    parse: RowParser = exact_row,
) -> Iterator[ExportLine]:
    """The lines of one export response, checked as the module docstring says; closes the response."""
    with response:
        yield from _checked_lines(context, response, timeout, progress_interval, parse)


def _checked_lines(
    context: RequestContext,
    response: requests.Response,
    timeout: float,
    progress_interval: float,
    parse: RowParser,
) -> Iterator[ExportLine]:
    request_id = response.headers.get("X-Request-Id")
    expected = _row_count_header(response, context)
    label = f"Soundlink {context.target} {context.params['startDate']}..{context.params['endDate']}"
    progress = _ProgressLog(label, expected, progress_interval)
    deadline = time.monotonic() + timeout
    rows = 0

    def cut_off(reason: str) -> SoundlinkStreamError:
        announced = expected if expected is not None else "?"
        return SoundlinkStreamError(
            f"{label} was cut off after {rows} of {announced} rows: {reason}", request_id
        )

    pending = b""
    line_number = 0
    try:
        for chunk in iter_body(response, deadline, f"export_timeout ({timeout:.0f} s)"):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                line_number += 1
                if raw.strip():
                    row = _parse_row(parse, raw, line_number, request_id, label)
                    rows += 1
                    yield ExportLine(raw, row)
                    progress.update(rows)
    except BodyReadError as error:
        raise cut_off(context.redact(str(error))) from None
    if pending.strip():
        line_number += 1
        try:
            row = _parse_row(parse, pending, line_number, request_id, label)
        except SoundlinkMalformedExportError:
            # The body ended inside a line: the server closed the connection before it was done.
            raise cut_off(f"the body ended inside line {line_number}") from None
        rows += 1
        yield ExportLine(pending, row)
    if expected is not None and rows != expected:
        raise SoundlinkStreamError(
            f"{label} ended after {rows} rows, but its X-Row-Count header announced {expected}", request_id
        )
    log.info("%s: %d rows received", label, rows)


def suggested_file_name(content_disposition: str | None) -> str | None:
    """The bare file name from a Content-Disposition header, stripped of any directory part."""
    if not content_disposition:
        return None
    header = email.message.Message()
    header["Content-Disposition"] = content_disposition
    name = PurePosixPath((header.get_filename() or "").replace("\\", "/")).name
    return name if name not in {"", ".", ".."} else None


def check_schema_version(row: Mapping[str, Any], request_id: str | None, where: str) -> None:
    version = row.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SoundlinkSchemaVersionError(version, SUPPORTED_SCHEMA_VERSIONS, request_id, where=where)


def _row_count_header(response: requests.Response, context: RequestContext) -> int | None:
    value = response.headers.get("X-Row-Count")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise SoundlinkMalformedExportError(
            f"Soundlink {context.target} sent X-Row-Count {value!r}, which is not a number",
            response.headers.get("X-Request-Id"),
        ) from None


def _parse_row(
    parse: RowParser, raw: bytes, line_number: int, request_id: str | None, label: str
) -> dict[str, Any]:
    try:
        row = parse(raw)
    except ValueError as error:
        raise SoundlinkMalformedExportError(
            f"{label}: line {line_number} is not JSON ({error}): {raw[:120]!r}", request_id
        ) from error
    if not isinstance(row, dict):
        raise SoundlinkMalformedExportError(
            f"{label}: line {line_number} is JSON but not an object: {raw[:120]!r}", request_id
        )
    check_schema_version(row, request_id, f"{label}: line {line_number}")
    return row
