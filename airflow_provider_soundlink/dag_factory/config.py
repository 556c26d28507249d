"""Read the DAGs' configuration from environment variables when a DAG file is parsed, and offer its
per-run overrides as DAG params.

Reading it needs no network and no metadata database, so the DAG processor parses the files cheaply. The
variables, params and defaults are listed in docs/dags.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_soundlink.client.api import LINK_STATS_GROUPS
from airflow_provider_soundlink.compat import Param
from airflow_provider_soundlink.core.campaigns import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    MIN_ENDED_CAMPAIGN_TAIL_DAYS,
)
from airflow_provider_soundlink.core.windows import DEFAULT_REVISION_DAYS
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.operators.link_stats_to_gcs import UNGROUPED_TOTAL
from airflow_provider_soundlink.operators.reconcile import ON_MISMATCH

DEFAULT_EXPORT_SHARDS = 4
"""Export tasks per export: as many as the default ``soundlink_api`` pool has slots."""
MAX_EXPORT_SHARDS = 64

RECONCILE_OFF = "off"
"""``SOUNDLINK_RECONCILE``'s default: the DAGs have no reconciliation task."""

LINK_STATS_GROUPING_NAMES = (UNGROUPED_TOTAL, *LINK_STATS_GROUPS)
"""How the settings name link-statistics groupings: ``total`` is the ungrouped daily total."""


@dataclass(frozen=True)
class Setting:
    """One setting of the DAGs: an environment variable read at parse time, a per-run DAG param, or both."""

    variable: str
    param: str
    default: str
    """The default and what a value means, as the documentation's table shows it."""


SETTINGS = (
    Setting("SOUNDLINK_CONN_ID", "", "`soundlink_default`"),
    Setting("SOUNDLINK_GCP_CONN_ID", "", "`google_cloud_default`"),
    Setting("SOUNDLINK_BIGQUERY_PROJECT", "project_id", "required"),
    Setting("SOUNDLINK_BIGQUERY_DATASET", "dataset_id", "`soundlink`"),
    Setting("SOUNDLINK_BIGQUERY_LOCATION", "location", "`US`"),
    Setting("SOUNDLINK_GCS_BUCKET", "bucket", "required"),
    Setting("SOUNDLINK_GCS_PREFIX", "object_prefix", "`soundlink`"),
    Setting(
        "SOUNDLINK_CAMPAIGN_IDS",
        "campaign_ids",
        "empty: the campaigns the API lists (needs `campaigns:read`) that can have rows in the window; "
        "comma-separated in the variable",
    ),
    Setting(
        "SOUNDLINK_EXPORT_SHARDS",
        "",
        f"`{DEFAULT_EXPORT_SHARDS}`: export tasks per export, 1 to {MAX_EXPORT_SHARDS} (read at parse time; "
        "match the `soundlink_api` pool's slots)",
    ),
    Setting(
        "",
        "skip_ended_campaigns",
        "`true`: without `campaign_ids`, skip campaigns that cannot have rows in the window",
    ),
    Setting(
        "",
        "ended_campaign_tail_days",
        f"`{DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS}`: days after an ended campaign's last change during which it "
        f"may still get rows; at least {MIN_ENDED_CAMPAIGN_TAIL_DAYS}, the days Soundlink keeps revising",
    ),
    Setting(
        "",
        "revision_days",
        f"`{DEFAULT_REVISION_DAYS}` (daily DAGs): the days before the run's day loaded again",
    ),
    Setting(
        "SOUNDLINK_ADD_NEW_FIELDS",
        "",
        "`false`; `true`: the MERGEs add new export fields as NULLABLE columns",
    ),
    Setting(
        "SOUNDLINK_RECONCILE",
        "reconcile",
        "`off`; `warn` or `fail` adds `reconcile_breakdown` after the breakdown's MERGE (read at parse "
        "time; the param, present when it is on, switches between warn and fail per run)",
    ),
    Setting(
        "SOUNDLINK_LINK_STATS_GROUPINGS",
        "link_stats_groupings",
        "empty: no link statistics (daily DAG); else the groupings loaded into `link_clicks_daily`, of "
        + ", ".join(f"`{name}`" for name in LINK_STATS_GROUPING_NAMES)
        + "; comma-separated in the variable",
    ),
    Setting("", "start_date, end_date", "required (backfill DAG): the report dates, both inclusive"),
)
"""Every setting of the DAGs, the one source of the table in docs/dags.md (a unit test compares them)."""


def settings_table() -> str:
    """Render :data:`SETTINGS` as the Markdown table docs/dags.md holds."""
    lines = ["| environment variable | DAG param | default |", "|---|---|---|"]
    for setting in SETTINGS:
        variable = f"`{setting.variable}`" if setting.variable else ""
        param = ", ".join(f"`{name.strip()}`" for name in setting.param.split(",")) if setting.param else ""
        lines.append(f"| {variable} | {param} | {setting.default} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PipelineConfig:
    """Where the DAGs read from and write to, from ``SOUNDLINK_*`` environment variables (docs/dags.md)."""

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
        """Read the configuration from the environment, each unset variable taking its default."""
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
        """Return the DAG params that override this configuration for one run."""
        return {
            # "null" in a type marks the param optional in Airflow 3's trigger form (no asterisk).
            "campaign_ids": Param(
                list(self.campaign_ids),
                type=["array", "null"],
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
                minimum=MIN_ENDED_CAMPAIGN_TAIL_DAYS,
                description="Days after an ended campaign's last change during which it may still get rows; "
                f"at least {MIN_ENDED_CAMPAIGN_TAIL_DAYS}, the days Soundlink keeps revising a closed day.",
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
        """Return the daily DAG's param that turns its link-stats tasks on for one run."""
        return {
            "link_stats_groupings": Param(
                list(self.link_stats_groupings),
                type=["array", "null"],
                items={"type": "string", "enum": list(LINK_STATS_GROUPING_NAMES)},
                description="Link-statistics groupings to load into link_clicks_daily for the run's days, "
                f"of {', '.join(LINK_STATS_GROUPING_NAMES)} ('total' is the ungrouped total); empty: none.",
            ),
        }


def parse_campaign_ids(text: str) -> tuple[str, ...]:
    """Campaign ids from a comma-separated list, blanks and repeats dropped."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def parse_export_shards(text: str) -> int:
    """Parse the ``SOUNDLINK_EXPORT_SHARDS`` setting as a number; its range is checked by PipelineConfig."""
    try:
        return int(text)
    except ValueError:
        raise SoundlinkConfigurationError(
            f"SOUNDLINK_EXPORT_SHARDS={text!r} is not a whole number: give the number of export tasks per "
            f"export, 1 to {MAX_EXPORT_SHARDS}"
        ) from None


def parse_switch(name: str, text: str) -> bool:
    """Parse an on/off setting: ``true`` or ``false`` (any case)."""
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
    """Map the run's ``link_stats_groupings`` param to the operator's groupings (``total`` becomes None)."""
    names = list(dict.fromkeys(names))
    check_link_stats_groupings(names, "the param link_stats_groupings")
    return [None if name == UNGROUPED_TOTAL else name for name in names]
