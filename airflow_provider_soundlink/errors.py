"""The one error family of the provider: the client, the hook, the operators and the SQL raise these.

Every error derives from :class:`SoundlinkError`. ``retryable`` tells the client's retry policy whether a
fresh attempt can succeed; every message carries the API's request id when there is one, because
Soundlink support asks for it, and never the API key, even where the API echoes it.

Errors no retry can fix (a revoked key, a missing scope, a refused date range, an unknown schema version,
a configuration mistake) are also Airflow's ``AirflowFailException`` when Airflow is installed, so the
task fails at once instead of spending its retries; without Airflow they are plain exceptions. A
configuration mistake is also a ``ValueError``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowFailException as _NoRetry
except ImportError:  # pragma: no cover - which one exists depends on the installed Airflow
    try:  # Airflow 2.11
        from airflow.exceptions import AirflowFailException as _NoRetry  # type: ignore[assignment,no-redef]
    except ImportError:  # no Airflow: the client on its own

        class _NoRetry(Exception):  # type: ignore[no-redef]
            """Without Airflow, nothing more than an exception."""


_SCOPE = re.compile(r"\b[a-z]+:[a-z]+\b")
# Soundlink keys look like sk_live_..., sk_test_...: an API message may quote one, raw, URL-encoded
# (%2B, %2F, %3D) or with the base64 alphabet's + / =.
_API_KEY = re.compile(r"\bsk_[A-Za-z0-9_\-+/=%.~]+")
SLICING_ADVICE = "cut longer ranges with airflow_provider_soundlink.core.windows.slice_date_range"
REDACTED = "<redacted>"


def scrub_api_keys(text: str) -> str:
    """``text`` with anything shaped like a Soundlink API key replaced."""
    return _API_KEY.sub(f"sk_{REDACTED}", text)


def secret_forms(secret: str) -> list[str]:
    """List the forms in which a server or a log may repeat a secret: as is, trimmed, URL-encoded (as a path
    segment and as a form value), base64 (standard and URL-safe, with and without padding) and JSON-escaped;
    the longest first, so no form is left half replaced."""
    trimmed = secret.strip()
    encoded = base64.b64encode(trimmed.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(trimmed.encode()).decode()
    forms = {
        secret,
        trimmed,
        quote(trimmed, safe=""),
        quote_plus(trimmed),
        encoded,
        encoded.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        json.dumps(secret)[1:-1],
        json.dumps(trimmed)[1:-1],
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


def redact_secret(text: str, secret: str) -> str:
    """``text`` with every form of ``secret`` (see :func:`secret_forms`) replaced."""
    if not secret.strip():
        return text
    for form in secret_forms(secret):
        text = text.replace(form, REDACTED)
    return text


def _with_request_id(text: str, request_id: str | None) -> str:
    return f"{text} (request id: {request_id})" if request_id else text


class SoundlinkError(Exception):
    """Base of every error raised by this provider."""

    retryable: bool = False
    status: int | None = None
    code: str | None = None
    request_id: str | None = None


class SoundlinkFinalError(_NoRetry, SoundlinkError):  # type: ignore[misc,valid-type]
    """An error no retry can fix: under Airflow the task fails without using its retries."""


class SoundlinkConfigurationError(SoundlinkFinalError, ValueError):
    """The connection, the call's or the operator's arguments, or a manifest are unusable; nothing was
    sent (to the API, to GCS or to BigQuery). The message names the problem and the fix."""


class SoundlinkNetworkError(SoundlinkError):
    """No HTTP response arrived: connection refused or reset, or a timeout."""

    retryable = True


@dataclass(frozen=True, repr=False)
class RequestContext:
    """What was asked of the API, so that an error can say what to change.

    Values of personal-data parameters (e.g. a ``subscriber_id`` filter) are sent but never shown: error
    texts and the repr name those parameters with their values redacted, because errors reach task logs.
    """

    conn_id: str | None
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    required_scope: str | None = None
    personal_params: frozenset[str] = frozenset()
    """Parameters whose values identify a person: sent, never shown."""

    @property
    def target(self) -> str:
        return f"GET {self.path}"

    def with_params(self, **params: str) -> RequestContext:
        """Return the same request with more (or other) query parameters, e.g. the next page."""
        return RequestContext(
            self.conn_id, self.path, {**self.params, **params}, self.required_scope, self.personal_params
        )

    @property
    def shown_params(self) -> dict[str, str]:
        """The parameters as error texts may show them: personal values redacted, names kept."""
        return {
            name: REDACTED if name in _personal_values(self) else value for name, value in self.params.items()
        }

    def redact(self, text: str) -> str:
        """``text`` without API keys or the values of personal parameters, as sent or URL-encoded."""
        for value in _personal_values(self).values():
            for form in dict.fromkeys((value, quote_plus(value), quote(value, safe=""))):
                text = text.replace(form, REDACTED)
        return scrub_api_keys(text)

    def __repr__(self) -> str:
        return (
            f"RequestContext(conn_id={self.conn_id!r}, path={self.path!r}, params={self.shown_params!r}, "
            f"required_scope={self.required_scope!r})"
        )


def _personal_values(context: RequestContext) -> dict[str, str]:
    return {
        name: value for name, value in context.params.items() if name in context.personal_params and value
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
        retry_after: float | None = None,
    ) -> None:
        # The API may quote what it refused: a personal value, or the key itself.
        message = context.redact(message) if context else scrub_api_keys(message)
        self.retry_after = retry_after
        """The wait the API asked for (Retry-After), honoured by the retry policy on any retryable status."""
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


class SoundlinkRefusedError(SoundlinkAPIError, SoundlinkFinalError):  # type: ignore[misc]
    """A 4xx answer (other than 429): the same request would be refused again."""


class SoundlinkAuthError(SoundlinkRefusedError):
    """401: the key is missing, malformed, revoked or expired, or was sent with other credentials."""

    def _advice(self) -> str:
        conn = (
            f"connection '{self.context.conn_id}'"
            if self.context and self.context.conn_id
            else "the connection"
        )
        if self.code in {"api_key_revoked", "api_key_expired"}:
            return f"Create a new API key in Soundlink and store it as the password of {conn}"
        if self.code == "mixed_credentials":
            return "Send the key only in the x-api-key header; remove any Authorization header"
        return f"Check that the password of {conn} holds the whole sk_... API key"


class SoundlinkScopeError(SoundlinkRefusedError):
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


class SoundlinkNotFoundError(SoundlinkRefusedError):
    """404: unknown campaign or route, or the Public API is disabled for the organization."""

    def _advice(self) -> str:
        if self.code == "campaign_not_found":
            return "Check the campaign id: it is unknown or belongs to another organization"
        return "Check the base URL, and that the Public API is enabled for the key's organization"


class SoundlinkBadRequestError(SoundlinkRefusedError):
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


class SoundlinkUnexpectedResponseError(SoundlinkAPIError, SoundlinkFinalError):  # type: ignore[misc]
    """The API answered something its documentation does not describe: an export answered with a JSON
    error object, a JSON answer without its envelope, a page from a proxy. ``expected`` says what the
    client expected instead."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        request_id: str | None,
        context: RequestContext | None,
        *,
        expected: str,
    ) -> None:
        self.expected = expected
        super().__init__(status, code, message, request_id, context)

    def _advice(self) -> str:
        return (
            f"Expected {self.expected}. Check that the connection's host is Soundlink's API and not a proxy "
            "or login page; if it is, report the request id to Soundlink support"
        )


class SoundlinkListingChangedError(SoundlinkError):
    """The entries of a paged listing moved while its pages were read (an entry came twice, or the total
    changed): read from the start again, it gives a consistent listing."""

    retryable = True

    def __init__(self, message: str, request_id: str | None) -> None:
        self.request_id = request_id
        super().__init__(_with_request_id(scrub_api_keys(message), request_id))


class SoundlinkRateLimitError(SoundlinkAPIError):
    """429: the per-key rate limit was hit; ``retry_after`` is the wait the API asked for, if any."""

    retryable = True


class SoundlinkServerError(SoundlinkAPIError):
    """5xx: a fault on Soundlink's side."""

    retryable = True


class SoundlinkRedirectError(SoundlinkAPIError, SoundlinkFinalError):  # type: ignore[misc]
    """3xx: the API answered elsewhere. Redirects are not followed: the x-api-key header would travel
    with them, to whatever host the Location names."""

    def _advice(self) -> str:
        conn = (
            f"connection '{self.context.conn_id}'"
            if self.context and self.context.conn_id
            else "the connection"
        )
        return (
            "Redirects are not followed, so the API key never travels to another address; if the new "
            f"address is Soundlink's, set it as the host (base URL) of {conn}"
        )


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
    """Build the error of the family that matches an HTTP error status."""
    error_class: type[SoundlinkAPIError]
    if status == 429:
        error_class = SoundlinkRateLimitError
    elif status >= 500:
        error_class = SoundlinkServerError
    elif status < 400:
        error_class = SoundlinkRedirectError
    else:
        error_class = _ERRORS_BY_STATUS.get(status, SoundlinkRefusedError)
    return error_class(status, code, message, request_id, context, retry_after)


class SoundlinkStreamError(SoundlinkError):
    """An export stream was cut off, ended short of its X-Row-Count, or did not finish in time: the whole
    window is fetched again."""

    retryable = True

    def __init__(self, message: str, request_id: str | None) -> None:
        self.request_id = request_id
        super().__init__(_with_request_id(scrub_api_keys(message), request_id))


class SoundlinkMalformedExportError(SoundlinkFinalError):
    """A complete export held a line that is not a JSON object, or an unusable X-Row-Count: fetching it
    again would give the same bytes."""

    def __init__(self, message: str, request_id: str | None) -> None:
        self.request_id = request_id
        super().__init__(_with_request_id(scrub_api_keys(message), request_id))


class SoundlinkUnloadableValueError(SoundlinkMalformedExportError):
    """A complete export held a value BigQuery's load refuses for its column (one such value fails the whole
    load job): the export stops before anything is written, and fetching it again would give the same
    bytes."""

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(
            f"{message}. BigQuery's load job would refuse it, and with it the whole load, so nothing of this "
            "export is written. Fetching it again gives the same value: report it to Soundlink support with "
            "the request id",
            request_id,
        )


class SoundlinkSchemaVersionError(SoundlinkFinalError):
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


class SoundlinkReconciliationError(SoundlinkFinalError):
    """The table's campaign totals differ from Soundlink's overview beyond the tolerance; the message
    holds a table of the differences."""
