"""Connection settings, base URL rules, connection test and the form metadata."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from airflow_provider_soundlink.core.windows import DateWindow
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from soundlink_sandbox.keys import KEY_METRICS_ONLY, KEY_REVOKED
from soundlink_sandbox.testing import SandboxProcess
from support.connections import ClientFactory, HookFactory


def test_another_connection_id(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxProcess) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOUNDLINK_EU",
        f'{{"conn_type": "soundlink", "host": "{sandbox.base_url}", "password": "nope"}}',
    )
    ok, message = SoundlinkHook("soundlink_eu").test_connection()
    assert not ok
    assert "connection 'soundlink_eu'" in message


def test_connection_test_pings_with_any_valid_key(make_hook: HookFactory, sandbox: SandboxProcess) -> None:
    ok, message = make_hook(KEY_METRICS_ONLY).test_connection()
    assert ok, message
    assert sandbox.base_url in message
    assert [(entry["path"], entry["status"]) for entry in sandbox.requests_log()] == [("/v1/ping", 200)]


def test_connection_test_reports_the_request_id(make_hook: HookFactory) -> None:
    ok, message = make_hook(KEY_REVOKED).test_connection()
    assert not ok
    assert "api_key_revoked" in message
    assert "request id: req_" in message


def test_settings_come_from_arguments_then_extras_then_defaults(make_hook: HookFactory) -> None:
    from_extras = make_hook(extra={"timeout": "12", "max_attempts": 2, "retry_budget": 30}, timeout=None)
    assert (from_extras.settings.timeout, from_extras.settings.max_attempts) == (12.0, 2)
    assert from_extras.settings.retry_budget == 30.0
    from_arguments = make_hook(extra={"max_attempts": 2}, max_attempts=7, retry_budget=9)
    assert (from_arguments.settings.max_attempts, from_arguments.settings.retry_budget) == (7, 9.0)
    defaults = make_hook(timeout=None)
    assert (defaults.settings.timeout, defaults.settings.max_attempts, defaults.settings.retry_budget) == (
        60.0,
        5,
        300.0,
    )


@pytest.mark.parametrize("extra", [{"timeout": "soon"}, {"max_attempts": 0}, {"retry_budget": -1}])
def test_unusable_extras_are_named(make_client: ClientFactory, extra: dict[str, object]) -> None:
    (name,) = extra
    with pytest.raises(SoundlinkConfigurationError, match=f"'{name}' of connection 'soundlink_default'"):
        make_client(extra=extra, timeout=None).get_campaign("camp_x")


def test_the_pseudonymisation_secret_comes_from_the_extras_the_old_name_with_a_warning(
    make_hook: HookFactory,
) -> None:
    hook = make_hook(extra={"pseudonymisation_secret": "pepper-0123456789", "pseudonymisation_key": "old"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hook.pseudonymisation_secret == "pepper-0123456789"
    with pytest.warns(DeprecationWarning, match="rename it to 'pseudonymisation_secret'"):
        assert make_hook(extra={"pseudonymisation_key": "old-pepper"}).pseudonymisation_secret == "old-pepper"
    with pytest.raises(SoundlinkConfigurationError, match="no pseudonymisation_secret"):
        _ = make_hook().pseudonymisation_secret


def test_a_stray_authorization_header_is_not_sent(
    make_hook: HookFactory, sandbox: SandboxProcess, track_campaign: str
) -> None:
    hook = make_hook()
    # The API rejects a Bearer token next to x-api-key (mixed_credentials); the hook must drop it.
    hook.get_conn().transport.session.headers["Authorization"] = "Bearer leftover"
    overview = hook.get_conn().get_overview(
        track_campaign, DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 2))
    )
    assert overview["campaignId"] == track_campaign
    assert [entry["status"] for entry in sandbox.requests_log()] == [200]
