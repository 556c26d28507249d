"""What a client needs to reach the API: the key, the address and the time limits, each checked once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from airflow_provider_soundlink.client.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_EXPORT_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_BUDGET_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
)
from airflow_provider_soundlink.errors import SoundlinkConfigurationError


@dataclass(frozen=True)
class ClientSettings:
    """The settings of one client.

    ``timeout`` bounds one JSON request whole, from connecting to the last byte of the answer, so a
    server that trickles bytes cannot hold a call forever; ``export_timeout`` does the same for one
    attempt at an export stream, which may be large. ``max_attempts`` and ``retry_budget`` (seconds
    across all attempts of one call) bound the retries; ``backoff_initial`` and ``backoff_max`` bound
    the exponential, jittered wait between attempts unless the API asks for a wait (Retry-After).
    ``conn_id`` names where the settings came from (an Airflow connection), for error messages.
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    export_timeout: float = DEFAULT_EXPORT_TIMEOUT_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_budget: float = DEFAULT_RETRY_BUDGET_SECONDS
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    progress_interval: float = 30.0
    allow_insecure_http: bool = False
    conn_id: str | None = None

    def __post_init__(self) -> None:
        where = f"connection '{self.conn_id}'" if self.conn_id else "the client settings"
        # Keys read from files or secret stores often end in a newline, which no header can carry.
        api_key = self.api_key.strip()
        if not api_key:
            raise SoundlinkConfigurationError(
                f"{where} has no API key: store the sk_... key in the connection's password field"
            )
        unusable = _unusable_header_character(api_key)
        if unusable is not None:
            raise SoundlinkConfigurationError(
                f"the API key of {where} holds {unusable}, which an HTTP header cannot carry; store the key "
                "exactly as Soundlink shows it (visible ASCII characters only)"
            )
        object.__setattr__(self, "api_key", api_key)
        for name in ("timeout", "export_timeout", "max_attempts", "retry_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise SoundlinkConfigurationError(
                    f"'{name}' of {where} must be a positive number, got {value!r}"
                )
        object.__setattr__(
            self, "base_url", _checked_base_url(self.base_url, self.allow_insecure_http, where)
        )


def _checked_base_url(host: str | None, allow_insecure_http: bool, where: str) -> str:
    base_url = (host or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in base_url:
        base_url = f"https://{base_url}"
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SoundlinkConfigurationError(
            f"the host of {where} is not a usable base URL: {host!r}; give one like {DEFAULT_BASE_URL}"
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise SoundlinkConfigurationError(
            f"{where} points at http://{parts.hostname}: plain http would send the API key unencrypted; use "
            "https:// (plain http is accepted only for loopback hosts such as 127.0.0.1, ::1 or localhost, "
            "or with the extra allow_insecure_http: true)"
        )
    return base_url


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _unusable_header_character(value: str) -> str | None:
    """Describe what first makes ``value`` unfit for a header's value, without showing the value."""
    for position, character in enumerate(value, start=1):
        if not "!" <= character <= "~":
            kind = (
                "a space"
                if character == " "
                else "a control character (such as a line break or a tab)"
                if ord(character) < 32 or ord(character) == 127
                else "a non-ASCII character"
            )
            return f"{kind} at position {position} of {len(value)}"
    return None
