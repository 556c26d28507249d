"""Injected faults: what a flaky network, a nasty proxy or a less kind server looks like to a client.

A fault is added through the admin API as a spec ``{"path": REGEX, "count": N, "kind": KIND, ...}``.
Faults are matched in the order they were added: the first one whose regex is found in the request
path, whose kind applies at that point of the request, and whose count is not used up, hits the
request and consumes one of its count.

Each kind belongs to one stage of a request, and a request meets at most one fault per stage, so
faults of different stages combine: one export can meet ``unframed``, ``trickle`` and ``cut`` at once.

=========  ============================================================  =============================
stage      taken when                                                    kinds
=========  ============================================================  =============================
arrival    the request arrives, before auth and routing                  status, reset, slow,
                                                                         redirect, html_page
paging     a paged answer is built: campaigns, breakdown and             page_cap
           engagement listings, link stats
moving     a page after the first of such an answer is built             shift
shape      a successful answer is written: JSON answers (no_envelope),   no_envelope, json_error
           exports (json_error)
rows       rows start to flow: exports (every kind), breakdown and       cut, short, bad_line,
           engagement listings (schema_version only)                     extra_field, schema_version,
                                                                         set_value, drop_row
framing    an export's headers are written                               unframed, row_count
encoding   an export's body is written                                   gzip
pacing     the body of a successful answer (JSON or export) is written   trickle
errors     an error answer (4xx/5xx, injected or not) is written, to a   echo_key
           request that sent an ``x-api-key``
=========  ============================================================  =============================

A fault is only consumed by a request that reaches its stage: a ``cut`` waits for an export and lets
refused requests and JSON answers through untouched.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class FaultKind(str, enum.Enum):
    STATUS = "status"
    """Answer with an error ``status`` (400-599; optional ``retry_after`` seconds and ``code``)."""
    RESET = "reset"
    """Close the connection without any response."""
    SLOW = "slow"
    """Wait ``delay`` seconds, then answer normally."""
    REDIRECT = "redirect"
    """Answer ``status`` (301, 302, 307 or 308) with ``Location: location`` and a short JSON error body."""
    HTML_PAGE = "html_page"
    """Answer 200 with an HTML page (``text/html``), as a captive portal or a proxy's error page does."""
    SHIFT = "shift"
    """Serve a page after the first as if one entry had been inserted before it since the listing was
    begun: every entry moves one place on (the page repeats the last entry of the page before, and the
    inserted one is never seen) and the total grows by one."""
    NO_ENVELOPE = "no_envelope"
    """Answer a JSON call with its data alone, without the documented ``data`` and ``meta`` members."""
    JSON_ERROR = "json_error"
    """Answer an export 200 with the documented JSON error body (``code``, default ``not_found``) and
    ``Content-Type: application/json``, as a gateway that wraps errors does."""
    ROW_COUNT = "row_count"
    """Send ``value`` as the export's X-Row-Count header, as it is."""
    GZIP = "gzip"
    """Send the export gzip-compressed (``Content-Encoding: gzip``), flushed after every chunk; ``trailer``
    false (default true) leaves out the end of the gzip stream: the body ends at a flush point."""
    PAGE_CAP = "page_cap"
    """Serve at most ``max_items`` entries per page whatever size was asked, and report the size served
    as a capping server does: link stats' ``meta.limit``; listings' ``pagination.pageSize``, with
    ``totalPages`` computed from it. Totals (``meta.count``, ``totalCount``) stay whole."""
    CUT = "cut"
    """Close the export stream after ``after_lines`` lines: chunked, without ending the chunked body;
    ``unframed``, after half of the next line, so the client sees a clean end of stream mid-line."""
    SHORT = "short"
    """End the export cleanly but ``missing_lines`` lines short of X-Row-Count."""
    BAD_LINE = "bad_line"
    """Line ``at_line`` (1-based) of the export is not JSON."""
    SCHEMA_VERSION = "schema_version"
    """Rows carry ``version`` as their schema_version."""
    EXTRA_FIELD = "extra_field"
    """Every export row carries one more field, ``field``, set to ``value`` (any JSON value): a newer
    schema."""
    SET_VALUE = "set_value"
    """Line ``at_line`` (1-based) of the export carries ``json_text``, written as is, as the value of
    ``field``: what a vendor's serializer may get wrong (``12.0`` for a count, ``1e-40`` for money,
    ``NaN``)."""
    DROP_ROW = "drop_row"
    """Line ``at_line`` (1-based) of the export is left out and X-Row-Count counts one row less: a
    revision that removed the row."""
    UNFRAMED = "unframed"
    """Send the export with neither ``Transfer-Encoding: chunked`` nor Content-Length, and ``Connection:
    close``: the body ends where the connection does. ``row_count_header`` (default true) false also
    leaves out X-Row-Count."""
    TRICKLE = "trickle"
    """Write the body at ``bytes_per_second``, in pieces about a tenth of a second apart (a byte at a
    time below 10 bytes/s): every socket read gets a little, the whole takes as long as it takes."""
    ECHO_KEY = "echo_key"
    """Error answers repeat the request's ``x-api-key`` in ``error.message``, as some real APIs do."""


ARRIVAL_KINDS = frozenset(
    {FaultKind.STATUS, FaultKind.RESET, FaultKind.SLOW, FaultKind.REDIRECT, FaultKind.HTML_PAGE}
)
PAGING_KINDS = frozenset({FaultKind.PAGE_CAP})
MOVING_KINDS = frozenset({FaultKind.SHIFT})
JSON_SHAPE_KINDS = frozenset({FaultKind.NO_ENVELOPE})
EXPORT_SHAPE_KINDS = frozenset({FaultKind.JSON_ERROR})
ENCODING_KINDS = frozenset({FaultKind.GZIP})
EXPORT_ROW_KINDS = frozenset(
    {
        FaultKind.CUT,
        FaultKind.SHORT,
        FaultKind.BAD_LINE,
        FaultKind.SCHEMA_VERSION,
        FaultKind.EXTRA_FIELD,
        FaultKind.SET_VALUE,
        FaultKind.DROP_ROW,
    }
)
LISTING_ROW_KINDS = frozenset({FaultKind.SCHEMA_VERSION})
FRAMING_KINDS = frozenset({FaultKind.UNFRAMED, FaultKind.ROW_COUNT})
PACING_KINDS = frozenset({FaultKind.TRICKLE})
ERROR_KINDS = frozenset({FaultKind.ECHO_KEY})

REDIRECT_STATUSES = (301, 302, 307, 308)


class _Rule(NamedTuple):
    holds: Callable[[Any], bool]
    text: str
    """What a valid value is, as the error message says it: "at least 1"."""


def _at_least(minimum: int) -> _Rule:
    return _Rule(lambda value: value >= minimum, f"at least {minimum}")


def _greater_than(bound: int) -> _Rule:
    return _Rule(lambda value: value > bound, f"greater than {bound}")


def _one_of(*options: int) -> _Rule:
    return _Rule(lambda value: value in options, f"one of {', '.join(map(str, options))}")


_ERROR_STATUS = _Rule(lambda value: 400 <= value <= 599, "an error status from 400 to 599")
# The value goes into a response header as is: a line break would start a header of its own.
_HEADER_VALUE = _Rule(
    lambda value: value != "" and not any(char in value for char in "\r\n"),
    "a non-empty string without line breaks",
)


@dataclass(frozen=True)
class _Parameter:
    type: type
    """int, float (any finite number), str, bool, or object (any JSON value)."""
    required: bool = True
    default: Any = None
    """Filled in when an optional parameter is left out; None leaves it out of the options."""
    rule: _Rule | None = None


# The parameters each kind takes beyond path/count/kind.
_PARAMETERS: dict[FaultKind, dict[str, _Parameter]] = {
    FaultKind.STATUS: {
        "status": _Parameter(int, rule=_ERROR_STATUS),
        "retry_after": _Parameter(int, required=False, rule=_at_least(0)),
        "code": _Parameter(str, required=False),
    },
    FaultKind.RESET: {},
    FaultKind.SLOW: {"delay": _Parameter(float, rule=_at_least(0))},
    FaultKind.REDIRECT: {
        "status": _Parameter(int, rule=_one_of(*REDIRECT_STATUSES)),
        "location": _Parameter(str, rule=_HEADER_VALUE),
    },
    FaultKind.HTML_PAGE: {},
    FaultKind.PAGE_CAP: {"max_items": _Parameter(int, rule=_at_least(1))},
    FaultKind.SHIFT: {},
    FaultKind.NO_ENVELOPE: {},
    FaultKind.JSON_ERROR: {"code": _Parameter(str, required=False, default="not_found")},
    FaultKind.ROW_COUNT: {"value": _Parameter(str, rule=_HEADER_VALUE)},
    FaultKind.GZIP: {"trailer": _Parameter(bool, required=False, default=True)},
    FaultKind.CUT: {"after_lines": _Parameter(int, rule=_at_least(0))},
    FaultKind.SHORT: {"missing_lines": _Parameter(int, rule=_at_least(1))},
    FaultKind.BAD_LINE: {"at_line": _Parameter(int, rule=_at_least(1))},
    FaultKind.SCHEMA_VERSION: {"version": _Parameter(str)},
    FaultKind.EXTRA_FIELD: {"field": _Parameter(str), "value": _Parameter(object)},
    FaultKind.SET_VALUE: {
        "field": _Parameter(str),
        "json_text": _Parameter(str, rule=_HEADER_VALUE),
        "at_line": _Parameter(int, rule=_at_least(1)),
    },
    FaultKind.DROP_ROW: {"at_line": _Parameter(int, rule=_at_least(1))},
    FaultKind.UNFRAMED: {"row_count_header": _Parameter(bool, required=False, default=True)},
    FaultKind.TRICKLE: {"bytes_per_second": _Parameter(float, rule=_greater_than(0))},
    FaultKind.ECHO_KEY: {},
}


class FaultSpecError(ValueError):
    """The fault spec cannot be used; the message says which field and why."""


@dataclass
class Fault:
    id: str
    kind: FaultKind
    path: re.Pattern[str]
    remaining: int
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "path": self.path.pattern,
            "remaining": self.remaining,
            **self.options,
        }


def parse_fault_spec(spec: Any, fault_id: str) -> Fault:
    """Validate an admin-API fault spec into a :class:`Fault`."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault spec is a JSON object")
    try:
        kind = FaultKind(spec.get("kind"))
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise FaultSpecError(f"kind must be one of {known}, got {spec.get('kind')!r}") from None
    path = spec.get("path")
    if not isinstance(path, str):
        raise FaultSpecError("path (a regular expression searched in the request path) is required")
    try:
        pattern = re.compile(path)
    except re.error as error:
        raise FaultSpecError(f"path is not a valid regular expression: {error}") from None
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultSpecError(f"count must be a positive integer, got {count!r}")

    parameters = _PARAMETERS[kind]
    unknown = set(spec) - {"kind", "path", "count"} - set(parameters)
    if unknown:
        raise FaultSpecError(f"unknown field(s) for kind {kind.value}: {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {}
    for name, parameter in parameters.items():
        if name in spec:
            options[name] = _checked(kind, name, spec[name], parameter)
        elif parameter.required:
            raise FaultSpecError(f"kind {kind.value} needs {name}")
        elif parameter.default is not None:
            options[name] = parameter.default
    return Fault(fault_id, kind, pattern, count, options)


def _checked(kind: FaultKind, name: str, value: Any, parameter: _Parameter) -> Any:
    expected = parameter.type
    if expected is bool:
        valid_type, described = isinstance(value, bool), "true or false"
    elif expected is str:
        valid_type, described = isinstance(value, str), "a string"
    elif expected is int:
        valid_type, described = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif expected is object:
        valid_type, described = True, "a JSON value"  # the fault spec arrived as JSON
    else:
        # JSON lets NaN and Infinity through; neither is a delay or a rate.
        valid_type = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        described = "a finite number"
    if not valid_type:
        raise FaultSpecError(f"{name} of kind {kind.value} must be {described}, got {value!r}")
    rule = parameter.rule
    if rule is not None and not rule.holds(value):
        raise FaultSpecError(f"{name} of kind {kind.value} must be {rule.text}, got {value!r}")
    return value


class FaultBook:
    """The active faults, shared by all request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> Fault:
        with self._lock:
            fault = parse_fault_spec(spec, f"fault_{next(self._ids)}")
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str, kinds: frozenset[FaultKind]) -> Fault | None:
        """Take the first live fault of one of ``kinds`` matching ``path``, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.kind in kinds and fault.path.search(path):
                    fault.remaining -= 1
                    return fault
            return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]
