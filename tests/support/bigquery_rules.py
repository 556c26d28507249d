"""BigQuery's documented rules for what a load job may send, checked before the lenient emulator sees it.

local-bigquery accepts what BigQuery rejects (it rounds a NUMERIC with more than 9 fractional digits, takes
integers past 2**53, and has no limit on source URIs), so the test tiers check each load job against the
documentation first:

* "Quotas and limits", load jobs: "A job configuration can have up to 10,000 source URIs."
* "Data types": NUMERIC, precision 38 and scale 9; BIGNUMERIC, scale 38 and about 76.8 digits.
* "Loading JSON data from Cloud Storage": DATE "must be in the format YYYY-MM-DD"; TIMESTAMP has a date
  (YYYY-MM-DD) and a time (HH:MM[:SS[.SSSSSS]]) "separated by a space or 'T'", with an optional UTC offset
  or "Z"; an INT64 outside [-2**53+1, 2**53-1] must be sent "as a string".
* REQUIRED columns are present and not null in every row.
* An INT64 value is a JSON integer, never a number with a fraction or an exponent ("12.0" included);
  FLOAT64 and the decimal types take finite numbers only (no NaN or Infinity); DATE is a calendar date.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

MAX_SOURCE_URIS = 10_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?( ?(Z|UTC|[+-]\d{2}(:?\d{2})?))?"
)
_DECIMAL_LITERAL = re.compile(r"-?\d+(\.\d+)?")
_LARGEST_SAFE_INTEGER = 2**53 - 1
# (integer digits, fractional digits) each type holds.
_DECIMAL_DIGITS = {"NUMERIC": (29, 9), "BIGNUMERIC": (38, 38)}


class BigQueryWouldReject(AssertionError):
    """What the test sent would fail a BigQuery load job, although the emulator may accept it."""


def check_source_uris(uris: Sequence[str]) -> None:
    if len(uris) > MAX_SOURCE_URIS:
        raise BigQueryWouldReject(
            f"a load job with {len(uris)} source URIs; BigQuery takes at most {MAX_SOURCE_URIS}"
        )


def check_rows(schema: Sequence[Mapping[str, str]], lines: Iterable[bytes], source: str) -> int:
    """Check every NEWLINE_DELIMITED_JSON line against the load's schema; return the rows checked."""
    rows = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal, parse_constant=_not_json)
        except ValueError:
            continue  # BigQuery and the emulator both reject it, naming the object: nothing to add.
        for field in schema:
            value = row.get(field["name"])
            where = f"{source} line {number} column {field['name']}"
            if value is None:
                if field.get("mode") == "REQUIRED":
                    raise BigQueryWouldReject(f"{where}: a REQUIRED column is missing or null")
                continue
            _check_value(field["type"], value, where)
        rows += 1
    return rows


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_value(type_: str, value: Any, where: str) -> None:
    if type_ in _DECIMAL_DIGITS:
        text = format(value, "f") if isinstance(value, (Decimal, int)) else str(value)
        if isinstance(value, bool) or not _DECIMAL_LITERAL.fullmatch(text):
            raise BigQueryWouldReject(f"{where}: {value!r} is not a decimal number for {type_}")
        whole, _, fraction = text.lstrip("-").partition(".")
        max_whole, max_fraction = _DECIMAL_DIGITS[type_]
        if len(fraction.rstrip("0")) > max_fraction or len(whole.lstrip("0")) > max_whole:
            raise BigQueryWouldReject(
                f"{where}: {text} does not fit {type_} ({max_whole} integer and {max_fraction} fractional "
                "digits); BigQuery rejects the whole load job"
            )
    elif type_ == "INT64":
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        elif not isinstance(value, int) or isinstance(value, bool) or abs(value) > _LARGEST_SAFE_INTEGER:
            raise BigQueryWouldReject(
                f"{where}: {value!r} is not an integer BigQuery reads exactly from JSON"
            )
        if not -(2**63) <= value < 2**63:
            raise BigQueryWouldReject(f"{where}: {value} is outside INT64")
    elif type_ == "FLOAT64":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or not Decimal(value).is_finite():
            raise BigQueryWouldReject(f"{where}: {value!r} is not a finite JSON number")
    elif type_ == "STRING" and not isinstance(value, str):
        raise BigQueryWouldReject(f"{where}: {value!r} is not a JSON string")
    elif type_ == "DATE" and not (isinstance(value, str) and _DATE.fullmatch(value) and _calendar(value)):
        raise BigQueryWouldReject(f"{where}: {value!r} is not a YYYY-MM-DD date")
    elif type_ == "TIMESTAMP" and not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
        raise BigQueryWouldReject(f"{where}: {value!r} is not a timestamp BigQuery loads from JSON")


def _calendar(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
