"""Build the Soundlink DAGs from the operators: configuration, run planning and tasks.

Both example DAGs in ``dags/`` are a plan task and :func:`add_export_and_merge_tasks`; only the window
they plan differs. Configuration, pools and the per-run params are documented in docs/dags.md.
"""

from __future__ import annotations

from airflow_provider_soundlink.core.campaigns import (
    DEFAULT_ENDED_CAMPAIGN_TAIL_DAYS,
    CampaignChoice,
    campaigns_with_possible_rows,
)
from airflow_provider_soundlink.core.windows import DEFAULT_REVISION_DAYS, revision_window
from airflow_provider_soundlink.dag_factory.config import (
    DEFAULT_EXPORT_SHARDS,
    LINK_STATS_GROUPING_NAMES,
    RECONCILE_OFF,
    PipelineConfig,
    link_stats_groupings,
    parse_campaign_ids,
    parse_export_shards,
    parse_link_stats_groupings,
)
from airflow_provider_soundlink.dag_factory.plan import plan_exports, shard_key
from airflow_provider_soundlink.dag_factory.tasks import (
    API_POOL,
    MERGE_POOL,
    add_export_and_merge_tasks,
    add_link_stats_tasks,
    table_assets,
)

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
