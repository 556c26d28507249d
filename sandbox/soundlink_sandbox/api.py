"""The Soundlink API's routes and their answers, apart from HTTP transport, auth and faults."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from soundlink_sandbox.data import (
    ENGAGEMENT_CONTEXTS,
    LINK_STATS_GROUP_FIELDS,
    LINK_STATS_SORTS,
    SCHEMA_VERSION,
    SandboxData,
)
from soundlink_sandbox.encoding import RawJson
from soundlink_sandbox.keys import SCOPE_CAMPAIGNS_READ, SCOPE_METRICS_READ

MAX_WINDOW_DAYS = 90
MAX_CAMPAIGNS_PAGE_SIZE = 100
MAX_ROWS_PAGE_SIZE = 500
DEFAULT_ROWS_PAGE_SIZE = 100
MAX_LINK_STATS_LIMIT = 1000
DEFAULT_LINK_STATS_LIMIT = 100
SORT_ORDERS = ("asc", "desc")

_CAMPAIGN_FILTER = re.compile(r"[A-Za-z0-9_-]+")
_SUBSCRIBER_FILTER = re.compile(r"[A-Za-z0-9_.@+-]+")


class ApiError(Exception):
    """An error answer in the documented envelope."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class ApiRequest:
    path_params: dict[str, str]
    query: dict[str, str]
    today: dt.date


@dataclass
class JsonResult:
    """A JSON answer: ``{"data": data, "meta": {**meta, "requestId": ...}}``."""

    data: Any
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageOptions:
    """What the server decides about a page once it is routed: the schema version its rows carry, and
    the most items it may hold (None: as many as were asked for)."""

    schema_version: str = SCHEMA_VERSION
    max_items: int | None = None
    shift: int = 0
    """Entries inserted before the page since the listing was begun (the ``shift`` fault)."""

    def served_size(self, asked: int) -> int:
        return asked if self.max_items is None else min(asked, self.max_items)

    def served(self, entries: Sequence[Any], start: int, size: int) -> list[Any]:
        """Serve the page of ``size`` entries from ``start``, with the listing shifted by ``shift``."""
        return list(entries[max(0, start - self.shift) : max(0, start - self.shift + size)])


@dataclass
class Listing:
    """A paged answer, built once the server knows its :class:`PageOptions`."""

    build: Callable[[PageOptions], JsonResult]
    has_rows: bool = False
    """Its items are metric rows, which carry a schema version."""
    later_page: bool = False
    """A page after the first (a listing can shift only under one that is being read)."""


@dataclass
class ExportResult:
    """A JSONL export: its headers' facts, and its lines for a given schema version, produced lazily."""

    filename: str
    row_count: int
    lines: Callable[[str], Iterator[str]]


Result = JsonResult | Listing | ExportResult
Handler = Callable[["SandboxApi", ApiRequest], Result]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    scope: str | None
    handler: Handler
    is_export: bool = False


def _route(pattern: str, scope: str | None, handler: Handler, is_export: bool = False) -> Route:
    return Route(re.compile(pattern), scope, handler, is_export)


class SandboxApi:
    """Answers API requests from a :class:`SandboxData`."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data

    def resolve(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match:
                return route, match.groupdict()
        return None

    def ping(self, request: ApiRequest) -> Result:
        return JsonResult({"status": "ok"})

    def list_campaigns(self, request: ApiRequest) -> Result:
        query = request.query
        page = _positive_int(query, "page", 1)
        page_size = _page_size(query, 20, MAX_CAMPAIGNS_PAGE_SIZE)
        _choice(query, "sortBy", ("createdAt",), "createdAt")
        descending = _choice(query, "sortOrder", SORT_ORDERS, "desc") == "desc"
        campaigns = [
            self.data.campaign(campaign["campaignId"], request.today)
            for campaign in self.data.campaigns(request.today)
        ]
        campaigns.sort(
            key=lambda campaign: (campaign["createdAt"], campaign["campaignId"]), reverse=descending
        )

        def build(options: PageOptions) -> JsonResult:
            size = options.served_size(page_size)
            items = options.served(campaigns, (page - 1) * size, size)
            return JsonResult(_page_envelope(items, page, size, len(campaigns) + options.shift))

        return Listing(build, later_page=page > 1)

    def get_campaign(self, request: ApiRequest) -> Result:
        return JsonResult(self.data.campaign(self._campaign_id(request), request.today))

    def overview(self, request: ApiRequest) -> Result:
        campaign_id = self._campaign_id(request)
        start, end = _window(request.query, request.today)
        return JsonResult(self.data.overview(campaign_id, start, end, request.today))

    def breakdown(self, request: ApiRequest) -> Result:
        campaign_id = self._campaign_id(request)
        query = request.query
        start, end = _window(query, request.today)
        page = _positive_int(query, "page", 1)
        page_size = _page_size(query, DEFAULT_ROWS_PAGE_SIZE, MAX_ROWS_PAGE_SIZE)
        sort_by = _choice(query, "sortBy", ("report_date", "spend_total"), "report_date")
        descending = _choice(query, "sortOrder", SORT_ORDERS, "asc") == "desc"

        def build(options: PageOptions) -> JsonResult:
            schema_version = options.schema_version
            size = options.served_size(page_size)
            records = list(
                self.data.breakdown_records(campaign_id, start, end, request.today, schema_version)
            )
            if sort_by == "spend_total":
                records.sort(
                    key=lambda record: (record.spend_total_micros, record.report_date, record.country_code)
                )
            if descending:
                records.reverse()
            served = options.served(records, (page - 1) * size, size)
            items = [RawJson(record.line.rstrip("\n")) for record in served]
            envelope = _page_envelope(items, page, size, len(records) + options.shift)
            return JsonResult({"schemaVersion": schema_version, **envelope})

        return Listing(build, has_rows=True, later_page=page > 1)

    def breakdown_export(self, request: ApiRequest) -> Result:
        campaign_id = self._campaign_id(request)
        start, end = _window(request.query, request.today)
        today = request.today

        def lines(schema_version: str) -> Iterator[str]:
            for record in self.data.breakdown_records(campaign_id, start, end, today, schema_version):
                yield record.line

        return ExportResult(
            filename=f"breakdown_{campaign_id}_{start.isoformat()}_{end.isoformat()}.jsonl",
            row_count=self.data.breakdown_row_count(campaign_id, start, end, today),
            lines=lines,
        )

    def engagement(self, request: ApiRequest) -> Result:
        campaign_id = self._campaign_id(request)
        query = request.query
        start, end = _window(query, request.today)
        context = _engagement_context(query)
        page = _positive_int(query, "page", 1)
        page_size = _page_size(query, DEFAULT_ROWS_PAGE_SIZE, MAX_ROWS_PAGE_SIZE)
        _choice(query, "sortBy", ("report_date",), "report_date")
        descending = _choice(query, "sortOrder", SORT_ORDERS, "asc") == "desc"
        total = self.data.engagement_row_count(campaign_id, start, end, request.today, context)

        def build(options: PageOptions) -> JsonResult:
            schema_version = options.schema_version
            size = options.served_size(page_size)
            lines = self.data.engagement_lines(
                campaign_id,
                start,
                end,
                request.today,
                context,
                schema_version=schema_version,
                descending=descending,
                skip=max(0, (page - 1) * size - options.shift),
            )
            items = [RawJson(line.rstrip("\n")) for line in islice(lines, size)]
            envelope = _page_envelope(items, page, size, total + options.shift)
            return JsonResult({"schemaVersion": schema_version, **envelope})

        return Listing(build, has_rows=True, later_page=page > 1)

    def engagement_export(self, request: ApiRequest) -> Result:
        campaign_id = self._campaign_id(request)
        start, end = _window(request.query, request.today)
        context = _engagement_context(request.query)
        today = request.today

        def lines(schema_version: str) -> Iterator[str]:
            return self.data.engagement_lines(
                campaign_id, start, end, today, context, schema_version=schema_version
            )

        return ExportResult(
            filename=f"engagement_{campaign_id}_{start.isoformat()}_{end.isoformat()}.jsonl",
            row_count=self.data.engagement_row_count(campaign_id, start, end, today, context),
            lines=lines,
        )

    def link_stats(self, request: ApiRequest) -> Result:
        query = request.query
        period_from = _timestamp(query, "period_from")
        period_to = _timestamp(query, "period_to")
        if period_to < period_from:
            raise _bad_parameter("period_to", "period_to must not be before period_from")
        group = query.get("group")
        if group is not None and group not in LINK_STATS_GROUP_FIELDS:
            raise _bad_parameter("group", f"group must be one of {', '.join(LINK_STATS_GROUP_FIELDS)}")
        sort = _choice(query, "sort", LINK_STATS_SORTS, "-count")
        offset = _non_negative_int(query, "offset", 0)
        limit = _positive_int(query, "limit", DEFAULT_LINK_STATS_LIMIT)
        if limit > MAX_LINK_STATS_LIMIT:
            raise _bad_parameter("limit", f"limit must be at most {MAX_LINK_STATS_LIMIT}")
        campaign_id = _filter(query, "campaign_id", _CAMPAIGN_FILTER)
        subscriber_id = _filter(query, "subscriber_id", _SUBSCRIBER_FILTER)
        profile_id = query.get("profile_id") or None
        entries = self.data.link_clicks(
            period_from, period_to, group, campaign_id, subscriber_id, profile_id, sort=sort
        )

        def build(options: PageOptions) -> JsonResult:
            size = options.served_size(limit)
            return JsonResult(
                options.served(entries, offset, size),
                {"count": len(entries) + options.shift, "offset": offset, "limit": size},
            )

        return Listing(build, later_page=offset > 0)

    def _campaign_id(self, request: ApiRequest) -> str:
        campaign_id = request.path_params["campaign_id"]
        if not self.data.has_campaign(campaign_id):
            raise ApiError(404, "campaign_not_found", f"Campaign {campaign_id} was not found")
        return campaign_id


_CAMPAIGN = r"/v1/campaigns/(?P<campaign_id>[^/]+)"
ROUTES = (
    _route(r"/v1/ping", None, SandboxApi.ping),
    _route(r"/v1/campaigns", SCOPE_CAMPAIGNS_READ, SandboxApi.list_campaigns),
    _route(_CAMPAIGN, SCOPE_CAMPAIGNS_READ, SandboxApi.get_campaign),
    _route(_CAMPAIGN + "/metrics/overview", SCOPE_METRICS_READ, SandboxApi.overview),
    _route(_CAMPAIGN + "/metrics/breakdown", SCOPE_METRICS_READ, SandboxApi.breakdown),
    _route(_CAMPAIGN + "/metrics/breakdown/export", SCOPE_METRICS_READ, SandboxApi.breakdown_export, True),
    _route(_CAMPAIGN + "/metrics/engagement", SCOPE_METRICS_READ, SandboxApi.engagement),
    _route(_CAMPAIGN + "/metrics/engagement/export", SCOPE_METRICS_READ, SandboxApi.engagement_export, True),
    _route(r"/tracking/link/stats/aggregated", SCOPE_METRICS_READ, SandboxApi.link_stats),
)


def _bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_query_parameter", f"Invalid query parameter {name}: {message}")


def _page_envelope(items: list[Any], page: int, page_size: int, total: int) -> dict[str, Any]:
    return {
        "items": items,
        "pagination": {
            "page": page,
            "pageSize": page_size,
            "totalCount": total,
            "totalPages": math.ceil(total / page_size),
        },
    }


def _integer(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise _bad_parameter(name, f"{name} must be an integer, got {raw!r}") from None


def _positive_int(query: dict[str, str], name: str, default: int) -> int:
    value = _integer(query, name)
    if value is None:
        return default
    if value < 1:
        raise _bad_parameter(name, f"{name} must be at least 1")
    return value


def _non_negative_int(query: dict[str, str], name: str, default: int) -> int:
    value = _integer(query, name)
    if value is None:
        return default
    if value < 0:
        raise _bad_parameter(name, f"{name} must not be negative")
    return value


def _page_size(query: dict[str, str], default: int, maximum: int) -> int:
    page_size = _positive_int(query, "pageSize", default)
    if page_size > maximum:
        raise ApiError(400, "page_size_exceeded", f"pageSize must be at most {maximum}, got {page_size}")
    return page_size


def _choice(query: dict[str, str], name: str, options: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in options:
        raise _bad_parameter(name, f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def _engagement_context(query: dict[str, str]) -> str | None:
    if "engagementContext" not in query:
        return None
    return _choice(query, "engagementContext", ENGAGEMENT_CONTEXTS, ENGAGEMENT_CONTEXTS[0])


def _date(query: dict[str, str], name: str) -> dt.date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise _bad_parameter(name, f"{name} must be a date as YYYY-MM-DD, got {raw!r}") from None


def _window(query: dict[str, str], today: dt.date) -> tuple[dt.date, dt.date]:
    """Read the inclusive date window; an omitted end is today, an omitted start 90 days before the end."""
    start = _date(query, "startDate")
    end = _date(query, "endDate") or today
    start = start or end - dt.timedelta(days=MAX_WINDOW_DAYS - 1)
    if end < start:
        raise ApiError(400, "invalid_date_range", f"endDate {end} is before startDate {start}")
    days = (end - start).days + 1
    if days > MAX_WINDOW_DAYS:
        raise ApiError(
            400,
            "invalid_date_range",
            f"The range {start}..{end} spans {days} days; "
            f"at most {MAX_WINDOW_DAYS} days (inclusive) per request",
        )
    return start, end


def _timestamp(query: dict[str, str], name: str) -> dt.datetime:
    raw = query.get(name)
    if not raw:
        raise _bad_parameter(name, f"{name} is required (an ISO 8601 timestamp)")
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_parameter(name, f"{name} must be an ISO 8601 timestamp, got {raw!r}") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _filter(query: dict[str, str], name: str, allowed: re.Pattern[str]) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if not allowed.fullmatch(value):
        raise _bad_parameter(name, f"{name} has characters that are not allowed: {value!r}")
    return value
