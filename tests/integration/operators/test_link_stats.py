"""Link click statistics end to end: the sandbox API -> fake-gcs-server -> local-bigquery, checked against
the sandbox's own truth data, with personal data pseudonymised unless explicitly stored raw."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook
from airflow.providers.google.cloud.hooks.gcs import GCSHook

from airflow_provider_soundlink.core.manifest import ManifestEntry
from airflow_provider_soundlink.core.pseudonymise import pseudonymise
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.operators import (
    SoundlinkBigQueryMergeOperator,
    SoundlinkLinkStatsToGCSOperator,
)
from soundlink_sandbox.testing import SandboxProcess
from soundlink_stand_ins.pipeline import without_timestamps
from support.link_stats_truth import TRUTH, day_bounds, link_stats_truth
from support.task_context import task_context

KEY = "link-stats-test-key"
DAYS = [dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)]

Row = dict[str, Any]


def truth_rows(
    groupings: Sequence[str | None], key: str | None = KEY, *, campaign_id: str = "", subscriber: str = ""
) -> list[Row]:
    return link_stats_truth(DAYS, groupings, key, campaign_id=campaign_id, subscriber=subscriber)


@dataclass
class LinkStatsPipeline:
    project: str
    bucket: str
    dataset: str
    connection: dict[str, Any]
    monkeypatch: pytest.MonkeyPatch

    def use_key(self, key: str | None) -> None:
        extra = {} if key is None else {"pseudonymisation_secret": key}
        self.monkeypatch.setenv(
            "AIRFLOW_CONN_SOUNDLINK_DEFAULT", json.dumps({**self.connection, "extra": extra})
        )

    def export(self, groupings: Sequence[str | None], **options: Any) -> list[ManifestEntry]:
        operator = SoundlinkLinkStatsToGCSOperator(
            task_id="link_stats",
            groupings=list(groupings),
            report_start_date=DAYS[0].isoformat(),
            report_end_date=DAYS[-1],
            bucket=self.bucket,
            **options,
        )
        return operator.execute(task_context(operator.task_id))

    def merge(self, manifest: Any) -> dict[str, Any]:
        operator = SoundlinkBigQueryMergeOperator(
            task_id="merge_link_stats",
            export="link_stats",
            manifest=manifest,
            project_id=self.project,
            dataset_id=self.dataset,
        )
        return operator.execute(task_context(operator.task_id))

    def run(self, groupings: Sequence[str | None], **options: Any) -> list[ManifestEntry]:
        manifest = self.export(groupings, **options)
        self.merge(manifest)
        return manifest

    def stored(self) -> list[Row]:
        client = BigQueryHook(use_legacy_sql=False).get_client(project_id=self.project)
        rows = client.list_rows(f"{self.project}.{self.dataset}.link_clicks_daily")
        return sorted((dict(row.items()) for row in rows), key=lambda row: repr(without_timestamps(row)))

    def object_texts(self) -> dict[str, str]:
        gcs = GCSHook()
        return {
            name: gcs.download(bucket_name=self.bucket, object_name=name).decode()
            for name in gcs.list(bucket_name=self.bucket)
        }


@pytest.fixture
def link_stats(
    gcp_emulators: Any,
    sandbox: SandboxProcess,
    soundlink_connection: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> LinkStatsPipeline:
    pipeline = LinkStatsPipeline(
        project=gcp_emulators.project,
        bucket=gcp_emulators.create_bucket("soundlink-link-stats"),
        dataset=f"soundlink_{uuid.uuid4().hex[:8]}",
        connection=soundlink_connection,
        monkeypatch=monkeypatch,
    )
    pipeline.use_key(KEY)
    return pipeline


def test_pages_that_move_while_read_are_read_and_uploaded_again_never_doubling_a_group(
    link_stats: LinkStatsPipeline, sandbox: SandboxProcess
) -> None:
    sandbox.add_fault(path="link/stats", kind="shift", count=1)

    manifest = link_stats.run(["ip"], page_size=5)

    assert [without_timestamps(row) for row in link_stats.stored()] == truth_rows(["ip"])
    offsets = [int(entry["query"]["offset"]) for entry in sandbox.requests_log()]
    # The first day's pages: 0, 5 (moved), then read again from 0.
    assert offsets[:3] == [0, 5, 0]
    assert [entry["row_count"] for entry in manifest] == [
        len([row for row in truth_rows(["ip"]) if row["report_date"] == day]) for day in DAYS
    ]


def test_several_groupings_over_several_days_land_as_the_truth_across_many_pages(
    link_stats: LinkStatsPipeline, sandbox: SandboxProcess
) -> None:
    groupings = [None, "country", "params", "device"]
    manifest = link_stats.run(groupings, page_size=5)

    assert [without_timestamps(row) for row in link_stats.stored()] == truth_rows(groupings)
    assert [(entry["start_date"], entry["scope"]["group_by"]) for entry in manifest] == [
        (day.isoformat(), grouping or "total") for day in DAYS for grouping in groupings
    ]
    assert (
        manifest[1]["uri"]
        == f"gs://{link_stats.bucket}/soundlink/link_clicks_daily/group_by=country/2026-06-01.jsonl"
    )
    assert manifest[0]["uri"].endswith("/link_clicks_daily/group_by=total/2026-06-01.jsonl")
    pages = sorted(
        (
            request["query"]["period_from"][:10],
            request["query"].get("group", ""),
            int(request["query"]["offset"]),
        )
        for request in sandbox.requests_log()
        if request["path"] == "/tracking/link/stats/aggregated"
    )
    expected_pages = sorted(
        (day.isoformat(), grouping or "", offset)
        for day in DAYS
        for grouping in groupings
        for offset in range(0, max(len(TRUTH.link_clicks(*day_bounds(day), group=grouping)), 1), 5)
    )
    assert pages == expected_pages
    assert max(offset for *_, offset in pages) >= 10


def test_rerunning_leaves_the_same_rows_with_later_fetch_times(link_stats: LinkStatsPipeline) -> None:
    groupings = [None, "params"]
    link_stats.run(groupings)
    first = link_stats.stored()
    link_stats.run(groupings)
    second = link_stats.stored()

    assert [without_timestamps(row) for row in second] == [without_timestamps(row) for row in first]
    assert [without_timestamps(row) for row in second] == truth_rows(groupings)
    assert all(b["exported_at"] > a["exported_at"] for a, b in zip(first, second, strict=True))


def test_a_run_replaces_only_its_own_groupings_and_filters(link_stats: LinkStatsPipeline) -> None:
    campaign_id = TRUTH.click_events(*day_bounds(DAYS[0]))[0].campaign_id
    link_stats.run([None, "device"])
    link_stats.run(["device"], campaign_id=campaign_id)
    link_stats.run([None])

    assert [without_timestamps(row) for row in link_stats.stored()] == sorted(
        truth_rows([None, "device"]) + truth_rows(["device"], campaign_id=campaign_id), key=repr
    )


def test_personal_data_is_pseudonymised_everywhere_by_default(
    link_stats: LinkStatsPipeline, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [event for day in DAYS for event in TRUTH.click_events(*day_bounds(day))]
    subscriber = events[0].subscriber_id
    raw_values = {event.ip for event in events} | {event.subscriber_id for event in events}
    caplog.set_level(logging.DEBUG)

    manifest = link_stats.run(["ip", "subscriber_id"])
    manifest += link_stats.run(["ip"], subscriber_id=subscriber)

    stored = link_stats.stored()
    places = {
        "GCS objects": json.dumps(link_stats.object_texts()),
        "BigQuery table": repr(stored),
        "logs": caplog.text + "".join(capsys.readouterr()),
        "manifest": json.dumps(manifest),
    }
    leaks = {place: sorted(v for v in raw_values if v in text)[:3] for place, text in places.items()}
    assert leaks == {place: [] for place in places}
    expected = truth_rows(["ip", "subscriber_id"]) + truth_rows(["ip"], subscriber=subscriber)
    assert [without_timestamps(row) for row in stored] == sorted(expected, key=repr)
    assert pseudonymise(subscriber, KEY) in places["manifest"]
    assert all(row["pseudonymised"] for row in stored)


def test_a_templated_subscriber_filter_reaches_the_api_but_not_the_rendered_fields(
    link_stats: LinkStatsPipeline, sandbox: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Airflow stores what rendering leaves in the template fields (the metadata database, the UI)."""
    subscriber = next(event.subscriber_id for day in DAYS for event in TRUTH.click_events(*day_bounds(day)))
    caplog.set_level(logging.DEBUG)
    operator = SoundlinkLinkStatsToGCSOperator(
        task_id="link_stats",
        groupings=["country"],
        report_start_date=DAYS[0].isoformat(),
        report_end_date=DAYS[-1],
        bucket=link_stats.bucket,
        subscriber_id="{{ subscriber }}",
    )
    context: Any = {**task_context(operator.task_id), "subscriber": subscriber}

    operator.render_template_fields(context)
    rendered = {field: getattr(operator, field) for field in operator.template_fields}
    manifest = operator.execute(context)

    assert rendered["subscriber_id"] == pseudonymise(subscriber, KEY)
    assert subscriber not in json.dumps(rendered, default=str)
    sent = [
        entry["query"].get("subscriber_id")
        for entry in sandbox.requests_log()
        if "/link/stats" in entry["path"]
    ]
    assert sent and set(sent) == {subscriber}
    assert subscriber not in json.dumps(manifest) + caplog.text
    assert {entry["scope"]["filter_subscriber_id"] for entry in manifest} == {pseudonymise(subscriber, KEY)}


def test_personal_data_is_stored_raw_only_when_opted_in(
    link_stats: LinkStatsPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    link_stats.use_key(None)
    caplog.set_level(logging.WARNING)

    manifest = link_stats.run(["ip", "subscriber_id", "country"], store_personal_data_raw=True)

    stored = link_stats.stored()
    assert [without_timestamps(row) for row in stored] == truth_rows(
        ["ip", "subscriber_id", "country"], key=None
    )
    ips = {event.ip for day in DAYS for event in TRUTH.click_events(*day_bounds(day))}
    assert (
        ips
        <= {row["group_value"] for row in stored}
        <= ips
        | {event.subscriber_id for day in DAYS for event in TRUTH.click_events(*day_bounds(day))}
        | {event.country for day in DAYS for event in TRUTH.click_events(*day_bounds(day))}
    )
    assert any(ip in text for ip in ips for text in link_stats.object_texts().values())
    assert not any(row["pseudonymised"] for row in stored)
    assert len(manifest) == 3 * len(DAYS)


def test_a_missing_key_fails_naming_the_connection_extra(link_stats: LinkStatsPipeline) -> None:
    link_stats.use_key(None)

    with pytest.raises(
        SoundlinkConfigurationError, match="soundlink_default' has no pseudonymisation_secret extra"
    ):
        link_stats.export(["country"])
    assert link_stats.object_texts() == {}
