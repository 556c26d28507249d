"""Reading a JSONL export stream: every line a JSON object of a known schema version, all of them there.

A stream is complete when it ends on a line boundary with as many rows as its X-Row-Count announced.
Anything else is a cut-off stream, retryable by fetching the window again: a broken chunked body, a
connection closed in the middle of a line (a server that sends no length framing ends the body only by
closing), fewer rows than announced, or an attempt that outlives ``export_timeout``. A line that is
complete but not a JSON object, a schema version this provider does not know, or a value BigQuery's load
would refuse (:mod:`airflow_provider_soundlink.core.load_values`) is final: the same bytes would come again.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.message
import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from itertools import islice
from pathlib import PurePosixPath
from typing import Any, NamedTuple, Protocol

import msgspec
import requests

from airflow_provider_soundlink.client.transport import (
    BodyReadError,
    iter_body,
    refuse_json_constant,
    unexpected_answer,
)
from airflow_provider_soundlink.core.exports import SUPPORTED_SCHEMA_VERSIONS
from airflow_provider_soundlink.core.load_values import CanonicalRows, LoadColumn, row_problem
from airflow_provider_soundlink.core.new_fields import json_kind
from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkMalformedExportError,
    SoundlinkSchemaVersionError,
    SoundlinkStreamError,
    SoundlinkUnexpectedResponseError,
    SoundlinkUnloadableValueError,
)

log = logging.getLogger("airflow_provider_soundlink.client")

NDJSON = "application/x-ndjson"
EXPORT_READ_BYTES = 1024 * 1024
"""The most one socket read of an export returns: large enough that the per-read cost vanishes beside the
bytes (64 KiB reads cost a quarter of the throughput), small enough that memory stays flat."""
EXPORT_BLOCK_BYTES = 64 * 1024
"""Lines are checked and written in runs of about this many bytes. A chunked body gives at most one chunk
per read, and after each chunk's size line only what the 8 KiB read buffer holds (the sandbox's 64 KiB
chunks arrive as about 33 KiB per read on average), while each run's check and write has a fixed cost.
Much larger runs measured slower (1 MiB: more CPU and wall time per GB than 64 KiB): each run is read
three times (newline scan, decode, write), best while it is still in the CPU's cache."""


class ExportWriter(Protocol):
    """Where a checked export's bytes go: a binary file, or an upload."""

    def write(self, data: bytes, /) -> object: ...


ExportTarget = Callable[[], AbstractContextManager[ExportWriter]]
"""Opens where one attempt of an export is written (see ``SoundlinkClient.stream_export``)."""


class ExportLine(NamedTuple):
    """One export line: the bytes as received (newline stripped) and the parsed row."""

    raw: bytes
    row: dict[str, Any]


class ExportSummary(NamedTuple):
    """What :meth:`~airflow_provider_soundlink.client.api.SoundlinkClient.download_export` wrote."""

    row_count: int
    new_fields: Mapping[str, frozenset[str]]
    """Fields the export's table definition does not know (a schema addition on Soundlink's side), each
    with the JSON kinds of its values (see :mod:`airflow_provider_soundlink.core.new_fields`)."""
    file_name: str
    byte_count: int
    """The bytes written: the lines as received, each ending in a newline, blank lines dropped."""
    answered_at: dt.datetime | None
    """When the API answered the export (its ``Date`` header): the export holds the rows as of then. None
    when the answer carried no usable ``Date``."""


class CopiedExport(NamedTuple):
    """What :func:`copy_checked_export` wrote."""

    rows: int
    bytes: int
    new_fields: dict[str, frozenset[str]]


def answer_time(response: requests.Response) -> dt.datetime | None:
    """Read the instant an answer's ``Date`` header names, in UTC; None when it is missing or unreadable.

    An origin server with a clock sends ``Date`` on every 2xx answer (RFC 9110, 6.6.1); it is the API's
    own clock, the one its ``exported_at`` stamps are read from.
    """
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        answered = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # An HTTP-date is always GMT; a "-0000" zone parses as naive.
    return answered.replace(tzinfo=dt.UTC) if answered.tzinfo is None else answered.astimezone(dt.UTC)


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
    """Parse a line as the rows handed to callers: every fractional number an exact Decimal, no NaN or
    Infinity."""
    return json.loads(raw, parse_float=decimal.Decimal, parse_constant=refuse_json_constant)


def checked_row(raw: bytes) -> Any:
    """Parse a line only to check it, throwing its values away: msgspec, several times faster than exact
    decimals and as strict about what is JSON."""
    try:
        return _ANY_JSON.decode(raw)
    except msgspec.DecodeError as error:
        raise ValueError(str(error)) from None


_ANY_JSON = msgspec.json.Decoder()


def export_lines(
    context: RequestContext,
    response: requests.Response,
    *,
    columns: Sequence[LoadColumn],
    timeout: float,
    progress_interval: float,
) -> Iterator[ExportLine]:
    """Yield the rows of one export response, each with exact decimals, checked as the module docstring says
    (values against ``columns``); close the response."""
    with response:
        stream = _ExportStream(context, response, columns, timeout, progress_interval)
        for block in stream.blocks():
            for raw in block.split(b"\n")[:-1]:
                row = stream.line(raw)
                if row is not None:
                    yield ExportLine(raw, row)
        last = stream.last_line()
        if last is not None:
            yield last
        stream.finish()


def copy_checked_export(
    context: RequestContext,
    response: requests.Response,
    fileobj: ExportWriter,
    *,
    columns: Sequence[LoadColumn],
    timeout: float,
    progress_interval: float,
) -> CopiedExport:
    """Write one export response to ``fileobj``, every line checked as the module docstring says (values
    against ``columns``), and return its row and byte counts and the fields outside ``columns`` with the
    JSON kinds of their values; closes the response.

    Lines are written as received, each ending in a newline; blank lines are dropped. Runs of lines are
    checked whole in C where they can be (see
    :class:`~airflow_provider_soundlink.core.load_values.CanonicalRows`):
    a run of canonical rows, or of canonical rows with new fields (whose kinds are then collected line
    by line). Any other run is checked line by line with exact values, which names the line at fault.
    """
    canonical = CanonicalRows(columns, allow_unknown_fields=False)
    canonical_with_new_fields = CanonicalRows(columns, allow_unknown_fields=True)
    known = frozenset(column.name for column in columns)
    new_fields: dict[str, set[str]] = {}
    written = 0

    def write(data: bytes) -> None:
        nonlocal written
        fileobj.write(data)
        written += len(data)

    def note_new_fields(row: Mapping[str, Any]) -> None:
        for name in row.keys() - known:
            new_fields.setdefault(name, set()).add(json_kind(row[name]))

    with response:
        stream = _ExportStream(context, response, columns, timeout, progress_interval)
        for block in stream.blocks():
            lines = _lines_between_objects(block)
            if lines is not None and canonical.count(block) == lines:
                stream.count_clean(lines)
                write(block)
                continue
            if lines is not None and canonical_with_new_fields.count(block) == lines:
                for raw in block.split(b"\n")[:-1]:
                    note_new_fields(stream.line(raw, checked_row, check_values=False) or {})
                write(block)
                continue
            for raw in block.split(b"\n")[:-1]:
                row = stream.line(raw)
                if row is not None:
                    note_new_fields(row)
                    write(raw + b"\n")
        last = stream.last_line()
        if last is not None:
            note_new_fields(last.row)
            write(last.raw + b"\n")
        stream.finish()
    return CopiedExport(stream.rows, written, {name: frozenset(kinds) for name, kinds in new_fields.items()})


def _lines_between_objects(block: bytes) -> int | None:
    """Count the lines of a run that starts with ``{``, ends with ``}`` and a newline, and has ``}`` before
    and ``{`` after each newline in between; return None for any other run.

    msgspec's ``decode_lines`` reads whitespace-separated JSON values, so by itself it would accept two
    objects on one line or one object over two lines. These bytes rule that out: JSON strings cannot hold
    a raw newline, and inside an object or array a value is never followed by ``{``, so every newline here
    separates two top-level values, and the number of values equals this number of lines only if each
    line holds exactly one.

    One ``find`` (memchr) per line: about a quarter of the time of two ``bytes.count`` passes.
    """
    if block[:1] != b"{" or block[-2:] != b"}\n":
        return None
    find = block.find
    last = len(block) - 1
    lines = 1
    newline = find(b"\n")
    while newline != last:
        if block[newline - 1] != _CLOSE or block[newline + 1] != _OPEN:
            return None
        lines += 1
        newline = find(b"\n", newline + 1)
    return lines


_OPEN, _CLOSE = ord("{"), ord("}")


class _ExportStream:
    """One export response read as runs of whole lines, with what every reader of it needs: the line
    numbers, the row count against X-Row-Count, cut detection and progress."""

    def __init__(
        self,
        context: RequestContext,
        response: requests.Response,
        columns: Sequence[LoadColumn],
        timeout: float,
        progress_interval: float,
    ) -> None:
        self._context = context
        self._response = response
        self._columns = columns
        self._timeout = timeout
        self.request_id = response.headers.get("X-Request-Id")
        _check_export_answer(response, context, timeout)
        self.expected = _row_count_header(response, context)
        self.label = f"Soundlink {context.target} {context.params['startDate']}..{context.params['endDate']}"
        self._progress = _ProgressLog(self.label, self.expected, progress_interval)
        self.rows = 0
        self._line_number = 0
        self._tail = b""

    def blocks(self) -> Iterator[bytes]:
        """Yield runs of whole lines, each ending in a newline; what follows the last newline is kept for
        :meth:`last_line`.

        Reads are gathered until they hold ``EXPORT_BLOCK_BYTES``, and the run ends at the last newline
        of the last read; the reads of a run are joined once.
        """
        deadline = time.monotonic() + self._timeout
        parts: list[bytes] = []
        gathered = 0
        broken_off: str | None = None
        try:
            for chunk in iter_body(
                self._response, deadline, f"export_timeout ({self._timeout:.0f} s)", EXPORT_READ_BYTES
            ):
                parts.append(chunk)
                gathered += len(chunk)
                if gathered < EXPORT_BLOCK_BYTES:
                    continue
                cut = chunk.rfind(b"\n") + 1
                if not cut:
                    continue
                parts[-1] = chunk[:cut]
                yield b"".join(parts)
                rest = chunk[cut:]
                parts, gathered = [rest], len(rest)
        except BodyReadError as error:
            broken_off = self._context.redact(str(error))
        rest = b"".join(parts)
        cut = rest.rfind(b"\n") + 1
        if cut:
            # Whole lines received before a break are counted, so the error says how far the stream got.
            yield rest[:cut]
        if broken_off is not None:
            raise self._cut_off(broken_off)
        self._tail = rest[cut:]

    def count_clean(self, rows: int) -> None:
        """Count a run of lines that were all checked clean, one row each."""
        self._line_number += rows
        self.rows += rows
        self._progress.update(self.rows)

    def line(
        self, raw: bytes, parse: RowParser = exact_row, *, check_values: bool = True
    ) -> dict[str, Any] | None:
        """Return the row of one complete line, checked (its values too, unless ``check_values`` is off: they
        need ``exact_row``); None for a blank line."""
        self._line_number += 1
        if not raw.strip():
            return None
        row = self._parse(parse, raw)
        if check_values:
            self._check_values(row)
        self.rows += 1
        self._progress.update(self.rows)
        return row

    def last_line(self) -> ExportLine | None:
        """Read a last line without its newline: a row if it is whole, else the body ended inside it."""
        if not self._tail.strip():
            return None
        self._line_number += 1
        try:
            row = self._parse(exact_row, self._tail)
        except SoundlinkMalformedExportError:
            # The body ended inside a line: the server closed the connection before it was done.
            raise self._cut_off(f"the body ended inside line {self._line_number}") from None
        self._check_values(row)
        self.rows += 1
        return ExportLine(self._tail, row)

    def _check_values(self, row: Mapping[str, Any]) -> None:
        problem = row_problem(self._columns, row)
        if problem is not None:
            raise SoundlinkUnloadableValueError(
                f"{self.label}: line {self._line_number}: {problem}", self.request_id
            )

    def finish(self) -> None:
        if self.expected is not None and self.rows != self.expected:
            raise SoundlinkStreamError(
                f"{self.label} ended after {self.rows} rows, but its X-Row-Count header announced "
                f"{self.expected}",
                self.request_id,
            )
        log.info("%s: %d rows received", self.label, self.rows)

    def _cut_off(self, reason: str) -> SoundlinkStreamError:
        announced = self.expected if self.expected is not None else "?"
        return SoundlinkStreamError(
            f"{self.label} was cut off after {self.rows} of {announced} rows: {reason}", self.request_id
        )

    def _parse(self, parse: RowParser, raw: bytes) -> dict[str, Any]:
        where = f"{self.label}: line {self._line_number}"
        try:
            row = parse(raw)
        except ValueError as error:
            raise SoundlinkMalformedExportError(
                f"{where} is not JSON ({error}): {raw[:120]!r}", self.request_id
            ) from error
        if not isinstance(row, dict):
            raise SoundlinkMalformedExportError(
                f"{where} is JSON but not an object: {raw[:120]!r}", self.request_id
            )
        check_schema_version(row, self.request_id, where)
        return row


def suggested_file_name(content_disposition: str | None) -> str | None:
    """Take the bare file name from a Content-Disposition header, stripped of any directory part."""
    if not content_disposition:
        return None
    header = email.message.Message()
    header["Content-Disposition"] = content_disposition
    name = PurePosixPath((header.get_filename() or "").replace("\\", "/")).name
    return name if name not in {"", ".", ".."} else None


def _check_export_answer(response: requests.Response, context: RequestContext, timeout: float) -> None:
    """Refuse a 200 that is not an export: JSON (the API's error envelope, or any JSON) or a page of
    another kind (a proxy's, a login page), with the status, the API's code and request id if any."""
    media_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if not media_type or media_type in EXPORT_MEDIA_TYPES:
        return
    with response:
        try:
            body = b"".join(islice(iter_body(response, time.monotonic() + timeout, "the timeout"), 4))
        except BodyReadError:
            body = b""
    unexpected_answer(response.status_code, response.headers, body, context, f"JSONL rows ({NDJSON})")


EXPORT_MEDIA_TYPES = frozenset(
    {NDJSON, "application/jsonl", "application/json-lines", "application/x-jsonlines"}
)


def check_schema_version(row: Mapping[str, Any], request_id: str | None, where: str) -> None:
    if "schema_version" not in row and isinstance(row.get("error"), dict):
        # The API's error object where a row belongs: its own error, not an unknown schema.
        error = row["error"]
        raise SoundlinkUnexpectedResponseError(
            200,
            None if error.get("code") is None else str(error["code"]),
            f"{where} is the API's error object: {error.get('message') or 'no message'}",
            request_id,
            None,
            expected="a row of the export",
        )
    version = row.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SoundlinkSchemaVersionError(version, SUPPORTED_SCHEMA_VERSIONS, request_id, where=where)


def _row_count_header(response: requests.Response, context: RequestContext) -> int | None:
    """X-Row-Count as a count of rows: plain decimal digits (Python's ``int`` would also read "1_0" as 10
    and "-1" as a count); anything else is final, fetching again gives the same header."""
    value = response.headers.get("X-Row-Count")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value.strip()):
        raise SoundlinkMalformedExportError(
            f"Soundlink {context.target} sent X-Row-Count {value!r}, which is not a count of rows (plain "
            "decimal digits)",
            response.headers.get("X-Request-Id"),
        )
    return int(value)


_DIGITS = re.compile(r"[0-9]+")
