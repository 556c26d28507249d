"""Moving the sandbox's today revises the last 7 closed days and nothing older."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.encoding import loads

from .conftest import TODAY, SandboxClient

LATER = TODAY + dt.timedelta(days=3)


def rows_by_date(client: SandboxClient, kind: str, campaign_id: str) -> dict[str, list[dict[str, Any]]]:
    body = client.export(kind, campaign_id, TODAY - dt.timedelta(days=30), LATER).content
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in body.splitlines():
        row = loads(line)
        grouped.setdefault(row["report_date"], []).append(row)
    return grouped


def test_moving_today_revises_only_the_last_seven_closed_days(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    for kind in ("breakdown", "engagement"):
        client.process.set_today(TODAY)
        before = rows_by_date(client, kind, campaign_id)
        client.process.set_today(LATER)
        after = rows_by_date(client, kind, campaign_id)

        revised = {day for day in before if before[day] != after[day]}
        expected = {(TODAY - dt.timedelta(days=offset)).isoformat() for offset in range(1, 8)}
        assert revised == expected, kind
        new_days = sorted(set(after) - set(before))
        assert new_days == [(TODAY + dt.timedelta(days=offset)).isoformat() for offset in range(3)]
        for day in revised:
            for early, late in zip(before[day], after[day], strict=True):
                assert late["exported_at"] > early["exported_at"]
        totals_before = sum(row["streams"] for day in revised for row in before[day])
        totals_after = sum(row["streams"] for day in revised for row in after[day])
        assert totals_after > totals_before


def test_exported_at_follows_the_revision_day(
    truth: SandboxData, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_playlist"]["campaignId"]
    start = TODAY - dt.timedelta(days=10)
    rows = truth.breakdown_rows(campaign_id, start, TODAY, TODAY)
    exported = {row["report_date"]: row["exported_at"][:10] for row in rows}
    for offset in range(1, 11):
        day = TODAY - dt.timedelta(days=offset)
        expected = min(TODAY, day + dt.timedelta(days=8))
        assert exported[day.isoformat()] == expected.isoformat()


def test_reset_restores_the_start_up_today(client: SandboxClient) -> None:
    client.process.set_today(LATER)
    assert client.process.state()["today"] == LATER.isoformat()
    client.process.reset()
    assert client.process.state()["today"] == TODAY.isoformat()


def test_every_answer_is_dated_by_the_sandbox_clock_after_the_rows_it_carries(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    client.process.set_today(LATER)
    export = client.export("breakdown", campaign_id, LATER - dt.timedelta(days=10), LATER)
    answered = email.utils.parsedate_to_datetime(export.headers["Date"])

    assert answered == dt.datetime.combine(LATER, dt.time(12), dt.UTC)
    newest = max(loads(line)["exported_at"] for line in export.content.splitlines())
    assert dt.datetime.fromisoformat(newest) < answered
    assert client.get("/v1/ping").headers["Date"] == export.headers["Date"]
