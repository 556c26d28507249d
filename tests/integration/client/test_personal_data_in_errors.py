"""Values of personal-data parameters (a subscriber id filter) never reach error texts, tracebacks or logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import traceback
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_soundlink.core.exports import PERSONAL_LINK_STATS_FIELDS
from airflow_provider_soundlink.errors import (
    RequestContext,
    SoundlinkBadRequestError,
    SoundlinkNetworkError,
)
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from support.connections import FAST_RETRIES, ConnectionSetter
from support.scripted_server import ScriptedResponse, ScriptedServer

SUBSCRIBER = "sub 4711@example.com"
SUBSCRIBER_FORMS = (SUBSCRIBER, quote_plus(SUBSCRIBER), quote(SUBSCRIBER, safe=""))
DAY_START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
DAY_END = dt.datetime(2026, 5, 1, 23, 59, 59, 999_000, tzinfo=dt.UTC)


def leaked(text: str) -> list[str]:
    return [form for form in SUBSCRIBER_FORMS if form in text]


def full_text(error: BaseException) -> str:
    """Everything a task log shows of an exception: message, repr, and the whole chained traceback."""
    return "".join(traceback.format_exception(error)) + repr(error)


def test_a_refused_request_names_the_personal_parameter_without_its_value(
    scripted_server: ScriptedServer, set_connection: ConnectionSetter
) -> None:
    body = {
        "error": {"code": "invalid_query_parameter", "message": f"unknown subscriber_id '{SUBSCRIBER}'"},
        "meta": {"requestId": "req_personal1"},
    }
    scripted_server.script.append(ScriptedResponse(400, json.dumps(body).encode(), {}))
    set_connection(scripted_server.base_url)

    with pytest.raises(SoundlinkBadRequestError) as raised:
        list(
            SoundlinkHook(**FAST_RETRIES)
            .get_conn()
            .iter_link_stats(DAY_START, DAY_END, "ip", campaign_id="camp_a", subscriber_id=SUBSCRIBER)
        )

    error = raised.value
    assert leaked(full_text(error) + error.api_message + repr(error.context)) == []
    assert "subscriber_id=<redacted>" in str(error)
    assert "unknown subscriber_id '<redacted>'" in str(error)
    assert "group=ip" in str(error)
    assert "campaign_id=camp_a" in str(error)
    assert "(request id: req_personal1)" in str(error)
    # The value itself was sent: only what is shown is redacted.
    (request,) = scripted_server.received
    assert f"subscriber_id={quote_plus(SUBSCRIBER)}" in request["path"]


def test_no_response_hides_the_personal_value_of_the_url_from_message_traceback_and_retry_logs(
    set_connection: ConnectionSetter, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    set_connection(f"http://127.0.0.1:{closed_port}")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SoundlinkNetworkError) as raised:
        list(
            SoundlinkHook(**FAST_RETRIES, max_attempts=2)
            .get_conn()
            .iter_link_stats(DAY_START, DAY_END, subscriber_id=SUBSCRIBER)
        )

    error = raised.value
    assert leaked(full_text(error) + caplog.text) == []
    assert "&subscriber_id=<redacted>&" in str(error)
    assert error.__cause__ is None
    assert len([record for record in caplog.records if "retrying in" in record.getMessage()]) == 1


def test_without_personal_parameters_the_cause_and_every_value_stay_visible(
    set_connection: ConnectionSetter,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    set_connection(f"http://127.0.0.1:{closed_port}")

    with pytest.raises(SoundlinkNetworkError) as raised:
        list(
            SoundlinkHook(**FAST_RETRIES, max_attempts=1)
            .get_conn()
            .iter_link_stats(DAY_START, DAY_END, campaign_id="camp_a")
        )

    assert "campaign_id=camp_a" in str(raised.value)
    assert raised.value.__cause__ is not None


def test_the_request_context_shows_names_and_redacts_only_personal_values() -> None:
    context = RequestContext(
        "soundlink_default",
        "/tracking/link/stats/aggregated",
        {"subscriber_id": SUBSCRIBER, "profile_id": "prof_1", "group": "subscriber_id"},
        personal_params=PERSONAL_LINK_STATS_FIELDS,
    )

    assert context.shown_params == {
        "subscriber_id": "<redacted>",
        "profile_id": "prof_1",
        "group": "subscriber_id",
    }
    assert leaked(repr(context)) == []
    assert "'profile_id': 'prof_1'" in repr(context)
    assert context.redact(f"a {SUBSCRIBER} b {quote_plus(SUBSCRIBER)} c") == "a <redacted> b <redacted> c"
