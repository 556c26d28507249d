"""Export Soundlink link click statistics to GCS: one JSONL object per UTC day and grouping."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.client.api import (
    LINK_STATS_GROUPS,
    LINK_STATS_MAX_PAGE_SIZE,
    LINK_STATS_PATH,
    SoundlinkClient,
)
from airflow_provider_soundlink.client.pagination import reread_when_changed
from airflow_provider_soundlink.compat import BaseOperator, Context, mask_secret
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.manifest import ManifestEntry
from airflow_provider_soundlink.core.pseudonymise import PERSONAL_LINK_STATS_FIELDS, pseudonymise
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.windows import slice_date_range
from airflow_provider_soundlink.errors import (
    SoundlinkAPIError,
    SoundlinkConfigurationError,
    SoundlinkUnexpectedResponseError,
)
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators.arguments import export_window, is_template
from airflow_provider_soundlink.operators.gcs_objects import complete_object_upload, gcs_uri
from airflow_provider_soundlink.operators.lineage import (
    RecordedLineage,
    ReportsLineage,
    api_dataset,
    gcs_dataset,
    gcs_folder_dataset,
)
from airflow_provider_soundlink.operators.links import GcsFolderLink

FILTERS = ("campaign_id", "subscriber_id", "profile_id")
"""The endpoint's filters; each is stored in the ``filter_<name>`` column, '' when not used."""
UNGROUPED_TOTAL = "total"
"""The ``group_by`` value of the ungrouped daily total (the grouping ``None``)."""
_LAST_MILLISECOND = dt.time(23, 59, 59, 999_000)


def grouping_list(groupings: object) -> list[str | None]:
    """Return the requested groupings without duplicates, refusing anything the endpoint does not know."""
    if isinstance(groupings, (str, bytes)) or not isinstance(groupings, Sequence):
        raise SoundlinkConfigurationError(
            f"groupings must be a list, got {groupings!r}; e.g. [None, 'country', 'params'] (None is the "
            "ungrouped daily total)"
        )
    if not groupings:
        raise SoundlinkConfigurationError(
            "groupings is empty: give at least one grouping, or None for the ungrouped total"
        )
    unknown = [
        grouping for grouping in groupings if grouping is not None and grouping not in LINK_STATS_GROUPS
    ]
    if unknown:
        raise SoundlinkConfigurationError(
            f"groupings holds {unknown!r}; each is None (the ungrouped total) or one of "
            f"{', '.join(LINK_STATS_GROUPS)}"
        )
    return list(dict.fromkeys(groupings))


def group_by_value(grouping: str | None) -> str:
    """Return what the ``group_by`` column (and the object name) holds for a grouping."""
    return grouping or UNGROUPED_TOTAL


def link_stats_object_name(
    prefix: str, grouping: str | None, stored_filters: Mapping[str, str], day: dt.date
) -> str:
    """Name the GCS object of one day and grouping; fixed by its inputs, so a re-run overwrites it.

    Only the filters in use name a path level; their values are the stored ones (pseudonymised where
    personal) and are percent-encoded whole, so no value can add or escape a path level. Each ``column=value``
    level equals that column in every row of the object: readers that take Hive partition keys from the
    path (DuckDB does so unasked) then read the same values as BigQuery, which ignores the path.
    """
    parts = [
        prefix.strip("/"),
        ExportKind.LINK_STATS.table_name,
        f"group_by={group_by_value(grouping)}",
        *(
            f"filter_{name}={quote(stored_filters[name], safe='')}"
            for name in FILTERS
            if stored_filters[name]
        ),
        f"{day.isoformat()}.jsonl",
    ]
    return "/".join(part for part in parts if part)


class SoundlinkLinkStatsToGCSOperator(ReportsLineage, BaseOperator):
    """Export daily link click counts as JSONL into GCS and return a manifest of what was written.

    For each UTC day ``D`` of the inclusive range ``report_start_date..report_end_date`` and each grouping,
    every page of ``GET /tracking/link/stats/aggregated`` from ``D 00:00:00.000Z`` to ``D 23:59:59.999Z``
    (both inclusive) is written to a local temporary file as rows of the ``link_clicks_daily`` table, then
    uploaded to ``gs://{bucket}/{object_prefix}/link_clicks_daily/group_by={grouping}/[filter_...=.../]{D}.jsonl``
    (the ungrouped total is stored with ``group_by`` ``"total"``). Nothing reaches GCS before a day's object
    is complete, and a re-run overwrites the same objects.

    IP addresses and subscriber ids are personal data. By default they are replaced, before anything is
    written to a file, GCS, a log or XCom, by keyed HMAC-SHA256 pseudonyms under the Soundlink connection's
    ``pseudonymisation_secret`` extra (the task fails when it is missing); this covers ``ip`` and
    ``subscriber_id`` group values and the ``subscriber_id`` filter.

    The return value (XCom) is a list of
    :class:`~airflow_provider_soundlink.core.manifest.ManifestEntry`, one per
    object, for :class:`~airflow_provider_soundlink.operators.bigquery_merge.SoundlinkBigQueryMergeOperator`
    with ``export="link_stats"``: its MERGE makes this run the truth for its days x groupings x filters.

    :param groupings: what to group the counts by, a list of ``campaign_id``, ``subscriber_id``, ``device``,
        ``country``, ``ip``, ``browser``, ``custom_link_title``, ``params``, and ``None`` for the ungrouped
        daily total (templated; may be an XComArg).
    :param report_start_date: first UTC day, ``YYYY-MM-DD`` or a date (templated, may be an XComArg;
        inclusive).
    :param report_end_date: last UTC day, ``YYYY-MM-DD`` or a date (templated, may be an XComArg;
        inclusive).
    :param bucket: the GCS bucket (templated).
    :param object_prefix: object name prefix inside the bucket (templated).
    :param campaign_id: count only clicks of this campaign (templated; None or '' for all).
    :param subscriber_id: count only clicks of this subscriber (templated; None or '' for all). Stored
        pseudonymised unless ``store_personal_data_raw``, in GCS, BigQuery and XCom and in the task's
        rendered fields too: pass the raw value through a template (e.g. ``{{ var.value.subscriber }}``
        from a secrets backend), since a literal in the DAG file or a run's conf is stored by Airflow.
    :param profile_id: count only clicks of this profile (templated; None or '' for all).
    :param store_personal_data_raw: store raw IP addresses and subscriber ids instead of pseudonyms.
        WARNING: they are personal data (GDPR and similar laws): the GCS objects, the BigQuery table, the
        task's XCom and logs then hold them in clear. Opt in only with a legal basis, access controls and a
        retention policy for every place the data reaches.
    :param page_size: entries per API request, at most 1000.
    :param soundlink_conn_id: the Soundlink connection.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate for GCS (templated).
    """

    template_fields: Sequence[str] = (
        "groupings",
        "report_start_date",
        "report_end_date",
        "bucket",
        "object_prefix",
        "campaign_id",
        "subscriber_id",
        "profile_id",
        "impersonation_chain",
    )
    ui_color = "#1db954"
    operator_extra_links = (GcsFolderLink(),)

    def __init__(
        self,
        *,
        groupings: Any,
        report_start_date: Any,
        report_end_date: Any,
        bucket: str,
        object_prefix: str = "soundlink",
        campaign_id: str | None = None,
        subscriber_id: str | None = None,
        profile_id: str | None = None,
        store_personal_data_raw: bool = False,
        page_size: int = LINK_STATS_MAX_PAGE_SIZE,
        soundlink_conn_id: str = SoundlinkHook.default_conn_name,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(groupings, (list, tuple)):
            grouping_list(groupings)
        dates = (report_start_date, report_end_date)
        if all(isinstance(date, (str, dt.date)) and not is_template(date) for date in dates):
            export_window(*dates)
        if not bucket:
            raise SoundlinkConfigurationError(
                "bucket is empty: give the name of the GCS bucket to write the link stats to"
            )
        if not 1 <= page_size <= LINK_STATS_MAX_PAGE_SIZE:
            raise SoundlinkConfigurationError(
                f"page_size must be between 1 and {LINK_STATS_MAX_PAGE_SIZE}, got {page_size}"
            )
        self.groupings = groupings
        self.report_start_date = report_start_date
        self.report_end_date = report_end_date
        self.bucket = bucket
        self.object_prefix = object_prefix
        self.campaign_id = campaign_id
        self.subscriber_id = subscriber_id
        self._rendered_subscriber_id: str | None = None
        self.profile_id = profile_id
        self.store_personal_data_raw = store_personal_data_raw
        self.page_size = page_size
        self.soundlink_conn_id = soundlink_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain

    def planned_lineage(self) -> RecordedLineage:
        planned = RecordedLineage()
        planned.wrote(gcs_folder_dataset(self.bucket, self.object_prefix, ExportKind.LINK_STATS.table_name))
        return planned

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render as Airflow does, then keep a raw ``subscriber_id`` out of the rendered fields.

        Airflow stores the rendered template fields (the metadata database, the UI), so unless
        ``store_personal_data_raw`` is set the field is left holding the value's pseudonym, as stored in
        GCS and BigQuery; the raw value, kept aside for the API call, is masked in logs.
        """
        super().render_template_fields(context, jinja_env)
        self._rendered_subscriber_id = self.subscriber_id
        if self.subscriber_id and not self.store_personal_data_raw:
            mask_secret(self.subscriber_id)
            key = SoundlinkHook(soundlink_conn_id=self.soundlink_conn_id).pseudonymisation_secret
            self.subscriber_id = pseudonymise(self.subscriber_id, key)

    def execute(self, context: Context) -> list[ManifestEntry]:
        groupings = grouping_list(self.groupings)
        window = export_window(self.report_start_date, self.report_end_date)
        hook = SoundlinkHook(soundlink_conn_id=self.soundlink_conn_id)
        soundlink = hook.get_conn()
        lineage = self.record_lineage()
        lineage.read(api_dataset(soundlink.base_url, LINK_STATS_PATH))
        if self.store_personal_data_raw:
            self.log.warning(
                "store_personal_data_raw is set: raw IP addresses and subscriber ids go to GCS, BigQuery "
                "and XCom"
            )
            personal = _Personal(key=None)
        else:
            personal = _Personal(key=hook.pseudonymisation_secret)
        filters = {
            "campaign_id": self.campaign_id,
            # Rendering left the field holding the pseudonym (see render_template_fields).
            "subscriber_id": self._rendered_subscriber_id or self.subscriber_id,
            "profile_id": self.profile_id,
        }
        api_filters = {name: value for name, value in filters.items() if value}
        stored_filters = {name: personal.stored(name, api_filters.get(name, "")) for name in FILTERS}
        # Imported here, not at module level: DAG files import this module on every parse.
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        gcs = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        table = table_definition(ExportKind.LINK_STATS)
        GcsFolderLink.persist(context, GcsFolderLink.url(self.bucket, self.object_prefix, table.name))
        manifest: list[ManifestEntry] = []
        for day in (one_day.start for one_day in slice_date_range(window.start, window.end, max_days=1)):
            for grouping in groupings:
                object_name = link_stats_object_name(self.object_prefix, grouping, stored_filters, day)
                # Pages that moved under the reading are read (and uploaded) again from the start.
                written = reread_when_changed(
                    functools.partial(
                        self._write_object,
                        soundlink,
                        gcs,
                        object_name,
                        day,
                        grouping,
                        api_filters,
                        stored_filters,
                        personal,
                    ),
                    soundlink.settings.max_attempts,
                )
                uri = gcs_uri(self.bucket, object_name)
                lineage.wrote(gcs_dataset(uri, table.name))
                metrics.exported(
                    ExportKind.LINK_STATS.value, written.rows, written.bytes, self.dag_id, self.task_id
                )
                self.log.info("Exported %d link-stats rows of %s to %s", written.rows, day, uri)
                manifest.append(
                    ManifestEntry(
                        export=ExportKind.LINK_STATS.value,
                        table=table.name,
                        scope={"group_by": group_by_value(grouping), **_filter_columns(stored_filters)},
                        start_date=day.isoformat(),
                        end_date=day.isoformat(),
                        uri=uri,
                        row_count=written.rows,
                        new_fields=sorted(written.new_fields),
                        # Every page was read after this instant, which the rows carry as exported_at.
                        snapshot_at=written.exported_at.isoformat(),
                    )
                )
        self._warn_about_new_fields(manifest)
        return manifest

    def _write_object(
        self,
        soundlink: SoundlinkClient,
        gcs: Any,
        object_name: str,
        day: dt.date,
        grouping: str | None,
        api_filters: Mapping[str, str],
        stored_filters: Mapping[str, str],
        personal: _Personal,
    ) -> _Written:
        """Upload one day's grouping; the object appears only once every page is written (see
        complete_object_upload)."""
        written = _Written(dt.datetime.now(dt.UTC))
        with complete_object_upload(gcs, self.bucket, object_name) as upload:
            for entry in soundlink.iter_link_stats(
                dt.datetime.combine(day, dt.time(), dt.UTC),
                dt.datetime.combine(day, _LAST_MILLISECOND, dt.UTC),
                grouping,
                page_size=self.page_size,
                **api_filters,
            ):
                row = _row(day, grouping, entry, stored_filters, written.exported_at, personal)
                line = json.dumps(row, separators=(",", ":")).encode() + b"\n"
                upload.write(line)
                written.new_fields.update(set(entry) - _expected_fields(grouping))
                written.rows += 1
                written.bytes += len(line)
        return written

    def _warn_about_new_fields(self, manifest: list[ManifestEntry]) -> None:
        new_fields = sorted({name for entry in manifest for name in entry["new_fields"]})
        if new_fields:
            self.log.warning(
                "The link statistics carry fields this provider does not store: %s; upgrade "
                "airflow-provider-soundlink to load them.",
                ", ".join(new_fields),
            )


@dataclass
class _Written:
    """What one upload of a day's grouping wrote; ``exported_at`` is when its reading began."""

    exported_at: dt.datetime
    rows: int = 0
    bytes: int = 0
    new_fields: set[str] = field(default_factory=set)


class _Personal:
    """Turns personal values into what may be stored: their pseudonym, or (opted in) the raw value."""

    def __init__(self, key: str | None) -> None:
        self._key = key

    def hides(self, field: str, value: str) -> bool:
        """Whether ``value`` of ``field`` is stored as a pseudonym."""
        return self._key is not None and field in PERSONAL_LINK_STATS_FIELDS and value != ""

    def stored(self, field: str, value: str) -> str:
        if self._key is None or not self.hides(field, value):
            return value
        return pseudonymise(value, self._key)


def _expected_fields(grouping: str | None) -> set[str]:
    if grouping is None:
        return {"count"}
    if grouping == "params":
        return {"params_name", "params_value", "count"}
    return {grouping, "count"}


def _text(entry: Mapping[str, Any], field: str) -> str:
    """Read a group value as text; a value Soundlink left empty is stored as '' (the key never holds NULL)."""
    if field not in entry:
        raise SoundlinkAPIError(
            200, None, f"a link-stats entry lacks its group field {field!r}: {sorted(entry)}", None
        )
    value = entry[field]
    return "" if value is None else str(value)


def _count(entry: Mapping[str, Any]) -> int:
    """Read an entry's click count: a whole number, never rounded from a fraction (one rule for numbers)."""
    count = entry.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise SoundlinkUnexpectedResponseError(
            200, None, f"a link-stats entry has count {count!r}", None, None, expected="a whole count >= 0"
        )
    return count


def _filter_columns(stored_filters: Mapping[str, str]) -> dict[str, str]:
    return {f"filter_{name}": stored_filters[name] for name in FILTERS}


def _row(
    day: dt.date,
    grouping: str | None,
    entry: Mapping[str, Any],
    stored_filters: Mapping[str, str],
    exported_at: dt.datetime,
    personal: _Personal,
) -> dict[str, Any]:
    """One ``link_clicks_daily`` row from one entry of the endpoint."""
    raw_value = params_name = params_value = ""
    if grouping == "params":
        params_name, params_value = _text(entry, "params_name"), _text(entry, "params_value")
    elif grouping is not None:
        raw_value = _text(entry, grouping)
    hidden_value = grouping is not None and personal.hides(grouping, raw_value)
    return {
        "report_date": day.isoformat(),
        "group_by": group_by_value(grouping),
        "group_value": personal.stored(grouping or "", raw_value),
        "params_name": params_name,
        "params_value": params_value,
        **_filter_columns(stored_filters),
        "count": _count(entry),
        "pseudonymised": hidden_value or personal.hides("subscriber_id", stored_filters["subscriber_id"]),
        "exported_at": exported_at.isoformat().replace("+00:00", "Z"),
    }
