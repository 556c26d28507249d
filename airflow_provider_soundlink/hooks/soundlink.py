"""Hook for the Soundlink Public API: authentication, retries, JSONL exports and paged endpoints."""

from __future__ import annotations

import datetime as dt
import decimal
import email.message
import email.utils
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any, BinaryIO, NamedTuple, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from airflow_provider_soundlink import __version__
from airflow_provider_soundlink.compat import BaseHook, mask_secret
from airflow_provider_soundlink.exceptions import (
    SLICING_ADVICE,
    RequestContext,
    SoundlinkAPIError,
    SoundlinkConfigurationError,
    SoundlinkError,
    SoundlinkNetworkError,
    SoundlinkRateLimitError,
    SoundlinkSchemaVersionError,
    SoundlinkStreamError,
    api_error,
)
from airflow_provider_soundlink.exports import SUPPORTED_SCHEMA_VERSIONS, ExportKind
from airflow_provider_soundlink.windows import MAX_EXPORT_DAYS, DateWindow, slice_date_range

# A plain module logger rather than BaseHook.log: Airflow routes standard logging into task logs on 2.11
# and 3.x alike, and it reaches pytest's caplog, which the structlog-based hook logger of 3.x does not.
log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.getsoundlink.com"
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BUDGET_SECONDS = 300.0

CAMPAIGNS_SCOPE = "campaigns:read"
METRICS_SCOPE = "metrics:read"

CAMPAIGNS_PAGE_SIZE = 100
METRICS_MAX_PAGE_SIZE = 500
LINK_STATS_MAX_PAGE_SIZE = 1000
LINK_STATS_GROUPS = (
    "campaign_id",
    "subscriber_id",
    "device",
    "country",
    "ip",
    "browser",
    "custom_link_title",
    "params",
)
LINK_STATS_SORTS = ("-count", "count")
METRICS_SORT_ORDERS = ("asc", "desc")
ENGAGEMENT_CONTEXTS = ("catalog", "playlist")

NDJSON = "application/x-ndjson"
_Number = TypeVar("_Number", int, float)
_STREAM_CHUNK_BYTES = 64 * 1024


class ExportLine(NamedTuple):
    """One export line: the bytes as received (newline stripped) and the parsed row."""

    raw: bytes
    row: dict[str, Any]


class ExportSummary(NamedTuple):
    """What :meth:`SoundlinkHook.download_export` wrote."""

    row_count: int
    field_names: frozenset[str]
    file_name: str


@dataclass(frozen=True)
class _Settings:
    base_url: str
    timeout: float
    max_attempts: int
    retry_budget: float


class _ApiKeyAuth(AuthBase):
    """Puts the key in ``x-api-key`` on each request; the API rejects it next to an Authorization header."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        request.headers["x-api-key"] = self._api_key
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key=***)"


class _ProgressLog:
    """Logs rows received against the announced total, at most once per ``interval`` seconds."""

    def __init__(self, label: str, expected: int | None, interval: float) -> None:
        self._label = label
        self._expected = "?" if expected is None else str(expected)
        self._interval = interval
        self._started = self._last = time.monotonic()

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        elapsed = now - self._started
        rate = rows / elapsed if elapsed else 0.0
        log.info("%s: %d / %s rows, %.0f rows/s", self._label, rows, self._expected, rate)


class SoundlinkHook(BaseHook):
    """Talks to the Soundlink Public API with the API key of an Airflow connection.

    The key is the connection's password, the base URL its host (https is assumed without a scheme; plain
    http is accepted only for loopback hosts, or where the extra ``allow_insecure_http`` is true, as on a
    private container network). ``timeout`` (seconds per request), ``max_attempts`` and
    ``retry_budget`` (seconds across all attempts of one call) come from the arguments, else from the
    connection's extras of the same names, else from the defaults above. ``backoff_initial`` and
    ``backoff_max`` bound the exponential, jittered wait between attempts; a 429 waits what its
    Retry-After asks. ``progress_interval`` is the least time between two progress lines of an export.
    """

    conn_name_attr = "soundlink_conn_id"
    default_conn_name = "soundlink_default"
    conn_type = "soundlink"
    hook_name = "Soundlink"

    def __init__(
        self,
        soundlink_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_attempts: int | None = None,
        retry_budget: float | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        progress_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.soundlink_conn_id = soundlink_conn_id
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._retry_budget = retry_budget
        self._backoff = wait_exponential_jitter(
            initial=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self.progress_interval = progress_interval

    def __repr__(self) -> str:
        return f"{type(self).__name__}(soundlink_conn_id={self.soundlink_conn_id!r})"

    # Connection form -------------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port", "extra"],
            "relabeling": {"password": "API key", "host": "Base URL"},
            "placeholders": {
                "host": DEFAULT_BASE_URL,
                "password": "sk_...",
                "timeout": str(int(DEFAULT_TIMEOUT_SECONDS)),
                "max_attempts": str(DEFAULT_MAX_ATTEMPTS),
                "retry_budget": str(int(DEFAULT_RETRY_BUDGET_SECONDS)),
            },
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, PasswordField
        from wtforms.validators import NumberRange, Optional

        return {
            "timeout": IntegerField(
                lazy_gettext("Request timeout (seconds)"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            ),
            "max_attempts": IntegerField(
                lazy_gettext("Max attempts per request"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            ),
            "retry_budget": IntegerField(
                lazy_gettext("Retry time budget (seconds)"),
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            ),
            "allow_insecure_http": BooleanField(
                lazy_gettext("Allow plain http to a non-loopback host (private networks only)"),
            ),
            "pseudonymisation_key": PasswordField(
                lazy_gettext("Pseudonymisation key (hashes personal data)"),
                widget=BS3PasswordFieldWidget(),
            ),
        }

    # Connection settings ---------------------------------------------------------------------------------

    @cached_property
    def _connection(self) -> Any:
        connection = self.get_connection(self.soundlink_conn_id)
        for secret in (connection.password, connection.extra_dejson.get("pseudonymisation_key")):
            if secret:
                mask_secret(secret)
        return connection

    @cached_property
    def _api_key(self) -> str:
        api_key: str | None = self._connection.password
        if not api_key:
            raise SoundlinkConfigurationError(
                f"connection '{self.soundlink_conn_id}' has no API key: store the sk_... key in its "
                "password field"
            )
        return api_key

    @cached_property
    def _settings(self) -> _Settings:
        extras: Mapping[str, Any] = self._connection.extra_dejson
        return _Settings(
            base_url=self._base_url(self._connection.host, _truthy(extras.get("allow_insecure_http"))),
            timeout=self._positive("timeout", self._timeout, extras, DEFAULT_TIMEOUT_SECONDS, float),
            max_attempts=self._positive(
                "max_attempts", self._max_attempts, extras, DEFAULT_MAX_ATTEMPTS, int
            ),
            retry_budget=self._positive(
                "retry_budget", self._retry_budget, extras, DEFAULT_RETRY_BUDGET_SECONDS, float
            ),
        )

    def _positive(
        self,
        name: str,
        explicit: _Number | None,
        extras: Mapping[str, Any],
        default: _Number,
        kind: Callable[[Any], _Number],
    ) -> _Number:
        raw = explicit if explicit is not None else extras.get(name)
        if raw is None or raw == "":
            return kind(default)
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value <= 0:
            raise SoundlinkConfigurationError(
                f"'{name}' of connection '{self.soundlink_conn_id}' must be a positive number, got {raw!r}"
            )
        return value

    def _base_url(self, host: str | None, allow_insecure_http: bool) -> str:
        base_url = (host or DEFAULT_BASE_URL).strip().rstrip("/")
        if "://" not in base_url:
            base_url = f"https://{base_url}"
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise SoundlinkConfigurationError(
                f"the host of connection '{self.soundlink_conn_id}' is not a usable base URL: {host!r}; "
                f"give one like {DEFAULT_BASE_URL}"
            )
        if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
            raise SoundlinkConfigurationError(
                f"connection '{self.soundlink_conn_id}' points at http://{parts.hostname}: plain http would "
                "send the API key unencrypted; use https:// (plain http is accepted only for loopback "
                "hosts such as 127.0.0.1, ::1 or localhost, or with the extra allow_insecure_http: true)"
            )
        return base_url

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def pseudonymisation_key(self) -> str:
        """The secret with which personal data from link statistics is hashed."""
        key = self._connection.extra_dejson.get("pseudonymisation_key")
        if not key:
            raise SoundlinkConfigurationError(
                f"connection '{self.soundlink_conn_id}' has no pseudonymisation_key extra; set a long random "
                "secret there before loading personal data from link statistics"
            )
        return str(key)

    def get_conn(self) -> requests.Session:
        """The HTTP session, authenticated with the connection's key."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.auth = _ApiKeyAuth(self._api_key)
        session.headers["User-Agent"] = f"airflow-provider-soundlink/{__version__}"
        return session

    def test_connection(self) -> tuple[bool, str]:
        try:
            self._get_json(RequestContext(self.soundlink_conn_id, "/v1/ping"))
        except SoundlinkError as error:
            return False, str(error)
        return True, f"Soundlink API reachable at {self.base_url} with this key"

    # Requests and retries --------------------------------------------------------------------------------

    def _send(
        self, context: RequestContext, *, accept: str = "application/json", stream: bool = False
    ) -> requests.Response:
        """One attempt: the response on success, else the matching error of the family."""
        try:
            response = self.get_conn().get(
                self._settings.base_url + context.path,
                params=dict(context.params),
                headers={"Accept": accept},
                timeout=self._settings.timeout,
                stream=stream,
                # A redirect could carry x-api-key to another host; requests strips only Authorization.
                allow_redirects=False,
            )
        except requests.RequestException as error:
            shown = context.redact(str(error))
            # The cause's own text holds the request URL with every query value: keep it out of the
            # traceback when personal values had to be redacted from it.
            cause = error if shown == str(error) else None
            raise SoundlinkNetworkError(f"Soundlink {context.target} got no response: {shown}") from cause
        if response.status_code >= 300:
            with closing(response):
                raise _error_from_response(response, context)
        return response

    def _retrying(self) -> Retrying:
        settings = self._settings
        return Retrying(
            stop=stop_after_attempt(settings.max_attempts) | stop_before_delay(settings.retry_budget),
            wait=self._wait,
            retry=retry_if_exception(lambda error: isinstance(error, SoundlinkError) and error.retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, SoundlinkRateLimitError) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if not isinstance(error, SoundlinkError):
            return
        log.warning(
            "Soundlink attempt %d of %d failed (status %s, code %s, request id %s); retrying in %.2f s: %s",
            state.attempt_number,
            self._settings.max_attempts,
            error.status,
            error.code,
            error.request_id,
            state.upcoming_sleep,
            error,
        )

    def _request(
        self, context: RequestContext, *, accept: str = "application/json", stream: bool = False
    ) -> requests.Response:
        return self._retrying()(self._send, context, accept=accept, stream=stream)

    def _get_json(self, context: RequestContext) -> dict[str, Any]:
        with closing(self._request(context)) as response:
            try:
                body = response.json(parse_float=decimal.Decimal)
            except ValueError as error:
                raise SoundlinkAPIError(
                    response.status_code,
                    None,
                    f"the response is not JSON: {error}",
                    response.headers.get("X-Request-Id"),
                    context,
                ) from error
        if not isinstance(body, dict):
            raise SoundlinkAPIError(
                response.status_code,
                None,
                f"expected a JSON object, got {type(body).__name__}",
                response.headers.get("X-Request-Id"),
                context,
            )
        return body

    # Campaigns and paginated metrics ---------------------------------------------------------------------

    def list_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign the key's organization owns, oldest first."""
        context = RequestContext(
            self.soundlink_conn_id,
            "/v1/campaigns",
            {"pageSize": str(CAMPAIGNS_PAGE_SIZE), "sortBy": "createdAt", "sortOrder": "asc"},
            CAMPAIGNS_SCOPE,
        )
        return list(self._iter_pages(context, versioned_rows=False))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        context = RequestContext(self.soundlink_conn_id, _campaign_path(campaign_id), {}, CAMPAIGNS_SCOPE)
        return dict(self._get_json(context)["data"])

    def get_overview(self, campaign_id: str, window: DateWindow) -> dict[str, Any]:
        """Campaign totals over ``window``."""
        context = RequestContext(
            self.soundlink_conn_id,
            f"{_campaign_path(campaign_id)}/metrics/overview",
            _window_params(window),
            METRICS_SCOPE,
        )
        return dict(self._get_json(context)["data"])

    def iter_breakdown(
        self,
        campaign_id: str,
        window: DateWindow,
        page_size: int = METRICS_MAX_PAGE_SIZE,
        sort_by: str = "report_date",
        sort_order: str = "asc",
    ) -> Iterator[dict[str, Any]]:
        """Per-country daily rows over ``window`` from the paginated endpoint."""
        return self._iter_metric_pages(
            ExportKind.BREAKDOWN, campaign_id, window, page_size, sort_by, sort_order, None
        )

    def iter_engagement(
        self,
        campaign_id: str,
        window: DateWindow,
        page_size: int = METRICS_MAX_PAGE_SIZE,
        sort_by: str = "report_date",
        sort_order: str = "asc",
        engagement_context: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Per-track daily engagement rows over ``window`` from the paginated endpoint."""
        return self._iter_metric_pages(
            ExportKind.ENGAGEMENT, campaign_id, window, page_size, sort_by, sort_order, engagement_context
        )

    def _iter_metric_pages(
        self,
        kind: ExportKind,
        campaign_id: str,
        window: DateWindow,
        page_size: int,
        sort_by: str,
        sort_order: str,
        engagement_context: str | None,
    ) -> Iterator[dict[str, Any]]:
        _check_page_size(page_size, METRICS_MAX_PAGE_SIZE)
        if sort_order not in METRICS_SORT_ORDERS:
            raise SoundlinkConfigurationError(
                f"sort_order must be one of {', '.join(METRICS_SORT_ORDERS)}, got {sort_order!r}"
            )
        params = {
            **_rows_params(kind, window, engagement_context),
            "pageSize": str(page_size),
            "sortBy": sort_by,
            "sortOrder": sort_order,
        }
        path = kind.paginated_path(_path_segment(campaign_id))
        context = RequestContext(self.soundlink_conn_id, path, params, METRICS_SCOPE)
        return self._iter_pages(context, versioned_rows=True)

    def _iter_pages(self, context: RequestContext, *, versioned_rows: bool) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            page_context = RequestContext(
                context.conn_id, context.path, {**context.params, "page": str(page)}, context.required_scope
            )
            body = self._get_json(page_context)
            data = body["data"]
            if versioned_rows:
                request_id = body.get("meta", {}).get("requestId")
                for number, row in enumerate(data["items"], 1):
                    _check_schema_version(
                        row, request_id, f"Soundlink {context.target} page {page} row {number}"
                    )
            yield from data["items"]
            if page >= data["pagination"]["totalPages"]:
                return
            page += 1

    # Link click statistics -------------------------------------------------------------------------------

    def iter_link_stats(
        self,
        period_from: dt.datetime,
        period_to: dt.datetime,
        group: str | None = None,
        *,
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
        sort: str = "-count",
        page_size: int = LINK_STATS_MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Link click counts between two instants (both inclusive), grouped by ``group``, every page."""
        if group is not None and group not in LINK_STATS_GROUPS:
            raise SoundlinkConfigurationError(
                f"link stats group must be one of {', '.join(LINK_STATS_GROUPS)}, got {group!r}"
            )
        if sort not in LINK_STATS_SORTS:
            raise SoundlinkConfigurationError(
                f"link stats sort must be one of {', '.join(LINK_STATS_SORTS)}, got {sort!r}"
            )
        _check_page_size(page_size, LINK_STATS_MAX_PAGE_SIZE)
        if _utc(period_to) < _utc(period_from):
            raise SoundlinkConfigurationError(
                f"period_to {period_to.isoformat()} is before period_from {period_from.isoformat()}"
            )
        params = {
            "period_from": _iso_millis(period_from),
            "period_to": _iso_millis(period_to),
            "sort": sort,
            "limit": str(page_size),
        }
        optional = {
            "group": group,
            "campaign_id": campaign_id,
            "subscriber_id": subscriber_id,
            "profile_id": profile_id,
        }
        params.update({name: value for name, value in optional.items() if value is not None})
        context = RequestContext(
            self.soundlink_conn_id, "/tracking/link/stats/aggregated", params, METRICS_SCOPE
        )
        return self._iter_offsets(context, page_size)

    def _iter_offsets(self, context: RequestContext, page_size: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page_context = RequestContext(
                context.conn_id,
                context.path,
                {**context.params, "offset": str(offset)},
                context.required_scope,
            )
            body = self._get_json(page_context)
            yield from body["data"]
            offset += page_size
            if offset >= body["meta"]["count"]:
                return

    # JSONL exports ---------------------------------------------------------------------------------------

    def iter_export(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        window: DateWindow,
        engagement_context: str | None = None,
    ) -> Iterator[ExportLine]:
        """Stream the export of one window of at most 90 days, line by line.

        Raises :class:`SoundlinkStreamError` when the stream is cut off, ends short of its X-Row-Count or
        holds a line that is not JSON, and :class:`SoundlinkSchemaVersionError` for an unknown row schema.
        Rows already yielded stay yielded: use :meth:`download_export` to retry a broken window whole.
        """
        context = self._export_context(_export_kind(kind), campaign_id, window, engagement_context)
        return self._stream_export(context)

    def _stream_export(self, context: RequestContext) -> Iterator[ExportLine]:
        yield from self._export_lines(context, self._request(context, accept=NDJSON, stream=True))

    def iter_export_range(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        engagement_context: str | None = None,
    ) -> Iterator[ExportLine]:
        """Stream the export of any inclusive date range, one window of at most 90 days after another."""
        for window in slice_date_range(start, end):
            yield from self.iter_export(kind, campaign_id, window, engagement_context)

    def download_export(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        window: DateWindow,
        fileobj: BinaryIO,
        engagement_context: str | None = None,
    ) -> ExportSummary:
        """Write the export of one window to ``fileobj`` as newline-terminated lines.

        A cut-off or short stream fetches the whole window again (the file is rewound and truncated
        first), within the same attempt and time budget as any other retried call.
        """
        export_kind = _export_kind(kind)
        context = self._export_context(export_kind, campaign_id, window, engagement_context)
        fallback_name = f"{export_kind.value}_{campaign_id}_{window.start}_{window.end}.jsonl"

        def attempt() -> ExportSummary:
            fileobj.seek(0)
            fileobj.truncate()
            response = self._send(context, accept=NDJSON, stream=True)
            file_name = _suggested_file_name(response.headers.get("Content-Disposition")) or fallback_name
            row_count = 0
            field_names: set[str] = set()
            for line in self._export_lines(context, response):
                fileobj.write(line.raw + b"\n")
                field_names.update(line.row)
                row_count += 1
            return ExportSummary(row_count, frozenset(field_names), file_name)

        return self._retrying()(attempt)

    def _export_context(
        self, kind: ExportKind, campaign_id: str, window: DateWindow, engagement_context: str | None
    ) -> RequestContext:
        if window.days > MAX_EXPORT_DAYS:
            raise SoundlinkConfigurationError(
                f"the export window {window} holds {window.days} days, but the API accepts at most "
                f"{MAX_EXPORT_DAYS} days per request, counted inclusively; {SLICING_ADVICE} "
                "or call iter_export_range"
            )
        path = kind.export_path(_path_segment(campaign_id))
        params = _rows_params(kind, window, engagement_context)
        return RequestContext(self.soundlink_conn_id, path, params, METRICS_SCOPE)

    def _export_lines(self, context: RequestContext, response: requests.Response) -> Iterator[ExportLine]:
        request_id = response.headers.get("X-Request-Id")
        expected = _row_count_header(response, context)
        label = f"Soundlink {context.target} {context.params['startDate']}..{context.params['endDate']}"
        progress = _ProgressLog(label, expected, self.progress_interval)
        rows = 0
        with closing(response):
            try:
                for line_number, raw in enumerate(response.iter_lines(chunk_size=_STREAM_CHUNK_BYTES), 1):
                    if not raw.strip():
                        continue
                    row = _parse_row(raw, line_number, request_id, label)
                    rows += 1
                    yield ExportLine(raw, row)
                    progress.update(rows)
            except requests.RequestException as error:
                raise SoundlinkStreamError(
                    f"{label} was cut off after {rows} of {expected if expected is not None else '?'} rows: "
                    f"{error}",
                    request_id,
                    retryable=True,
                ) from error
        if expected is not None and rows != expected:
            raise SoundlinkStreamError(
                f"{label} ended after {rows} rows, but its X-Row-Count header announced {expected}",
                request_id,
                retryable=True,
            )
        log.info("%s: %d rows received", label, rows)


def _truthy(value: Any) -> bool:
    """An extra's boolean, whether the connection stored it as JSON true or as the string "true"."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _path_segment(campaign_id: str) -> str:
    """Campaign ids are opaque strings: escape anything that would change the path."""
    return quote(campaign_id, safe="")


def _campaign_path(campaign_id: str) -> str:
    return f"/v1/campaigns/{_path_segment(campaign_id)}"


def _window_params(window: DateWindow) -> dict[str, str]:
    return {"startDate": window.start.isoformat(), "endDate": window.end.isoformat()}


def _export_kind(kind: ExportKind | str) -> ExportKind:
    try:
        return ExportKind(kind)
    except ValueError:
        known = ", ".join(member.value for member in ExportKind)
        raise SoundlinkConfigurationError(f"unknown export kind {kind!r}; use one of {known}") from None


def _rows_params(kind: ExportKind, window: DateWindow, engagement_context: str | None) -> dict[str, str]:
    """Both dates, always (the API's defaults for omitted dates are contradictory), and the context filter."""
    params = _window_params(window)
    if engagement_context is not None:
        if kind is not ExportKind.ENGAGEMENT or engagement_context not in ENGAGEMENT_CONTEXTS:
            raise SoundlinkConfigurationError(
                f"engagement_context {engagement_context!r} is not valid for {kind.value} rows: it "
                f"applies to engagement rows only and is one of {', '.join(ENGAGEMENT_CONTEXTS)}"
            )
        params["engagementContext"] = engagement_context
    return params


def _check_page_size(page_size: int, maximum: int) -> None:
    if not 1 <= page_size <= maximum:
        raise SoundlinkConfigurationError(f"page_size must be between 1 and {maximum}, got {page_size}")


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise SoundlinkConfigurationError(
            f"{instant.isoformat()} has no time zone; pass an aware datetime (for example in UTC)"
        )
    return instant.astimezone(dt.timezone.utc)


def _iso_millis(instant: dt.datetime) -> str:
    utc = _utc(instant)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: it is either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _error_from_response(response: requests.Response, context: RequestContext) -> SoundlinkAPIError:
    code: str | None = None
    message = response.reason or "no message"
    request_id = response.headers.get("X-Request-Id")
    try:
        text = response.text.strip()
    except requests.RequestException:
        text = ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or message
        meta = body.get("meta") if isinstance(body, dict) else None
        if isinstance(meta, dict) and meta.get("requestId"):
            request_id = meta["requestId"]
    elif text:
        message = f"{message}; the body is not the documented error JSON: {text[:200]!r}"
    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
    return api_error(response.status_code, code, message, request_id, context, retry_after)


def _row_count_header(response: requests.Response, context: RequestContext) -> int | None:
    value = response.headers.get("X-Row-Count")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as error:
        raise SoundlinkStreamError(
            f"Soundlink {context.target} sent X-Row-Count {value!r}, which is not a number",
            response.headers.get("X-Request-Id"),
            retryable=False,
        ) from error


def _parse_row(raw: bytes, line_number: int, request_id: str | None, label: str) -> dict[str, Any]:
    try:
        row = json.loads(raw, parse_float=decimal.Decimal)
    except ValueError as error:
        raise SoundlinkStreamError(
            f"{label}: line {line_number} is not JSON ({error}): {raw[:120]!r}", request_id, retryable=False
        ) from error
    if not isinstance(row, dict):
        raise SoundlinkStreamError(
            f"{label}: line {line_number} is JSON but not an object: {raw[:120]!r}",
            request_id,
            retryable=False,
        )
    _check_schema_version(row, request_id, f"{label}: line {line_number}")
    return row


def _check_schema_version(row: Mapping[str, Any], request_id: str | None, where: str) -> None:
    version = row.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SoundlinkSchemaVersionError(version, SUPPORTED_SCHEMA_VERSIONS, request_id, where=where)


def _suggested_file_name(content_disposition: str | None) -> str | None:
    """The bare file name from a Content-Disposition header, stripped of any directory part."""
    if not content_disposition:
        return None
    header = email.message.Message()
    header["Content-Disposition"] = content_disposition
    name = PurePosixPath((header.get_filename() or "").replace("\\", "/")).name
    return name if name not in {"", ".", ".."} else None
