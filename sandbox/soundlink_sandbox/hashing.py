"""Deterministic values: every name, id and number of the data set is a hash of readable parts.

:func:`hash_of` (BLAKE2b) is for set-up values, computed once per campaign; :func:`splitmix64` is
the cheap mixer of the per-row hot path, fed with keys that :func:`hash_of` derived.
"""

from __future__ import annotations

import hashlib
import uuid

_MASK64 = (1 << 64) - 1
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ISRC_COUNTRIES = ("DE", "GB", "US", "QZ")


def splitmix64(value: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread 64-bit hash of an integer."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def hash_of(*parts: object) -> int:
    """Make a 64-bit key for set-up values (names, ids) from readable parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def fraction_of(hashed: int, shift: int) -> float:
    """16 bits of a hash, from bit ``shift`` up, as a fraction in [0, 1)."""
    return ((hashed >> shift) & 0xFFFF) / 65536.0


def pick(options: tuple[str, ...], *parts: object) -> str:
    return options[hash_of(*parts) % len(options)]


def base62_id(length: int, *parts: object) -> str:
    hashed = hash_of(*parts)
    chars = []
    for index in range(length):
        # 64 bits hold ten base-62 digits: re-mix for the next ten.
        if index % 10 == 0:
            hashed = splitmix64(hashed + index)
        chars.append(_BASE62[hashed % 62])
        hashed //= 62
    return "".join(chars)


def uuid_of(*parts: object) -> str:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def isrc_of(*parts: object) -> str:
    """Make an ISRC-shaped code: country, registrant, year 25, designation."""
    hashed = hash_of(*parts)
    registrant = base62_id(3, "registrant", *parts).upper()
    return f"{pick(_ISRC_COUNTRIES, *parts)}{registrant}25{hashed % 100000:05d}"
