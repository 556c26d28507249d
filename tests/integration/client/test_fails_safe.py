"""The client against a sloppy or hostile server, a proxy or a secret store, over real HTTP: the key goes
only to the API's origin, answers the docs do not describe give errors that say so, and pages that move
while they are read are read again or refused, never counted twice."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_soundlink.client.api import SoundlinkClient
from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import (
    SoundlinkConfigurationError,
    SoundlinkListingChangedError,
    SoundlinkMalformedExportError,
    SoundlinkServerError,
    SoundlinkStreamError,
    SoundlinkUnexpectedResponseError,
)
from soundlink_sandbox.data import SandboxData
from soundlink_sandbox.keys import KEY_ALL
from soundlink_sandbox.testing import SandboxProcess
from support.connections import ClientFactory, HookFactory
from support.emulators import SANDBOX_TODAY
from support.scripted_server import ScriptedResponse, ScriptedServer

UTC = dt.UTC
JUNE = DateWindow(dt.date(2026, 6, 1), dt.date(2026, 6, 14))
CLICKS_FROM = dt.datetime(2026, 5, 1, tzinfo=UTC)
CLICKS_TO = dt.datetime(2026, 5, 19, 23, 59, 59, 999000, tzinfo=UTC)
# One call per kind of answer the client reads, given the client and a campaign.
CLIENT_CALLS: dict[str, Callable[[SoundlinkClient, str], object]] = {
    "campaign": lambda client, campaign: client.get_campaign(campaign),
    "campaigns": lambda client, campaign: client.list_campaigns(),
    "breakdown": lambda client, campaign: list(client.iter_breakdown(campaign, JUNE)),
    "export": lambda client, campaign: client.download_export("breakdown", campaign, JUNE, io.BytesIO()),
    "link_stats": lambda client, campaign: list(client.iter_link_stats(CLICKS_FROM, CLICKS_TO, "country")),
}


# The key never leaves the API's origin --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_the_session_the_hook_hands_out_drops_the_key_on_a_redirect_to_another_origin(
    make_hook: HookFactory, sandbox: SandboxProcess, scripted_server: ScriptedServer, status: int
) -> None:
    scripted_server.script.append(ScriptedResponse(200, b'{"data": {}, "meta": {}}'))
    sandbox.add_fault(
        path="/v1/ping", kind="redirect", status=status, location=f"{scripted_server.base_url}/elsewhere"
    )

    answer = make_hook().get_conn().transport.session.get(f"{sandbox.base_url}/v1/ping", timeout=10)

    assert answer.status_code == 200
    (followed,) = scripted_server.received
    assert followed["path"] == "/elsewhere"
    assert "x-api-key" not in {name.lower() for name in followed["headers"]}


def test_the_session_sends_the_key_to_the_apis_origin_only(
    make_hook: HookFactory, sandbox: SandboxProcess, scripted_server: ScriptedServer
) -> None:
    scripted_server.script.append(ScriptedResponse(200, b"{}"))
    session = make_hook().get_conn().transport.session

    assert session.get(f"{sandbox.base_url}/v1/ping", timeout=10).status_code == 200
    session.get(f"{scripted_server.base_url}/v1/ping", timeout=10)

    (elsewhere,) = scripted_server.received
    assert "x-api-key" not in {name.lower() for name in elsewhere["headers"]}


@pytest.mark.parametrize("stored", [f"{KEY_ALL}\n", f"  {KEY_ALL}\r\n", f"\t{KEY_ALL} "])
def test_a_key_stored_with_surrounding_whitespace_is_trimmed(make_hook: HookFactory, stored: str) -> None:
    ok, message = make_hook(stored).test_connection()
    assert ok, message


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("sk_sandbox\nall", "a control character (such as a line break or a tab) at position 11"),
        ("sk_sandbox all", "a space at position 11"),
        ("sk_sandbox_äll", "a non-ASCII character at position 12"),
    ],
)
def test_a_key_no_header_can_carry_is_refused_without_showing_it(
    make_hook: HookFactory, make_client: ClientFactory, sandbox: SandboxProcess, stored: str, problem: str
) -> None:
    ok, message = make_hook(stored).test_connection()

    assert not ok
    assert problem in message and "which an HTTP header cannot carry" in message
    assert stored not in message and "sandbox" not in message
    with pytest.raises(SoundlinkConfigurationError, match="cannot carry"):
        make_client(stored).list_campaigns()
    assert sandbox.requests_log() == []


def key_forms(key: str) -> list[str]:
    return [
        key,
        quote(key, safe=""),
        quote_plus(key),
        base64.b64encode(key.encode()).decode(),
        base64.urlsafe_b64encode(key.encode()).decode().rstrip("="),
        json.dumps(key)[1:-1],
    ]


def test_a_key_echoed_in_any_encoding_is_cut_from_the_error(
    make_hook: HookFactory, set_connection: Any, scripted_server: ScriptedServer
) -> None:
    key = "sk_live_a+b/c=d\\e"
    echoed = " ".join(key_forms(key))
    body = {
        "error": {"code": "invalid_api_key", "message": f"bad key {echoed}"},
        "meta": {"requestId": "req_1"},
    }
    scripted_server.script.append(ScriptedResponse(401, json.dumps(body).encode()))
    set_connection(scripted_server.base_url, key)

    from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook

    ok, message = SoundlinkHook().test_connection()

    assert not ok and "req_1" in message
    for form in key_forms(key):
        assert form not in message, form
    assert "c2tfbGl2ZV" not in message  # the start of the key in base64


def test_the_masker_hides_the_key_and_the_secret_in_every_form(make_hook: HookFactory) -> None:
    try:
        from airflow.sdk.log import redact
    except ImportError:  # Airflow 2.11
        from airflow.utils.log.secrets_masker import redact  # type: ignore[no-redef]

    # Fresh values: the masker is process-wide, so a value from another test would prove nothing.
    key, pepper = f"sk_live_{uuid.uuid4().hex}+/=", f"pepper+/={uuid.uuid4().hex}"
    assert redact(f"value: {key}") == f"value: {key}"
    make_hook(f"{key}\n", extra={"pseudonymisation_secret": pepper}).test_connection()

    for secret in (key, pepper):
        for form in key_forms(secret):
            masked = str(redact(f"value: {form}"))
            # At most base64's padding is left beside the mask: nothing of the secret.
            assert masked.rstrip("=") == "value: ***", (form, masked)


# Answers the docs do not describe --------------------------------------------------------------------


def test_an_export_answered_200_with_the_apis_json_error_names_its_code_and_request_id(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="json_error", code="campaign_not_found")

    with pytest.raises(SoundlinkUnexpectedResponseError) as raised:
        make_client().download_export("breakdown", track_campaign, JUNE, io.BytesIO())

    message = str(raised.value)
    assert "HTTP 200 campaign_not_found" in message and "the API's error object" in message
    assert "(request id: req_" in message and "Expected JSONL rows (application/x-ndjson)" in message
    assert "upgrade" not in message and "schema_version" not in message
    assert not raised.value.retryable
    assert len(sandbox.requests_log()) == 1


@pytest.mark.parametrize("call", ["campaign", "campaigns", "breakdown", "export"])
def test_a_proxys_html_page_is_named_as_what_it_is(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, call: str
) -> None:
    sandbox.add_fault(path=".", kind="html_page")

    with pytest.raises(SoundlinkUnexpectedResponseError) as raised:
        CLIENT_CALLS[call](make_client(), track_campaign)

    message = str(raised.value)
    assert "the answer is text/html; charset=utf-8: '<!DOCTYPE html>" in message
    assert "Expected " in message and "not a proxy or login page" in message
    assert not raised.value.retryable


def test_a_connection_test_against_a_proxy_page_says_so(
    make_hook: HookFactory, sandbox: SandboxProcess
) -> None:
    sandbox.add_fault(path=".", kind="html_page")

    ok, message = make_hook().test_connection()

    assert not ok and "text/html" in message


@pytest.mark.parametrize("call", ["campaign", "campaigns", "breakdown", "link_stats"])
def test_an_answer_without_the_documented_envelope_names_what_was_expected(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, call: str
) -> None:
    sandbox.add_fault(path=".", kind="no_envelope")

    with pytest.raises(
        SoundlinkUnexpectedResponseError, match=r"lacks the documented envelope|Expected a JSON object"
    ) as raised:
        CLIENT_CALLS[call](make_client(), track_campaign)
    assert "Expected" in str(raised.value)


@pytest.mark.parametrize("value", ["-1", "1_0", "ten", "+5", "1e3"])
def test_an_x_row_count_that_is_not_plain_digits_is_final(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, value: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="row_count", value=value, count=5)

    with pytest.raises(
        SoundlinkMalformedExportError, match=re.escape(f"X-Row-Count {value!r}, which is not a count")
    ):
        make_client().download_export("breakdown", track_campaign, JUNE, io.BytesIO())
    assert len(sandbox.requests_log()) == 1


@pytest.mark.parametrize("campaign_id", ["", ".", "..", " .. "])
def test_a_campaign_id_that_names_another_resource_is_refused_before_any_request(
    make_client: ClientFactory, sandbox: SandboxProcess, campaign_id: str
) -> None:
    hook = make_client()
    for call in (
        lambda: hook.get_campaign(campaign_id),
        lambda: hook.get_overview(campaign_id, JUNE),
        lambda: list(hook.iter_breakdown(campaign_id, JUNE)),
        lambda: hook.download_export("breakdown", campaign_id, JUNE, io.BytesIO()),
    ):
        with pytest.raises(SoundlinkConfigurationError, match="names no campaign"):
            call()
    assert sandbox.requests_log() == []


def test_a_retry_after_beyond_the_budget_says_how_long_the_api_asked_to_wait(
    make_client: ClientFactory, sandbox: SandboxProcess
) -> None:
    sandbox.add_fault(path="^/v1/campaigns$", kind="status", status=503, retry_after=600, count=1)

    started = time.monotonic()
    with pytest.raises(SoundlinkServerError) as raised:
        make_client(retry_budget=30).list_campaigns()

    assert time.monotonic() - started < 10
    assert "the API asked to wait 600 s (Retry-After), more than the" in str(raised.value)
    assert "retry_budget of connection 'soundlink_default' (30 s)" in str(raised.value)


def test_a_gzip_body_without_its_trailer_is_a_cut_stream_and_fetched_again(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData, track_campaign: str
) -> None:
    # Ended at a flush point: whole lines, no length, no X-Row-Count; only the missing trailer tells.
    sandbox.add_fault(path="/breakdown/export", kind="unframed", row_count_header=False, count=1)
    sandbox.add_fault(path="/breakdown/export", kind="gzip", trailer=False, count=1)
    sandbox.add_fault(path="/breakdown/export", kind="gzip", count=1)
    target = io.BytesIO()

    summary = make_client().download_export("breakdown", track_campaign, JUNE, target)

    expected = truth.breakdown_rows(track_campaign, JUNE.start, JUNE.end, SANDBOX_TODAY)
    assert summary.row_count == len(expected) == len(target.getvalue().splitlines())
    assert len(sandbox.requests_log()) == 2


def test_a_gzip_body_that_keeps_ending_without_its_trailer_fails_as_cut(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/breakdown/export", kind="unframed", row_count_header=False, count=10)
    sandbox.add_fault(path="/breakdown/export", kind="gzip", trailer=False, count=10)

    with pytest.raises(SoundlinkStreamError, match="gzip body ended without its trailer"):
        make_client(max_attempts=2).download_export("breakdown", track_campaign, JUNE, io.BytesIO())


# Pages that move while they are read ------------------------------------------------------------------


def test_a_campaign_list_that_shifts_while_read_is_read_again_whole(
    make_client: ClientFactory, sandbox: SandboxProcess, truth: SandboxData
) -> None:
    sandbox.add_fault(path="^/v1/campaigns$", kind="page_cap", max_items=2, count=1000)
    sandbox.add_fault(path="^/v1/campaigns$", kind="shift", count=1)

    campaigns = make_client().list_campaigns()

    assert [campaign["campaignId"] for campaign in campaigns] == [
        campaign["campaignId"] for campaign in truth.campaigns(SANDBOX_TODAY)
    ]
    pages = [int(entry["query"]["page"]) for entry in sandbox.requests_log()]
    assert pages[:2] == [1, 2] and pages[2:] == list(range(1, len(campaigns) // 2 + 1))


def test_metric_pages_that_shift_while_read_fail_instead_of_counting_a_row_twice(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/metrics/breakdown$", kind="shift", count=1)

    with pytest.raises(SoundlinkListingChangedError, match="changed while its pages were read"):
        list(make_client().iter_breakdown(track_campaign, JUNE, page_size=50))


def test_link_stats_pages_that_shift_while_read_fail_instead_of_doubling_a_group(
    make_client: ClientFactory, sandbox: SandboxProcess, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.add_fault(path="link/stats", kind="shift", count=1)

    with pytest.raises(SoundlinkListingChangedError) as raised:
        list(make_client().iter_link_stats(CLICKS_FROM, CLICKS_TO, "ip", page_size=10))

    # The group that came twice is an IP address: personal data stays out of the message.
    assert re.fullmatch(
        r"Soundlink GET /tracking/link/stats/aggregated changed while its pages were read: an entry came "
        r"twice after 10 entries; read again from the start, it is whole \(request id: req_\w+\)",
        str(raised.value),
    )
