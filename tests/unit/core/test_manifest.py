"""Manifest entries: flattening a mapped task's output, deriving the MERGE scope, refusing gaps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_soundlink.core.manifest import (
    ManifestEntry,
    flatten_manifests,
    manifest_scope,
    uncovered_days,
)
from airflow_provider_soundlink.core.windows import DateWindow
from support.manifests import entry


def link_stats_entry(group_by: str, filter_campaign_id: str, day: str) -> ManifestEntry:
    return ManifestEntry(
        export="link_stats",
        table="link_clicks_daily",
        scope={"group_by": group_by, "filter_campaign_id": filter_campaign_id},
        start_date=day,
        end_date=day,
        uri=f"gs://bucket/{group_by}/{filter_campaign_id}/{day}.jsonl",
        row_count=1,
        new_fields=[],
    )


def window(start: str, end: str) -> DateWindow:
    return DateWindow(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def test_flatten_accepts_one_manifest_a_list_of_manifests_and_a_mix() -> None:
    a, b, c = entry("a"), entry("b"), entry("c")
    assert flatten_manifests([a, b]) == [a, b]
    assert flatten_manifests([[a], [b, c], []]) == [a, b, c]
    assert flatten_manifests([a, [b, c]]) == [a, b, c]
    assert flatten_manifests(iter([[a]])) == [a]


def test_flatten_refuses_a_bare_entry_and_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="list of entries"):
        flatten_manifests(entry())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="neither an entry nor a list"):
        flatten_manifests([42])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uri": None}, "uri=None of the wrong type"),
        ({"row_count": "3"}, "row_count='3' of the wrong type"),
        ({"export": "clicks"}, "export 'clicks' and table 'campaign_country_daily'; known exports"),
        ({"table": "link_clicks_daily"}, "export 'breakdown' and table 'link_clicks_daily'; known exports"),
        ({"scope": {}}, "scope {}; it maps scope columns to strings"),
        ({"scope": {"campaign_id": None}}, "it maps scope columns to strings"),
        ({"start_date": "2026-04-01"}, "unusable window"),
        ({"end_date": "April"}, "unusable window"),
        ({"snapshot_at": "2026-04-09T12:00:00"}, "snapshot_at='2026-04-09T12:00:00'; it is an ISO 8601 time"),
        ({"snapshot_at": "noon"}, "it is an ISO 8601 time with its UTC offset"),
        ({"snapshot_at": 1775736000}, "it is an ISO 8601 time with its UTC offset"),
    ],
)
def test_flatten_checks_every_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        flatten_manifests([entry(), {**entry(), **change}])


def test_flatten_names_missing_fields() -> None:
    incomplete = {key: value for key, value in entry().items() if key not in {"uri", "row_count"}}
    with pytest.raises(ValueError, match=r"manifest entry 1 lacks \['row_count', 'uri'\]"):
        flatten_manifests([entry(), incomplete])


def test_scope_spans_the_earliest_start_to_the_latest_end_over_all_campaigns() -> None:
    entries = [
        entry("b", "2026-01-01", "2026-03-31"),
        entry("b", "2026-04-01", "2026-04-10"),
        entry("a", "2026-01-01", "2026-03-31"),
        entry("a", "2026-04-01", "2026-04-10"),
    ]
    scope = manifest_scope(entries)
    assert scope.export == "breakdown"
    assert scope.table == "campaign_country_daily"
    assert scope.values == {"campaign_id": ("b", "a")}
    assert scope.window == window("2026-01-01", "2026-04-10")


def test_scope_keeps_the_engagement_context() -> None:
    scope = manifest_scope([entry(export="engagement", engagement_context="playlist")])
    assert scope.export == "engagement"
    assert scope.values == {"campaign_id": ("camp_a",), "engagement_context": ("playlist",)}


def test_link_stats_scope_covers_every_combination_of_its_values() -> None:
    days = ["2026-06-01", "2026-06-02"]
    entries = [
        link_stats_entry(group_by, campaign, day)
        for day in days
        for group_by in ("total", "country")
        for campaign in ("", "camp_a")
    ]
    scope = manifest_scope(entries)
    assert scope.export == "link_stats"
    assert scope.table == "link_clicks_daily"
    assert scope.values == {"group_by": ("total", "country"), "filter_campaign_id": ("", "camp_a")}
    assert scope.window == window("2026-06-01", "2026-06-02")


def test_link_stats_scope_refuses_a_combination_missing_a_day() -> None:
    entries = [
        link_stats_entry("total", "", "2026-06-01"),
        link_stats_entry("country", "camp_a", "2026-06-01"),
        link_stats_entry("total", "", "2026-06-02"),
        link_stats_entry("country", "camp_a", "2026-06-02"),
    ]
    with pytest.raises(
        ValueError, match=r"group_by 'total', filter_campaign_id 'camp_a' was not exported for 2026-06-01\.\."
    ):
        manifest_scope(entries)


def test_scope_refuses_a_campaign_with_a_gap_and_names_the_missing_days() -> None:
    entries = [
        entry("a", "2026-01-01", "2026-03-31"),
        entry("a", "2026-04-01", "2026-04-10"),
        entry("b", "2026-01-01", "2026-03-31"),
    ]
    with pytest.raises(ValueError, match=r"campaign_id 'b' was not exported for 2026-04-01\.\.2026-04-10"):
        manifest_scope(entries)


def test_scope_accepts_overlapping_windows() -> None:
    entries = [entry("a", "2026-01-01", "2026-01-20"), entry("a", "2026-01-10", "2026-01-31")]
    assert manifest_scope(entries).window == window("2026-01-01", "2026-01-31")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "the manifest is empty"),
        ([entry(), entry("b", export="engagement")], "mixes exports \\['breakdown', 'engagement'\\]"),
        (
            [entry(export="engagement"), entry("b", export="engagement", engagement_context="catalog")],
            r"mixes scopes bound by \[\['campaign_id'\], \['campaign_id', 'engagement_context'\]\]",
        ),
    ],
)
def test_scope_refuses_an_empty_or_mixed_manifest(entries: list[ManifestEntry], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        manifest_scope(entries)


def test_scope_answers_each_combination_with_its_earliest_snapshot_when_every_object_has_one() -> None:
    def answered(item: ManifestEntry, at: str | None) -> ManifestEntry:
        return item if at is None else {**item, "snapshot_at": at}  # type: ignore[typeddict-item]

    entries = flatten_manifests(
        [
            answered(entry("camp_a", "2026-01-01", "2026-03-31"), "2026-04-09T12:00:00+00:00"),
            answered(entry("camp_a", "2026-04-01", "2026-04-08"), "2026-04-09T11:00:00+00:00"),
            answered(entry("camp_b", "2026-01-01", "2026-03-31"), "2026-04-09T12:00:00+02:00"),
            answered(entry("camp_b", "2026-04-01", "2026-04-08"), None),
            answered(entry("camp_c", "2026-01-01", "2026-04-08"), "2026-04-09T13:00:00Z"),
        ]
    )

    scope = manifest_scope(entries)

    assert scope.snapshots == {
        ("camp_a",): dt.datetime(2026, 4, 9, 11, tzinfo=dt.UTC),
        ("camp_c",): dt.datetime(2026, 4, 9, 13, tzinfo=dt.UTC),
    }


def test_uncovered_days_lists_every_gap_in_order() -> None:
    whole = window("2026-01-01", "2026-01-31")
    parts = [
        window("2026-01-25", "2026-01-28"),
        window("2026-01-03", "2026-01-10"),
        window("2026-01-05", "2026-01-12"),
    ]
    assert uncovered_days(whole, parts) == [
        window("2026-01-01", "2026-01-02"),
        window("2026-01-13", "2026-01-24"),
        window("2026-01-29", "2026-01-31"),
    ]
    assert uncovered_days(whole, [whole]) == []
    assert uncovered_days(whole, []) == [whole]
