"""The table definitions against the API contract's row schemas."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_soundlink.core.exports import CAMPAIGN_EXPORTS, ExportKind
from airflow_provider_soundlink.core.schemas import Column, TableDefinition, table_definition

COMMON_FIELDS = [
    "provider",
    "account_id",
    "schema_version",
    "report_date",
    "report_date_timezone",
    "exported_at",
    "campaign_id",
    "campaign_name",
    "campaign_target_type",
    "campaign_target_isrc",
    "campaign_target_spotify_track_id",
    "campaign_target_playlist_id",
    "country_code",
]
BREAKDOWN_FIELDS = [
    *COMMON_FIELDS,
    "impressions",
    "ad_clicks",
    "link_clicks",
    "streams",
    "listeners",
    "followers",
    "spend_media",
    "spend_total",
    "fees",
    "currency",
    "currency_account",
    "streams_per_listener",
    "cpl",
    "cpf",
    "cost_per_result",
    "cpc_linkclick",
    "ctr_linkclick",
    "ctr_adclick",
    "result_type",
]
ENGAGEMENT_FIELDS = [
    *COMMON_FIELDS,
    "status",
    "engagement_context",
    "engaged_track_isrc",
    "engaged_spotify_track_id",
    "engaged_track_name",
    "playlist_position",
    "new_listeners",
    "returning_listeners",
    "listeners",
    "new_listener_streams",
    "returning_listener_streams",
    "streams",
    "spl",
]
MONEY = ["spend_media", "spend_total", "fees", "cpl", "cpf", "cost_per_result", "cpc_linkclick"]
RATIOS = ["streams_per_listener", "ctr_linkclick", "ctr_adclick"]


def types_of(table: TableDefinition) -> dict[str, str]:
    return {column.name: column.type for column in table.columns}


@pytest.mark.parametrize(
    ("kind", "fields"), [(ExportKind.BREAKDOWN, BREAKDOWN_FIELDS), (ExportKind.ENGAGEMENT, ENGAGEMENT_FIELDS)]
)
def test_every_contract_field_is_a_column_plus_the_load_time(kind: ExportKind, fields: list[str]) -> None:
    table = table_definition(kind)

    assert sorted(table.export_column_names) == sorted(fields)
    assert table.column_names == (*table.export_column_names, "_loaded_at")
    assert types_of(table)["_loaded_at"] == "TIMESTAMP"


def test_breakdown_keys_partitioning_and_clustering() -> None:
    table = table_definition(ExportKind.BREAKDOWN)

    assert table.name == "campaign_country_daily"
    assert table.primary_key == ("provider", "account_id", "report_date", "campaign_id", "country_code")
    assert table.partition_field == "report_date"
    assert table.clustering_fields == ("campaign_id", "country_code")


def test_engagement_keys_partitioning_and_clustering() -> None:
    table = table_definition(ExportKind.ENGAGEMENT)

    assert table.name == "campaign_engagement_daily"
    assert table.primary_key == (
        "provider",
        "account_id",
        "report_date",
        "campaign_id",
        "engagement_context",
        "country_code",
        "engaged_spotify_track_id",
    )
    assert table.partition_field == "report_date"
    assert table.clustering_fields == (
        "campaign_id",
        "engagement_context",
        "engaged_spotify_track_id",
        "country_code",
    )


@pytest.mark.parametrize("kind", CAMPAIGN_EXPORTS)
def test_key_columns_and_exported_at_are_required_and_the_rest_nullable(kind: ExportKind) -> None:
    table = table_definition(kind)

    required = {column.name for column in table.columns if column.required}

    assert required == {*table.primary_key, "exported_at"}


def test_breakdown_types() -> None:
    types = types_of(table_definition(ExportKind.BREAKDOWN))

    assert {name: types[name] for name in MONEY} == dict.fromkeys(MONEY, "NUMERIC")
    assert {name: types[name] for name in RATIOS} == dict.fromkeys(RATIOS, "FLOAT64")
    counts = ["impressions", "ad_clicks", "link_clicks", "streams", "listeners", "followers"]
    assert {name: types[name] for name in counts} == dict.fromkeys(counts, "INT64")
    assert types["report_date"] == "DATE"
    assert types["exported_at"] == "TIMESTAMP"
    assert types["currency"] == types["country_code"] == types["result_type"] == "STRING"


def test_engagement_types() -> None:
    types = types_of(table_definition(ExportKind.ENGAGEMENT))

    counts = [
        "playlist_position",
        "new_listeners",
        "returning_listeners",
        "listeners",
        "new_listener_streams",
        "returning_listener_streams",
        "streams",
    ]
    assert {name: types[name] for name in counts} == dict.fromkeys(counts, "INT64")
    assert types["spl"] == "FLOAT64"
    assert types["report_date"] == "DATE"
    assert types["exported_at"] == "TIMESTAMP"


@pytest.mark.parametrize("kind", CAMPAIGN_EXPORTS)
def test_bigquery_schema_is_the_api_field_list(kind: ExportKind) -> None:
    table = table_definition(kind)

    schema = table.bigquery_schema()

    assert [field["name"] for field in schema] == list(table.column_names)
    assert all(set(field) == {"name", "type", "mode", "description"} for field in schema)
    assert all(field["description"] for field in schema)
    assert schema[0] == {
        "name": "provider",
        "type": "STRING",
        "mode": "REQUIRED",
        "description": "Data provider, always soundlink.",
    }


def test_table_resource_partitions_by_day_and_clusters() -> None:
    table = table_definition(ExportKind.BREAKDOWN)

    resource = table.table_resource()

    assert resource["timePartitioning"] == {"type": "DAY", "field": "report_date"}
    assert resource["clustering"] == {"fields": ["campaign_id", "country_code"]}
    assert resource["schema"] == {"fields": table.bigquery_schema()}
    assert resource["description"].startswith("Soundlink campaign metrics per UTC day and listener country")


def test_scope_columns() -> None:
    assert table_definition(ExportKind.BREAKDOWN).scope_columns == ("campaign_id",)
    assert table_definition(ExportKind.ENGAGEMENT).scope_columns == ("campaign_id", "engagement_context")
    assert table_definition("link_clicks_daily").scope_columns == (
        "group_by",
        "filter_campaign_id",
        "filter_subscriber_id",
        "filter_profile_id",
    )


def test_link_clicks_keys_types_and_layout() -> None:
    table = table_definition("link_clicks_daily")

    assert table.primary_key == (
        "report_date",
        "group_by",
        "group_value",
        "params_name",
        "params_value",
        "filter_campaign_id",
        "filter_subscriber_id",
        "filter_profile_id",
    )
    assert {column.name for column in table.columns if column.required} == {
        *table.primary_key,
        "count",
        "pseudonymised",
        "exported_at",
    }
    types = types_of(table)
    assert types["count"] == "INT64"
    assert types["pseudonymised"] == "BOOL"
    assert types["exported_at"] == types["_loaded_at"] == "TIMESTAMP"
    assert all(types[name] == "STRING" for name in table.primary_key if name != "report_date")
    assert table.table_resource()["timePartitioning"] == {"type": "DAY", "field": "report_date"}
    assert table.clustering_fields == ("group_by", "filter_campaign_id", "group_value")
    not_applicable = [
        name for name in table.primary_key if "'' (not applicable)" in table.column(name).description
    ]
    assert not_applicable == [name for name in table.primary_key if name not in ("report_date", "group_by")]
    assert "total for the ungrouped daily total" in table.column("group_by").description


def test_lookup_by_kind_and_by_name_agree() -> None:
    assert table_definition(ExportKind.ENGAGEMENT) is table_definition("campaign_engagement_daily")


def test_unknown_table_name_is_refused() -> None:
    with pytest.raises(
        KeyError, match=r"no table definition named 'campaign_hourly'; known: .*'link_clicks_daily'"
    ):
        table_definition("campaign_hourly")


def test_column_lookup() -> None:
    table = table_definition(ExportKind.BREAKDOWN)

    assert table.column("fees") == Column("fees", "NUMERIC", "NULLABLE", table.column("fees").description)
    with pytest.raises(KeyError, match="no column 'fee'"):
        table.column("fee")


def _breakdown_with(**changes: object) -> TableDefinition:
    return dataclasses.replace(table_definition(ExportKind.BREAKDOWN), **changes)  # type: ignore[arg-type]


def _replace_column(name: str, **changes: str) -> tuple[Column, ...]:
    columns = table_definition(ExportKind.BREAKDOWN).columns
    return tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in columns)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"primary_key": ("provider", "nope")}, "primary key column 'nope' is not a column"),
        ({"columns": _replace_column("country_code", mode="NULLABLE")}, "'country_code' must be REQUIRED"),
        ({"columns": _replace_column("fees", type="MONEY")}, "'fees' has unknown type 'MONEY'"),
        ({"columns": _replace_column("fees", mode="REPEATED")}, "'fees' has unknown mode 'REPEATED'"),
        ({"columns": _replace_column("fees", description=" ")}, "'fees' has no description"),
        ({"partition_field": "exported_at"}, "partition field 'exported_at' must be a DATE column"),
        (
            {"clustering_fields": ("campaign_id", "country_code", "provider", "account_id", "report_date")},
            "1 to 4",
        ),
        ({"clustering_fields": ("campaign_id", "nope")}, "clustering column 'nope' is not a column"),
        ({"loaded_at_field": "campaign_name"}, "'campaign_name' must be a TIMESTAMP column"),
        ({"columns": _replace_column("exported_at", mode="NULLABLE")}, "'exported_at' must be REQUIRED"),
        ({"scope_columns": ()}, "scope columns are empty"),
        (
            {"scope_columns": ("campaign_name",)},
            "scope column 'campaign_name' must be a STRING column of the",
        ),
        ({"scope_columns": ("report_date",)}, "scope column 'report_date' must be a STRING column of the"),
        (
            {"columns": (*_replace_column("fees"), _replace_column("fees")[0])},
            r"duplicate columns \['provider'\]",
        ),
    ],
)
def test_invalid_definitions_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _breakdown_with(**changes)
