"""Keys, scopes and the error envelope of every refusal."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from soundlink_sandbox import keys

from .conftest import TODAY, SandboxClient


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["meta"]["requestId"].startswith("req_")
    assert response.headers["X-Request-Id"] == body["meta"]["requestId"]
    error: dict[str, Any] = body["error"]
    return error


def test_ping_answers_every_usable_key_whatever_its_scopes(client: SandboxClient) -> None:
    for key in (keys.KEY_ALL, keys.KEY_METRICS_ONLY, keys.KEY_CAMPAIGNS_ONLY):
        response = client.get("/v1/ping", key=key)
        assert response.status_code == 200
        assert response.json()["data"] == {"status": "ok"}
        assert response.json()["meta"]["requestId"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "invalid_api_key"),
        ("", 401, "invalid_api_key"),
        ("sk_not_a_sandbox_key", 401, "invalid_api_key"),
        (keys.KEY_REVOKED, 401, "api_key_revoked"),
        (keys.KEY_EXPIRED, 401, "api_key_expired"),
        (keys.KEY_API_DISABLED, 404, "not_found"),
    ],
)
def test_unusable_keys_are_refused(client: SandboxClient, key: str | None, status: int, code: str) -> None:
    error = assert_error(client.get("/v1/ping", key=key), status, code)
    if key:
        assert key not in error["message"]


def test_a_disabled_public_api_hides_every_route(client: SandboxClient, campaigns: dict[str, Any]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    for path in ("/v1/campaigns", f"/v1/campaigns/{campaign_id}", "/tracking/link/stats/aggregated"):
        assert_error(client.get(path, key=keys.KEY_API_DISABLED), 404, "not_found")


def test_bearer_with_api_key_is_mixed_credentials(client: SandboxClient) -> None:
    response = client.session.get(
        client.process.base_url + "/v1/ping",
        headers={"x-api-key": keys.KEY_ALL, "Authorization": "Bearer token"},
        timeout=10,
    )
    assert_error(response, 401, "mixed_credentials")


@pytest.mark.parametrize(
    ("key", "path_suffix", "scope"),
    [
        (keys.KEY_METRICS_ONLY, "", keys.SCOPE_CAMPAIGNS_READ),
        (keys.KEY_CAMPAIGNS_ONLY, "/metrics/overview", keys.SCOPE_METRICS_READ),
        (keys.KEY_CAMPAIGNS_ONLY, "/metrics/breakdown/export", keys.SCOPE_METRICS_READ),
        (keys.KEY_CAMPAIGNS_ONLY, "/metrics/engagement", keys.SCOPE_METRICS_READ),
    ],
)
def test_missing_scope_is_named(
    client: SandboxClient, campaigns: dict[str, Any], key: str, path_suffix: str, scope: str
) -> None:
    path = f"/v1/campaigns/{campaigns['active_track']['campaignId']}{path_suffix}"
    error = assert_error(client.get(path, key=key), 403, "insufficient_scope")
    assert scope in error["message"]


def test_metrics_only_key_still_reads_metrics_of_a_known_campaign(
    client: SandboxClient, campaigns: dict[str, Any]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.export(
        "breakdown", campaign_id, TODAY - dt.timedelta(days=3), TODAY, key=keys.KEY_METRICS_ONLY
    )
    assert response.status_code == 200
    assert int(response.headers["X-Row-Count"]) > 0


def test_link_stats_need_metrics_scope(client: SandboxClient) -> None:
    response = client.get(
        "/tracking/link/stats/aggregated",
        key=keys.KEY_CAMPAIGNS_ONLY,
        period_from="2026-04-01T00:00:00.000Z",
        period_to="2026-04-02T00:00:00.000Z",
    )
    assert "metrics:read" in assert_error(response, 403, "insufficient_scope")["message"]


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/campaigns/x/metrics/nothing", "/v2/ping", "/"])
def test_unknown_paths_are_not_found(client: SandboxClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


def test_unknown_campaign_is_campaign_not_found(client: SandboxClient) -> None:
    for suffix in ("", "/metrics/overview", "/metrics/breakdown", "/metrics/engagement/export"):
        assert_error(client.get(f"/v1/campaigns/camp_unknown{suffix}"), 404, "campaign_not_found")


def test_other_methods_are_not_found(client: SandboxClient) -> None:
    response = client.session.post(
        client.process.base_url + "/v1/campaigns", headers={"x-api-key": keys.KEY_ALL}, timeout=10
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"startDate": "2026-13-01", "endDate": "2026-05-01"}, "startDate"),
        ({"startDate": "2026-05-01", "endDate": "01/05/2026"}, "endDate"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"pageSize": "-5"}, "pageSize"),
        ({"sortBy": "listeners"}, "sortBy"),
        ({"sortOrder": "up"}, "sortOrder"),
    ],
)
def test_bad_parameters_are_named(
    client: SandboxClient, campaigns: dict[str, Any], params: dict[str, str], parameter: str
) -> None:
    path = f"/v1/campaigns/{campaigns['active_track']['campaignId']}/metrics/breakdown"
    error = assert_error(client.get(path, **params), 400, "invalid_query_parameter")
    assert parameter in error["message"]


def test_engagement_context_must_be_known(client: SandboxClient, campaigns: dict[str, Any]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.export("engagement", campaign_id, TODAY, TODAY, engagementContext="radio")
    assert "engagementContext" in assert_error(response, 400, "invalid_query_parameter")["message"]


@pytest.mark.parametrize(
    ("path", "maximum"),
    [("/v1/campaigns", 100), ("/metrics/breakdown", 500), ("/metrics/engagement", 500)],
)
def test_page_size_above_the_endpoint_maximum(
    client: SandboxClient, campaigns: dict[str, Any], path: str, maximum: int
) -> None:
    if path.startswith("/metrics"):
        path = f"/v1/campaigns/{campaigns['active_track']['campaignId']}{path}"
    assert client.get(path, pageSize=str(maximum)).status_code == 200
    assert_error(client.get(path, pageSize=str(maximum + 1)), 400, "page_size_exceeded")


def test_window_of_90_days_passes_and_91_is_refused(client: SandboxClient, campaigns: dict[str, Any]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    start = dt.date(2026, 1, 1)
    for kind in ("breakdown", "engagement"):
        assert client.export(kind, campaign_id, start, start + dt.timedelta(days=89)).status_code == 200
        too_long = client.export(kind, campaign_id, start, start + dt.timedelta(days=90))
        assert "91 days" in assert_error(too_long, 400, "invalid_date_range")["message"]


def test_vendor_quarter_example_is_91_days_and_refused(
    client: SandboxClient, campaigns: dict[str, Any]
) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.export("breakdown", campaign_id, dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert_error(response, 400, "invalid_date_range")


def test_end_before_start_is_invalid_date_range(client: SandboxClient, campaigns: dict[str, Any]) -> None:
    campaign_id = campaigns["active_track"]["campaignId"]
    response = client.export("breakdown", campaign_id, dt.date(2026, 4, 2), dt.date(2026, 4, 1))
    assert_error(response, 400, "invalid_date_range")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"period_to": "2026-04-02T00:00:00Z"}, "period_from"),
        ({"period_from": "2026-04-01T00:00:00Z"}, "period_to"),
        ({"period_from": "yesterday", "period_to": "2026-04-02T00:00:00Z"}, "period_from"),
        ({"period_from": "2026-04-03T00:00:00Z", "period_to": "2026-04-02T00:00:00Z"}, "period_to"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"group": "planet"}, "group"),
        ({"sort": "count desc"}, "sort"),
        ({"campaign_id": "camp;drop"}, "campaign_id"),
    ],
)
def test_link_stats_bad_parameters(client: SandboxClient, params: dict[str, str], parameter: str) -> None:
    query = {"period_from": "2026-04-01T00:00:00Z", "period_to": "2026-04-02T00:00:00Z", **params}
    if parameter in ("period_from", "period_to") and parameter not in params:
        del query[parameter]
    response = client.get("/tracking/link/stats/aggregated", **query)
    assert parameter in assert_error(response, 400, "invalid_query_parameter")["message"]


def test_the_key_never_reaches_the_request_log_or_state(client: SandboxClient) -> None:
    client.get("/v1/ping")
    client.get("/v1/ping", key=keys.KEY_REVOKED)
    log = client.process.requests_log()
    assert [entry["status"] for entry in log] == [200, 401]
    exposed = repr(log) + repr(client.process.state())
    assert keys.KEY_ALL not in exposed
    assert keys.KEY_REVOKED not in exposed
