"""Export Soundlink JSONL to Google Cloud Storage, one object per campaign and <= 90-day window."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.client.api import export_path
from airflow_provider_soundlink.compat import BaseOperator, Context
from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS, ExportKind, export_kind
from airflow_provider_soundlink.core.manifest import ManifestEntry
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.windows import DateWindow, slice_date_range
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators.arguments import (
    campaign_id_list,
    check_engagement_context,
    export_window,
    is_template,
)
from airflow_provider_soundlink.operators.gcs_objects import complete_object_upload, gcs_uri
from airflow_provider_soundlink.operators.lineage import (
    RecordedLineage,
    ReportsLineage,
    api_dataset,
    gcs_dataset,
    gcs_folder_dataset,
)
from airflow_provider_soundlink.operators.links import GcsFolderLink


def export_object_name(
    prefix: str, kind: ExportKind, campaign_id: str, window: DateWindow, engagement_context: str | None
) -> str:
    """Name the GCS object of one campaign's window; fixed by its inputs, so a re-run overwrites it.

    Campaign ids are opaque: they are percent-encoded whole, so no id can add or escape a path level.
    """
    context_suffix = f"_{engagement_context}" if engagement_context else ""
    parts = [
        prefix.strip("/"),
        kind.table_name,
        f"campaign_id={quote(campaign_id, safe='')}",
        f"{window.start.isoformat()}_{window.end.isoformat()}{context_suffix}.jsonl",
    ]
    return "/".join(part for part in parts if part)


class SoundlinkExportToGCSOperator(ReportsLineage, BaseOperator):
    """Export Soundlink campaign metrics as JSONL into GCS and return a manifest of what was written.

    For each campaign, the inclusive range ``report_start_date..report_end_date`` is cut into windows of at
    most 90 days; each window is streamed, checked line by line, into a resumable upload (memory stays flat,
    nothing is written locally; the hook fetches the window again if the stream is cut off), which becomes
    the object only once the stream is complete and verified against the API's row count:
    ``gs://{bucket}/{object_prefix}/{table}/campaign_id={id}/{start}_{end}[_{context}].jsonl``.
    The name depends only on those inputs, so a re-run overwrites instead of duplicating. Lines are uploaded
    exactly as received: fields the table definition does not know stay in the object, are named in a
    warning and in the manifest, and are ignored by the load.

    The return value (XCom) is a list of
    :class:`~airflow_provider_soundlink.core.manifest.ManifestEntry`, one per
    object, for :class:`~airflow_provider_soundlink.operators.bigquery_merge.SoundlinkBigQueryMergeOperator`.

    :param export: ``"breakdown"`` or ``"engagement"`` (or an :class:`ExportKind`).
    :param campaign_ids: campaign ids to export (templated; may be an XComArg).
    :param report_start_date: first report date, ``YYYY-MM-DD`` or a date (templated, may be an XComArg;
        inclusive).
    :param report_end_date: last report date, ``YYYY-MM-DD`` or a date (templated, inclusive).
        (Not ``start_date``/``end_date``: those are every operator's scheduling bounds.)
    :param bucket: the GCS bucket (templated).
    :param object_prefix: object name prefix inside the bucket (templated).
    :param engagement_context: ``"catalog"`` or ``"playlist"`` to export only that context of the
        engagement export; None exports both.
    :param soundlink_conn_id: the Soundlink connection.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account(s) to impersonate for GCS (templated).
    """

    template_fields: Sequence[str] = (
        "campaign_ids",
        "report_start_date",
        "report_end_date",
        "bucket",
        "object_prefix",
        "impersonation_chain",
    )
    ui_color = "#1db954"
    operator_extra_links = (GcsFolderLink(),)

    def __init__(
        self,
        *,
        export: ExportKind | str,
        campaign_ids: Any,
        report_start_date: Any,
        report_end_date: Any,
        bucket: str,
        object_prefix: str = "soundlink",
        engagement_context: str | None = None,
        soundlink_conn_id: str = SoundlinkHook.default_conn_name,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export = export_kind(export, CAMPAIGN_EXPORTS)
        check_engagement_context(self.export, engagement_context)
        if isinstance(campaign_ids, (list, tuple)) or (
            isinstance(campaign_ids, str) and not is_template(campaign_ids)
        ):
            campaign_id_list(campaign_ids)
        dates = (report_start_date, report_end_date)
        if all(isinstance(date, (str, dt.date)) and not is_template(date) for date in dates):
            export_window(*dates)
        if not bucket:
            raise SoundlinkConfigurationError(
                "bucket is empty: give the name of the GCS bucket to write the export to"
            )
        self.campaign_ids = campaign_ids
        self.report_start_date = report_start_date
        self.report_end_date = report_end_date
        self.bucket = bucket
        self.object_prefix = object_prefix
        self.engagement_context = engagement_context
        self.soundlink_conn_id = soundlink_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain

    def execute(self, context: Context) -> list[ManifestEntry]:
        campaign_ids = campaign_id_list(self.campaign_ids)
        window = export_window(self.report_start_date, self.report_end_date)
        table = table_definition(self.export)
        GcsFolderLink.persist(context, GcsFolderLink.url(self.bucket, self.object_prefix, table.name))
        if not campaign_ids:
            self.log.info("No campaigns to export (an export shard of a run with few campaigns)")
            return []
        # Imported here, not at module level: DAG files import this module on every parse.
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        soundlink = SoundlinkHook(soundlink_conn_id=self.soundlink_conn_id).get_conn()
        lineage = self.record_lineage()
        gcs = GCSHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        manifest: list[ManifestEntry] = []
        for position, campaign_id in enumerate(campaign_ids, start=1):
            self.log.info(
                "Exporting campaign %s (%d of %d) over %s", campaign_id, position, len(campaign_ids), window
            )
            lineage.read(api_dataset(soundlink.base_url, export_path(self.export, campaign_id)))
            for part in slice_date_range(window.start, window.end):
                object_name = export_object_name(
                    self.object_prefix, self.export, campaign_id, part, self.engagement_context
                )
                # Each attempt streams into its own upload, which becomes the object only once the
                # stream is checked complete: a failed download leaves no partial object.
                summary = soundlink.stream_export(
                    self.export,
                    campaign_id,
                    part,
                    functools.partial(complete_object_upload, gcs, self.bucket, object_name),
                    engagement_context=self.engagement_context,
                )
                uri = gcs_uri(self.bucket, object_name)
                lineage.wrote(gcs_dataset(uri, table.name))
                metrics.exported(
                    self.export.value, summary.row_count, summary.byte_count, self.dag_id, self.task_id
                )
                self.log.info(
                    "Exported %d rows of campaign %s %s to %s", summary.row_count, campaign_id, part, uri
                )
                entry = ManifestEntry(
                    export=self.export.value,
                    table=table.name,
                    scope=self._scope(campaign_id),
                    start_date=part.start.isoformat(),
                    end_date=part.end.isoformat(),
                    uri=uri,
                    row_count=summary.row_count,
                    new_fields=sorted(summary.new_fields),
                    new_field_kinds={
                        name: sorted(kinds) for name, kinds in sorted(summary.new_fields.items())
                    },
                )
                if summary.answered_at is not None:
                    entry["snapshot_at"] = summary.answered_at.isoformat()
                manifest.append(entry)
        self._warn_about_new_fields(table.name, manifest)
        return manifest

    def planned_lineage(self) -> RecordedLineage:
        planned = RecordedLineage()
        planned.wrote(gcs_folder_dataset(self.bucket, self.object_prefix, self.export.table_name))
        return planned

    def _scope(self, campaign_id: str) -> dict[str, str]:
        """Return the scope columns this object covers one value of; without a context it covers all
        contexts."""
        if self.engagement_context is None:
            return {"campaign_id": campaign_id}
        return {"campaign_id": campaign_id, "engagement_context": self.engagement_context}

    def _warn_about_new_fields(self, table_name: str, manifest: list[ManifestEntry]) -> None:
        new_fields = sorted({name for entry in manifest for name in entry["new_fields"]})
        if not new_fields:
            return
        objects = sum(1 for entry in manifest if entry["new_fields"])
        self.log.warning(
            "The %s export carries fields that table %s does not define: %s (in %d of %d objects). They are "
            "kept in the GCS objects and ignored by the BigQuery load; upgrade airflow-provider-soundlink to "
            "load them.",
            self.export.value,
            table_name,
            ", ".join(new_fields),
            objects,
            len(manifest),
        )
