"""Every error of the API contract, the retry policy, and where the API key must never show up."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import socket
import uuid

import pytest

from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import (
    SoundlinkAPIError,
    SoundlinkAuthError,
    SoundlinkBadRequestError,
    SoundlinkConfigurationError,
    SoundlinkNetworkError,
    SoundlinkNotFoundError,
    SoundlinkScopeError,
    SoundlinkServerError,
)
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from soundlink_sandbox.keys import (
    KEY_ALL,
    KEY_API_DISABLED,
    KEY_CAMPAIGNS_ONLY,
    KEY_EXPIRED,
    KEY_METRICS_ONLY,
    KEY_REVOKED,
)
from soundlink_sandbox.testing import SandboxProcess
from support.connections import FAST_RETRIES, ClientFactory, ConnectionSetter, HookFactory

MAY = DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 7))
REQUEST_ID = re.compile(r"request id: req_\S+\)")
SECRET_KEY = "sk_live_Zq8v2SecretValueThatMustNotLeak"


def statuses(sandbox: SandboxProcess) -> list[int]:
    return [entry["status"] for entry in sandbox.requests_log()]


@pytest.mark.parametrize(
    ("api_key", "code", "advice"),
    [
        (KEY_REVOKED, "api_key_revoked", "Create a new API key"),
        (KEY_EXPIRED, "api_key_expired", "Create a new API key"),
        ("sk_not_a_real_key", "invalid_api_key", "password of connection 'soundlink_default'"),
    ],
)
def test_401_fails_once_with_advice(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    track_campaign: str,
    api_key: str,
    code: str,
    advice: str,
) -> None:
    with pytest.raises(SoundlinkAuthError) as raised:
        make_client(api_key).get_overview(track_campaign, MAY)
    error = raised.value
    assert (error.status, error.code) == (401, code)
    assert advice in str(error)
    assert REQUEST_ID.search(str(error))
    assert statuses(sandbox) == [401]


def test_401_mixed_credentials(make_hook: HookFactory, sandbox: SandboxProcess) -> None:
    hook = make_hook()

    def key_and_bearer(request):  # what a misconfigured proxy or session would do
        request.headers["x-api-key"] = KEY_ALL
        request.headers["Authorization"] = "Bearer token"
        return request

    hook.get_conn().transport.session.auth = key_and_bearer
    ok, message = hook.test_connection()
    assert not ok
    assert "mixed_credentials" in message
    assert "remove any Authorization header" in message
    assert REQUEST_ID.search(message)


@pytest.mark.parametrize(
    ("api_key", "call", "scope"),
    [
        (KEY_CAMPAIGNS_ONLY, "overview", "metrics:read"),
        (KEY_CAMPAIGNS_ONLY, "export", "metrics:read"),
        (KEY_CAMPAIGNS_ONLY, "link_stats", "metrics:read"),
        (KEY_METRICS_ONLY, "campaigns", "campaigns:read"),
    ],
)
def test_403_names_the_scope_to_add(
    make_client: ClientFactory,
    sandbox: SandboxProcess,
    track_campaign: str,
    api_key: str,
    call: str,
    scope: str,
) -> None:
    hook = make_client(api_key)
    calls = {
        "overview": lambda: hook.get_overview(track_campaign, MAY),
        "export": lambda: list(hook.iter_export("breakdown", track_campaign, MAY)),
        "link_stats": lambda: list(
            hook.iter_link_stats(
                dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
                dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
            )
        ),
        "campaigns": hook.list_campaigns,
    }
    with pytest.raises(SoundlinkScopeError) as raised:
        calls[call]()
    assert raised.value.missing_scope == scope
    assert f"add {scope} to the key" in str(raised.value)
    assert REQUEST_ID.search(str(raised.value))
    assert statuses(sandbox) == [403]


def test_a_metrics_only_key_still_reads_a_known_campaign(
    make_client: ClientFactory, track_campaign: str
) -> None:
    rows = list(make_client(KEY_METRICS_ONLY).iter_export("breakdown", track_campaign, MAY))
    assert {line.row["campaign_id"] for line in rows} == {track_campaign}


def test_404_unknown_campaign(make_client: ClientFactory, sandbox: SandboxProcess) -> None:
    with pytest.raises(SoundlinkNotFoundError) as raised:
        make_client().get_campaign("camp_does_not_exist")
    assert raised.value.code == "campaign_not_found"
    assert "Check the campaign id" in str(raised.value)
    assert REQUEST_ID.search(str(raised.value))
    assert statuses(sandbox) == [404]


def test_404_public_api_disabled(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    with pytest.raises(SoundlinkNotFoundError) as raised:
        make_client(KEY_API_DISABLED).get_campaign(track_campaign)
    assert raised.value.code == "not_found"
    assert "Public API is enabled" in str(raised.value)
    assert statuses(sandbox) == [404]


def test_400_invalid_date_range_says_how_to_fix_it(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    # The overview takes any window client-side; the API caps it like the exports.
    with pytest.raises(SoundlinkBadRequestError) as raised:
        make_client().get_overview(track_campaign, DateWindow(dt.date(2026, 1, 1), dt.date(2026, 4, 1)))
    assert raised.value.code == "invalid_date_range"
    assert "startDate=2026-01-01 endDate=2026-04-01" in str(raised.value)
    assert "slice_date_range" in str(raised.value)
    assert statuses(sandbox) == [400]


def test_400_invalid_query_parameter_names_what_was_sent(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    with pytest.raises(SoundlinkBadRequestError) as raised:
        list(make_client().iter_breakdown(track_campaign, MAY, sort_by="listeners"))
    assert raised.value.code == "invalid_query_parameter"
    assert "sortBy=listeners" in str(raised.value)
    assert statuses(sandbox) == [400]


def test_400_page_size_exceeded(make_hook: HookFactory, sandbox: SandboxProcess) -> None:
    # The hook refuses oversized pages itself, so only a hand-made request can show the API's answer.
    from airflow_provider_soundlink.errors import RequestContext

    hook = make_hook()
    with pytest.raises(SoundlinkBadRequestError) as raised:
        hook.get_conn().transport.get_json(
            RequestContext(hook.soundlink_conn_id, "/v1/campaigns", {"pageSize": "101"})
        )
    assert raised.value.code == "page_size_exceeded"
    assert "page size 101" in str(raised.value)
    assert statuses(sandbox) == [400]


def test_429_waits_retry_after_and_recovers(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.add_fault(path="/metrics/overview", kind="status", status=429, retry_after=1, count=2)
    caplog.set_level(logging.WARNING, logger="airflow_provider_soundlink")
    overview = make_client().get_overview(track_campaign, MAY)
    assert overview["campaignId"] == track_campaign
    assert statuses(sandbox) == [429, 429, 200]
    retries = [record.getMessage() for record in caplog.records if "retrying in" in record.getMessage()]
    assert len(retries) == 2
    assert all("status 429" in text and "rate_limit_exceeded" in text for text in retries)
    assert all("request id req_" in text and "retrying in 1.00 s" in text for text in retries)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
    ],
)
def test_server_errors_and_resets_are_retried(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, fault: dict[str, object]
) -> None:
    sandbox.add_fault(path="/metrics/overview", count=2, **fault)
    assert make_client().get_overview(track_campaign, MAY)["campaignId"] == track_campaign
    assert len(statuses(sandbox)) == 3


def test_a_timeout_is_retried(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.add_fault(path="/metrics/overview", kind="slow", delay=1.5, count=1)
    caplog.set_level(logging.WARNING, logger="airflow_provider_soundlink")
    assert make_client(timeout=0.5).get_overview(track_campaign, MAY)["campaignId"] == track_campaign
    # The sandbox logs the slow request only once it has answered, so the retry shows in our log instead.
    (retry,) = [record.getMessage() for record in caplog.records if "retrying in" in record.getMessage()]
    assert "attempt 1 of 5" in retry
    assert "Read timed out" in retry


def test_attempts_are_bounded(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/metrics/overview", kind="status", status=500, count=10)
    with pytest.raises(SoundlinkServerError) as raised:
        make_client(extra={"max_attempts": 3}).get_overview(track_campaign, MAY)
    assert (raised.value.status, raised.value.code) == (500, "internal_error")
    assert REQUEST_ID.search(str(raised.value))
    assert statuses(sandbox) == [500, 500, 500]


def test_the_time_budget_stops_before_a_wait_that_would_exceed_it(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    sandbox.add_fault(path="/metrics/overview", kind="status", status=429, retry_after=30, count=5)
    with pytest.raises(SoundlinkAPIError) as raised:
        make_client(retry_budget=5).get_overview(track_campaign, MAY)
    assert raised.value.status == 429
    assert statuses(sandbox) == [429]


def test_connection_refused_gives_up_with_a_network_error(set_connection: ConnectionSetter) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    set_connection(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(SoundlinkNetworkError, match="got no response"):
        SoundlinkHook(**FAST_RETRIES, max_attempts=2).get_conn().get_campaign("camp_a")


def test_the_key_never_leaks(
    make_hook: HookFactory, sandbox: SandboxProcess, track_campaign: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rejected = make_hook(SECRET_KEY)
    session = rejected.get_conn().transport.session
    texts = [repr(rejected), repr(rejected.get_conn()), repr(session.auth), repr(session.headers)]
    for call in (
        lambda: rejected.get_conn().get_overview(track_campaign, MAY),
        lambda: list(rejected.get_conn().iter_export("breakdown", track_campaign, MAY)),
        rejected.get_conn().list_campaigns,
    ):
        with pytest.raises(SoundlinkAuthError) as raised:
            call()
        texts += [str(raised.value), repr(raised.value), repr(raised.value.context)]
    texts.append(rejected.test_connection()[1])

    sandbox.add_fault(path="/metrics/overview", kind="status", status=503, count=1)
    sandbox.add_fault(path="/export", kind="cut", after_lines=2, count=1)
    accepted = make_hook(KEY_ALL)
    accepted.get_conn().get_overview(track_campaign, MAY)
    summary = accepted.get_conn().download_export("breakdown", track_campaign, MAY, io.BytesIO())
    texts += [repr(accepted), repr(summary)]

    assert len([record for record in caplog.records if "retrying in" in record.getMessage()]) == 2
    for key in (SECRET_KEY, KEY_ALL):
        assert key not in caplog.text
        assert not [text for text in texts if key in text]
    assert SECRET_KEY not in json.dumps(sandbox.requests_log())


def test_secrets_are_registered_with_the_airflow_secrets_masker(make_hook: HookFactory) -> None:
    try:
        from airflow.sdk.log import redact
    except ImportError:  # Airflow 2.11
        from airflow.utils.log.secrets_masker import redact  # type: ignore[no-redef]

    # Fresh values: the masker is process-wide, so a value from another test would prove nothing.
    api_key, pseudonymisation_key = f"sk_live_{uuid.uuid4().hex}", f"pepper_{uuid.uuid4().hex}"
    assert redact(f"{api_key} {pseudonymisation_key}") == f"{api_key} {pseudonymisation_key}"
    make_hook(api_key, extra={"pseudonymisation_secret": pseudonymisation_key}).test_connection()
    assert redact(f"key {api_key}, pepper {pseudonymisation_key}") == "key ***, pepper ***"


def test_client_side_refusals_send_nothing(
    make_client: ClientFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    hook = make_client()
    with pytest.raises(SoundlinkConfigurationError, match="between 1 and 500"):
        hook.iter_breakdown(track_campaign, MAY, page_size=501)
    with pytest.raises(SoundlinkConfigurationError, match="sort_order"):
        hook.iter_engagement(track_campaign, MAY, sort_order="up")
    with pytest.raises(SoundlinkConfigurationError, match="applies to engagement rows only"):
        hook.iter_export("breakdown", track_campaign, MAY, engagement_context="catalog")
    with pytest.raises(SoundlinkConfigurationError, match="one of catalog, playlist"):
        hook.iter_engagement(track_campaign, MAY, engagement_context="radio")
    with pytest.raises(
        SoundlinkConfigurationError, match="unknown export 'countries': give one of 'breakdown', 'engagement'"
    ):
        hook.iter_export("countries", track_campaign, MAY)
    assert sandbox.requests_log() == []
