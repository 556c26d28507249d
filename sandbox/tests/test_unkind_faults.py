"""Faults that make the sandbox as unkind as a real server: capped pages, unframed and trickled
bodies, redirects, keys echoed in error messages; each over real HTTP, and how they combine."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess

from .conftest import TODAY, SandboxClient

WINDOW = {
    "startDate": (TODAY - dt.timedelta(days=5)).isoformat(),
    "endDate": (TODAY - dt.timedelta(days=1)).isoformat(),
}
LINK_STATS = "/tracking/link/stats/aggregated"
PERIOD = {"period_from": "2026-03-01T00:00:00Z", "period_to": "2026-03-31T23:59:59Z"}
PERIOD_BOUNDS = (
    dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.UTC),
)
API_KEY = {"x-api-key": KEY_ALL}


@pytest.fixture
def export_path(campaigns: dict[str, dict[str, Any]]) -> str:
    return f"/v1/campaigns/{campaigns['active_track']['campaignId']}/metrics/breakdown/export"


def remaining(process: SandboxProcess) -> list[int]:
    return [fault["remaining"] for fault in process.state()["faults"]]


def raw_get(process: SandboxProcess, path: str, params: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """GET over a bare socket, reading until the server closes the connection: (headers, body)."""
    address = urlsplit(process.base_url)
    request = (
        f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: {address.netloc}\r\nx-api-key: {KEY_ALL}\r\n\r\n"
    )
    received = bytearray()
    # The timeout only bounds a server that never closes: the test fails instead of hanging.
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(request.encode())
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    assert status_line == "HTTP/1.1 200 OK"
    headers = dict(line.split(": ", 1) for line in header_lines)
    return {name.lower(): value for name, value in headers.items()}, body


# page_cap ----------------------------------------------------------------------------------------


def test_page_cap_on_link_stats_serves_and_reports_the_capped_limit(
    client: SandboxClient, truth: SandboxData
) -> None:
    everything = truth.link_clicks(*PERIOD_BOUNDS, group="ip")
    client.process.add_fault(path="link/stats", kind="page_cap", max_items=7)
    body = client.get(LINK_STATS, group="ip", offset="10", limit="50", **PERIOD).json()
    assert body["data"] == everything[10:17]
    assert {name: body["meta"][name] for name in ("count", "offset", "limit")} == {
        "count": len(everything),
        "offset": 10,
        "limit": 7,
    }
    assert client.get(LINK_STATS, group="ip", limit="50", **PERIOD).json()["meta"]["limit"] == 50


def test_under_a_page_cap_only_paging_by_the_served_limit_gets_every_entry(
    client: SandboxClient, truth: SandboxData
) -> None:
    everything = truth.link_clicks(*PERIOD_BOUNDS, group="country")
    asked = 10
    assert len(everything) > 2 * asked

    def all_pages(advance_by_served_limit: bool) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = client.get(
                LINK_STATS, group="country", offset=str(offset), limit=str(asked), **PERIOD
            ).json()
            entries += body["data"]
            offset += body["meta"]["limit"] if advance_by_served_limit else asked
            if offset >= body["meta"]["count"]:
                return entries

    client.process.add_fault(path="link/stats", kind="page_cap", max_items=3, count=1000)
    advanced_by_asked = all_pages(advance_by_served_limit=False)
    assert len(advanced_by_asked) < len(everything)
    assert all(entry in everything for entry in advanced_by_asked)
    assert all_pages(advance_by_served_limit=True) == everything


def test_page_cap_on_the_campaign_listing(client: SandboxClient) -> None:
    client.process.add_fault(path="^/v1/campaigns$", kind="page_cap", max_items=2, count=3)
    capped = [client.get("/v1/campaigns", pageSize="4", page=str(page)).json()["data"] for page in (1, 2, 3)]
    assert [data["pagination"] for data in capped] == [
        {"page": page, "pageSize": 2, "totalCount": 6, "totalPages": 3} for page in (1, 2, 3)
    ]
    uncapped = [
        client.get("/v1/campaigns", pageSize="2", page=str(page)).json()["data"] for page in (1, 2, 3)
    ]
    assert capped == uncapped


@pytest.mark.parametrize("listing", ["breakdown", "engagement"])
def test_page_cap_on_row_listings_pages_by_the_capped_size(
    client: SandboxClient, campaigns: dict[str, dict[str, Any]], listing: str
) -> None:
    path = f"/v1/campaigns/{campaigns['active_track']['campaignId']}/metrics/{listing}"
    client.process.add_fault(path=f"/{listing}$", kind="page_cap", max_items=30)
    capped = client.get(path, page="2", pageSize="100", **WINDOW).json()["data"]
    uncapped = client.get(path, page="2", pageSize="30", **WINDOW).json()["data"]
    assert capped == uncapped
    total = capped["pagination"]["totalCount"]
    assert total > 100
    assert capped["pagination"] == {
        "page": 2,
        "pageSize": 30,
        "totalCount": total,
        "totalPages": math.ceil(total / 30),
    }


def test_page_cap_waits_for_a_paged_answer_and_combines_with_schema_version(
    client: SandboxClient, export_path: str
) -> None:
    client.process.add_fault(path="/metrics/", kind="page_cap", max_items=5)
    export = client.get(export_path, **WINDOW)
    assert len(export.content.splitlines()) == int(export.headers["X-Row-Count"]) > 5
    assert remaining(client.process) == [1]

    client.process.add_fault(path="/metrics/", kind="schema_version", version="2.0")
    listing = client.get(export_path.removesuffix("/export"), pageSize="50", **WINDOW).json()["data"]
    assert len(listing["items"]) == listing["pagination"]["pageSize"] == 5
    assert listing["schemaVersion"] == "2.0"
    assert {item["schema_version"] for item in listing["items"]} == {"2.0"}
    assert remaining(client.process) == [0, 0]


# unframed ----------------------------------------------------------------------------------------


def test_unframed_export_is_delimited_only_by_closing_the_connection(
    client: SandboxClient, export_path: str
) -> None:
    framed = client.get(export_path, **WINDOW)
    client.process.add_fault(path="export", kind="unframed")
    headers, body = raw_get(client.process, export_path, WINDOW)
    assert "transfer-encoding" not in headers
    assert "content-length" not in headers
    assert headers["connection"] == "close"
    assert headers["x-row-count"] == framed.headers["X-Row-Count"]
    assert body == framed.content


def test_a_cut_unframed_export_ends_cleanly_in_the_middle_of_a_line(
    client: SandboxClient, export_path: str
) -> None:
    complete = client.get(export_path, **WINDOW).content.splitlines()
    client.process.add_fault(path="export", kind="unframed")
    client.process.add_fault(path="export", kind="cut", after_lines=7)
    response = client.get(export_path, **WINDOW)  # no ChunkedEncodingError: the stream just ends
    assert response.status_code == 200
    assert int(response.headers["X-Row-Count"]) == len(complete) > 8
    assert not response.content.endswith(b"\n")
    lines = response.content.splitlines()
    assert len(lines) == 8
    assert lines[:7] == complete[:7]
    assert complete[7].startswith(lines[7]) and lines[7] != complete[7]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[7])
    assert remaining(client.process) == [0, 0]


def test_unframed_can_leave_out_the_row_count(client: SandboxClient, export_path: str) -> None:
    client.process.add_fault(path="export", kind="unframed", row_count_header=False)
    client.process.add_fault(path="export", kind="short", missing_lines=2)
    response = client.get(export_path, **WINDOW)
    assert "X-Row-Count" not in response.headers
    assert "Transfer-Encoding" not in response.headers
    assert response.headers["Connection"] == "close"
    assert response.content.splitlines() == client.get(export_path, **WINDOW).content.splitlines()[:-2]


# trickle -----------------------------------------------------------------------------------------


def test_trickle_drips_a_json_body_that_no_read_timeout_stops(client: SandboxClient) -> None:
    client.process.add_fault(path="ping", kind="trickle", bytes_per_second=100)
    started = time.monotonic()
    response = client.session.get(client.process.base_url + "/v1/ping", headers=API_KEY, timeout=0.3)
    elapsed = time.monotonic() - started
    assert response.json()["data"] == {"status": "ok"}
    # Pieces of 10 bytes, 0.1 s apart: every read is quick, the whole is not.
    assert elapsed >= (len(response.content) - 10) / 100 > 0.3


def test_a_trickled_export_blocks_no_one_and_stops_when_its_client_leaves(
    client: SandboxClient, export_path: str
) -> None:
    body_size = len(client.get(export_path, **WINDOW).content)
    client.process.add_fault(path="export", kind="trickle", bytes_per_second=2000)
    started = time.monotonic()
    received = 0
    with requests.get(
        client.process.base_url + export_path, headers=API_KEY, params=WINDOW, stream=True, timeout=0.3
    ) as response:
        for piece in response.iter_content(chunk_size=100):
            received += len(piece)
            if time.monotonic() - started > 0.6:
                break  # only a total deadline ends it: no read ever waited 0.3 s
        assert 0 < received < body_size / 10
        assert client.process.state()["requestsInFlight"] == 1
        other_started = time.monotonic()
        assert client.get("/v1/ping").status_code == 200
        assert time.monotonic() - other_started < 1.0
    deadline = time.monotonic() + 5
    while client.process.state()["requestsInFlight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.process.state()["requestsInFlight"] == 0
    assert "Traceback" not in client.process.output()


def test_trickle_unframed_and_cut_combine_on_one_export(client: SandboxClient, export_path: str) -> None:
    client.process.add_fault(path="export", kind="cut", after_lines=3)
    client.process.add_fault(path="export", kind="unframed", row_count_header=False)
    client.process.add_fault(path="export", kind="trickle", bytes_per_second=20_000)
    started = time.monotonic()
    response = client.get(export_path, **WINDOW)
    elapsed = time.monotonic() - started
    lines = response.content.splitlines()
    assert [len(lines), "X-Row-Count" in response.headers] == [4, False]
    assert all(json.loads(line) for line in lines[:3])
    assert elapsed >= (len(response.content) - 2000) / 20_000
    assert remaining(client.process) == [0, 0, 0]


# redirect ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(301, "moved_permanently"), (302, "found"), (307, "temporary_redirect"), (308, "permanent_redirect")],
)
def test_redirect_answers_its_status_and_location_before_auth(
    client: SandboxClient, status: int, code: str
) -> None:
    location = "https://api.example.com/v1/campaigns"
    client.process.add_fault(path="campaigns", kind="redirect", status=status, location=location)
    response = client.session.get(
        client.process.base_url + "/v1/campaigns", allow_redirects=False, timeout=10
    )
    assert response.status_code == status
    assert response.headers["Location"] == location
    body = response.json()
    assert body["error"]["code"] == code
    assert location in body["error"]["message"]
    assert body["meta"]["requestId"] == response.headers["X-Request-Id"]
    assert client.get("/v1/campaigns").status_code == 200
    assert [entry["status"] for entry in client.process.requests_log()] == [status, 200]


def test_a_client_that_follows_a_redirect_takes_its_api_key_along(client: SandboxClient) -> None:
    client.process.add_fault(path="^/v1/campaigns$", kind="redirect", status=307, location="/v1/ping")
    response = client.get("/v1/campaigns")
    assert response.json()["data"] == {"status": "ok"}
    assert [(entry["path"], entry["status"]) for entry in client.process.requests_log()] == [
        ("/v1/campaigns", 307),
        ("/v1/ping", 200),
    ]


# echo_key and Retry-After ------------------------------------------------------------------------


def test_echo_key_puts_the_sent_key_in_every_error_message(client: SandboxClient) -> None:
    client.process.add_fault(path="", kind="echo_key", count=2)
    assert client.get("/v1/ping").status_code == 200
    assert client.get("/v1/ping", key=None).json()["error"]["code"] == "invalid_api_key"
    assert remaining(client.process) == [2]  # neither a success nor a keyless request uses it up

    refused = client.get("/v1/ping", key="sk_live_abc123").json()["error"]
    assert refused["code"] == "invalid_api_key"
    assert "sk_live_abc123" in refused["message"]

    client.process.add_fault(path="ping", kind="status", status=503, retry_after=7)
    unavailable = client.get("/v1/ping")
    assert (unavailable.status_code, unavailable.headers["Retry-After"]) == (503, "7")
    assert unavailable.json()["error"]["code"] == "service_unavailable"
    assert KEY_ALL in unavailable.json()["error"]["message"]

    assert "sk_live_abc123" not in client.get("/v1/ping", key="sk_live_abc123").json()["error"]["message"]


def test_a_503_status_fault_with_retry_after_sends_the_header(
    client: SandboxClient, export_path: str
) -> None:
    client.process.add_fault(path="export", kind="status", status=503, retry_after=30)
    response = client.get(export_path, **WINDOW)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert KEY_ALL not in response.json()["error"]["message"]


# specs -------------------------------------------------------------------------------------------


def test_the_state_shows_each_fault_with_its_options_and_defaults(sandbox: SandboxProcess) -> None:
    sandbox.add_fault(path="export", kind="unframed")
    sandbox.add_fault(path="ping", kind="trickle", bytes_per_second=12.5, count=2)
    sandbox.add_fault(path="campaigns", kind="page_cap", max_items=3)
    sandbox.add_fault(path="", kind="redirect", status=308, location="/v2")
    sandbox.add_fault(path="", kind="echo_key")
    options = [
        {name: value for name, value in fault.items() if name not in ("id", "path")}
        for fault in sandbox.state()["faults"]
    ]
    assert options == [
        {"kind": "unframed", "remaining": 1, "row_count_header": True},
        {"kind": "trickle", "remaining": 2, "bytes_per_second": 12.5},
        {"kind": "page_cap", "remaining": 1, "max_items": 3},
        {"kind": "redirect", "remaining": 1, "status": 308, "location": "/v2"},
        {"kind": "echo_key", "remaining": 1},
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "page_cap"}, "kind page_cap needs max_items"),
        ({"kind": "page_cap", "max_items": 0}, "max_items of kind page_cap must be at least 1, got 0"),
        ({"kind": "page_cap", "max_items": 2.5}, "max_items of kind page_cap must be an integer, got 2.5"),
        ({"kind": "page_cap", "max_items": True}, "max_items of kind page_cap must be an integer, got True"),
        (
            {"kind": "unframed", "row_count_header": "no"},
            "row_count_header of kind unframed must be true or false, got 'no'",
        ),
        (
            {"kind": "unframed", "row_count_header": 0},
            "row_count_header of kind unframed must be true or false",
        ),
        ({"kind": "unframed", "after_lines": 3}, "unknown field(s) for kind unframed: after_lines"),
        ({"kind": "trickle"}, "kind trickle needs bytes_per_second"),
        (
            {"kind": "trickle", "bytes_per_second": 0},
            "bytes_per_second of kind trickle must be greater than 0",
        ),
        ({"kind": "trickle", "bytes_per_second": -2.5}, "must be greater than 0, got -2.5"),
        ({"kind": "trickle", "bytes_per_second": math.inf}, "must be a finite number, got inf"),
        ({"kind": "trickle", "bytes_per_second": "fast"}, "must be a finite number, got 'fast'"),
        ({"kind": "redirect", "location": "/v2"}, "kind redirect needs status"),
        ({"kind": "redirect", "status": 307}, "kind redirect needs location"),
        (
            {"kind": "redirect", "status": 303, "location": "/v2"},
            "status of kind redirect must be one of 301, 302, 307, 308, got 303",
        ),
        (
            {"kind": "redirect", "status": 301, "location": ""},
            "location of kind redirect must be a non-empty",
        ),
        ({"kind": "redirect", "status": 301, "location": "/v2\r\nSet-Cookie: a=b"}, "without line breaks"),
        ({"kind": "echo_key", "key": "sk_x"}, "unknown field(s) for kind echo_key: key"),
        ({"kind": "status", "status": 600}, "status of kind status must be an error status from 400 to 599"),
        ({"kind": "slow", "delay": math.nan}, "delay of kind slow must be a finite number, got nan"),
    ],
)
def test_invalid_specs_are_refused_with_a_message_naming_field_and_rule(
    sandbox: SandboxProcess, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sandbox.add_fault(path="x", **spec)
    assert sandbox.state()["faults"] == []


def test_a_client_that_resets_its_kept_alive_connection_leaves_no_traceback(client: SandboxClient) -> None:
    port = int(client.process.base_url.rsplit(":", 1)[1])
    request = f"GET /v1/ping HTTP/1.1\r\nHost: sandbox\r\nx-api-key: {KEY_ALL}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(request)
        time.sleep(0.3)
        # Closing with the answer unread makes the kernel reset the connection, as a client that gives
        # up does; the server's thread is by then waiting for the next request on it.
    time.sleep(0.3)
    assert client.get("/v1/ping").status_code == 200
    assert "ConnectionResetError" not in client.process.output()
