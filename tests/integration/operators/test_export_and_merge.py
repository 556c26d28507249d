"""Both operators end to end: the sandbox API -> fake-gcs-server -> local-bigquery, checked against the
sandbox's own truth data."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from google.api_core.exceptions import BadRequest

import soundlink_stand_ins as stand_ins
from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.schemas import table_definition
from airflow_provider_soundlink.errors import SoundlinkStreamError, SoundlinkUnloadableValueError
from airflow_provider_soundlink.operators import SoundlinkExportToGCSOperator
from airflow_provider_soundlink.operators.links import BigQueryJobLink, BigQueryTableLink
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.pipeline import as_stored
from support.bigquery_rules import BigQueryWouldReject, check_rows
from support.emulators import SANDBOX_TODAY
from support.operator_pipeline import (
    CAMPAIGNS,
    ENDED_CAMPAIGN,
    LONG_ENDED_CAMPAIGN,
    PLAYLIST_CAMPAIGN,
    RECENT_WINDOW,
    TRACK_CAMPAIGN,
    TRUTH,
    YESTERDAY,
    Pipeline,
    primary_key,
    truth_rows,
)
from support.task_context import task_context


def test_campaign_constants_match_the_sandbox() -> None:
    assert CAMPAIGNS[TRACK_CAMPAIGN]["lastReportDate"] == YESTERDAY
    assert CAMPAIGNS[PLAYLIST_CAMPAIGN]["lastReportDate"] == YESTERDAY
    assert CAMPAIGNS[ENDED_CAMPAIGN]["lastReportDate"] == dt.date(2026, 5, 7)
    assert CAMPAIGNS[LONG_ENDED_CAMPAIGN]["lastReportDate"] == dt.date(2025, 7, 7)


def test_a_long_window_lands_as_the_sandbox_truth_with_one_load_and_one_merge(pipeline: Pipeline) -> None:
    window = (dt.date(2026, 3, 1), YESTERDAY)  # 106 days: two slices per campaign
    campaigns = [TRACK_CAMPAIGN, ENDED_CAMPAIGN, LONG_ENDED_CAMPAIGN]
    manifest = pipeline.export(ExportKind.BREAKDOWN, campaigns, window)

    truth = truth_rows(ExportKind.BREAKDOWN, campaigns, window, SANDBOX_TODAY)
    slices = [("2026-03-01", "2026-05-29"), ("2026-05-30", "2026-06-14")]
    assert [(e["scope"], e["start_date"], e["end_date"]) for e in manifest] == [
        ({"campaign_id": campaign}, start, end) for campaign in campaigns for start, end in slices
    ]
    assert [entry["row_count"] for entry in manifest] == [
        len(
            TRUTH.breakdown_rows(
                campaign, dt.date.fromisoformat(start), dt.date.fromisoformat(end), SANDBOX_TODAY
            )
        )
        for campaign in campaigns
        for start, end in slices
    ]
    assert sum(entry["row_count"] for entry in manifest) == len(truth)
    assert [
        entry["row_count"] for entry in manifest if entry["scope"]["campaign_id"] == LONG_ENDED_CAMPAIGN
    ] == [0, 0]
    assert manifest[0]["uri"] == (
        f"gs://{pipeline.bucket}/soundlink/campaign_country_daily/campaign_id={TRACK_CAMPAIGN}/"
        "2026-03-01_2026-05-29.jsonl"
    )
    assert pipeline.objects() == sorted(
        entry["uri"].removeprefix(f"gs://{pipeline.bucket}/") for entry in manifest
    )

    jobs_before = pipeline.job_types()
    summary = pipeline.merge(ExportKind.BREAKDOWN, [manifest])
    new_jobs = sorted(kind for job_id, kind in pipeline.job_types().items() if job_id not in jobs_before)

    assert new_jobs == ["load", "query"]
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth
    spend = [row["spend_total"] for row in pipeline.stored(ExportKind.BREAKDOWN).values()]
    assert all(isinstance(value, Decimal) for value in spend)
    assert sum(spend) == sum(row["spend_total"] for row in truth.values())
    assert summary == {
        "table": f"{pipeline.project}.{pipeline.dataset}.campaign_country_daily",
        "export": "breakdown",
        "window_start": "2026-03-01",
        "window_end": "2026-06-14",
        "scope": {"campaign_id": campaigns},
        "objects_loaded": 3,
        "rows_loaded": len(truth),
        "rows_affected": len(truth),
        "rows_inserted": len(truth),
        "rows_deleted": 0,
    }
    assert pipeline.tables() == ["campaign_country_daily"]


def test_running_the_same_window_three_times_leaves_an_identical_table(pipeline: Pipeline) -> None:
    campaigns = [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN]
    snapshots = []
    for _ in range(3):
        pipeline.run(ExportKind.BREAKDOWN, campaigns, RECENT_WINDOW)
        snapshots.append(pipeline.stored_exports(ExportKind.BREAKDOWN))
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert snapshots[0] == truth_rows(ExportKind.BREAKDOWN, campaigns, RECENT_WINDOW, SANDBOX_TODAY)
    assert pipeline.objects() == sorted(
        f"soundlink/campaign_country_daily/campaign_id={campaign}/2026-06-01_2026-06-14.jsonl"
        for campaign in campaigns
    )


def test_moving_today_updates_exactly_the_revisable_days(pipeline: Pipeline) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    before = pipeline.stored(ExportKind.BREAKDOWN)

    later = SANDBOX_TODAY + dt.timedelta(days=3)
    pipeline.sandbox.set_today(later)
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    after = pipeline.stored(ExportKind.BREAKDOWN)

    assert after.keys() == before.keys()
    changed_dates = {key[2] for key in after if after[key]["exported_at"] != before[key]["exported_at"]}
    # A day stays revisable for 7 days after it closes: the days still open at the first run.
    first_revisable = SANDBOX_TODAY - dt.timedelta(days=7)
    assert changed_dates == {
        first_revisable + dt.timedelta(days=n) for n in range((YESTERDAY - first_revisable).days + 1)
    }
    changed_values = {
        key[2]
        for key in after
        if {k: v for k, v in after[key].items() if k not in {"exported_at", "_loaded_at"}}
        != {k: v for k, v in before[key].items() if k not in {"exported_at", "_loaded_at"}}
    }
    assert changed_values <= changed_dates and changed_values
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, later
    )


def test_a_newer_export_wins_and_an_older_redelivery_does_not(pipeline: Pipeline) -> None:
    later = SANDBOX_TODAY + dt.timedelta(days=3)
    pipeline.sandbox.set_today(later)
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    newest = truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, later)
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == newest

    pipeline.sandbox.set_today(SANDBOX_TODAY)
    summary = pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    stale = truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY)
    assert stale != newest
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == newest
    assert summary["rows_loaded"] == len(stale)


def test_a_backfill_and_a_daily_run_give_the_same_table_whichever_merges_last(pipeline: Pipeline) -> None:
    # The backfill exports on today T, up to days that have no rows yet; the daily run exports three days
    # later, when the days it shares with the backfill have been revised or have rows at last, and either
    # MERGE may finish first.
    later = SANDBOX_TODAY + dt.timedelta(days=3)
    backfill_window = (dt.date(2026, 5, 20), later - dt.timedelta(days=1))
    backfill = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], backfill_window)
    pipeline.sandbox.set_today(later)
    daily_window = (later - dt.timedelta(days=8), later - dt.timedelta(days=1))
    daily = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], daily_window)

    tables = []
    for order in ((backfill, daily), (daily, backfill)):
        pipeline.dataset = f"soundlink_{uuid.uuid4().hex[:8]}"
        for manifest in order:
            pipeline.merge(ExportKind.BREAKDOWN, [manifest])
        tables.append(pipeline.stored_exports(ExportKind.BREAKDOWN))

    assert tables[0] == tables[1]
    before_daily = (backfill_window[0], daily_window[0] - dt.timedelta(days=1))
    assert tables[0] == {
        **truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], before_daily, SANDBOX_TODAY),
        **truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], daily_window, later),
    }


def test_rows_gone_from_the_source_are_deleted_inside_the_scope_only(pipeline: Pipeline) -> None:
    wide = (dt.date(2026, 5, 20), YESTERDAY)
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN], wide)
    table = f"`{pipeline.project}.{pipeline.dataset}.campaign_country_daily`"
    # Rows the source never had: a made-up country for each campaign on each of a few days.
    pipeline.client.query(
        f"INSERT INTO {table} SELECT * REPLACE ('ZZ' AS country_code) FROM {table} "
        "WHERE report_date IN (DATE '2026-05-25', DATE '2026-06-05', DATE '2026-06-12') "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY campaign_id, report_date ORDER BY country_code) = 1"
    ).result()
    before = pipeline.stored(ExportKind.BREAKDOWN)
    phantoms = {key for key in before if key[4] == "ZZ"}
    assert {(key[3], key[2]) for key in phantoms} == {
        (campaign, dt.date.fromisoformat(day))
        for campaign in (TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN)
        for day in ("2026-05-25", "2026-06-05", "2026-06-12")
    }

    scope_window = (dt.date(2026, 6, 1), dt.date(2026, 6, 10))
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], scope_window)
    after = pipeline.stored(ExportKind.BREAKDOWN)

    def in_scope(key: tuple[Any, ...]) -> bool:
        return key[3] == TRACK_CAMPAIGN and scope_window[0] <= key[2] <= scope_window[1]

    deleted = before.keys() - after.keys()
    assert deleted == {key for key in phantoms if in_scope(key)}
    assert len(deleted) == 1
    assert {key: row for key, row in after.items() if not in_scope(key)} == {
        key: row for key, row in before.items() if not in_scope(key) and key not in deleted
    }


def test_a_cut_off_stream_fails_the_export_leaving_no_object_and_the_table_unchanged(
    pipeline: Pipeline,
) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    objects, table = pipeline.objects(), pipeline.stored(ExportKind.BREAKDOWN)
    pipeline.retry_exports_once()
    pipeline.sandbox.add_fault(
        kind="cut", path=f"/{PLAYLIST_CAMPAIGN}/metrics/breakdown/export", after_lines=25, count=10
    )

    with pytest.raises(SoundlinkStreamError, match="cut off after 25"):
        pipeline.export(ExportKind.BREAKDOWN, [PLAYLIST_CAMPAIGN], RECENT_WINDOW)

    export_requests = [r for r in pipeline.sandbox.requests_log() if PLAYLIST_CAMPAIGN in r["path"]]
    assert len(export_requests) == 2
    assert pipeline.objects() == objects
    assert pipeline.stored(ExportKind.BREAKDOWN) == table


@pytest.mark.parametrize(
    ("field", "json_text", "problem"),
    [
        ("streams", "12.5", "an INT64 column takes a whole number"),
        ("spend_total", "1.2345678901234567e-45", "more than 38 fractional digits"),
        ("exported_at", '"2026-06-09"', "it is not a timestamp"),
    ],
)
def test_a_value_bigquerys_load_refuses_fails_the_export_and_nothing_reaches_gcs(
    pipeline: Pipeline, field: str, json_text: str, problem: str
) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    objects = {
        name: GCSHook().download(bucket_name=pipeline.bucket, object_name=name) for name in pipeline.objects()
    }
    table = pipeline.stored(ExportKind.BREAKDOWN)
    pipeline.sandbox.set_today(SANDBOX_TODAY + dt.timedelta(days=1))
    pipeline.sandbox.add_fault(
        kind="set_value", path="/breakdown/export", field=field, json_text=json_text, at_line=7
    )

    with pytest.raises(SoundlinkUnloadableValueError) as raised:
        pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    message = str(raised.value)
    assert f"line 7: field {field!r} holds " in message and problem in message
    assert "(request id: req_" in message
    # Not fetched again (the same bytes would come), and the object of the earlier run is untouched.
    assert len([r for r in pipeline.sandbox.requests_log() if r["path"].endswith("/export")]) == 2
    assert {
        name: GCSHook().download(bucket_name=pipeline.bucket, object_name=name) for name in pipeline.objects()
    } == objects
    assert pipeline.stored(ExportKind.BREAKDOWN) == table


def test_a_revision_that_removes_a_row_deletes_it(pipeline: Pipeline) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    before = pipeline.stored_exports(ExportKind.BREAKDOWN)
    later = SANDBOX_TODAY + dt.timedelta(days=1)
    pipeline.sandbox.set_today(later)
    pipeline.sandbox.add_fault(kind="drop_row", path="/breakdown/export", at_line=len(before) - 3)

    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    revised = truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, later)
    removed = sorted(revised)[len(before) - 4]
    after = pipeline.stored_exports(ExportKind.BREAKDOWN)
    assert after == {key: row for key, row in revised.items() if key != removed}
    assert removed in before


def test_a_stream_cut_once_is_fetched_again_and_uploaded_whole(pipeline: Pipeline) -> None:
    pipeline.sandbox.add_fault(kind="cut", path="/breakdown/export", after_lines=25, count=1)
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    lines = GCSHook().download(bucket_name=pipeline.bucket, object_name=pipeline.objects()[0]).splitlines()
    expected = TRUTH.breakdown_rows(TRACK_CAMPAIGN, *RECENT_WINDOW, SANDBOX_TODAY)
    assert manifest[0]["row_count"] == len(lines) == len(expected)
    assert [json.loads(line, parse_float=Decimal) for line in lines] == expected


def test_a_failed_load_leaves_the_target_as_it_was_and_drops_staging(pipeline: Pipeline) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    pipeline.merge(ExportKind.BREAKDOWN, manifest)
    table = pipeline.stored(ExportKind.BREAKDOWN)
    GCSHook().upload(bucket_name=pipeline.bucket, object_name="garbage.jsonl", data=b"this is not JSON\n")
    garbage = {**manifest[0], "uri": f"gs://{pipeline.bucket}/garbage.jsonl", "row_count": 1}

    pipeline.sandbox.set_today(SANDBOX_TODAY + dt.timedelta(days=2))
    fresh = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    with pytest.raises(BadRequest, match=r"garbage\.jsonl"):
        pipeline.merge(ExportKind.BREAKDOWN, [fresh, [garbage]])

    assert pipeline.stored(ExportKind.BREAKDOWN) == table
    assert pipeline.tables() == ["campaign_country_daily"]


def test_a_failed_merge_leaves_the_target_as_it_was_and_drops_staging(pipeline: Pipeline) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    # A target made by hand without the fees column: the load into staging works, the MERGE cannot.
    dataset = f"{pipeline.project}.{pipeline.dataset}"
    pipeline.client.query(
        f"CREATE TABLE `{dataset}.handmade` AS SELECT * EXCEPT (fees) FROM `{dataset}.campaign_country_daily`"
    ).result()
    before = pipeline.stored_table("handmade")
    assert len(before) == len(TRUTH.breakdown_rows(TRACK_CAMPAIGN, *RECENT_WINDOW, SANDBOX_TODAY))

    pipeline.sandbox.set_today(SANDBOX_TODAY + dt.timedelta(days=2))
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    with pytest.raises(BadRequest, match="fees"):
        pipeline.merge(ExportKind.BREAKDOWN, manifest, table_id="handmade")

    assert pipeline.stored_table("handmade") == before
    assert pipeline.tables() == ["campaign_country_daily", "handmade"]


@pytest.mark.parametrize(
    "message",
    [
        "Could not serialize access to table due to concurrent update",
        "Could not serialize access to table soundlink-local:d.campaign_country_daily due to concurrent "
        "update",
    ],
)
def test_a_merge_aborted_by_a_concurrent_update_is_retried(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    insert_job = BigQueryHook.insert_job
    merges: list[str] = []

    def contended_insert_job(self: BigQueryHook, **kwargs: Any) -> Any:
        if "query" in kwargs["configuration"]:
            merges.append(kwargs["configuration"]["query"]["query"])
            if len(merges) == 1:
                raise BadRequest(message)
        return insert_job(self, **kwargs)

    monkeypatch.setattr(BigQueryHook, "insert_job", contended_insert_job)
    summary = pipeline.merge(ExportKind.BREAKDOWN, manifest, retry_initial_wait=dt.timedelta(milliseconds=10))

    assert len(merges) == 2
    assert merges[0] == merges[1]
    assert summary["rows_affected"] == len(
        TRUTH.breakdown_rows(TRACK_CAMPAIGN, *RECENT_WINDOW, SANDBOX_TODAY)
    )
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
    )
    assert pipeline.tables() == ["campaign_country_daily"]


def test_an_unknown_field_is_kept_in_gcs_reported_and_ignored_by_the_load(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.sandbox.add_fault(
        kind="extra_field", path="/breakdown/export", field="audience_segment", value="fans", count=100
    )
    with caplog.at_level(logging.WARNING):
        manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    assert [entry["new_fields"] for entry in manifest] == [["audience_segment"]]
    # Airflow 2 task loggers go through logging, Airflow 3's through structlog to stdout.
    logged = caplog.text + capsys.readouterr().out
    assert (
        "fields that table campaign_country_daily does not define: audience_segment (in 1 of 1 objects)"
        in logged
    )
    first_line = (
        GCSHook().download(bucket_name=pipeline.bucket, object_name=pipeline.objects()[0]).splitlines()[0]
    )
    assert json.loads(first_line)["audience_segment"] == "fans"

    pipeline.merge(ExportKind.BREAKDOWN, manifest)
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
    )


@pytest.mark.parametrize(
    ("value", "kind", "column_type", "stored"),
    [
        ("fans", "string", "STRING", "fans"),
        (42, "integer", "INTEGER", 42),
        (True, "boolean", "BOOLEAN", True),
        (1.25, "number", "BIGNUMERIC", Decimal("1.25")),
        ({"tier": "gold"}, "object", "JSON", {"tier": "gold"}),
    ],
)
def test_with_add_new_fields_a_new_field_arrives_as_a_nullable_column_of_its_kind(
    pipeline: Pipeline, value: object, kind: str, column_type: str, stored: object
) -> None:
    pipeline.sandbox.add_fault(
        kind="extra_field", path="/breakdown/export", field="audience_segment", value=value, count=100
    )
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    assert manifest[0]["new_field_kinds"] == {"audience_segment": [kind]}

    pipeline.merge(ExportKind.BREAKDOWN, manifest, add_new_fields=True)

    schema = pipeline.client.get_table(f"{pipeline.project}.{pipeline.dataset}.campaign_country_daily").schema
    added = [(field.name, field.field_type, field.mode) for field in schema][-1]
    assert added == ("audience_segment", column_type, "NULLABLE")
    rows = pipeline.stored_exports(ExportKind.BREAKDOWN)
    assert {
        key: {**row, "audience_segment": stored}
        for key, row in truth_rows(
            ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
        ).items()
    } == rows


def test_an_added_column_stays_and_a_later_export_without_the_field_leaves_it_null_in_its_scope_only(
    pipeline: Pipeline,
) -> None:
    pipeline.sandbox.add_fault(
        kind="extra_field", path="/breakdown/export", field="audience_segment", value="fans", count=100
    )
    pipeline.merge(
        ExportKind.BREAKDOWN,
        pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW),
        add_new_fields=True,
    )
    pipeline.sandbox.clear_faults()
    later = (dt.date(2026, 6, 10), YESTERDAY)

    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], later)

    rows = pipeline.stored_exports(ExportKind.BREAKDOWN)
    assert (
        rows.keys() == truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY).keys()
    )
    segments = {key[2]: row["audience_segment"] for key, row in rows.items()}
    assert {day for day, segment in segments.items() if segment is None} == {
        later[0] + dt.timedelta(days=offset) for offset in range((later[1] - later[0]).days + 1)
    }
    assert {segment for day, segment in segments.items() if day < later[0]} == {"fans"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("audience_segment", None, "every value is null so far"),
        ("audience-segment", "fans", "BigQuery column names are at most 300 letters"),
        ("_PARTITIONTIME_2", "fans", "BigQuery reserves the prefixes"),
    ],
)
def test_a_new_field_that_cannot_be_a_column_is_named_in_a_warning_and_left_in_gcs(
    pipeline: Pipeline,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: object,
    reason: str,
) -> None:
    pipeline.sandbox.add_fault(
        kind="extra_field", path="/breakdown/export", field=field, value=value, count=100
    )
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    with caplog.at_level(logging.WARNING):
        pipeline.merge(ExportKind.BREAKDOWN, manifest, add_new_fields=True)

    logs = caplog.text + capsys.readouterr().out
    assert f"New export field {field!r} gets no column: {reason}" in logs
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
    )


def test_engagement_of_one_context_replaces_that_context_only(pipeline: Pipeline) -> None:
    campaigns = [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN]
    pipeline.run(ExportKind.ENGAGEMENT, campaigns, RECENT_WINDOW)
    both = truth_rows(ExportKind.ENGAGEMENT, campaigns, RECENT_WINDOW, SANDBOX_TODAY)
    assert pipeline.stored_exports(ExportKind.ENGAGEMENT) == both
    assert {row["engagement_context"] for row in both.values()} == {"catalog", "playlist"}

    later = SANDBOX_TODAY + dt.timedelta(days=2)
    pipeline.sandbox.set_today(later)
    summary = pipeline.run(ExportKind.ENGAGEMENT, campaigns, RECENT_WINDOW, engagement_context="catalog")

    assert summary["scope"] == {"campaign_id": campaigns, "engagement_context": ["catalog"]}
    expected = {
        **{key: row for key, row in both.items() if row["engagement_context"] == "playlist"},
        **truth_rows(ExportKind.ENGAGEMENT, campaigns, RECENT_WINDOW, later, engagement_context="catalog"),
    }
    assert pipeline.stored_exports(ExportKind.ENGAGEMENT) == expected


def test_money_with_every_digit_of_a_double_loads_rounded_half_away_from_zero(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxProcess(today=SANDBOX_TODAY, full_precision=True) as precise:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SOUNDLINK_DEFAULT", stand_ins.soundlink_connection_json(precise.base_url)
        )
        manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN], RECENT_WINDOW)
    table = table_definition(ExportKind.BREAKDOWN)
    lines = [
        line
        for entry in manifest
        for line in GCSHook()
        .download(bucket_name=pipeline.bucket, object_name=entry["uri"].split("/", 3)[3])
        .splitlines()
    ]
    long_values = [
        value
        for line in lines
        for name, value in json.loads(line, parse_float=Decimal).items()
        if table.column(name).type == "NUMERIC"
        and isinstance(value, Decimal)
        and -value.as_tuple().exponent > 9  # type: ignore[operator]
    ]
    assert len(long_values) > 100
    # Loaded straight into NUMERIC, BigQuery would reject the whole job; the emulator would round.
    with pytest.raises(BigQueryWouldReject, match="does not fit NUMERIC"):
        check_rows(table.bigquery_schema(), lines, "export")

    pipeline.merge(ExportKind.BREAKDOWN, manifest)

    precise_truth = SandboxData(full_precision=True)
    expected = {
        primary_key(table, as_stored(table, row)): as_stored(table, row)
        for campaign in (TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN)
        for row in precise_truth.breakdown_rows(campaign, *RECENT_WINDOW, SANDBOX_TODAY)
    }
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == expected


def test_a_manifest_above_the_uri_limit_loads_in_several_jobs_then_one_merge(pipeline: Pipeline) -> None:
    campaigns = [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN, ENDED_CAMPAIGN]
    window = (dt.date(2026, 3, 1), YESTERDAY)  # two slices per campaign: five objects with rows
    manifest = pipeline.export(ExportKind.BREAKDOWN, campaigns, window)
    assert sum(1 for entry in manifest if entry["row_count"]) == 5

    jobs_before = pipeline.job_types()
    summary = pipeline.merge(ExportKind.BREAKDOWN, manifest, max_uris_per_load_job=2)
    new_jobs = sorted(kind for job_id, kind in pipeline.job_types().items() if job_id not in jobs_before)

    assert new_jobs == ["load", "load", "load", "query"]
    truth = truth_rows(ExportKind.BREAKDOWN, campaigns, window, SANDBOX_TODAY)
    assert summary["rows_loaded"] == len(truth)
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth
    assert pipeline.tables() == ["campaign_country_daily"]


class WorkerDied(BaseException):
    """The task's process ends here, as under SIGKILL: no exception handler runs after it."""


def test_a_merge_task_run_again_in_the_same_try_reattaches_to_its_jobs(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    insert_job = BigQueryHook.insert_job
    submitted: list[str] = []

    def insert_then_die_after_the_merge(self: BigQueryHook, **kwargs: Any) -> Any:
        job = insert_job(self, **kwargs)
        submitted.append(kwargs["job_id"])
        if "query" in kwargs["configuration"]:
            raise WorkerDied
        return job

    one_try = task_context("merge_breakdown")
    with monkeypatch.context() as dying:
        dying.setattr(BigQueryHook, "insert_job", insert_then_die_after_the_merge)
        # A killed process drops nothing: its staging table stays for the next process of the try.
        dying.setattr(BigQueryHook, "delete_table", lambda *args, **kwargs: None)
        with pytest.raises(WorkerDied):
            pipeline.merge(ExportKind.BREAKDOWN, manifest, context=one_try)
    assert [re.findall(r"_((?:load|merge)_\d+_\d+)_[0-9a-f]+$", job_id)[0] for job_id in submitted] == [
        "load_0_1",
        "merge_0_1",
    ]
    assert len(pipeline.tables()) == 2

    reattached: list[str] = []
    get_job = BigQueryHook.get_job

    def recording_get_job(self: BigQueryHook, **kwargs: Any) -> Any:
        reattached.append(kwargs["job_id"])
        return get_job(self, **kwargs)

    monkeypatch.setattr(BigQueryHook, "get_job", recording_get_job)
    jobs_before = pipeline.job_types()
    pipeline.merge(ExportKind.BREAKDOWN, manifest, context=one_try)

    assert reattached == submitted
    assert pipeline.job_types() == jobs_before
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
    )
    assert pipeline.tables() == ["campaign_country_daily"]


def test_an_existing_dataset_is_used_as_it_is_and_a_location_mismatch_fails_before_any_job(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    BigQueryHook(use_legacy_sql=False).create_empty_dataset(
        dataset_id=pipeline.dataset, project_id=pipeline.project, location="US", exists_ok=False
    )
    creations: list[str] = []
    monkeypatch.setattr(BigQueryHook, "create_empty_dataset", lambda self, **kwargs: creations.append(kwargs))
    jobs_before = pipeline.job_types()

    with pytest.raises(ValueError, match=r"is in US, not in location='EU'; set location to 'US'"):
        pipeline.merge(ExportKind.BREAKDOWN, manifest, location="EU")
    assert pipeline.job_types() == jobs_before

    pipeline.merge(ExportKind.BREAKDOWN, manifest, location="US")
    assert creations == []
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == truth_rows(
        ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY
    )


def test_a_bucket_in_another_location_than_the_dataset_fails_before_any_job(pipeline: Pipeline) -> None:
    # fake-gcs-server puts every bucket in US-CENTRAL1, so the dataset is the one in another location.
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    BigQueryHook(use_legacy_sql=False).create_empty_dataset(
        dataset_id=pipeline.dataset, project_id=pipeline.project, location="EU", exists_ok=False
    )
    jobs_before = pipeline.job_types()

    with pytest.raises(
        ValueError, match=rf"bucket {pipeline.bucket} is in US-CENTRAL1 but the dataset is in EU; BigQuery"
    ):
        pipeline.merge(ExportKind.BREAKDOWN, manifest)
    assert pipeline.job_types() == jobs_before
    assert pipeline.tables() == []


def test_maximum_bytes_billed_caps_the_merge_job(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    insert_job = BigQueryHook.insert_job
    queries: list[dict[str, Any]] = []

    def recording_insert_job(self: BigQueryHook, **kwargs: Any) -> Any:
        if "query" in kwargs["configuration"]:
            queries.append(kwargs["configuration"]["query"])
        return insert_job(self, **kwargs)

    monkeypatch.setattr(BigQueryHook, "insert_job", recording_insert_job)
    pipeline.merge(ExportKind.BREAKDOWN, manifest, maximum_bytes_billed=10 * 2**30)
    pipeline.merge(ExportKind.BREAKDOWN, manifest)

    assert [query.get("maximumBytesBilled") for query in queries] == [str(10 * 2**30), None]


def test_every_job_carries_the_dag_and_task_labels_and_the_given_ones(pipeline: Pipeline) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    jobs_before = pipeline.job_types()

    pipeline.merge(ExportKind.BREAKDOWN, manifest, labels={"team": "growth"})

    new_jobs = [
        job for job in pipeline.client.list_jobs(project=pipeline.project) if job.job_id not in jobs_before
    ]
    assert sorted(job.job_type for job in new_jobs) == ["load", "query"]
    assert {tuple(sorted(job.labels.items())) for job in new_jobs} == {
        (("airflow-dag", "soundlink_test"), ("airflow-task", "merge_breakdown"), ("team", "growth"))
    }


def test_a_window_of_more_than_4000_days_is_merged_in_parts_each_within_the_limit(pipeline: Pipeline) -> None:
    recent = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    # Eleven years with nothing exported before the recent window: empty objects are not loaded, but
    # they widen the scope, as a long backfill does.
    history = {
        **recent[0],
        "start_date": "2015-01-01",
        "end_date": (RECENT_WINDOW[0] - dt.timedelta(days=1)).isoformat(),
        "uri": f"gs://{pipeline.bucket}/nothing.jsonl",
        "row_count": 0,
    }
    queries: list[str] = []
    insert_job = BigQueryHook.insert_job

    def recording_insert_job(self: BigQueryHook, **kwargs: Any) -> Any:
        if "query" in kwargs["configuration"]:
            queries.append(kwargs["configuration"]["query"]["query"])
        return insert_job(self, **kwargs)

    pipeline.monkeypatch.setattr(BigQueryHook, "insert_job", recording_insert_job)
    summary = pipeline.merge(ExportKind.BREAKDOWN, [recent, [history]])

    windows = [re.findall(r"BETWEEN DATE '([\d-]+)' AND DATE '([\d-]+)'", query)[0] for query in queries]
    days = [(dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1 for start, end in windows]
    assert len(queries) == 2 and max(days) == 4000 and sum(days) == (YESTERDAY - dt.date(2015, 1, 1)).days + 1
    assert summary["rows_inserted"] == len(
        recent_rows := truth_rows(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW, SANDBOX_TODAY)
    )
    assert pipeline.stored_exports(ExportKind.BREAKDOWN) == recent_rows


def test_partition_expiration_is_set_on_a_new_table_and_expiring_loaded_days_are_warned_about(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = pipeline.export(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)

    with caplog.at_level(logging.WARNING):
        pipeline.merge(ExportKind.BREAKDOWN, manifest, partition_expiration=dt.timedelta(days=180))

    table = pipeline.client.get_table(f"{pipeline.project}.{pipeline.dataset}.campaign_country_daily")
    assert table.time_partitioning.expiration_ms == 180 * 86_400_000
    # The sandbox's dates are in 2026-06: on any real today after 2026-12, they are past 180 days.
    logged = caplog.text + capsys.readouterr().out
    expired = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=180) > RECENT_WINDOW[0]
    assert ("expires partitions after 180 days" in logged) == expired


def test_the_tasks_store_their_links_while_they_run(pipeline: Pipeline) -> None:
    export = SoundlinkExportToGCSOperator(
        task_id="export_breakdown",
        export=ExportKind.BREAKDOWN,
        campaign_ids=[TRACK_CAMPAIGN],
        report_start_date="2026-04-01",
        report_end_date="2026-04-02",
        bucket=pipeline.bucket,
        object_prefix="daily",
    )
    export_context = task_context(export.task_id)
    manifest = export.execute(export_context)
    merge_context = task_context("merge_breakdown")
    pipeline.merge(ExportKind.BREAKDOWN, manifest, merge_context)

    folder = f"{pipeline.bucket}/daily/campaign_country_daily"
    assert export_context["ti"].xcom == {
        "soundlink_gcs_folder": f"https://console.cloud.google.com/storage/browser/{folder};tab=objects"
    }
    table_link = BigQueryTableLink.url(pipeline.project, pipeline.dataset, "campaign_country_daily")
    job_link = merge_context["ti"].xcom.pop(BigQueryJobLink.key)
    assert merge_context["ti"].xcom == {BigQueryTableLink.key: table_link}
    # The latest job: the MERGE, whose id the runner derived from the try and the step.
    assert job_link.startswith(f"https://console.cloud.google.com/bigquery?project={pipeline.project}&ws=")
    assert "_merge_0_1_" in job_link
