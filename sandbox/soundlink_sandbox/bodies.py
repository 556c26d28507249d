"""Answer bodies under faults: export lines as the row faults leave them, and a body written slowly."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from soundlink_sandbox.faults import Fault, FaultKind

TRICKLE_PIECE_SECONDS = 0.1
"""A trickled body comes in pieces this far apart: far below any sensible socket read timeout."""


def faulted_lines(lines: Iterator[str], row_count: int, fault: Fault | None, unframed: bool) -> Iterator[str]:
    """Return the export's lines as a row fault leaves them (schema_version is applied by the producer).

    ``unframed``: the body is delimited by closing the connection, so a cut also sends half of the
    next line, to end the stream mid-line; a chunked body's missing terminator says enough.
    """
    if fault is None:
        return lines
    kind, options = fault.kind, fault.options
    if kind is FaultKind.SHORT:
        return islice(lines, max(0, row_count - options["missing_lines"]))
    if kind is FaultKind.BAD_LINE:
        return _corrupt_line(lines, options["at_line"])
    if kind is FaultKind.CUT:
        return _cut(lines, options["after_lines"], mid_line=unframed)
    if kind is FaultKind.EXTRA_FIELD:
        return _with_extra_field(lines, options["field"], options["value"])
    if kind is FaultKind.SET_VALUE:
        return _with_value(lines, options["at_line"], options["field"], options["json_text"])
    if kind is FaultKind.DROP_ROW:
        return (line for number, line in enumerate(lines, start=1) if number != options["at_line"])
    return lines


def announced_rows(row_count: int, fault: Fault | None) -> int:
    """Return the X-Row-Count of an export of ``row_count`` rows under a row fault: one less for a dropped
    row."""
    if fault is not None and fault.kind is FaultKind.DROP_ROW and fault.options["at_line"] <= row_count:
        return row_count - 1
    return row_count


def batches(lines: Iterable[str], size: int) -> Iterator[bytes]:
    """Group lines into byte chunks of about ``size`` bytes, so a large export costs few writes."""
    batch: list[str] = []
    length = 0
    for line in lines:
        batch.append(line)
        length += len(line)
        if length >= size:
            yield "".join(batch).encode()
            batch, length = [], 0
    if batch:
        yield "".join(batch).encode()


class Trickle:
    """Writes through ``write`` at ``bytes_per_second``: one small piece, a pause, the next piece.

    Pieces hold a tenth of a second's worth (at least one byte), so no single read waits long while
    the whole body takes ``len(body) / bytes_per_second`` seconds. A client that goes away makes the
    next write raise ``BrokenPipeError`` or ``ConnectionResetError``, which ends the trickle.
    """

    def __init__(self, write: Callable[[bytes], object], bytes_per_second: float) -> None:
        self._write = write
        self._bytes_per_second = bytes_per_second
        self._piece_size = max(1, int(bytes_per_second * TRICKLE_PIECE_SECONDS))
        self._started = False

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), self._piece_size):
            piece = data[start : start + self._piece_size]
            if self._started:
                time.sleep(len(piece) / self._bytes_per_second)
            self._started = True
            self._write(piece)


def _cut(lines: Iterator[str], after_lines: int, mid_line: bool) -> Iterator[str]:
    yield from islice(lines, after_lines)
    following = next(lines, None) if mid_line else None
    if following is not None:
        yield following[: len(following) // 2]


def _corrupt_line(lines: Iterable[str], at_line: int) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        # Half a row: what a truncated write in the vendor's pipeline would leave behind.
        yield line[: len(line) // 2] + "\n" if number == at_line else line


def _with_extra_field(lines: Iterable[str], name: str, value: object) -> Iterator[str]:
    extra = f", {json.dumps(name)}: {json.dumps(value)}}}\n"
    for line in lines:
        yield line.rstrip("\n")[:-1] + extra


def _with_value(lines: Iterable[str], at_line: int, name: str, json_text: str) -> Iterator[str]:
    # Sandbox lines are compact JSON: a member is "name": followed by a string or a bare token.
    member = re.compile(rf'("{re.escape(name)}":)(?:"(?:[^"\\]|\\.)*"|[^,}}]*)')
    for number, line in enumerate(lines, start=1):
        yield (
            member.sub(lambda match: match.group(1) + json_text, line, count=1) if number == at_line else line
        )
