"""JSON text with exact decimal literals.

Money and ratios travel as JSON numbers written from integer millionths, so a value is always an
exact literal with at most six decimal places and a fractional part (``12.0``, ``0.014286``):
readers that parse floats as ``Decimal`` get the exact value, and a column never flips between
integer and decimal from one row to the next.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

MICROS_PER_UNIT = 1_000_000


class RawJson(str):
    """Already-encoded JSON text, inlined as is by :func:`dumps` (rows are rendered once, as text)."""


def micros_literal(micros: int) -> str:
    """Render a non-negative amount of millionths as a decimal literal, trailing zeros trimmed."""
    whole, fraction = divmod(micros, MICROS_PER_UNIT)
    if fraction == 0:
        return f"{whole}.0"
    return f"{whole}.{fraction:06d}".rstrip("0")


def divide_rounded(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up (both non-negative, denominator > 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def ratio_micros(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` in millionths, rounded half up (both non-negative, denominator > 0)."""
    return divide_rounded(numerator * MICROS_PER_UNIT, denominator)


def float_quotient_literal(numerator: float, denominator: float) -> str:
    """``numerator / denominator`` as an API that divides in binary floating point sends it: every
    significant digit of the double (16 or 17), written positionally (``0.8534597960201471``)."""
    literal = format(Decimal(repr(numerator / denominator)), "f")
    return literal if "." in literal else f"{literal}.0"


def decimal_from_micros(micros: int) -> Decimal:
    return Decimal(micros_literal(micros))


def dumps(value: Any) -> str:
    """Compact JSON for dicts, lists, strings, ints, bools, None, ``Decimal`` and :class:`RawJson`."""
    if isinstance(value, RawJson):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, Decimal):
        literal = format(value, "f")
        return literal if "." in literal else f"{literal}.0"
    return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON the way the sandbox's truth is stated: every non-integer number as ``Decimal``."""
    return json.loads(text, parse_float=Decimal)
