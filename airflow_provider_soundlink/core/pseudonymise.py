"""Keyed pseudonymisation of the personal data in link statistics (IP addresses and subscriber ids).

A value is replaced by the hex HMAC-SHA256 of its UTF-8 bytes under a secret key. The same value under
the same key always gives the same pseudonym, so counts stay joinable across days and tables; without
the key a pseudonym cannot be turned back into the value, nor found by hashing guessed values (which a
plain hash of the small IPv4 space would allow).
"""

from __future__ import annotations

import hashlib
import hmac

from airflow_provider_soundlink.core.exports import PERSONAL_LINK_STATS_FIELDS
from airflow_provider_soundlink.errors import SoundlinkConfigurationError


def pseudonymise(value: str, key: str) -> str:
    """Compute the pseudonym of ``value``: 64 lower-case hex digits of HMAC-SHA256 keyed with ``key``."""
    if not key:
        raise SoundlinkConfigurationError(
            "the pseudonymisation key is empty; a keyless hash of personal data can be reversed"
        )
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


__all__ = ["PERSONAL_LINK_STATS_FIELDS", "pseudonymise"]
