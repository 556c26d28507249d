"""The MERGE text and its parameters, and BigQuery identifier validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_soundlink.exports import ExportKind
from airflow_provider_soundlink.schemas import table_definition
from airflow_provider_soundlink.sql import (
    TableRef,
    merge_statement,
    validate_dataset,
    validate_project,
    validate_table,
)
from airflow_provider_soundlink.windows import DateWindow

TARGET = TableRef("my-project", "marketing", "campaign_country_daily")
STAGING = TableRef("my-project", "marketing_staging", "campaign_country_daily_run1")

BREAKDOWN_MERGE = """\
MERGE `my-project.marketing.campaign_country_daily` AS target
USING (
  SELECT provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
    campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
    campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
    ad_clicks, link_clicks, streams, listeners, followers, spend_media, spend_total, fees, currency,
    currency_account, streams_per_listener, cpl, cpf, cost_per_result, cpc_linkclick, ctr_linkclick,
    ctr_adclick, result_type
  FROM `my-project.marketing_staging.campaign_country_daily_run1` AS staged
  WHERE staged.report_date BETWEEN @window_start AND @window_end
    AND staged.campaign_id IN UNNEST(@scope_campaign_id)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY provider, account_id, report_date, campaign_id,
    country_code ORDER BY exported_at DESC) = 1
) AS fresh
ON target.provider = fresh.provider
  AND target.account_id = fresh.account_id
  AND target.report_date = fresh.report_date
  AND target.campaign_id = fresh.campaign_id
  AND target.country_code = fresh.country_code
  AND target.report_date BETWEEN @window_start AND @window_end
WHEN MATCHED AND fresh.exported_at >= target.exported_at THEN UPDATE SET
  schema_version = fresh.schema_version,
  report_date_timezone = fresh.report_date_timezone,
  exported_at = fresh.exported_at,
  campaign_name = fresh.campaign_name,
  campaign_target_type = fresh.campaign_target_type,
  campaign_target_isrc = fresh.campaign_target_isrc,
  campaign_target_spotify_track_id = fresh.campaign_target_spotify_track_id,
  campaign_target_playlist_id = fresh.campaign_target_playlist_id,
  impressions = fresh.impressions,
  ad_clicks = fresh.ad_clicks,
  link_clicks = fresh.link_clicks,
  streams = fresh.streams,
  listeners = fresh.listeners,
  followers = fresh.followers,
  spend_media = fresh.spend_media,
  spend_total = fresh.spend_total,
  fees = fresh.fees,
  currency = fresh.currency,
  currency_account = fresh.currency_account,
  streams_per_listener = fresh.streams_per_listener,
  cpl = fresh.cpl,
  cpf = fresh.cpf,
  cost_per_result = fresh.cost_per_result,
  cpc_linkclick = fresh.cpc_linkclick,
  ctr_linkclick = fresh.ctr_linkclick,
  ctr_adclick = fresh.ctr_adclick,
  result_type = fresh.result_type,
  _loaded_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED BY TARGET THEN
  INSERT (provider, account_id, schema_version, report_date, report_date_timezone, exported_at,
    campaign_id, campaign_name, campaign_target_type, campaign_target_isrc,
    campaign_target_spotify_track_id, campaign_target_playlist_id, country_code, impressions,
    ad_clicks, link_clicks, streams, listeners, followers, spend_media, spend_total, fees, currency,
    currency_account, streams_per_listener, cpl, cpf, cost_per_result, cpc_linkclick, ctr_linkclick,
    ctr_adclick, result_type, _loaded_at)
  VALUES (fresh.provider, fresh.account_id, fresh.schema_version, fresh.report_date,
    fresh.report_date_timezone, fresh.exported_at, fresh.campaign_id, fresh.campaign_name,
    fresh.campaign_target_type, fresh.campaign_target_isrc, fresh.campaign_target_spotify_track_id,
    fresh.campaign_target_playlist_id, fresh.country_code, fresh.impressions, fresh.ad_clicks,
    fresh.link_clicks, fresh.streams, fresh.listeners, fresh.followers, fresh.spend_media,
    fresh.spend_total, fresh.fees, fresh.currency, fresh.currency_account,
    fresh.streams_per_listener, fresh.cpl, fresh.cpf, fresh.cost_per_result, fresh.cpc_linkclick,
    fresh.ctr_linkclick, fresh.ctr_adclick, fresh.result_type, CURRENT_TIMESTAMP())
WHEN NOT MATCHED BY SOURCE
  AND target.report_date BETWEEN @window_start AND @window_end
  AND target.campaign_id IN UNNEST(@scope_campaign_id)
  THEN DELETE"""


def test_breakdown_merge_text_is_pinned() -> None:
    statement = merge_statement(table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, ("campaign_id",))

    assert statement.sql == BREAKDOWN_MERGE


def test_engagement_merge_scoped_by_context_filters_staging_and_deletes_by_context() -> None:
    statement = merge_statement(
        table_definition(ExportKind.ENGAGEMENT),
        TableRef("my-project", "marketing", "campaign_engagement_daily"),
        TableRef("my-project", "marketing", "campaign_engagement_daily_staging"),
        ("campaign_id", "engagement_context"),
    )

    assert "    AND staged.engagement_context IN UNNEST(@scope_engagement_context)\n" in statement.sql
    assert statement.sql.endswith(
        "WHEN NOT MATCHED BY SOURCE\n"
        "  AND target.report_date BETWEEN @window_start AND @window_end\n"
        "  AND target.campaign_id IN UNNEST(@scope_campaign_id)\n"
        "  AND target.engagement_context IN UNNEST(@scope_engagement_context)\n"
        "  THEN DELETE"
    )
    assert (
        "  QUALIFY ROW_NUMBER() OVER (PARTITION BY provider, account_id, report_date, campaign_id,\n"
        "    engagement_context, country_code, engaged_spotify_track_id ORDER BY exported_at DESC) = 1\n"
    ) in statement.sql


def test_link_clicks_merge_is_scoped_by_grouping_and_filters() -> None:
    statement = merge_statement(
        table_definition("link_clicks_daily"),
        TableRef("my-project", "marketing", "link_clicks_daily"),
        TableRef("my-project", "marketing", "link_clicks_daily_staging"),
        ("group_by", "filter_campaign_id", "filter_subscriber_id", "filter_profile_id"),
    )

    assert statement.sql.endswith(
        "WHEN NOT MATCHED BY SOURCE\n"
        "  AND target.report_date BETWEEN @window_start AND @window_end\n"
        "  AND target.group_by IN UNNEST(@scope_group_by)\n"
        "  AND target.filter_campaign_id IN UNNEST(@scope_filter_campaign_id)\n"
        "  AND target.filter_subscriber_id IN UNNEST(@scope_filter_subscriber_id)\n"
        "  AND target.filter_profile_id IN UNNEST(@scope_filter_profile_id)\n"
        "  THEN DELETE"
    )
    assert statement.scope_columns == (
        "group_by",
        "filter_campaign_id",
        "filter_subscriber_id",
        "filter_profile_id",
    )


def test_query_parameters_carry_the_window_and_each_scope_column() -> None:
    statement = merge_statement(
        table_definition(ExportKind.ENGAGEMENT), TARGET, STAGING, ("campaign_id", "engagement_context")
    )

    parameters = statement.query_parameters(
        DateWindow(dt.date(2026, 4, 1), dt.date(2026, 6, 29)),
        {"engagement_context": ["playlist"], "campaign_id": ["camp_a", "8ccd7b88-2591"]},
    )

    assert parameters == [
        {
            "name": "window_start",
            "parameterType": {"type": "DATE"},
            "parameterValue": {"value": "2026-04-01"},
        },
        {"name": "window_end", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-06-29"}},
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
    ]


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
    statement = merge_statement(table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, ("campaign_id",))

    with pytest.raises(ValueError, match=message):
        statement.query_parameters(DateWindow(dt.date(2026, 4, 1), dt.date(2026, 4, 2)), scope)


@pytest.mark.parametrize("column", ["streams", "campaign_name", "country_code", "no_such_column"])
def test_only_the_table_definitions_scope_columns_can_bound_a_merge(column: str) -> None:
    with pytest.raises(
        ValueError, match=rf"\['{column}'\] are not scope columns of 'campaign_engagement_daily'"
    ):
        merge_statement(table_definition(ExportKind.ENGAGEMENT), TARGET, STAGING, ("campaign_id", column))


def test_a_merge_bound_by_the_dates_alone_is_refused() -> None:
    with pytest.raises(ValueError, match="needs at least one of its scope columns"):
        merge_statement(table_definition(ExportKind.BREAKDOWN), TARGET, STAGING, ())


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
