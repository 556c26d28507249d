"""Call the Soundlink Public API: campaigns, paged metrics, link click statistics and JSONL exports.

:class:`SoundlinkClient` makes the calls over a
:class:`~airflow_provider_soundlink.client.transport.Transport` built from plain settings (no Airflow
needed); :class:`~airflow_provider_soundlink.hooks.soundlink.SoundlinkHook` builds one from an Airflow
connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

from airflow_provider_soundlink.client.pagination import (
    EntryKey,
    iter_numbered_pages,
    iter_offset_pages,
    reread_when_changed,
)
from airflow_provider_soundlink.client.settings import ClientSettings
from airflow_provider_soundlink.client.streams import (
    NDJSON,
    ExportLine,
    ExportSummary,
    ExportTarget,
    answer_time,
    check_schema_version,
    copy_checked_export,
    export_lines,
    suggested_file_name,
)
from airflow_provider_soundlink.client.transport import Transport
from airflow_provider_soundlink.core.exports import (
    CAMPAIGN_EXPORTS,
    ENGAGEMENT_CONTEXTS,
    PERSONAL_LINK_STATS_FIELDS,
    ExportKind,
    export_kind,
)
from airflow_provider_soundlink.core.load_values import load_columns
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.windows import MAX_EXPORT_DAYS, DateWindow, slice_date_range
from airflow_provider_soundlink.errors import (
    SLICING_ADVICE,
    RequestContext,
    SoundlinkConfigurationError,
    SoundlinkError,
    SoundlinkUnexpectedResponseError,
)

CAMPAIGNS_SCOPE = "campaigns:read"
METRICS_SCOPE = "metrics:read"

CAMPAIGNS_PAGE_SIZE = 100
METRICS_MAX_PAGE_SIZE = 500
LINK_STATS_MAX_PAGE_SIZE = 1000
LINK_STATS_PATH = "/tracking/link/stats/aggregated"
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


class SoundlinkClient:
    """Make the API's calls with plain settings, without Airflow::

        client = SoundlinkClient(ClientSettings(api_key="sk_..."))
        for campaign in client.list_campaigns(): ...

    The session is ``client.transport.session``: mount a ``requests`` adapter on it to route its requests
    elsewhere (a proxy of your own, or a fake in tests).
    """

    def __init__(self, settings: ClientSettings) -> None:
        self.transport = Transport(settings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def settings(self) -> ClientSettings:
        return self.transport.settings

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def ping(self) -> tuple[bool, str]:
        """Whether the key reaches the API (``GET /v1/ping`` takes any valid key), and what was found."""
        context = self.transport.context("/v1/ping")
        try:
            _data_object(self.transport.get_json(context), context)
        except SoundlinkError as error:
            return False, str(error)
        return True, f"Soundlink API reachable at {self.base_url} with this key"

    # Campaigns and paginated metrics ---------------------------------------------------------------------

    def list_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign the key's organization owns, oldest first; read again from the start (within the
        retry policy) when the listing changes while its pages are read."""
        context = self.transport.context(
            "/v1/campaigns",
            {"pageSize": str(CAMPAIGNS_PAGE_SIZE), "sortBy": "createdAt", "sortOrder": "asc"},
            CAMPAIGNS_SCOPE,
        )

        return reread_when_changed(
            lambda: [item for _, _, items in self._numbered_pages(context, _campaign_key) for item in items],
            self.transport.settings.max_attempts,
        )

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        context = self.transport.context(_campaign_path(campaign_id), {}, CAMPAIGNS_SCOPE)
        return _data_object(self.transport.get_json(context), context)

    def get_overview(self, campaign_id: str, window: DateWindow) -> dict[str, Any]:
        """Campaign totals over ``window``."""
        context = self.transport.context(overview_path(campaign_id), _window_params(window), METRICS_SCOPE)
        return _data_object(self.transport.get_json(context), context)

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
        context = self.transport.context(
            kind.paginated_path(_path_segment(campaign_id)), params, METRICS_SCOPE
        )
        return self._versioned_rows(context, _primary_key(kind))

    def _versioned_rows(self, context: RequestContext, key: EntryKey) -> Iterator[dict[str, Any]]:
        for page, body, items in self._numbered_pages(context, key):
            request_id = body.get("meta", {}).get("requestId")
            for number, row in enumerate(items, 1):
                check_schema_version(row, request_id, f"Soundlink {context.target} page {page} row {number}")
            yield from items

    def _numbered_pages(
        self, context: RequestContext, key: EntryKey
    ) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
        def fetch(page: int) -> dict[str, Any]:
            return self.transport.get_json(context.with_params(page=str(page)))

        return iter_numbered_pages(fetch, context, key)

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
        context = self.transport.context(LINK_STATS_PATH, params, METRICS_SCOPE, PERSONAL_LINK_STATS_FIELDS)
        return self._offset_entries(context)

    def _offset_entries(self, context: RequestContext) -> Iterator[dict[str, Any]]:
        def fetch(offset: int) -> dict[str, Any]:
            return self.transport.get_json(context.with_params(offset=str(offset)))

        for entries in iter_offset_pages(fetch, context, _link_stats_group):
            yield from entries

    # JSONL exports ---------------------------------------------------------------------------------------

    def iter_export(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        window: DateWindow,
        engagement_context: str | None = None,
    ) -> Iterator[ExportLine]:
        """Stream the export of one window of at most 90 days, line by line.

        Raises :class:`SoundlinkStreamError` when the stream is cut off or ends short of its X-Row-Count,
        :class:`SoundlinkMalformedExportError` for a line that is not a JSON object or holds a value
        BigQuery's load would refuse, and :class:`SoundlinkSchemaVersionError` for an unknown row schema.
        Rows already yielded stay
        yielded: use :meth:`download_export` to retry a broken window whole.
        """
        campaign_export = export_kind(kind, CAMPAIGN_EXPORTS)
        context = self._export_context(campaign_export, campaign_id, window, engagement_context)
        return self._export_stream(campaign_export, context)

    def _export_stream(self, kind: ExportKind, context: RequestContext) -> Iterator[ExportLine]:
        settings = self.transport.settings
        response = self.transport.call(lambda: self.transport.send(context, accept=NDJSON))
        yield from export_lines(
            context,
            response,
            columns=load_columns(table_definition(kind)),
            timeout=settings.export_timeout,
            progress_interval=settings.progress_interval,
        )

    def iter_export_range(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        start: dt.date,
        end: dt.date,
        engagement_context: str | None = None,
    ) -> Iterator[ExportLine]:
        """Stream the export of any inclusive date range, one window of at most 90 days after another."""
        streams = [
            self.iter_export(kind, campaign_id, window, engagement_context)
            for window in slice_date_range(start, end)
        ]
        return itertools.chain.from_iterable(streams)

    def download_export(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        window: DateWindow,
        fileobj: BinaryIO,
        engagement_context: str | None = None,
    ) -> ExportSummary:
        """Write the export of one window to the seekable ``fileobj`` as newline-terminated lines.

        A cut-off or short stream fetches the whole window again (the file is rewound and truncated
        first); see :meth:`stream_export`.
        """
        return self.stream_export(kind, campaign_id, window, lambda: _rewound(fileobj), engagement_context)

    def stream_export(
        self,
        kind: ExportKind | str,
        campaign_id: str,
        window: DateWindow,
        open_target: ExportTarget,
        engagement_context: str | None = None,
    ) -> ExportSummary:
        """Write the export of one window, as newline-terminated lines, into a target opened per attempt.

        Each attempt enters ``open_target()`` and writes into what it gives. The block ends normally only
        once the stream has been checked complete (every line, and the row count against X-Row-Count),
        and with the error otherwise, so a target that publishes on a normal exit (an upload finalized on
        close) publishes complete exports only. A cut-off or short stream opens a new target and fetches
        the whole window again, within the same attempts and time budget as any other retried call.
        """
        campaign_export = export_kind(kind, CAMPAIGN_EXPORTS)
        context = self._export_context(campaign_export, campaign_id, window, engagement_context)
        settings = self.transport.settings
        fallback_name = f"{campaign_export.value}_{campaign_id}_{window.start}_{window.end}.jsonl"
        columns = load_columns(table_definition(campaign_export))

        def attempt() -> ExportSummary:
            with open_target() as target:
                response = self.transport.send(context, accept=NDJSON)
                file_name = suggested_file_name(response.headers.get("Content-Disposition")) or fallback_name
                copied = copy_checked_export(
                    context,
                    response,
                    target,
                    columns=columns,
                    timeout=settings.export_timeout,
                    progress_interval=settings.progress_interval,
                )
            return ExportSummary(
                copied.rows, copied.new_fields, file_name, copied.bytes, answer_time(response)
            )

        return self.transport.call(attempt)

    def _export_context(
        self, kind: ExportKind, campaign_id: str, window: DateWindow, engagement_context: str | None
    ) -> RequestContext:
        if window.days > MAX_EXPORT_DAYS:
            raise SoundlinkConfigurationError(
                f"the export window {window} holds {window.days} days, but the API accepts at most "
                f"{MAX_EXPORT_DAYS} days per request, counted inclusively; {SLICING_ADVICE} "
                "or call iter_export_range"
            )
        path = export_path(kind, campaign_id)
        return self.transport.context(path, _rows_params(kind, window, engagement_context), METRICS_SCOPE)


@contextlib.contextmanager
def _rewound(fileobj: BinaryIO) -> Iterator[BinaryIO]:
    fileobj.seek(0)
    fileobj.truncate()
    yield fileobj


def _path_segment(campaign_id: str) -> str:
    """Campaign ids are opaque strings: escape anything that would change the path, and refuse the ids
    that would name another resource however escaped (a dot segment is resolved away by servers and
    proxies: ``/v1/campaigns/..`` is ``/v1``)."""
    if campaign_id.strip() in {"", ".", ".."}:
        raise SoundlinkConfigurationError(
            f"campaign id {campaign_id!r} names no campaign: it would address another resource of the API; "
            "give the campaign's id as Soundlink lists it"
        )
    return quote(campaign_id, safe="")


def _data_object(body: dict[str, Any], context: RequestContext) -> dict[str, Any]:
    """Take the ``data`` object out of the documented envelope ``{data: {...}, meta}``."""
    data = body.get("data")
    if not isinstance(data, dict):
        meta = body.get("meta")
        raise SoundlinkUnexpectedResponseError(
            200,
            None,
            f"the answer lacks the documented envelope (members: {sorted(body)})",
            str(meta["requestId"]) if isinstance(meta, dict) and meta.get("requestId") else None,
            context,
            expected="{data: {...}, meta: {requestId}}",
        )
    return dict(data)


def _campaign_key(campaign: Mapping[str, Any]) -> Hashable:
    return campaign.get("campaignId")


def _primary_key(kind: ExportKind) -> EntryKey:
    columns = table_definition(kind).primary_key
    return lambda row: tuple(str(row.get(column)) for column in columns)


def _link_stats_group(entry: Mapping[str, Any]) -> Hashable:
    """Return a link-stats entry's group: its fields but the count."""
    return tuple(sorted((name, str(value)) for name, value in entry.items() if name != "count"))


def _campaign_path(campaign_id: str) -> str:
    return f"/v1/campaigns/{_path_segment(campaign_id)}"


def export_path(kind: ExportKind, campaign_id: str) -> str:
    """Return the path of a campaign's export, as the client requests it (and lineage names it)."""
    return kind.export_path(_path_segment(campaign_id))


def overview_path(campaign_id: str) -> str:
    """Return the path of a campaign's overview, as the client requests it (and lineage names it)."""
    return f"{_campaign_path(campaign_id)}/metrics/overview"


def _window_params(window: DateWindow) -> dict[str, str]:
    return {"startDate": window.start.isoformat(), "endDate": window.end.isoformat()}


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
    return instant.astimezone(dt.UTC)


def _iso_millis(instant: dt.datetime) -> str:
    utc = _utc(instant)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
