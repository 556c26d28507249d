"""The load path on the emulators, through Airflow's own google hooks: JSONL objects in GCS, one load
job into an expiring staging table, one MERGE into the partitioned target, staging dropped."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.schemas import TableDefinition, table_definition
from airflow_provider_soundlink.core.sql import TableRef, merge_statement
from airflow_provider_soundlink.core.windows import DateWindow
from support.bigquery_rules import check_rows
from support.export_rows import export_row

pytestmark = pytest.mark.integration

ACCOUNT = "a7ac3173-2f71-4e79-921f-d15d7112cc9a"
APRIL_1, APRIL_2, APRIL_3 = dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 3)
FIRST_EXPORT = "2026-04-05T06:00:00Z"
REVISED_EXPORT = "2026-04-06T06:00:00Z"
STALE_EXPORT = "2026-04-04T06:00:00Z"


def breakdown_row(
    campaign_id: str,
    report_date: dt.date,
    country_code: str,
    exported_at: str = FIRST_EXPORT,
    spend_media: Decimal = Decimal("10.000000"),
    streams: int = 100,
) -> dict[str, Any]:
    spend_total = (spend_media / Decimal("0.8")).quantize(Decimal("0.000001"))
    return export_row(
        ExportKind.BREAKDOWN,
        account_id=ACCOUNT,
        report_date=report_date.isoformat(),
        exported_at=exported_at,
        campaign_id=campaign_id,
        country_code=country_code,
        streams=streams,
        spend_media=spend_media,
        spend_total=spend_total,
        fees=spend_total - spend_media,
        link_clicks=None,
    )


def engagement_row(
    campaign_id: str, report_date: dt.date, context: str, track_id: str, streams: int = 20
) -> dict[str, Any]:
    return export_row(
        ExportKind.ENGAGEMENT,
        account_id=ACCOUNT,
        report_date=report_date.isoformat(),
        exported_at=FIRST_EXPORT,
        campaign_id=campaign_id,
        engagement_context=context,
        country_code="US",
        engaged_spotify_track_id=track_id,
        playlist_position=3 if context == "playlist" else None,
        streams=streams,
    )


def jsonl_line(row: dict[str, Any]) -> str:
    """One export line; money goes out as the exact decimal literal, as the API writes it."""
    members = (
        f"{json.dumps(name)}: {value if isinstance(value, Decimal) else json.dumps(value)}"
        for name, value in row.items()
    )
    return "{" + ", ".join(members) + "}"


@dataclass
class Warehouse:
    """A bucket, a dataset and one target table, loaded the way the operators load them."""

    project: str
    bucket: str
    dataset: str
    table: TableDefinition
    _runs: Iterator[int] = field(default_factory=itertools.count)

    @property
    def hook(self) -> BigQueryHook:
        return BigQueryHook(use_legacy_sql=False)

    @property
    def client(self) -> bigquery.Client:
        return self.hook.get_client(project_id=self.project)

    def ref(self, table: str) -> TableRef:
        return TableRef(self.project, self.dataset, table)

    @property
    def target(self) -> TableRef:
        return self.ref(self.table.name)

    def create_target(self) -> None:
        self.hook.create_table(
            project_id=self.project,
            dataset_id=self.dataset,
            table_id=self.table.name,
            table_resource=self.table.table_resource(),
        )

    def upload(self, run: str, files: Sequence[Sequence[dict[str, Any]]]) -> str:
        """Write each file's rows as a JSONL object of the run; returns the run's wildcard URI."""
        for number, rows in enumerate(files):
            GCSHook().upload(
                bucket_name=self.bucket,
                object_name=f"{run}/part-{number:03d}.jsonl",
                data="".join(jsonl_line(row) + "\n" for row in rows),
            )
        return f"gs://{self.bucket}/{run}/*.jsonl"

    def load_staging(
        self, uri: str, staging: TableRef, schema: list[dict[str, str]] | None = None, **job_options: Any
    ) -> bigquery.LoadJob:
        schema = schema if schema is not None else self.table.staging_schema()
        prefix = uri.removeprefix(f"gs://{self.bucket}/").removesuffix("*.jsonl")
        for name in GCSHook().list(bucket_name=self.bucket, prefix=prefix):
            check_rows(
                schema, GCSHook().download(bucket_name=self.bucket, object_name=name).splitlines(), name
            )
        job_config = bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField.from_api_repr(column) for column in schema],
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            **job_options,
        )
        job = self.client.load_table_from_uri(uri, str(staging), job_config=job_config)
        job.result()
        return job

    def run_merge(self, sql: str, parameters: list[dict[str, Any]]) -> None:
        self.hook.insert_job(
            configuration={"query": {"query": sql, "useLegacySql": False, "queryParameters": parameters}},
            project_id=self.project,
        )

    def load(
        self,
        files: Sequence[Sequence[dict[str, Any]]],
        campaign_ids: Sequence[str],
        window: tuple[dt.date, dt.date],
        snapshot_at: str | None = None,
        **extra_scope: str,
    ) -> None:
        """One whole run: upload, load staging, MERGE with the run's scope, drop staging. ``snapshot_at``:
        when the API answered every export of the run (None: unknown)."""
        run = f"run-{next(self._runs)}"
        staging = self.ref(f"{self.table.name}__staging_{run.replace('-', '_')}")
        self.load_staging(self.upload(run, files), staging)
        scope = {
            "campaign_id": list(campaign_ids),
            **{column: [value] for column, value in extra_scope.items()},
        }
        snapshots = {}
        if snapshot_at is not None:
            answered = dt.datetime.fromisoformat(snapshot_at)
            snapshots = {combination: answered for combination in itertools.product(*scope.values())}
        statement = merge_statement(self.table, self.target, staging, DateWindow(*window), tuple(scope))
        try:
            self.run_merge(statement.sql, statement.query_parameters(scope, snapshots))
        finally:
            self.client.delete_table(str(staging), not_found_ok=True)

    def rows(self) -> list[dict[str, Any]]:
        """Read the target's export columns, sorted by primary key: what a user would query."""
        key = ", ".join(self.table.primary_key)
        query = f"SELECT {', '.join(self.table.export_column_names)} FROM {self.target.quoted} ORDER BY {key}"
        return [dict(row.items()) for row in self.client.query(query).result()]

    def stored_keys(self) -> list[tuple[str, dt.date, str]]:
        return [(row["campaign_id"], row["report_date"], row["country_code"]) for row in self.rows()]

    def value(self, column: str, campaign_id: str, report_date: dt.date, country_code: str = "US") -> Any:
        matches = [
            row[column]
            for row in self.rows()
            if (row["campaign_id"], row["report_date"], row["country_code"])
            == (campaign_id, report_date, country_code)
        ]
        assert len(matches) == 1, (
            f"expected one row for {campaign_id} {report_date} {country_code}: {matches}"
        )
        return matches[0]


def _warehouse(gcp_emulators: Any, kind: ExportKind) -> Warehouse:
    warehouse = Warehouse(
        project=gcp_emulators.project,
        bucket=gcp_emulators.create_bucket("exports"),
        dataset=gcp_emulators.create_dataset("soundlink"),
        table=table_definition(kind),
    )
    warehouse.create_target()
    return warehouse


@pytest.fixture
def breakdown(gcp_emulators: Any) -> Warehouse:
    return _warehouse(gcp_emulators, ExportKind.BREAKDOWN)


@pytest.fixture
def engagement(gcp_emulators: Any) -> Warehouse:
    return _warehouse(gcp_emulators, ExportKind.ENGAGEMENT)


def full_grid(exported_at: str = FIRST_EXPORT) -> list[dict[str, Any]]:
    """camp_a and camp_b x April 1-3 x US and DE."""
    return [
        breakdown_row(campaign, day, country, exported_at)
        for campaign in ("camp_a", "camp_b")
        for day in (APRIL_1, APRIL_2, APRIL_3)
        for country in ("DE", "US")
    ]


def test_target_is_created_partitioned_and_clustered(breakdown: Warehouse) -> None:
    created = breakdown.client.get_table(str(breakdown.target))

    assert created.time_partitioning.type_ == "DAY"
    assert created.time_partitioning.field == "report_date"
    assert created.clustering_fields == ["campaign_id", "country_code"]
    assert [field.to_api_repr() for field in created.schema] == [
        {**column, "type": {"INT64": "INTEGER", "FLOAT64": "FLOAT"}.get(column["type"], column["type"])}
        for column in breakdown.table.bigquery_schema()
    ]


def test_money_lands_as_exact_numeric(breakdown: Warehouse) -> None:
    spends = [Decimal("1234567.123457"), Decimal("0.000001"), Decimal("0.100000"), Decimal("0.200000")]
    rows = [
        breakdown_row("camp_a", APRIL_1, country, spend_media=spend)
        for country, spend in zip(("DE", "FR", "GB", "US"), spends, strict=True)
    ]
    breakdown.load([rows], ["camp_a"], (APRIL_1, APRIL_1))

    assert [row["spend_media"] for row in breakdown.rows()] == spends
    assert [row["fees"] for row in breakdown.rows()] == [row["fees"] for row in rows]
    (total,) = breakdown.client.query(
        f"SELECT SUM(spend_media) AS total FROM {breakdown.target.quoted}"
    ).result()
    assert total["total"] == Decimal("1234567.423458")


def test_running_the_same_merge_twice_leaves_the_same_table(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    first = breakdown.rows()
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))

    assert len(first) == 12
    assert breakdown.rows() == first


def test_a_newer_export_wins_and_an_older_one_does_not(breakdown: Warehouse) -> None:
    scope = (["camp_a"], (APRIL_1, APRIL_1))
    breakdown.load([[breakdown_row("camp_a", APRIL_1, "US", FIRST_EXPORT, streams=100)]], *scope)
    breakdown.load([[breakdown_row("camp_a", APRIL_1, "US", REVISED_EXPORT, streams=120)]], *scope)
    assert breakdown.value("streams", "camp_a", APRIL_1) == 120

    breakdown.load([[breakdown_row("camp_a", APRIL_1, "US", STALE_EXPORT, streams=90)]], *scope)

    assert breakdown.value("streams", "camp_a", APRIL_1) == 120
    assert breakdown.value("exported_at", "camp_a", APRIL_1) == dt.datetime(2026, 4, 6, 6, tzinfo=dt.UTC)


def test_duplicates_in_staging_keep_the_latest_export(breakdown: Warehouse) -> None:
    # The same key in two objects of one run, the newer one first.
    revised = [breakdown_row("camp_a", APRIL_1, "US", REVISED_EXPORT, streams=120)]
    first = [breakdown_row("camp_a", APRIL_1, "US", FIRST_EXPORT, streams=100)]
    breakdown.load([revised, first], ["camp_a"], (APRIL_1, APRIL_1))

    assert breakdown.stored_keys() == [("camp_a", APRIL_1, "US")]
    assert breakdown.value("streams", "camp_a", APRIL_1) == 120


def test_a_row_gone_from_the_fresh_export_is_deleted_inside_the_scope_only(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    before = {(row["campaign_id"], row["report_date"], row["country_code"]): row for row in breakdown.rows()}
    # camp_a over April 2-3 again, revised, without (April 2, DE). The run's staging also holds rows
    # outside that scope (camp_b, and camp_a on April 1) that must not reach the target.
    fresh = [
        breakdown_row("camp_a", day, country, REVISED_EXPORT, streams=150)
        for day, country in ((APRIL_2, "US"), (APRIL_3, "DE"), (APRIL_3, "US"))
    ]
    outside = [
        breakdown_row("camp_b", APRIL_2, "US", REVISED_EXPORT, streams=999),
        breakdown_row("camp_a", APRIL_1, "US", REVISED_EXPORT, streams=999),
        breakdown_row("camp_a", APRIL_1, "FR", REVISED_EXPORT, streams=999),
    ]
    breakdown.load([fresh, outside], ["camp_a"], (APRIL_2, APRIL_3))

    after = {(row["campaign_id"], row["report_date"], row["country_code"]): row for row in breakdown.rows()}
    assert set(before) - set(after) == {("camp_a", APRIL_2, "DE")}
    assert set(after) <= set(before)
    for key in [("camp_a", APRIL_2, "US"), ("camp_a", APRIL_3, "DE"), ("camp_a", APRIL_3, "US")]:
        assert after[key]["streams"] == 150
    untouched = [key for key in after if key[0] == "camp_b" or key[1] == APRIL_1]
    assert len(untouched) == 8
    assert all(after[key] == before[key] for key in untouched)


def test_an_empty_export_answered_after_the_stored_rows_empties_its_scope(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))

    breakdown.load([[]], ["camp_b"], (APRIL_3, APRIL_3), snapshot_at=REVISED_EXPORT)

    assert ("camp_b", APRIL_3, "US") not in breakdown.stored_keys()
    assert len(breakdown.stored_keys()) == 10


def test_an_empty_export_answered_before_the_stored_rows_changes_nothing(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    before = breakdown.rows()

    breakdown.load([[]], ["camp_b"], (APRIL_3, APRIL_3), snapshot_at=STALE_EXPORT)
    breakdown.load([[]], ["camp_b"], (APRIL_3, APRIL_3), snapshot_at=None)

    assert breakdown.rows() == before


def test_a_day_an_export_has_no_rows_for_counts_as_of_its_newest_row(breakdown: Warehouse) -> None:
    # April 3 was stored from a revised export; an older export whose newest row is older has nothing
    # for April 3 (the day had no rows yet when it was taken), and leaves it as it is.
    breakdown.load([full_grid(REVISED_EXPORT)], ["camp_a"], (APRIL_1, APRIL_3))
    before = breakdown.rows()
    older = [breakdown_row("camp_a", day, "US", STALE_EXPORT) for day in (APRIL_1, APRIL_2)]

    breakdown.load([older], ["camp_a"], (APRIL_1, APRIL_3))

    assert breakdown.rows() == before
    # A newer export that has no April 3 says April 3 has no rows any more.
    newer = [breakdown_row("camp_a", day, "US", "2026-04-07T06:00:00Z") for day in (APRIL_1, APRIL_2)]
    breakdown.load([newer], ["camp_a"], (APRIL_1, APRIL_3))
    assert [key for key in breakdown.stored_keys() if key[0] == "camp_a"] == [
        ("camp_a", APRIL_1, "US"),
        ("camp_a", APRIL_2, "US"),
    ]


def test_replaying_an_older_export_after_a_newer_one_changes_nothing(breakdown: Warehouse) -> None:
    scope = (["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    older = full_grid(FIRST_EXPORT)
    # The newer export revised April 2 and 3 and no longer holds (camp_a, April 2, DE); April 1 was final.
    revised = {"2026-04-02", "2026-04-03"}
    newer = [
        {**row, "exported_at": REVISED_EXPORT, "streams": 130} if row["report_date"] in revised else row
        for row in older
        if (row["campaign_id"], row["report_date"], row["country_code"]) != ("camp_a", "2026-04-02", "DE")
    ]
    breakdown.load([newer], *scope, snapshot_at=REVISED_EXPORT)
    after_newer = breakdown.rows()

    breakdown.load([older], *scope, snapshot_at=FIRST_EXPORT)

    assert breakdown.rows() == after_newer
    assert ("camp_a", APRIL_2, "DE") not in breakdown.stored_keys()
    assert len(after_newer) == 11


def test_a_backfill_and_a_daily_run_merged_in_either_order_give_the_same_table(gcp_emulators: Any) -> None:
    # A backfill over April 1-3 exported before the daily run of April 3, which saw April 2 and 3
    # revised (April 3 losing its DE row) and a new country on April 3; each MERGE may finish first.
    backfill = ([full_grid(FIRST_EXPORT)], ["camp_a", "camp_b"], (APRIL_1, APRIL_3), FIRST_EXPORT)
    daily_rows = [
        breakdown_row(campaign, day, country, REVISED_EXPORT, streams=140)
        for campaign in ("camp_a", "camp_b")
        for day, country in ((APRIL_2, "DE"), (APRIL_2, "US"), (APRIL_3, "US"), (APRIL_3, "FR"))
    ]
    daily = ([daily_rows], ["camp_a", "camp_b"], (APRIL_2, APRIL_3), REVISED_EXPORT)
    tables = []
    for order in ((backfill, daily), (daily, backfill)):
        warehouse = _warehouse(gcp_emulators, ExportKind.BREAKDOWN)
        for files, campaign_ids, window, answered in order:
            warehouse.load(files, campaign_ids, window, snapshot_at=answered)
        tables.append(warehouse.rows())

    assert tables[0] == tables[1]
    keys = {(row["campaign_id"], row["report_date"], row["country_code"]) for row in tables[0]}
    assert ("camp_a", APRIL_3, "DE") not in keys
    assert ("camp_a", APRIL_3, "FR") in keys
    assert {row["streams"] for row in tables[0] if row["report_date"] == APRIL_1} == {100}
    assert {row["streams"] for row in tables[0] if row["report_date"] != APRIL_1} == {140}


def test_engagement_scope_can_be_one_context(engagement: Warehouse) -> None:
    stored = [
        engagement_row("camp_a", APRIL_1, context, track)
        for context in ("catalog", "playlist")
        for track in ("track_1", "track_2")
    ]
    engagement.load([stored], ["camp_a"], (APRIL_1, APRIL_1))
    # A catalog-only export that no longer holds track_2.
    engagement.load(
        [[engagement_row("camp_a", APRIL_1, "catalog", "track_1", streams=30)]],
        ["camp_a"],
        (APRIL_1, APRIL_1),
        engagement_context="catalog",
    )

    remaining = {
        (row["engagement_context"], row["engaged_spotify_track_id"]): row["streams"]
        for row in engagement.rows()
    }
    assert remaining == {("catalog", "track_1"): 30, ("playlist", "track_1"): 20, ("playlist", "track_2"): 20}


def test_a_failed_merge_leaves_the_target_as_it_was(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    before = breakdown.rows()
    missing_staging = breakdown.ref("never_loaded")
    window = DateWindow(APRIL_1, APRIL_3)
    statement = merge_statement(breakdown.table, breakdown.target, missing_staging, window, ("campaign_id",))
    with pytest.raises(NotFound, match="never_loaded"):
        breakdown.run_merge(statement.sql, statement.query_parameters({"campaign_id": ["camp_a"]}))

    staging = breakdown.ref("staging_for_bad_parameter")
    breakdown.load_staging(breakdown.upload("bad-parameter", [full_grid(REVISED_EXPORT)]), staging)
    statement = merge_statement(breakdown.table, breakdown.target, staging, window, ("campaign_id",))
    parameters = statement.query_parameters({"campaign_id": ["camp_a"]})
    assert parameters[0]["name"] == "scope_campaign_id"
    parameters[0]["parameterType"]["arrayType"]["type"] = "DATE"
    with pytest.raises(BadRequest):
        breakdown.run_merge(statement.sql, parameters)

    assert breakdown.rows() == before


def test_a_merge_failing_midway_changes_nothing(breakdown: Warehouse) -> None:
    breakdown.load([full_grid()], ["camp_a", "camp_b"], (APRIL_1, APRIL_3))
    before = breakdown.rows()
    # A staging table that lets a NULL exported_at through: the MERGE can update and delete first and
    # only then fails, inserting that row into the target where exported_at is REQUIRED.
    lenient_schema = [{**column, "mode": "NULLABLE"} for column in breakdown.table.staging_schema()]
    revised = [breakdown_row("camp_a", APRIL_1, "US", REVISED_EXPORT, streams=500)]
    unstamped = [{**breakdown_row("camp_a", APRIL_1, "FR"), "exported_at": None}]
    staging = breakdown.ref("staging_lenient")
    breakdown.load_staging(breakdown.upload("lenient", [revised, unstamped]), staging, schema=lenient_schema)
    window = DateWindow(APRIL_1, APRIL_1)
    statement = merge_statement(breakdown.table, breakdown.target, staging, window, ("campaign_id",))

    with pytest.raises(BadRequest, match="exported_at"):
        breakdown.run_merge(statement.sql, statement.query_parameters({"campaign_id": ["camp_a"]}))

    assert breakdown.rows() == before


def test_load_ignores_unknown_fields_when_asked(breakdown: Warehouse) -> None:
    row = {**breakdown_row("camp_a", APRIL_1, "US"), "field_from_a_newer_api": 1}
    staging = breakdown.ref("staging_unknown_fields")

    job = breakdown.load_staging(
        breakdown.upload("unknown-fields", [[row]]), staging, ignore_unknown_values=True
    )

    # Real BigQuery refuses the unknown field without ignore_unknown_values; the emulator accepts it
    # either way, so only the flag's effect is checked here.
    assert job.output_rows == 1
    loaded = breakdown.client.get_table(str(staging))
    assert [column.name for column in loaded.schema] == [
        field["name"] for field in breakdown.table.staging_schema()
    ]


def test_an_empty_object_loads_as_an_empty_table(breakdown: Warehouse) -> None:
    staging = breakdown.ref("staging_empty")

    job = breakdown.load_staging(breakdown.upload("empty", [[]]), staging)

    assert job.output_rows == 0
    (count,) = breakdown.client.query(f"SELECT COUNT(*) AS n FROM {staging.quoted}").result()
    assert count["n"] == 0


def test_staging_expiration_is_kept_and_enforced(breakdown: Warehouse) -> None:
    staging = breakdown.ref("staging_expiring")
    breakdown.load_staging(breakdown.upload("expiring", [[breakdown_row("camp_a", APRIL_1, "US")]]), staging)
    table = breakdown.client.get_table(str(staging))
    in_an_hour = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    table.expires = in_an_hour
    breakdown.client.update_table(table, ["expires"])
    assert breakdown.client.get_table(str(staging)).expires == in_an_hour

    table = breakdown.client.get_table(str(staging))
    table.expires = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    # The emulator stores the new expiration, then finds the table already expired when it answers.
    with pytest.raises(NotFound):
        breakdown.client.update_table(table, ["expires"])

    assert not breakdown.hook.table_exists(
        project_id=breakdown.project, dataset_id=breakdown.dataset, table_id=staging.table
    )
