"""Connection settings, base URL rules, connection test and the form metadata."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from airflow_provider_soundlink.client.defaults import DEFAULT_BASE_URL
from airflow_provider_soundlink.client.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from airflow_provider_soundlink.sandbox.keys import KEY_METRICS_ONLY, KEY_REVOKED
from airflow_provider_soundlink.sandbox.testing import SandboxProcess
from airflow_provider_soundlink.windows import DateWindow

from .conftest import ConnectionSetter, HookFactory


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        (None, DEFAULT_BASE_URL),
        ("api.getsoundlink.com", "https://api.getsoundlink.com"),
        ("https://eu.example.com:8443/", "https://eu.example.com:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9:8080", "http://127.9.9.9:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_base_url_from_the_host_field(
    set_connection: ConnectionSetter, host: str | None, base_url: str
) -> None:
    set_connection(host)
    assert SoundlinkHook().base_url == base_url


@pytest.mark.parametrize("host", ["http://api.getsoundlink.com", "http://10.0.0.5:8080", "http://128.0.0.1"])
def test_plain_http_is_refused_for_hosts_that_are_not_loopback(
    set_connection: ConnectionSetter, host: str
) -> None:
    set_connection(host)
    hook = SoundlinkHook()
    with pytest.raises(SoundlinkConfigurationError, match="plain http") as raised:
        hook.get_campaign("camp_x")
    assert "soundlink_default" in str(raised.value)
    ok, message = hook.test_connection()
    assert not ok
    assert "https://" in message


@pytest.mark.parametrize("opt_in", [True, "true"])
def test_plain_http_to_another_host_needs_the_explicit_opt_in(
    set_connection: ConnectionSetter, opt_in: bool | str
) -> None:
    set_connection("http://sandbox:8080", allow_insecure_http=opt_in)
    assert SoundlinkHook().base_url == "http://sandbox:8080"
    set_connection("http://sandbox:8080", allow_insecure_http=False)
    with pytest.raises(SoundlinkConfigurationError, match="allow_insecure_http"):
        SoundlinkHook().base_url  # noqa: B018


def test_a_missing_api_key_names_the_connection(set_connection: ConnectionSetter) -> None:
    set_connection("https://api.getsoundlink.com", api_key=None)
    with pytest.raises(SoundlinkConfigurationError, match="connection 'soundlink_default' has no API key"):
        SoundlinkHook().get_campaign("camp_x")


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
def test_unusable_extras_are_named(make_hook: HookFactory, extra: dict[str, object]) -> None:
    (name,) = extra
    with pytest.raises(SoundlinkConfigurationError, match=f"'{name}' of connection 'soundlink_default'"):
        make_hook(extra=extra, timeout=None).get_campaign("camp_x")


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
    hook.get_conn().headers["Authorization"] = "Bearer leftover"
    overview = hook.get_overview(track_campaign, DateWindow(dt.date(2026, 5, 1), dt.date(2026, 5, 2)))
    assert overview["campaignId"] == track_campaign
    assert [entry["status"] for entry in sandbox.requests_log()] == [200]


def test_ui_field_behaviour_relabels_and_hides() -> None:
    behaviour = SoundlinkHook.get_ui_field_behaviour()
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port", "extra"}
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"}


def test_form_widgets_offer_the_extras() -> None:
    pytest.importorskip("wtforms")
    pytest.importorskip("flask_appbuilder")
    widgets = SoundlinkHook.get_connection_form_widgets()
    assert set(widgets) == {
        "timeout",
        "export_timeout",
        "max_attempts",
        "retry_budget",
        "pseudonymisation_secret",
        "allow_insecure_http",
    }
    assert widgets["pseudonymisation_secret"].field_class.__name__ == "PasswordField"
    assert widgets["allow_insecure_http"].field_class.__name__ == "BooleanField"


def test_the_airflow_2_form_and_the_airflow_3_form_agree() -> None:
    """Airflow 2.11 builds the form from the hook's methods, Airflow 3 from the provider info."""
    pytest.importorskip("wtforms")
    pytest.importorskip("flask_appbuilder")
    from airflow_provider_soundlink import get_provider_info

    (provider_form,) = get_provider_info()["connection-types"]
    widgets = SoundlinkHook.get_connection_form_widgets()
    kinds = {"IntegerField": "integer", "BooleanField": "boolean", "PasswordField": "string"}

    assert {
        name: (str(widget.args[0]), kinds[widget.field_class.__name__]) for name, widget in widgets.items()
    } == {
        name: (field["label"], next(kind for kind in field["schema"]["type"] if kind != "null"))
        for name, field in provider_form["conn-fields"].items()
    }
    behaviour = SoundlinkHook.get_ui_field_behaviour()
    assert provider_form["ui-field-behaviour"] == {
        "hidden-fields": behaviour["hidden_fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
    assert set(behaviour["placeholders"]) - {"host", "password"} <= set(widgets)


def test_the_hook_is_registered_for_its_connection_type() -> None:
    from airflow_provider_soundlink import get_provider_info

    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["connection-type"] == SoundlinkHook.conn_type == "soundlink"
    assert connection_type["hook-class-name"].endswith(f".{SoundlinkHook.__name__}")
