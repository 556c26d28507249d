"""The MERGE text and its parameters, and BigQuery identifier validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.core.sql import (
    TableRef,
    campaign_totals_query,
    merge_statement,
    validate_dataset,
    validate_project,
    validate_table,
)
from airflow_provider_soundlink.core.windows import DateWindow

TARGET = TableRef("my-project", "marketing", "campaign_country_daily")
STAGING = TableRef("my-project", "marketing_staging", "campaign_country_daily_run1")
WINDOW = DateWindow(dt.date(2026, 4, 1), dt.date(2026, 4, 8))

BREAKDOWN_MERGE = """\
MERGE `my-project.marketing.campaign_country_daily` AS target
USING (
  SELECT provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
    campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
    campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
    ad_clicks, link_clicks, streams, listeners, followers, spend_media, spend_total, fees, currency,
    currency_account, streams_per_listener, cpl, cpf, cost_per_result, cpc_linkclick, ctr_linkclick,
    ctr_adclick, result_type, _loaded_at
  FROM (
    SELECT candidate.*, snapshot._snapshot_at,
      MAX(IF(_from_export, exported_at, NULL)) OVER (PARTITION BY campaign_id,
        report_date) AS _export_day,
      MAX(IF(_from_export, exported_at, NULL)) OVER (PARTITION BY campaign_id) AS _export_newest,
      MAX(IF(_from_export, NULL, exported_at)) OVER (PARTITION BY campaign_id,
        report_date) AS _stored_day,
      ROW_NUMBER() OVER (PARTITION BY _from_export, provider, account_id, report_date, campaign_id,
        country_code ORDER BY exported_at DESC) AS _key_rank
    FROM (
      SELECT provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
        campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
        campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
        ad_clicks, link_clicks, streams, listeners, followers,
        CAST(ROUND(spend_media, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS spend_media,
        CAST(ROUND(spend_total, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS spend_total,
        CAST(ROUND(fees, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS fees, currency,
        currency_account, streams_per_listener,
        CAST(ROUND(cpl, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS cpl,
        CAST(ROUND(cpf, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS cpf,
        CAST(ROUND(cost_per_result, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS cost_per_result,
        CAST(ROUND(cpc_linkclick, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS cpc_linkclick,
        ctr_linkclick, ctr_adclick, result_type, CURRENT_TIMESTAMP() AS _loaded_at,
        TRUE AS _from_export
      FROM `my-project.marketing_staging.campaign_country_daily_run1` AS staged
      WHERE staged.report_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-08'
        AND staged.campaign_id IN UNNEST(@scope_campaign_id)
      UNION ALL
      SELECT provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
        campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
        campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
        ad_clicks, link_clicks, streams, listeners, followers, spend_media, spend_total, fees,
        currency, currency_account, streams_per_listener, cpl, cpf, cost_per_result, cpc_linkclick,
        ctr_linkclick, ctr_adclick, result_type, _loaded_at, FALSE AS _from_export
      FROM `my-project.marketing.campaign_country_daily` AS stored
      WHERE stored.report_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-08'
        AND stored.campaign_id IN UNNEST(@scope_campaign_id)
    ) AS candidate
    LEFT JOIN (
      SELECT answer.campaign_id AS _snapshot_campaign_id, answer.snapshot_at AS _snapshot_at
      FROM UNNEST(@export_snapshots) AS answer
    ) AS snapshot
      ON candidate.campaign_id = snapshot._snapshot_campaign_id
  )
  WHERE IF(
    COALESCE(_export_day,
      IF(_export_newest IS NULL OR _snapshot_at > _export_newest,
        _snapshot_at, _export_newest))
      >= COALESCE(_stored_day, TIMESTAMP '0001-01-01 00:00:00+00'),
    _from_export AND _key_rank = 1,
    NOT _from_export)
) AS source
ON FALSE
WHEN NOT MATCHED BY TARGET THEN
  INSERT (provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
    campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
    campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
    ad_clicks, link_clicks, streams, listeners, followers, spend_media, spend_total, fees, currency,
    currency_account, streams_per_listener, cpl, cpf, cost_per_result, cpc_linkclick, ctr_linkclick,
    ctr_adclick, result_type, _loaded_at)
  VALUES (source.provider, source.account_id, source.schema_version, source.report_date,
    source.report_date_timezone, source.exported_at, source.campaign_id, source.campaign_name,
    source.campaign_target_type, source.campaign_target_isrc,
    source.campaign_target_spotify_track_id, source.campaign_target_playlist_id,
    source.country_code, source.impressions, source.ad_clicks, source.link_clicks, source.streams,
    source.listeners, source.followers, source.spend_media, source.spend_total, source.fees,
    source.currency, source.currency_account, source.streams_per_listener, source.cpl, source.cpf,
    source.cost_per_result, source.cpc_linkclick, source.ctr_linkclick, source.ctr_adclick,
    source.result_type, source._loaded_at)
WHEN NOT MATCHED BY SOURCE
  AND target.report_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-08'
  AND target.campaign_id IN UNNEST(@scope_campaign_id)
  THEN DELETE"""


def test_breakdown_merge_text_is_pinned() -> None:
    statement = merge_statement(
        table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, WINDOW, ("campaign_id",)
    )

    assert statement.sql == BREAKDOWN_MERGE


def _merge(kind: ExportKind | str, scope_columns: tuple[str, ...]) -> str:
    table = table_definition(kind)
    target = TableRef("my-project", "marketing", table.name)
    staging = TableRef("my-project", "marketing", f"{table.name}__staging_0123")
    return merge_statement(table, target, staging, WINDOW, scope_columns).sql


MERGES = {
    "breakdown": (ExportKind.BREAKDOWN, ("campaign_id",)),
    "engagement": (ExportKind.ENGAGEMENT, ("campaign_id", "engagement_context")),
    "link clicks": (
        "link_clicks_daily",
        ("group_by", "filter_campaign_id", "filter_subscriber_id", "filter_profile_id"),
    ),
}
PARTITION_FILTER = "report_date BETWEEN DATE '2026-04-01' AND DATE '2026-04-08'"


@pytest.mark.parametrize(("kind", "scope_columns"), MERGES.values(), ids=MERGES.keys())
def test_the_merge_has_the_constant_false_shape_bigquery_prunes(
    kind: ExportKind | str, scope_columns: tuple[str, ...]
) -> None:
    # "Using DML with partitioned tables": WHEN NOT MATCHED and WHEN NOT MATCHED BY SOURCE together are a
    # full outer join that cannot be pruned, "However, if the merge condition uses a constant false
    # predicate, then BigQuery can use the filter condition for partition pruning."
    sql = _merge(kind, scope_columns)

    assert "\nON FALSE\n" in sql
    assert "WHEN MATCHED" not in sql
    clauses = [line for line in sql.splitlines() if line.startswith("WHEN ")]
    assert clauses == ["WHEN NOT MATCHED BY TARGET THEN", "WHEN NOT MATCHED BY SOURCE"]
    delete = sql[sql.index("WHEN NOT MATCHED BY SOURCE") :]
    assert f"  AND target.{PARTITION_FILTER}\n" in delete
    assert delete.endswith("  THEN DELETE")


@pytest.mark.parametrize(("kind", "scope_columns"), MERGES.values(), ids=MERGES.keys())
def test_every_read_of_the_target_and_staging_filters_partitions_by_constant_dates(
    kind: ExportKind | str, scope_columns: tuple[str, ...]
) -> None:
    # "Query partitioned tables": "To limit the partitions that are scanned in a query, use a constant
    # expression in your filter." Parameters and subqueries are not documented to prune; literals are.
    sql = _merge(kind, scope_columns)
    table = table_definition(kind)

    assert "@window" not in sql
    assert sql.count(f"`my-project.marketing.{table.name}`") == 2
    assert (
        f"FROM `my-project.marketing.{table.name}` AS stored\n      WHERE stored.{PARTITION_FILTER}\n" in sql
    )
    assert f"FROM `my-project.marketing.{table.name}__staging_0123` AS staged\n" in sql
    assert f"      WHERE staged.{PARTITION_FILTER}\n" in sql
    for alias in ("staged", "stored", "target"):
        for column in scope_columns:
            assert f"{alias}.{column} IN UNNEST(@scope_{column})" in sql


def test_money_is_rounded_to_numeric_scale_by_the_documented_rounding_mode_and_nothing_else_is() -> None:
    sql = _merge(ExportKind.BREAKDOWN, ("campaign_id",))
    table = table_definition(ExportKind.BREAKDOWN)
    numeric = [column.name for column in table.columns if column.type == "NUMERIC"]

    assert numeric == ["spend_media", "spend_total", "fees", "cpl", "cpf", "cost_per_result", "cpc_linkclick"]
    for name in numeric:
        assert f"CAST(ROUND({name}, 9, 'ROUND_HALF_AWAY_FROM_ZERO') AS NUMERIC) AS {name}" in sql
    assert sql.count("ROUND(") == len(numeric)
    staging_types = {field["name"]: field["type"] for field in table.staging_schema()}
    assert {name for name, type_ in staging_types.items() if type_ == "BIGNUMERIC"} == set(numeric)
    assert table.loaded_at_field not in staging_types


def test_per_scope_value_and_day_the_newer_side_wins_whole() -> None:
    words = " ".join(_merge(ExportKind.ENGAGEMENT, ("campaign_id", "engagement_context")).split())
    key = (
        "provider, account_id, report_date, campaign_id, engagement_context, country_code, "
        "engaged_spotify_track_id"
    )
    day = "campaign_id, engagement_context, report_date"

    # Fresh and stored rows of the scope side by side, with each side's version of their day.
    assert "TRUE AS _from_export FROM `my-project.marketing.campaign_engagement_daily__staging_0123`" in words
    assert "FALSE AS _from_export FROM `my-project.marketing.campaign_engagement_daily` AS stored" in words
    assert f"MAX(IF(_from_export, exported_at, NULL)) OVER (PARTITION BY {day}) AS _export_day" in words
    assert f"MAX(IF(_from_export, NULL, exported_at)) OVER (PARTITION BY {day}) AS _stored_day" in words
    # A day the export has no rows for: the later of its answer time and its newest row of the scope value.
    assert (
        "MAX(IF(_from_export, exported_at, NULL)) OVER (PARTITION BY campaign_id, engagement_context) "
        "AS _export_newest" in words
    )
    assert (
        "LEFT JOIN ( SELECT answer.campaign_id AS _snapshot_campaign_id, answer.engagement_context AS "
        "_snapshot_engagement_context, answer.snapshot_at AS _snapshot_at FROM UNNEST(@export_snapshots) AS "
        "answer ) AS snapshot ON candidate.campaign_id = snapshot._snapshot_campaign_id AND "
        "candidate.engagement_context = snapshot._snapshot_engagement_context" in words
    )
    # The newer side of each day wins whole (the export a tie); of the export, the latest row per key.
    assert (
        "WHERE IF( COALESCE(_export_day, IF(_export_newest IS NULL OR _snapshot_at > _export_newest, "
        "_snapshot_at, _export_newest)) >= COALESCE(_stored_day, TIMESTAMP '0001-01-01 00:00:00+00'), "
        "_from_export AND _key_rank = 1, NOT _from_export)" in words
    )
    assert (
        f"ROW_NUMBER() OVER (PARTITION BY _from_export, {key} ORDER BY exported_at DESC) AS _key_rank"
        in words
    )


def test_query_parameters_carry_each_scope_column() -> None:
    statement = merge_statement(
        table_definition(ExportKind.ENGAGEMENT),
        TARGET,
        STAGING,
        WINDOW,
        ("campaign_id", "engagement_context"),
    )

    parameters = statement.query_parameters(
        {"engagement_context": ["playlist"], "campaign_id": ["camp_a", "8ccd7b88-2591"]},
        {("camp_a", "playlist"): dt.datetime(2026, 4, 9, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
    )

    assert parameters == [
        {
            "name": "scope_campaign_id",
            "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
            "parameterValue": {"arrayValues": [{"value": "camp_a"}, {"value": "8ccd7b88-2591"}]},
        },
        {
            "name": "scope_engagement_context",
            "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
            "parameterValue": {"arrayValues": [{"value": "playlist"}]},
        },
        {
            "name": "export_snapshots",
            "parameterType": {
                "type": "ARRAY",
                "arrayType": {
                    "type": "STRUCT",
                    "structTypes": [
                        {"name": "campaign_id", "type": {"type": "STRING"}},
                        {"name": "engagement_context", "type": {"type": "STRING"}},
                        {"name": "snapshot_at", "type": {"type": "TIMESTAMP"}},
                    ],
                },
            },
            "parameterValue": {
                "arrayValues": [
                    {
                        "structValues": {
                            "campaign_id": {"value": "camp_a"},
                            "engagement_context": {"value": "playlist"},
                            "snapshot_at": {"value": "2026-04-09T12:30:00+00:00"},
                        }
                    }
                ]
            },
        },
    ]


@pytest.mark.parametrize(
    "snapshots",
    [
        {("camp_a", "playlist"): dt.datetime(2026, 4, 9)},
        {("camp_a",): dt.datetime(2026, 4, 9, tzinfo=dt.UTC)},
    ],
    ids=["naive time", "short combination"],
)
def test_query_parameters_refuse_a_bad_snapshot(snapshots: dict[tuple[str, ...], dt.datetime]) -> None:
    statement = merge_statement(
        table_definition(ExportKind.ENGAGEMENT),
        TARGET,
        STAGING,
        WINDOW,
        ("campaign_id", "engagement_context"),
    )

    with pytest.raises(ValueError, match="a snapshot is a combination of"):
        statement.query_parameters({"campaign_id": ["camp_a"], "engagement_context": ["playlist"]}, snapshots)


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"campaign_id": []}, "non-empty list"),
        ({"campaign_id": "camp_a"}, "non-empty list"),
        ({}, r"scoped by \['campaign_id'\]"),
        ({"campaign_id": ["camp_a"], "engagement_context": ["catalog"]}, r"scoped by \['campaign_id'\]"),
    ],
)
def test_query_parameters_refuse_a_bad_scope(scope: dict[str, Any], message: str) -> None:
    statement = merge_statement(
        table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, WINDOW, ("campaign_id",)
    )

    with pytest.raises(ValueError, match=message):
        statement.query_parameters(scope)


@pytest.mark.parametrize("column", ["streams", "campaign_name", "country_code", "no_such_column"])
def test_only_the_table_definitions_scope_columns_can_bound_a_merge(column: str) -> None:
    with pytest.raises(
        ValueError, match=rf"\['{column}'\] are not scope columns of 'campaign_engagement_daily'"
    ):
        merge_statement(
            table_definition(ExportKind.ENGAGEMENT), TARGET, STAGING, WINDOW, ("campaign_id", column)
        )


def test_a_merge_bound_by_the_dates_alone_is_refused() -> None:
    with pytest.raises(ValueError, match="needs at least one of its scope columns"):
        merge_statement(table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, WINDOW, ())


def test_table_ref_quotes_the_whole_path() -> None:
    assert TARGET.quoted == "`my-project.marketing.campaign_country_daily`"
    assert str(TARGET) == "my-project.marketing.campaign_country_daily"


@pytest.mark.parametrize("project", ["my-project", "soundlink-local", "a12345", "example.com:my-project"])
def test_valid_project_ids(project: str) -> None:
    assert validate_project(project) == project


@pytest.mark.parametrize(
    "project",
    [
        "",
        "short",
        "My-Project",
        "1project",
        "my-project-",
        "my_project",
        "a" * 31,
        "proj`; DROP",
        "my.project",
    ],
)
def test_invalid_project_ids_are_refused_with_the_rule(project: str) -> None:
    with pytest.raises(ValueError, match=r"invalid BigQuery project id .*6 to 30 lower-case letters"):
        validate_project(project)


@pytest.mark.parametrize("dataset", ["marketing", "Marketing_2026", "_staging", "a" * 1024])
def test_valid_dataset_names(dataset: str) -> None:
    assert validate_dataset(dataset) == dataset


@pytest.mark.parametrize("dataset", ["", "market-ing", "market ing", "a.b", "a" * 1025, "données"])
def test_invalid_dataset_names_are_refused_with_the_rule(dataset: str) -> None:
    with pytest.raises(ValueError, match=r"invalid BigQuery dataset name .*letters, digits or underscores"):
        validate_dataset(dataset)


@pytest.mark.parametrize("table", ["campaign_country_daily", "daily-2026", "daily report", "données_jour"])
def test_valid_table_names(table: str) -> None:
    assert validate_table(table) == table


@pytest.mark.parametrize("table", ["", "a.b", "a`b", "a;b", "tab\tle", "é" * 513])
def test_invalid_table_names_are_refused_with_the_rule(table: str) -> None:
    with pytest.raises(ValueError, match=r"invalid BigQuery table name .*1 to 1024 bytes"):
        validate_table(table)


def test_table_ref_validates_every_part() -> None:
    with pytest.raises(ValueError, match="dataset name 'bad-dataset'"):
        TableRef("my-project", "bad-dataset", "campaign_country_daily")


def test_campaign_totals_text_is_pinned() -> None:
    query = campaign_totals_query(
        table_definition(ExportKind.BREAKDOWN),
        TableRef("soundlink-local", "metrics", "campaign_country_daily"),
        DateWindow(dt.date(2026, 6, 1), dt.date(2026, 6, 14)),
        ["spend_media", "streams"],
    )
    assert query == (
        "SELECT campaign_id, SUM(spend_media) AS spend_media, SUM(streams) AS streams\n"
        "FROM `soundlink-local.metrics.campaign_country_daily`\n"
        "WHERE report_date BETWEEN DATE '2026-06-01' AND DATE '2026-06-14'\n"
        "  AND campaign_id IN UNNEST(@campaign_ids)\n"
        "GROUP BY campaign_id"
    )


def test_campaign_totals_refuse_a_column_the_table_does_not_have() -> None:
    with pytest.raises(ValueError, match=r"no column \['spend'\]"):
        campaign_totals_query(
            table_definition(ExportKind.BREAKDOWN),
            TableRef("soundlink-local", "metrics", "campaign_country_daily"),
            DateWindow(dt.date(2026, 6, 1), dt.date(2026, 6, 14)),
            ["spend"],
        )
