"""Reconciliation against the overview endpoint: a loaded table agrees with Soundlink's totals, and a
table that lost a row or holds a wrong value is caught, campaign by campaign and metric by metric."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_soundlink.core.exports import ExportKind
from airflow_provider_soundlink.core.reconciliation import RECONCILED_METRICS
from airflow_provider_soundlink.errors import SoundlinkReconciliationError
from airflow_provider_soundlink.operators import SoundlinkReconcileOperator
from support.operator_pipeline import (
    ENDED_CAMPAIGN,
    PLAYLIST_CAMPAIGN,
    RECENT_WINDOW,
    TRACK_CAMPAIGN,
    YESTERDAY,
    Pipeline,
)
from support.task_context import task_context

CAMPAIGNS = [TRACK_CAMPAIGN, PLAYLIST_CAMPAIGN, ENDED_CAMPAIGN]


def reconcile(pipeline: Pipeline, window: tuple[dt.date, dt.date], **options: Any) -> dict[str, Any]:
    operator = SoundlinkReconcileOperator(
        task_id="reconcile_breakdown",
        campaign_ids=options.pop("campaign_ids", CAMPAIGNS),
        report_start_date=window[0].isoformat(),
        report_end_date=window[1],
        project_id=pipeline.project,
        dataset_id=pipeline.dataset,
        **options,
    )
    result: dict[str, Any] = operator.execute(task_context(operator.task_id))
    return result


def table(pipeline: Pipeline) -> str:
    return f"`{pipeline.project}.{pipeline.dataset}.campaign_country_daily`"


def test_a_loaded_window_agrees_with_the_overview_in_slices_of_at_most_90_days(pipeline: Pipeline) -> None:
    window = (dt.date(2026, 3, 1), YESTERDAY)  # 106 days: two overview calls per campaign
    pipeline.run(ExportKind.BREAKDOWN, CAMPAIGNS, window)

    result = reconcile(pipeline, window)

    assert result == {
        "campaigns": 3,
        "metrics": list(RECONCILED_METRICS),
        "tolerance": "0.1 % or 0.01, whichever is larger",
        "differences": [],
    }
    overview_calls = [r for r in pipeline.sandbox.requests_log() if r["path"].endswith("/metrics/overview")]
    assert sorted((r["path"].split("/")[3], r["query"]["startDate"]) for r in overview_calls) == sorted(
        (campaign, start) for campaign in CAMPAIGNS for start in ("2026-03-01", "2026-05-30")
    )


def test_a_lost_row_and_a_wrong_value_fail_the_check_with_a_table_of_the_differences(
    pipeline: Pipeline,
) -> None:
    pipeline.run(ExportKind.BREAKDOWN, CAMPAIGNS, RECENT_WINDOW)
    assert reconcile(pipeline, RECENT_WINDOW)["differences"] == []
    pipeline.client.query(
        f"UPDATE {table(pipeline)} SET spend_media = spend_media + 2.5 "
        f"WHERE campaign_id = '{TRACK_CAMPAIGN}' AND report_date = DATE '2026-06-03'"
        " AND country_code = (SELECT MIN(country_code) FROM "
        f"{table(pipeline)} WHERE campaign_id = '{TRACK_CAMPAIGN}' AND report_date = DATE '2026-06-03')"
    ).result()
    pipeline.client.query(
        f"DELETE FROM {table(pipeline)} WHERE campaign_id = '{PLAYLIST_CAMPAIGN}' "
        "AND report_date = DATE '2026-06-05'"
    ).result()

    with pytest.raises(SoundlinkReconciliationError) as failure:
        reconcile(pipeline, RECENT_WINDOW)

    message = str(failure.value)
    assert "disagrees with Soundlink's overview over 2026-06-01..2026-06-14 for 2 of 3 campaigns" in message
    lines = message.splitlines()
    assert lines[1].split() == ["campaign_id", "metric", "table", "api", "difference"]
    differing = {(line.split()[0], line.split()[1]) for line in lines[2:]}
    assert (TRACK_CAMPAIGN, "spend_media") in differing
    assert (TRACK_CAMPAIGN, "spend_total") not in differing
    assert {metric for campaign, metric in differing if campaign == PLAYLIST_CAMPAIGN} >= {
        "impressions",
        "streams",
        "spend_media",
    }
    assert ENDED_CAMPAIGN not in {campaign for campaign, _ in differing}
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[2:]}
    table_value, api_value, difference = rows[(TRACK_CAMPAIGN, "spend_media")]
    assert Decimal(difference) == Decimal(table_value) - Decimal(api_value) == Decimal("2.5")


def test_warn_logs_the_differences_and_returns_them_without_failing(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    pipeline.client.query(f"DELETE FROM {table(pipeline)} WHERE report_date = DATE '2026-06-10'").result()

    with caplog.at_level(logging.WARNING):
        result = reconcile(pipeline, RECENT_WINDOW, campaign_ids=[TRACK_CAMPAIGN], on_mismatch="warn")

    assert {difference["metric"] for difference in result["differences"]} >= {"impressions", "streams"}
    assert all(difference["campaign_id"] == TRACK_CAMPAIGN for difference in result["differences"])
    logs = caplog.text + "".join(capsys.readouterr())
    assert "disagrees with Soundlink's overview" in logs
    assert "campaign_id                           metric" in logs


def test_a_difference_inside_the_tolerance_passes_and_one_outside_it_does_not(pipeline: Pipeline) -> None:
    pipeline.run(ExportKind.BREAKDOWN, [TRACK_CAMPAIGN], RECENT_WINDOW)
    pipeline.client.query(
        f"UPDATE {table(pipeline)} SET impressions = impressions + 1 WHERE report_date = DATE '2026-06-02'"
        f" AND country_code = (SELECT MIN(country_code) FROM {table(pipeline)}"
        " WHERE report_date = DATE '2026-06-02')"
    ).result()

    assert reconcile(pipeline, RECENT_WINDOW, campaign_ids=[TRACK_CAMPAIGN])["differences"] == []
    with pytest.raises(SoundlinkReconciliationError, match="impressions"):
        reconcile(
            pipeline, RECENT_WINDOW, campaign_ids=[TRACK_CAMPAIGN], relative_tolerance=0, absolute_tolerance=0
        )
