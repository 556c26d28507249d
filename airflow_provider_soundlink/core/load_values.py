"""Check export values against what a BigQuery load job accepts for their columns, before anything loads.

One value a NEWLINE_DELIMITED_JSON load job refuses fails the whole job, while local-bigquery accepts and
rounds what BigQuery refuses; so every value of a defined column is held to BigQuery's documented rules
while the export streams, and an export with a refused value never reaches GCS. The rules, by column type
of the target table (money is staged as BIGNUMERIC and rounded into NUMERIC by the MERGE, see
:mod:`airflow_provider_soundlink.core.sql`):

* REQUIRED: present and not null.
* STRING: a JSON string. BOOL: ``true`` or ``false``.
* INT64: a JSON integer (no fraction, no exponent) or a string of decimal digits, within INT64's range;
  "If you use the BigQuery API to load an integer outside the range of [-2^53+1, 2^53-1] ... pass it as a
  string to avoid data corruption" ("Loading JSON data from Cloud Storage"), so a JSON number past that
  is refused.
* FLOAT64: a finite JSON number, or a string holding one; no NaN, no Infinity.
* NUMERIC: a finite JSON number, or a string holding one, with at most 38 fractional digits (BIGNUMERIC's
  scale, "Data types") that, rounded half away from zero to NUMERIC's 9, fits NUMERIC's 29 integer digits.
  An exponent is fine when the value fits: NUMERIC text is "a floating point value" ("Lexical structure":
  ``NUMERIC '1.23456e05'``), read by its exact value.
* DATE: "must be in the format YYYY-MM-DD", a real calendar date.
* TIMESTAMP: "The date portion can be formatted as YYYY-MM-DD or YYYY/MM/DD. The timestamp portion must
  be formatted as HH:MM[:SS[.SSSSSS]] ... The date and time must be separated by a space or 'T' ...
  Optionally ... followed by a UTC offset or the UTC zone designator (Z)", a real calendar date and time.
  Unix epoch numbers are refused: the page leaves their unit to the magnitude, and the MERGE orders rows
  by this column.

:func:`value_problem` applies the rules to a value parsed exactly (integers as ``int``, other numbers as
``Decimal``). :class:`CanonicalRows` checks whole runs of lines in C (msgspec) against a strict subset of
the rules, the forms exports use; a run it cannot vouch for is checked line by line with the exact rules.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import json
import operator
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from airflow_provider_soundlink.core.exports import SUPPORTED_SCHEMA_VERSIONS
from airflow_provider_soundlink.core.schemas import TableDefinition

JSON_SAFE_INTEGER = 2**53 - 1
INT64_RANGE = (-(2**63), 2**63 - 1)
NUMERIC_INTEGER_DIGITS = 29
NUMERIC_SCALE = 9
BIGNUMERIC_SCALE = 38
_NUMERIC_LIMIT = decimal.Decimal(10) ** NUMERIC_INTEGER_DIGITS
_FLOAT64_MAX = decimal.Decimal(sys.float_info.max)
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIMESTAMP = re.compile(
    r"(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(?:Z| ?UTC| ?([+-])(\d{1,2})(?::?(\d{2}))?)?"
)
# Exact decimal arithmetic for any value a JSON number can spell; no signal raises.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])


@dataclass(frozen=True)
class LoadColumn:
    """A column the load fills from the export's field of the same name."""

    name: str
    type: str
    required: bool


def load_columns(table: TableDefinition) -> tuple[LoadColumn, ...]:
    """List the columns an export row of ``table`` fills."""
    return tuple(
        LoadColumn(column.name, column.type, column.required)
        for column in table.columns
        if column.name in table.export_column_names
    )


def row_problem(columns: Sequence[LoadColumn], row: Mapping[str, Any]) -> str | None:
    """Say why a load would refuse ``row`` (parsed exactly), naming the field and its value, or None."""
    for column in columns:
        value = row.get(column.name)
        if value is None:
            if column.required:
                return f"field {column.name!r} is missing or null, but its column is REQUIRED"
            continue
        problem = value_problem(column.type, value)
        if problem is not None:
            return f"field {column.name!r} holds {_shown(value)}: {problem}"
    return None


def value_problem(column_type: str, value: Any) -> str | None:
    """Say why a load refuses ``value`` (not None) for a column of ``column_type``, or None."""
    return _CHECKS[column_type](value)


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "a STRING column takes a JSON string"


def _bool(value: Any) -> str | None:
    # "1 or 0, true or false, t or f, yes or no, or y or n (all case insensitive)"
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return None
    if isinstance(value, str) and value.lower() in _BOOL_TEXTS:
        return None
    return "a BOOL column takes true or false (or 1/0, t/f, yes/no, y/n)"


_BOOL_TEXTS = frozenset({"1", "0", "true", "false", "t", "f", "yes", "no", "y", "n"})


def _int64(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return "an INT64 column takes a whole number without a fraction or an exponent"
    if isinstance(value, int) and abs(value) > JSON_SAFE_INTEGER:
        return (
            f"an integer beyond +-{JSON_SAFE_INTEGER:,} must come as a string, or BigQuery may load it "
            "rounded"
        )
    if isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value):
        return "an INT64 column takes a whole number"
    low, high = INT64_RANGE
    return None if low <= int(value) <= high else "it is outside INT64's range"


def _number(value: Any) -> decimal.Decimal | str:
    """Return the exact value of a JSON number or numeric string, or why it is none."""
    if isinstance(value, bool):
        return "a number column takes a number, not true or false"
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            return "a number column takes a finite number (no NaN, no Infinity)"
        value = decimal.Decimal(value)
    if isinstance(value, int):
        return decimal.Decimal(value)
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return value
    return "a number column takes a finite number (no NaN, no Infinity)"


def _float64(value: Any) -> str | None:
    number = _number(value)
    if isinstance(number, str):
        return number
    with decimal.localcontext(_EXACT):
        return None if abs(number) <= _FLOAT64_MAX else "it is beyond FLOAT64's range"


def _numeric(value: Any) -> str | None:
    number = _number(value)
    if isinstance(number, str):
        return number
    with decimal.localcontext(_EXACT):
        normal = number.normalize()
        exponent = normal.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -BIGNUMERIC_SCALE:
            return (
                f"it has more than {BIGNUMERIC_SCALE} fractional digits, which BigQuery's load refuses "
                f"(BIGNUMERIC's scale)"
            )
        # ROUND_HALF_UP rounds ties away from zero, as the MERGE's ROUND does.
        rounded = number.quantize(decimal.Decimal(1).scaleb(-NUMERIC_SCALE), rounding=decimal.ROUND_HALF_UP)
        if abs(rounded) >= _NUMERIC_LIMIT:
            return f"it does not fit NUMERIC's {NUMERIC_INTEGER_DIGITS} integer digits"
    return None


def _date(value: Any) -> str | None:
    if isinstance(value, str) and (match := _DATE.fullmatch(value)):
        try:
            dt.date(*map(int, match.groups()))
            return None
        except ValueError:
            return "it is not a calendar date"
    return "a DATE column takes a YYYY-MM-DD string"


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a TIMESTAMP column takes a date and time as a string (YYYY-MM-DD HH:MM[:SS[.SSSSSS]])"
    return _timestamp_text(value)


@functools.lru_cache(maxsize=4096)
def _timestamp_text(value: str) -> str | None:
    """Say why a timestamp's text is unfit, or None; exports repeat a handful of timestamps, so each is
    checked once."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return "it is not a timestamp in a form BigQuery's load reads (YYYY-MM-DDTHH:MM[:SS[.SSSSSS]][Z])"
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return "it is not a calendar date and time"
    if sign is not None and (int(offset_hours) > 14 or int(offset_minutes or 0) > 59):
        return "its UTC offset is out of range"
    return None


_CHECKS = {
    "STRING": _string,
    "BOOL": _bool,
    "INT64": _int64,
    "FLOAT64": _float64,
    "NUMERIC": _numeric,
    "DATE": _date,
    "TIMESTAMP": _timestamp,
}


def _shown(value: Any) -> str:
    """Show a value as its JSON text would read (an exact number as written), cut to 80 characters."""
    text = str(value) if isinstance(value, decimal.Decimal) else json.dumps(value, default=str)
    return text if len(text) <= 80 else f"{text[:77]}..."


# The canonical forms, checked in C: each type accepts a strict subset of what its rule accepts.
_CANONICAL_TYPES: dict[str, Any] = {
    "STRING": str,
    "BOOL": bool,
    "INT64": Annotated[int, msgspec.Meta(ge=-JSON_SAFE_INTEGER, le=JSON_SAFE_INTEGER)],
    "FLOAT64": float,
    # The number's JSON text: a run's texts are checked together (CanonicalRows).
    "NUMERIC": msgspec.Raw,
    "DATE": dt.date,
    # Read as text; each distinct text is checked by the exact rule.
    "TIMESTAMP": str,
}
_CANONICAL_NUMERIC_BYTES = NUMERIC_INTEGER_DIGITS - 1
"""A plain decimal of at most this many characters has fewer than 29 integer and 38 fractional digits."""
_PLAIN_DECIMAL_BYTES = b"0123456789.-,"
_NULL = msgspec.Raw(b"null")


class CanonicalRows:
    """Check runs of whole lines at once, in C, against a strict subset of the rules.

    A row type of the columns (typed by ``_CANONICAL_TYPES``, REQUIRED ones without a default) and
    ``schema_version`` (a supported one) decodes a run; what the types cannot say is checked over the
    decoded run: each NUMERIC value must be a plain decimal JSON number (no string, no exponent) of at most
    28 characters, and each distinct TIMESTAMP text must pass its rule. ``allow_unknown_fields`` lets
    fields outside the columns through unchecked.
    """

    def __init__(self, columns: Sequence[LoadColumn], *, allow_unknown_fields: bool) -> None:
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            _row_type(tuple(columns), allow_unknown_fields)
        )
        self._numeric = [operator.attrgetter(c.name) for c in columns if c.type == "NUMERIC"]
        self._timestamps = [operator.attrgetter(c.name) for c in columns if c.type == "TIMESTAMP"]

    def count(self, block: bytes) -> int | None:
        """Count the rows of a run of lines if every one is canonical, else return None.

        ``decode_lines`` reads whitespace-separated values: the caller makes sure the run holds one JSON
        value per line.
        """
        try:
            rows: list[Any] = self._decoder.decode_lines(block)
        except msgspec.DecodeError:
            return None
        return len(rows) if self._numbers_are_plain(rows) and self._timestamps_are_valid(rows) else None

    def _numbers_are_plain(self, rows: list[Any]) -> bool:
        if not self._numeric:
            return True
        texts = [text for text in chain_values(rows, self._numeric) if text != _NULL]
        # Bytes other than digits, '.', '-' and the separators mean a string, an exponent or a literal.
        return not b",".join(texts).translate(None, _PLAIN_DECIMAL_BYTES) and (
            max(map(len, texts), default=0) <= _CANONICAL_NUMERIC_BYTES
        )

    def _timestamps_are_valid(self, rows: list[Any]) -> bool:
        # Exports repeat a handful of timestamps: each distinct text is checked once.
        for get in self._timestamps:
            texts = set(map(get, rows))
            texts.discard(None)
            if any(_timestamp_text(text) is not None for text in texts):
                return False
        return True


def chain_values(rows: list[Any], getters: Sequence[operator.attrgetter[Any]]) -> itertools.chain[Any]:
    """Every row's value of each getter's field, column by column."""
    return itertools.chain.from_iterable(map(get, rows) for get in getters)


@functools.cache
def _row_type(columns: tuple[LoadColumn, ...], allow_unknown_fields: bool) -> type:
    version = Literal[tuple(sorted(SUPPORTED_SCHEMA_VERSIONS))]  # type: ignore[valid-type]
    required: list[tuple[str, Any]] = [("schema_version", version)]
    optional: list[tuple[str, Any, Any]] = []
    for column in columns:
        if column.name == "schema_version":
            continue
        canonical = _CANONICAL_TYPES[column.type]
        if column.required:
            required.append((column.name, canonical))
        elif canonical is msgspec.Raw:
            # A JSON null arrives as the Raw text null; a missing field gets the same.
            optional.append((column.name, canonical, _NULL))
        else:
            optional.append((column.name, canonical | None, None))
    return msgspec.defstruct(
        "CanonicalExportRow",
        [*required, *optional],
        kw_only=True,
        forbid_unknown_fields=not allow_unknown_fields,
        gc=False,
    )


__all__ = ["CanonicalRows", "LoadColumn", "load_columns", "row_problem", "value_problem"]
