"""What the example DAGs in ``dags/`` share: configuration, campaign choice and the export/MERGE tasks.

Both DAGs plan a run (a window of report dates and the campaigns to export over it), split the campaigns
over a fixed number of export shards per export (``SOUNDLINK_EXPORT_SHARDS``), each shard exporting its
share one campaign after another, and load each export with ONE MERGE. The number of task instances per
run is therefore fixed by configuration, never by the number of campaigns, and no task is mapped, so
``airflow dags backfill`` of Airflow 2.11 runs the DAGs with Airflow's default configuration. Only the
planning of the window differs between the DAGs, so that is all the DAG files define.

Configuration comes from environment variables, read when the DAG file is parsed (no network, no
metadata database), and every value but the connection ids can be overridden per run by a DAG param:

================================== ======================== ========================================
environment variable               DAG param                default
================================== ======================== ========================================
``SOUNDLINK_CONN_ID``              (none)                   ``soundlink_default``
``SOUNDLINK_GCP_CONN_ID``          (none)                   ``google_cloud_default``
``SOUNDLINK_BIGQUERY_PROJECT``     ``project_id``           (required)
``SOUNDLINK_BIGQUERY_DATASET``     ``dataset_id``           ``soundlink``
``SOUNDLINK_BIGQUERY_LOCATION``    ``location``             ``US``
``SOUNDLINK_GCS_BUCKET``           ``bucket``               (required)
``SOUNDLINK_GCS_PREFIX``           ``object_prefix``        ``soundlink``
``SOUNDLINK_CAMPAIGN_IDS``         ``campaign_ids``         empty: every campaign that can have rows
``SOUNDLINK_EXPORT_SHARDS``        (none)                   ``4``
``SOUNDLINK_LINK_STATS_GROUPINGS`` ``link_stats_groupings`` empty: none (daily DAG only)
``SOUNDLINK_RECONCILE``            ``reconcile``            ``off``: no reconciliation task
``SOUNDLINK_ADD_NEW_FIELDS``       (none)                   ``false``: new export fields ignored
================================== ======================== ========================================

``SOUNDLINK_CAMPAIGN_IDS`` is a comma-separated list. ``SOUNDLINK_LINK_STATS_GROUPINGS`` is a
comma-separated list of link-statistics groupings (``total`` for the ungrouped daily total, or any of
``campaign_id``, ``subscriber_id``, ``device``, ``country``, ``ip``, ``browser``, ``custom_link_title``,
``params``): when it or the run's param is set, the daily DAG also loads ``link_clicks_daily`` for the
run's report dates; when both are empty its link-stats tasks are skipped. ``SOUNDLINK_RECONCILE``
(``off``, ``warn`` or ``fail``, read when the DAG file is parsed) adds ``reconcile_breakdown`` after the
breakdown's MERGE: it compares the run's campaign totals with Soundlink's overview and warns or fails on
a difference (the ``reconcile`` param switches between the two per run). ``SOUNDLINK_ADD_NEW_FIELDS``
``true`` gives the MERGEs ``add_new_fields``: export fields the table does not define become NULLABLE
columns. ``SOUNDLINK_EXPORT_SHARDS`` is
the number of export tasks per export (1 to 64), read when the DAG file is parsed because it shapes the
DAG; match it to the ``soundlink_api`` pool's slots. The BigQuery tables are declared as the MERGE
tasks' outlets (assets ``bigquery://{project}/{dataset}/{table}``) when the project comes from the
environment; a per-run override of project or dataset still loads there but is not tracked as an asset.

Pools: export tasks (and the campaign listing) run in the pool ``soundlink_api``, which bounds the
concurrent calls to the Soundlink API; MERGEs run in ``soundlink_bigquery_merge`` with one slot, which
serialises them so a daily run and a backfill do not abort each other's MERGE. Airflow does not create
pools on its own, and a missing pool stops these tasks: the scheduler of 2.11 and 3.x never queues them
(it logs "Tasks using non-existent pool ... will not be scheduled"; 3.x also shows a DAG warning), and
2.11's ``airflow dags backfill`` fails with ``PoolNotFound``. Only ``airflow dags test`` ignores pools.
Create both once::

    airflow pools set soundlink_api 4 "concurrent Soundlink API calls"
    airflow pools set soundlink_bigquery_merge 1 "one Soundlink MERGE at a time" --include-deferred
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_soundlink.client.api import LINK_STATS_GROUPS
from airflow_provider_soundlink.client.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.compat import Asset, Param, task
from airflow_provider_soundlink.exports import CAMPAIGN_EXPORTS, ExportKind
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators.bigquery_merge import (
    MERGE_POOL,
    SoundlinkBigQueryMergeOperator,
    bigquery_asset_uri,
)
from airflow_provider_soundlink.operators.export_to_gcs import SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.link_stats_to_gcs import (
    UNGROUPED_TOTAL,
    SoundlinkLinkStatsToGCSOperator,
)
from airflow_provider_soundlink.operators.reconcile import ON_MISMATCH, SoundlinkReconcileOperator
from airflow_provider_soundlink.windows import DateWindow

if TYPE_CHECKING:
    from airflow.sdk import XComArg
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

log = logging.getLogger(__name__)

API_POOL = "soundlink_api"
"""The pool bounding concurrent calls to the Soundlink API."""

DEFAULT_REVISION_DAYS = 7
"""Soundlink revises a report date for 7 days after it closes, so a daily run re-loads the 7 days before."""

DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS = 30
"""Days after an ended campaign's last change during which it may still get rows; see
:func:`campaigns_with_possible_rows`."""

DEFAULT_EXPORT_SHARDS = 4
"""Export tasks per export: as many as the default ``soundlink_api`` pool has slots."""
MAX_EXPORT_SHARDS = 64

RECONCILE_OFF = "off"
"""``SOUNDLINK_RECONCILE``'s default: the DAGs have no reconciliation task."""

LINK_STATS_GROUPING_NAMES = (UNGROUPED_TOTAL, *LINK_STATS_GROUPS)
"""How the settings name link-statistics groupings: ``total`` is the ungrouped daily total."""


@dataclass(frozen=True)
class PipelineConfig:
    """Where the example DAGs read from and write to; see the module docstring for the variables."""

    soundlink_conn_id: str = SoundlinkHook.default_conn_name
    gcp_conn_id: str = "google_cloud_default"
    project_id: str = ""
    dataset_id: str = "soundlink"
    location: str = "US"
    bucket: str = ""
    object_prefix: str = "soundlink"
    campaign_ids: tuple[str, ...] = ()
    export_shards: int = DEFAULT_EXPORT_SHARDS
    link_stats_groupings: tuple[str, ...] = ()
    reconcile: str = RECONCILE_OFF
    add_new_fields: bool = False

    def __post_init__(self) -> None:
        if self.reconcile not in (RECONCILE_OFF, *ON_MISMATCH):
            raise SoundlinkConfigurationError(
                f"SOUNDLINK_RECONCILE={self.reconcile!r} is not a choice: give {RECONCILE_OFF}, "
                f"{' or '.join(ON_MISMATCH)} (what a difference from Soundlink's overview does)"
            )
        if not 1 <= self.export_shards <= MAX_EXPORT_SHARDS:
            raise SoundlinkConfigurationError(
                f"SOUNDLINK_EXPORT_SHARDS={self.export_shards} is out of range: give a whole number from 1 "
                f"to {MAX_EXPORT_SHARDS} (the export tasks per export; match the soundlink_api pool's slots)"
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> PipelineConfig:
        defaults = cls()

        def setting(name: str, default: str) -> str:
            return environ.get(name, "").strip() or default

        return cls(
            soundlink_conn_id=setting("SOUNDLINK_CONN_ID", defaults.soundlink_conn_id),
            gcp_conn_id=setting("SOUNDLINK_GCP_CONN_ID", defaults.gcp_conn_id),
            project_id=setting("SOUNDLINK_BIGQUERY_PROJECT", defaults.project_id),
            dataset_id=setting("SOUNDLINK_BIGQUERY_DATASET", defaults.dataset_id),
            location=setting("SOUNDLINK_BIGQUERY_LOCATION", defaults.location),
            bucket=setting("SOUNDLINK_GCS_BUCKET", defaults.bucket),
            object_prefix=setting("SOUNDLINK_GCS_PREFIX", defaults.object_prefix),
            campaign_ids=parse_campaign_ids(environ.get("SOUNDLINK_CAMPAIGN_IDS", "")),
            export_shards=parse_export_shards(
                setting("SOUNDLINK_EXPORT_SHARDS", str(defaults.export_shards))
            ),
            link_stats_groupings=parse_link_stats_groupings(
                environ.get("SOUNDLINK_LINK_STATS_GROUPINGS", "")
            ),
            reconcile=setting("SOUNDLINK_RECONCILE", defaults.reconcile).lower(),
            add_new_fields=parse_switch(
                "SOUNDLINK_ADD_NEW_FIELDS", setting("SOUNDLINK_ADD_NEW_FIELDS", "false")
            ),
        )

    def params(self) -> dict[str, Any]:
        """The DAG params that override this configuration for one run."""
        return {
            "campaign_ids": Param(
                list(self.campaign_ids),
                type="array",
                items={"type": "string", "minLength": 1},
                description="Campaigns to load; empty: every campaign that can have rows in the window "
                "(listed through the API, which needs the campaigns:read scope).",
            ),
            "skip_ended_campaigns": Param(
                True,
                type="boolean",
                description="Without campaign_ids: skip campaigns that ended more than "
                "ended_campaign_tail_days before the window (they cannot have rows in it).",
            ),
            "ended_campaign_tail_days": Param(
                DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
                type="integer",
                minimum=0,
                description="Days after an ended campaign's last change during which it may still get rows.",
            ),
            "project_id": Param(self.project_id, type="string", description="BigQuery project."),
            "dataset_id": Param(self.dataset_id, type="string", minLength=1, description="BigQuery dataset."),
            "location": Param(self.location, type="string", minLength=1, description="BigQuery location."),
            "bucket": Param(self.bucket, type="string", description="GCS bucket for the exported files."),
            "object_prefix": Param(self.object_prefix, type="string", description="GCS object prefix."),
            **self._reconcile_params(),
        }

    def _reconcile_params(self) -> dict[str, Any]:
        if self.reconcile == RECONCILE_OFF:
            return {}
        return {
            "reconcile": Param(
                self.reconcile,
                type="string",
                enum=list(ON_MISMATCH),
                description="What a difference between the breakdown table's campaign totals and "
                "Soundlink's overview does: fail the run, or warn.",
            )
        }

    def link_stats_params(self) -> dict[str, Any]:
        """The daily DAG's param that turns its link-stats tasks on for one run."""
        return {
            "link_stats_groupings": Param(
                list(self.link_stats_groupings),
                type="array",
                items={"type": "string", "enum": list(LINK_STATS_GROUPING_NAMES)},
                description="Link-statistics groupings to load into link_clicks_daily for the run's days "
                "('total' is the ungrouped total); empty: no link stats.",
            ),
        }


def parse_campaign_ids(text: str) -> tuple[str, ...]:
    """Campaign ids from a comma-separated list, blanks and repeats dropped."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def parse_export_shards(text: str) -> int:
    """The ``SOUNDLINK_EXPORT_SHARDS`` setting as a number; its range is checked by PipelineConfig."""
    try:
        return int(text)
    except ValueError:
        raise SoundlinkConfigurationError(
            f"SOUNDLINK_EXPORT_SHARDS={text!r} is not a whole number: give the number of export tasks per "
            f"export, 1 to {MAX_EXPORT_SHARDS}"
        ) from None


def parse_switch(name: str, text: str) -> bool:
    """An on/off setting: ``true`` or ``false`` (any case)."""
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise SoundlinkConfigurationError(f"{name}={text!r} is not a switch: give true or false")
    return value == "true"


def parse_link_stats_groupings(text: str) -> tuple[str, ...]:
    """``SOUNDLINK_LINK_STATS_GROUPINGS`` as grouping names, blanks and repeats dropped."""
    names = parse_campaign_ids(text)
    check_link_stats_groupings(names, "SOUNDLINK_LINK_STATS_GROUPINGS")
    return names


def check_link_stats_groupings(names: Iterable[str], setting: str) -> None:
    unknown = [name for name in names if name not in LINK_STATS_GROUPING_NAMES]
    if unknown:
        raise SoundlinkConfigurationError(
            f"{setting} holds {', '.join(map(repr, unknown))}: each grouping is one of "
            f"{', '.join(LINK_STATS_GROUPING_NAMES)} ('{UNGROUPED_TOTAL}' is the ungrouped daily total)"
        )


def link_stats_groupings(names: Iterable[str]) -> list[str | None]:
    """The operator's groupings for the run's ``link_stats_groupings`` param (``total`` becomes None)."""
    names = list(dict.fromkeys(names))
    check_link_stats_groupings(names, "the param link_stats_groupings")
    return [None if name == UNGROUPED_TOTAL else name for name in names]


def shard_key(shard: int) -> str:
    """The plan's XCom key holding the campaigns of one export shard."""
    return f"shard_{shard}"


def revision_window(report_date: dt.date, revision_days: int) -> DateWindow:
    """The report dates a run for ``report_date`` loads: that day and the ``revision_days`` before it."""
    if revision_days < 0:
        raise SoundlinkConfigurationError(f"revision_days must be 0 or more, got {revision_days}")
    return DateWindow(report_date - dt.timedelta(days=revision_days), report_date)


@dataclass(frozen=True)
class CampaignChoice:
    """Which listed campaigns a run exports, and which it skips because they cannot have rows."""

    chosen: list[str]
    created_later: list[str]
    ended_before: list[str]

    def describe(self, listed: int, window: DateWindow, tail_days: int | None) -> str:
        ended = (
            f"{len(self.ended_before)} ended long enough before {window.start.isoformat()} "
            f"(updatedAt + {tail_days} days of late rows)"
            if tail_days is not None
            else "ended campaigns kept (skip_ended_campaigns is off)"
        )
        return (
            f"{len(self.chosen)} of the {listed} campaigns listed can have rows in {window}; skipped "
            f"{len(self.created_later)} created after {window.end.isoformat()} and {ended}"
        )


def campaigns_with_possible_rows(
    campaigns: Iterable[Mapping[str, Any]], window: DateWindow, ended_tail_days: int | None
) -> CampaignChoice:
    """The campaigns that can have rows in ``window``, in the order given, and the ones that cannot.

    A campaign cannot have rows in the window when either:

    * it was created after the window's last day (its first report date is the day it was created); or
    * with ``ended_tail_days`` set: its status is ``ended`` and its record last changed (``updatedAt``,
      which the change to ``ended`` moved) more than ``ended_tail_days`` days before the window's first
      day. Rows keep arriving for a while after a campaign ends (listening attributed to its last ads),
      and Soundlink documents no limit for that, so the tail must be generous; revisions (7 days after a
      date closes) only rewrite dates that have rows, so they add nothing to it.

    Every other campaign is kept, whatever its status: an export that turns out empty costs one call.
    """
    chosen, created_later, ended_before = [], [], []
    for campaign in campaigns:
        campaign_id = str(campaign["campaignId"])
        if _utc_date(campaign["createdAt"]) > window.end:
            created_later.append(campaign_id)
        elif (
            ended_tail_days is not None
            and campaign.get("status") == "ended"
            and campaign.get("updatedAt")
            and _utc_date(campaign["updatedAt"]) + dt.timedelta(days=ended_tail_days) < window.start
        ):
            ended_before.append(campaign_id)
        else:
            chosen.append(campaign_id)
    return CampaignChoice(chosen, created_later, ended_before)


def _utc_date(timestamp: object) -> dt.date:
    return dt.datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).astimezone(dt.timezone.utc).date()


def plan_exports(
    window: DateWindow, params: Mapping[str, Any], soundlink_conn_id: str, shards: int
) -> dict[str, Any]:
    """The run's export plan: its report dates and, under :func:`shard_key`, each shard's campaigns.

    The plan task returns it with ``multiple_outputs``, so each export task pulls only its own share.
    Campaigns come from the ``campaign_ids`` param or, when it is empty, from the campaigns endpoint
    (see :func:`campaigns_with_possible_rows`); they are dealt round-robin, so shard sizes differ by at
    most one. Fails early when the project or bucket is not configured.
    """
    for param, variable in (("project_id", "SOUNDLINK_BIGQUERY_PROJECT"), ("bucket", "SOUNDLINK_GCS_BUCKET")):
        if not params.get(param):
            raise SoundlinkConfigurationError(
                f"no {param} configured: set the environment variable {variable} for the DAG processor and "
                f"workers, or pass the param {param} when triggering the run"
            )
    campaign_ids = list(dict.fromkeys(params.get("campaign_ids") or ()))
    if campaign_ids:
        log.info("Loading the %d campaigns given: %s", len(campaign_ids), ", ".join(campaign_ids))
    else:
        listed = SoundlinkHook(soundlink_conn_id=soundlink_conn_id).list_campaigns()
        tail_days = params.get("ended_campaign_tail_days", DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS)
        if not params.get("skip_ended_campaigns", True):
            tail_days = None
        choice = campaigns_with_possible_rows(listed, window, tail_days)
        campaign_ids = choice.chosen
        log.info("No campaign_ids given; %s", choice.describe(len(listed), window, tail_days))
    plan: dict[str, Any] = {
        "report_start_date": window.start.isoformat(),
        "report_end_date": window.end.isoformat(),
        "campaign_ids": campaign_ids,
    }
    for shard in range(shards):
        plan[shard_key(shard)] = campaign_ids[shard::shards]
        log.info("Export shard %d of %d: %d campaign(s)", shard + 1, shards, len(plan[shard_key(shard)]))
    return plan


GCS_FROM_PARAMS: dict[str, Any] = {
    "bucket": "{{ params.bucket }}",
    "object_prefix": "{{ params.object_prefix }}",
}
"""The export operators' destination, from the run's params (which default to the environment)."""
BIGQUERY_FROM_PARAMS: dict[str, Any] = {
    "project_id": "{{ params.project_id }}",
    "dataset_id": "{{ params.dataset_id }}",
    "location": "{{ params.location }}",
}
"""The BigQuery operators' dataset, from the run's params."""


def planned_window(plan_outputs: PlainXComArg) -> dict[str, Any]:
    """The report dates of the plan task's output, as the operators' date arguments."""
    return {
        "report_start_date": plan_outputs["report_start_date"],
        "report_end_date": plan_outputs["report_end_date"],
    }


def add_export_and_merge_tasks(config: PipelineConfig, plan: XComArg) -> None:
    """Per export: ``config.export_shards`` export tasks, each over its share of the planned campaigns,
    then one MERGE of all their files; with ``SOUNDLINK_RECONCILE`` on, the breakdown's MERGE is followed by
    a check of the planned campaigns' totals against Soundlink's overview.

    Call it inside the DAG's context, with the output of the task that returned :func:`plan_exports`
    (declared with ``multiple_outputs=True``).
    """
    # A plan task's output is a PlainXComArg: indexing it pulls the XCom of that key (multiple_outputs).
    plan_outputs = cast("PlainXComArg", plan)
    for kind in CAMPAIGN_EXPORTS:
        shards = [
            SoundlinkExportToGCSOperator(
                task_id=f"export_{kind.value}_{shard}",
                export=kind,
                campaign_ids=plan_outputs[shard_key(shard)],
                **planned_window(plan_outputs),
                **GCS_FROM_PARAMS,
                soundlink_conn_id=config.soundlink_conn_id,
                gcp_conn_id=config.gcp_conn_id,
                pool=API_POOL,
            )
            for shard in range(config.export_shards)
        ]
        merge = SoundlinkBigQueryMergeOperator(
            task_id=f"merge_{kind.value}",
            export=kind,
            manifest=[shard.output for shard in shards],
            **BIGQUERY_FROM_PARAMS,
            gcp_conn_id=config.gcp_conn_id,
            pool=MERGE_POOL,
            outlets=table_assets(config, kind),
            add_new_fields=config.add_new_fields,
        )
        if kind is ExportKind.BREAKDOWN and config.reconcile != RECONCILE_OFF:
            merge >> SoundlinkReconcileOperator(
                task_id="reconcile_breakdown",
                campaign_ids=plan_outputs["campaign_ids"],
                **planned_window(plan_outputs),
                **BIGQUERY_FROM_PARAMS,
                on_mismatch="{{ params.reconcile }}",
                soundlink_conn_id=config.soundlink_conn_id,
                gcp_conn_id=config.gcp_conn_id,
                pool=API_POOL,
            )


def add_link_stats_tasks(config: PipelineConfig, plan: XComArg) -> None:
    """The daily DAG's optional link statistics: when the run's ``link_stats_groupings`` is not empty,
    one task exports those groupings for each of the planned report dates and one MERGE loads them into
    ``link_clicks_daily``; otherwise both are skipped.

    Call it inside the DAG's context, with the output of the plan task (see
    :func:`add_export_and_merge_tasks`). The Soundlink connection needs its ``pseudonymisation_secret``
    extra (personal data is pseudonymised; see the operator).
    """
    plan_outputs = cast("PlainXComArg", plan)

    @task.short_circuit(task_id="plan_link_stats")
    def plan_link_stats(**context: Any) -> list[str | None]:
        """The run's link-statistics groupings; none skips the link-stats tasks."""
        groupings = link_stats_groupings(context["params"].get("link_stats_groupings") or ())
        log.info("Link statistics: %s", groupings or "none configured, skipping them")
        return groupings

    export = SoundlinkLinkStatsToGCSOperator(
        task_id="export_link_stats",
        groupings=plan_link_stats(),
        **planned_window(plan_outputs),
        **GCS_FROM_PARAMS,
        soundlink_conn_id=config.soundlink_conn_id,
        gcp_conn_id=config.gcp_conn_id,
        pool=API_POOL,
    )
    SoundlinkBigQueryMergeOperator(
        task_id="merge_link_stats",
        export=ExportKind.LINK_STATS,
        manifest=export.output,
        **BIGQUERY_FROM_PARAMS,
        gcp_conn_id=config.gcp_conn_id,
        pool=MERGE_POOL,
        outlets=table_assets(config, ExportKind.LINK_STATS),
    )


def table_assets(config: PipelineConfig, kind: ExportKind) -> list[Asset]:
    if not config.project_id:
        return []
    return [Asset(bigquery_asset_uri(config.project_id, config.dataset_id, kind.table_name))]


__all__ = [
    "API_POOL",
    "DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS",
    "DEFAULT_EXPORT_SHARDS",
    "DEFAULT_REVISION_DAYS",
    "LINK_STATS_GROUPING_NAMES",
    "MERGE_POOL",
    "RECONCILE_OFF",
    "CampaignChoice",
    "PipelineConfig",
    "add_export_and_merge_tasks",
    "add_link_stats_tasks",
    "campaigns_with_possible_rows",
    "link_stats_groupings",
    "parse_campaign_ids",
    "parse_export_shards",
    "parse_link_stats_groupings",
    "plan_exports",
    "revision_window",
    "shard_key",
    "table_assets",
]
