"""Errors raised by the Soundlink hook.

Every error derives from :class:`SoundlinkError`. ``retryable`` tells the hook's retry policy whether a
fresh attempt can succeed; every message carries the API's request id when there is one, because
Soundlink support asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from airflow.exceptions import AirflowException

from airflow_provider_soundlink.pseudonymise import PERSONAL_LINK_STATS_FIELDS

_SCOPE = re.compile(r"\b[a-z]+:[a-z]+\b")
SLICING_ADVICE = "cut longer ranges with airflow_provider_soundlink.windows.slice_date_range"
REDACTED = "<redacted>"


def _with_request_id(text: str, request_id: str | None) -> str:
    return f"{text} (request id: {request_id})" if request_id else text


class SoundlinkError(AirflowException):
    """Base of every error raised by this provider."""

    retryable: bool = False
    status: int | None = None
    code: str | None = None
    request_id: str | None = None


class SoundlinkConfigurationError(SoundlinkError):
    """The connection or the call's arguments are unusable; nothing was sent to the API."""


class SoundlinkNetworkError(SoundlinkError):
    """No HTTP response arrived: connection refused or reset, or a timeout."""

    retryable = True


@dataclass(frozen=True, repr=False)
class RequestContext:
    """What was asked of the API, so that an error can say what to change.

    Values of personal-data parameters (e.g. a ``subscriber_id`` filter) are sent but never shown: error
    texts and the repr name those parameters with their values redacted, because errors reach task logs.
    """

    conn_id: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    required_scope: str | None = None

    @property
    def target(self) -> str:
        return f"GET {self.path}"

    @property
    def shown_params(self) -> dict[str, str]:
        """The parameters as error texts may show them: personal values redacted, names kept."""
        return {
            name: REDACTED if name in _personal_values(self) else value for name, value in self.params.items()
        }

    def redact(self, text: str) -> str:
        """``text`` without the values of personal parameters, as sent or as URL-encoded in a request URL."""
        for value in _personal_values(self).values():
            for form in dict.fromkeys((value, quote_plus(value), quote(value, safe=""))):
                text = text.replace(form, REDACTED)
        return text

    def __repr__(self) -> str:
        return (
            f"RequestContext(conn_id={self.conn_id!r}, path={self.path!r}, params={self.shown_params!r}, "
            f"required_scope={self.required_scope!r})"
        )


def _personal_values(context: RequestContext) -> dict[str, str]:
    return {
        name: value for name, value in context.params.items() if name in PERSONAL_LINK_STATS_FIELDS and value
    }


class SoundlinkAPIError(SoundlinkError):
    """The API answered with an error status."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        request_id: str | None,
        context: RequestContext | None = None,
    ) -> None:
        # The API may quote what it refused, a personal value included.
        message = context.redact(message) if context else message
        self.status = status
        self.code = code
        self.api_message = message
        self.request_id = request_id
        self.context = context
        what = f"HTTP {status}" + (f" {code}" if code else "")
        where = f"Soundlink {context.target}" if context else "Soundlink API"
        text = f"{where} failed with {what}: {message}"
        advice = self._advice()
        if advice:
            text = f"{text}. {advice}"
        super().__init__(_with_request_id(text, request_id))

    def _advice(self) -> str:
        return ""


class SoundlinkAuthError(SoundlinkAPIError):
    """401: the key is missing, malformed, revoked or expired, or was sent with other credentials."""

    def _advice(self) -> str:
        conn = f"connection '{self.context.conn_id}'" if self.context else "the connection"
        if self.code in {"api_key_revoked", "api_key_expired"}:
            return f"Create a new API key in Soundlink and store it as the password of {conn}"
        if self.code == "mixed_credentials":
            return "Send the key only in the x-api-key header; remove any Authorization header"
        return f"Check that the password of {conn} holds the whole sk_... API key"


class SoundlinkScopeError(SoundlinkAPIError):
    """403: the key lacks the scope the route needs."""

    @property
    def missing_scope(self) -> str | None:
        """The scope the API message names, else the one the route is documented to need."""
        named = _SCOPE.search(self.api_message)
        if named:
            return named.group(0)
        return self.context.required_scope if self.context else None

    def _advice(self) -> str:
        scope = self.missing_scope
        if scope is None:
            return "Give the API key the scope this route needs"
        return f"The API key lacks the scope {scope}: add {scope} to the key in Soundlink"


class SoundlinkNotFoundError(SoundlinkAPIError):
    """404: unknown campaign or route, or the Public API is disabled for the organization."""

    def _advice(self) -> str:
        if self.code == "campaign_not_found":
            return "Check the campaign id: it is unknown or belongs to another organization"
        return "Check the base URL, and that the Public API is enabled for the key's organization"


class SoundlinkBadRequestError(SoundlinkAPIError):
    """400: a query parameter or the date range was refused."""

    def _advice(self) -> str:
        params = self.context.shown_params if self.context else {}
        if self.code == "invalid_date_range":
            sent = f"startDate={params.get('startDate')} endDate={params.get('endDate')}"
            return (
                f"The range {sent} was refused: the end must not precede the start and a window holds "
                f"at most 90 days counted inclusively; {SLICING_ADVICE}"
            )
        if self.code == "page_size_exceeded":
            size = params.get("pageSize") or params.get("limit")
            return f"The page size {size} is above this endpoint's maximum; ask for smaller pages"
        sent = ", ".join(f"{name}={value}" for name, value in params.items()) or "none"
        return f"Correct the parameter the message names (sent: {sent})"


class SoundlinkRateLimitError(SoundlinkAPIError):
    """429: the per-key rate limit was hit; ``retry_after`` is the wait the API asked for, if any."""

    retryable = True

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        request_id: str | None,
        context: RequestContext | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, message, request_id, context)


class SoundlinkServerError(SoundlinkAPIError):
    """5xx: a fault on Soundlink's side."""

    retryable = True


_ERRORS_BY_STATUS: dict[int, type[SoundlinkAPIError]] = {
    400: SoundlinkBadRequestError,
    401: SoundlinkAuthError,
    403: SoundlinkScopeError,
    404: SoundlinkNotFoundError,
}


def api_error(
    status: int,
    code: str | None,
    message: str,
    request_id: str | None,
    context: RequestContext,
    retry_after: float | None = None,
) -> SoundlinkAPIError:
    """The error of the family that matches an HTTP error status."""
    if status == 429:
        return SoundlinkRateLimitError(status, code, message, request_id, context, retry_after)
    if status >= 500:
        return SoundlinkServerError(status, code, message, request_id, context)
    error_class = _ERRORS_BY_STATUS.get(status, SoundlinkAPIError)
    return error_class(status, code, message, request_id, context)


class SoundlinkStreamError(SoundlinkError):
    """An export stream was cut off, came up short, or held a line that is not JSON.

    A cut-off or short stream is retryable (the whole window is fetched again); a malformed line is not.
    """

    def __init__(self, message: str, request_id: str | None, *, retryable: bool) -> None:
        self.request_id = request_id
        self.retryable = retryable
        super().__init__(_with_request_id(message, request_id))


class SoundlinkSchemaVersionError(SoundlinkError):
    """An export row carries a schema version this provider does not know; loading it could corrupt data."""

    def __init__(
        self, version: object, supported: Collection[str], request_id: str | None, *, where: str
    ) -> None:
        self.version = version
        self.supported = frozenset(supported)
        self.request_id = request_id
        known = ", ".join(sorted(self.supported))
        super().__init__(
            _with_request_id(
                f"{where} has schema_version {version!r}, but this provider supports only "
                f"{known}; upgrade airflow-provider-soundlink before loading this data",
                request_id,
            )
        )
