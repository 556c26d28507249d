"""The provider's metrics: each counter sent with tags and with its main tag in its name, and the reason
a retried call is counted under."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkNetworkError,
    SoundlinkServerError,
    SoundlinkStreamError,
)
from soundlink_stand_ins.paths import REPO_ROOT


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, dict[str, Any] | None]]:
    """Record what reached Airflow's Stats."""
    calls: list[tuple[str, int, dict[str, Any] | None]] = []

    def incr(name: str, count: int = 1, rate: float = 1, tags: dict[str, Any] | None = None) -> None:
        calls.append((name, count, tags))

    monkeypatch.setattr(metrics.Stats, "incr", incr)
    return calls


def test_an_export_counts_its_rows_and_bytes_with_tags_and_by_name(sent: list[Any]) -> None:
    metrics.exported("breakdown", 120, 50_000, "daily", "export_breakdown_0")

    tags = {"export": "breakdown", "dag_id": "daily", "task_id": "export_breakdown_0"}
    assert sent == [
        ("soundlink.export.rows", 120, tags),
        ("soundlink.export.breakdown.rows", 120, None),
        ("soundlink.export.bytes", 50_000, tags),
        ("soundlink.export.breakdown.bytes", 50_000, None),
    ]


def test_a_merge_counts_inserted_deleted_and_billed(sent: list[Any]) -> None:
    metrics.merged("campaign_country_daily", 40, 3, 10_485_760, "daily", "merge_breakdown")

    named = {name: count for name, count, tags in sent if tags is None}
    assert named == {
        "soundlink.merge.campaign_country_daily.rows_inserted": 40,
        "soundlink.merge.campaign_country_daily.rows_deleted": 3,
        "soundlink.bigquery.campaign_country_daily.bytes_billed": 10_485_760,
    }
    assert all(tags["table"] == "campaign_country_daily" for _, _, tags in sent if tags is not None)


CONTEXT = RequestContext("soundlink_default", "/v1/campaigns", {})


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (SoundlinkServerError(503, "unavailable", "try later", "req_1", CONTEXT), "503"),
        (SoundlinkNetworkError("Soundlink GET /v1/campaigns got no response"), "network"),
        (SoundlinkStreamError("cut off", "req_2"), "stream"),
    ],
)
def test_a_retry_is_counted_under_its_reason(sent: list[Any], error: Exception, reason: str) -> None:
    metrics.api_retry(error)  # type: ignore[arg-type]

    assert sent == [
        ("soundlink.api.retries", 1, {"reason": reason}),
        (f"soundlink.api.retries.{reason}", 1, None),
    ]


def test_the_documented_metrics_are_the_ones_sent(sent: list[Any]) -> None:
    metrics.exported("<export>", 1, 1, "dag", "task")
    metrics.merged("<table>", 1, 1, 1, "dag", "task")
    metrics.api_retry(SimpleNamespace(status="<reason>"))  # type: ignore[arg-type]

    table = (REPO_ROOT / "docs" / "operating.md").read_text().split("## Lineage")[0]
    documented = set(re.findall(r"`(soundlink\.[a-z_.<>]+)`", table))
    assert documented == {name for name, _, _ in sent}
