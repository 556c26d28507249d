"""Injected faults: what a flaky network or a misbehaving export looks like to a client.

A fault is added through the admin API as a spec ``{"path": REGEX, "count": N, "kind": KIND, ...}``.
Faults are matched in the order they were added: the first one whose regex is found in the request
path, whose kind applies at that point of the request, and whose count is not used up, hits the
request and consumes one of its count. A request meets at most two faults: one transport fault when
it arrives (``status``, ``reset``, ``slow``) and one body fault when its rows start to flow
(``cut``, ``short``, ``bad_line``, ``extra_field`` on exports; ``schema_version`` on exports and
paginated row listings).
"""

from __future__ import annotations

import enum
import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any


class FaultKind(str, enum.Enum):
    STATUS = "status"
    """Answer with an error ``status`` (optional ``retry_after`` seconds and ``code``)."""
    RESET = "reset"
    """Close the connection without any response."""
    SLOW = "slow"
    """Wait ``delay`` seconds, then answer normally."""
    CUT = "cut"
    """Close the export stream after ``after_lines`` lines, without ending the chunked body."""
    SHORT = "short"
    """End the export cleanly but ``missing_lines`` lines short of X-Row-Count."""
    BAD_LINE = "bad_line"
    """Line ``at_line`` (1-based) of the export is not JSON."""
    SCHEMA_VERSION = "schema_version"
    """Rows carry ``version`` as their schema_version."""
    EXTRA_FIELD = "extra_field"
    """Every export row carries one more field, ``field``, set to the string ``value``: a newer schema."""


TRANSPORT_KINDS = frozenset({FaultKind.STATUS, FaultKind.RESET, FaultKind.SLOW})
EXPORT_BODY_KINDS = frozenset(
    {FaultKind.CUT, FaultKind.SHORT, FaultKind.BAD_LINE, FaultKind.SCHEMA_VERSION, FaultKind.EXTRA_FIELD}
)
ROW_LISTING_KINDS = frozenset({FaultKind.SCHEMA_VERSION})

# The parameters each kind takes beyond path/count/kind: name -> (type, required).
_PARAMETERS: dict[FaultKind, dict[str, tuple[type, bool]]] = {
    FaultKind.STATUS: {"status": (int, True), "retry_after": (int, False), "code": (str, False)},
    FaultKind.RESET: {},
    FaultKind.SLOW: {"delay": (float, True)},
    FaultKind.CUT: {"after_lines": (int, True)},
    FaultKind.SHORT: {"missing_lines": (int, True)},
    FaultKind.BAD_LINE: {"at_line": (int, True)},
    FaultKind.SCHEMA_VERSION: {"version": (str, True)},
    FaultKind.EXTRA_FIELD: {"field": (str, True), "value": (str, True)},
}
_MINIMUM: dict[str, int] = {
    "status": 400,
    "retry_after": 0,
    "delay": 0,
    "after_lines": 0,
    "missing_lines": 1,
    "at_line": 1,
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
    for name, (expected, required) in parameters.items():
        if name not in spec:
            if required:
                raise FaultSpecError(f"kind {kind.value} needs {name}")
            continue
        options[name] = _checked(name, spec[name], expected)
    return Fault(fault_id, kind, pattern, count, options)


def _checked(name: str, value: Any, expected: type) -> Any:
    if expected is str:
        if not isinstance(value, str):
            raise FaultSpecError(f"{name} must be a string, got {value!r}")
        return value
    accepted = (int, float) if expected is float else (int,)
    if isinstance(value, bool) or not isinstance(value, accepted):
        kind = "a number" if expected is float else "an integer"
        raise FaultSpecError(f"{name} must be {kind}, got {value!r}")
    minimum = _MINIMUM[name]
    if value < minimum:
        raise FaultSpecError(f"{name} must be at least {minimum}, got {value!r}")
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
        """The first live fault of one of ``kinds`` matching ``path``, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.kind in kinds and fault.path.search(path):
                    fault.remaining -= 1
                    return fault
            return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]
