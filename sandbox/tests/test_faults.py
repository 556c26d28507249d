"""Every fault kind, their order and counts, and the request log."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

from soundlink_sandbox.encoding import loads
from soundlink_sandbox.testing import SandboxProcess

from .conftest import TODAY, SandboxClient

START, END = TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1)


@pytest.fixture
def export_path(campaigns: dict[str, dict[str, Any]]) -> str:
    return f"/v1/campaigns/{campaigns['active_track']['campaignId']}/metrics/breakdown/export"


def get_export(client: SandboxClient, path: str) -> requests.Response:
    return client.get(path, startDate=START.isoformat(), endDate=END.isoformat())


def test_status_fault_sends_the_error_envelope_and_retry_after(
    client: SandboxClient, export_path: str
) -> None:
    client.process.add_fault(path="/metrics/", kind="status", status=429, retry_after=3, count=2)
    for _ in range(2):
        response = get_export(client, export_path)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
        assert response.json()["meta"]["requestId"] == response.headers["X-Request-Id"]
    assert get_export(client, export_path).status_code == 200
    assert [entry["status"] for entry in client.process.requests_log()] == [429, 429, 200]


def test_status_fault_with_custom_code(client: SandboxClient) -> None:
    client.process.add_fault(path="ping", kind="status", status=503, code="maintenance")
    response = client.get("/v1/ping")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "maintenance")
    assert "Retry-After" not in response.headers


def test_reset_fault_closes_without_response(client: SandboxClient) -> None:
    client.process.add_fault(path="ping", kind="reset")
    with pytest.raises(requests.ConnectionError):
        client.get("/v1/ping")
    assert client.get("/v1/ping").status_code == 200
    assert [entry["status"] for entry in client.process.requests_log()] == [None, 200]


def test_slow_fault_delays_then_answers(client: SandboxClient) -> None:
    client.process.add_fault(path="ping", kind="slow", delay=0.5)
    with pytest.raises(requests.ReadTimeout):
        client.session.get(
            client.process.base_url + "/v1/ping", headers={"x-api-key": "sk_sandbox_all"}, timeout=0.1
        )
    client.process.add_fault(path="ping", kind="slow", delay=0.05)
    assert client.get("/v1/ping").status_code == 200


def test_cut_fault_truncates_the_chunked_body(client: SandboxClient, export_path: str) -> None:
    client.process.add_fault(path="export", kind="cut", after_lines=7)
    streamed = client.session.get(
        client.process.base_url + export_path,
        headers={"x-api-key": "sk_sandbox_all"},
        params={"startDate": START.isoformat(), "endDate": END.isoformat()},
        stream=True,
        timeout=10,
    )
    assert int(streamed.headers["X-Row-Count"]) > 7
    received = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in streamed.iter_lines():
            received.append(line)
    assert len(received) == 7
    assert all(loads(line)["schema_version"] == "1.0" for line in received)
    assert len(get_export(client, export_path).content.splitlines()) == int(streamed.headers["X-Row-Count"])


def test_short_fault_ends_cleanly_with_missing_lines(client: SandboxClient, export_path: str) -> None:
    client.process.add_fault(path="export", kind="short", missing_lines=4)
    response = get_export(client, export_path)
    lines = response.content.splitlines()
    assert len(lines) == int(response.headers["X-Row-Count"]) - 4
    assert [json.loads(line) for line in lines]


def test_bad_line_fault_corrupts_one_line(client: SandboxClient, export_path: str) -> None:
    client.process.add_fault(path="export", kind="bad_line", at_line=3)
    lines = get_export(client, export_path).content.splitlines()
    unparsable = []
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            unparsable.append(number)
    assert unparsable == [3]


def test_schema_version_fault_on_export_and_listing(
    client: SandboxClient, export_path: str, campaigns: dict[str, dict[str, Any]]
) -> None:
    client.process.add_fault(path="/metrics/", kind="schema_version", version="9.9", count=2)
    rows = [json.loads(line) for line in get_export(client, export_path).content.splitlines()]
    assert {row["schema_version"] for row in rows} == {"9.9"}
    listing_path = f"/v1/campaigns/{campaigns['active_track']['campaignId']}/metrics/engagement"
    listing = client.get(listing_path, startDate=START.isoformat(), endDate=END.isoformat()).json()["data"]
    assert listing["schemaVersion"] == "9.9"
    assert {item["schema_version"] for item in listing["items"]} == {"9.9"}
    assert {
        json.loads(line)["schema_version"] for line in get_export(client, export_path).content.splitlines()
    } == {"1.0"}


@pytest.mark.parametrize("value", ["fans", 42, 1.25, True, None, {"tier": "gold"}, [1, 2]])
def test_extra_field_fault_adds_a_field_of_any_json_value_to_every_export_row(
    client: SandboxClient, export_path: str, value: object
) -> None:
    plain = [json.loads(line) for line in get_export(client, export_path).content.splitlines()]
    client.process.add_fault(path="/metrics/", kind="extra_field", field="audience_segment", value=value)
    widened = [json.loads(line) for line in get_export(client, export_path).content.splitlines()]
    assert len(widened) == len(plain) > 0
    assert [{**row, "audience_segment": value} for row in plain] == widened


@pytest.mark.parametrize("json_text", ["12.5", "NaN", "1e-40", '"twelve"'])
def test_set_value_fault_writes_its_text_as_one_lines_value(
    client: SandboxClient, export_path: str, json_text: str
) -> None:
    plain = get_export(client, export_path).content.splitlines()
    client.process.add_fault(
        path="/metrics/", kind="set_value", field="streams", json_text=json_text, at_line=2
    )
    faulted = get_export(client, export_path).content.splitlines()

    assert len(faulted) == len(plain) > 2
    assert [faulted[0], *faulted[2:]] == [plain[0], *plain[2:]]
    row = json.loads(faulted[1], parse_constant=str)
    expected = json.loads(json_text, parse_constant=str)
    assert row == {**json.loads(plain[1]), "streams": expected}
    assert f'"streams":{json_text},'.encode() in faulted[1]


def test_drop_row_fault_leaves_out_one_line_and_counts_one_less(
    client: SandboxClient, export_path: str
) -> None:
    plain = get_export(client, export_path)
    client.process.add_fault(path="/metrics/", kind="drop_row", at_line=3)
    revised = get_export(client, export_path)

    lines = plain.content.splitlines()
    assert revised.content.splitlines() == [*lines[:2], *lines[3:]]
    assert int(revised.headers["X-Row-Count"]) == int(plain.headers["X-Row-Count"]) - 1 == len(lines) - 1


def test_body_faults_wait_for_a_stream_and_ignore_refused_requests(
    client: SandboxClient, export_path: str
) -> None:
    client.process.add_fault(path="/metrics/", kind="short", missing_lines=1)
    assert client.get("/v1/ping").status_code == 200
    assert client.get(export_path, key="sk_sandbox_revoked").status_code == 401
    assert client.get(export_path.removesuffix("/export"), startDate=START.isoformat()).status_code == 200
    response = get_export(client, export_path)
    assert len(response.content.splitlines()) == int(response.headers["X-Row-Count"]) - 1
    fault = client.process.state()["faults"][0]
    assert fault["remaining"] == 0


def test_faults_match_in_the_order_added(client: SandboxClient) -> None:
    first = client.process.add_fault(path="ping", kind="status", status=500)
    second = client.process.add_fault(path="p.ng", kind="status", status=503, count=2)
    assert first != second
    statuses = [client.get("/v1/ping").status_code for _ in range(4)]
    assert statuses == [500, 503, 503, 200]


def test_clear_faults(client: SandboxClient) -> None:
    client.process.add_fault(path="ping", kind="status", status=500, count=5)
    client.process.clear_faults()
    assert client.get("/v1/ping").status_code == 200
    assert client.process.state()["faults"] == []


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "x", "kind": "teleport"},
        {"path": "(", "kind": "reset"},
        {"kind": "reset"},
        {"path": "x", "kind": "status"},
        {"path": "x", "kind": "status", "status": 200},
        {"path": "x", "kind": "cut", "after_lines": "many"},
        {"path": "x", "kind": "reset", "count": 0},
        {"path": "x", "kind": "slow", "delay": 1, "extra": True},
    ],
)
def test_invalid_fault_specs_are_refused(sandbox: SandboxProcess, spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid_admin_request"):
        sandbox.add_fault(**spec)
    assert sandbox.state()["faults"] == []


def test_request_log_records_method_path_query_and_status(client: SandboxClient) -> None:
    client.get("/v1/campaigns", pageSize="3")
    client.get("/v1/campaigns/camp_nope")
    client.process.state()
    assert client.process.requests_log() == [
        {"method": "GET", "path": "/v1/campaigns", "query": {"pageSize": "3"}, "status": 200},
        {"method": "GET", "path": "/v1/campaigns/camp_nope", "query": {}, "status": 404},
    ]


def test_reset_waits_for_an_answer_its_client_gave_up_on(client: SandboxClient) -> None:
    """A slow answer is logged when it is written: reset (every test's start) waits for it, so it cannot
    land in the next test's log."""
    client.process.add_fault(path="ping", kind="slow", delay=0.5)
    with pytest.raises(requests.ReadTimeout):
        client.session.get(
            client.process.base_url + "/v1/ping", headers={"x-api-key": "sk_sandbox_all"}, timeout=0.1
        )
    assert client.process.state()["requestsInFlight"] == 1
    client.process.reset()
    assert client.process.state()["requestsInFlight"] == 0
    assert client.process.requests_log() == []
