"""The hook without a server: settings and base URL rules from the connection, and the connection form."""

from __future__ import annotations

import pytest

from airflow_provider_soundlink import metrics
from airflow_provider_soundlink.client.defaults import DEFAULT_BASE_URL
from airflow_provider_soundlink.errors import SoundlinkConfigurationError
from airflow_provider_soundlink.hooks.soundlink import SoundlinkHook
from soundlink_stand_ins.paths import REPO_ROOT
from support.connections import ConnectionSetter
from support.fake_api import BASE_URL, Answer, FakeApi, api_error

CONNECTIONS_DOC = REPO_ROOT / "docs" / "connections.md"


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
    assert SoundlinkHook().get_conn().base_url == base_url


@pytest.mark.parametrize("host", ["http://api.getsoundlink.com", "http://10.0.0.5:8080", "http://128.0.0.1"])
def test_plain_http_is_refused_for_hosts_that_are_not_loopback(
    set_connection: ConnectionSetter, host: str
) -> None:
    set_connection(host)
    hook = SoundlinkHook()
    with pytest.raises(SoundlinkConfigurationError, match="plain http") as raised:
        hook.get_conn().get_campaign("camp_x")
    assert "soundlink_default" in str(raised.value)
    ok, message = hook.test_connection()
    assert not ok
    assert "https://" in message


@pytest.mark.parametrize("opt_in", [True, "true"])
def test_plain_http_to_another_host_needs_the_explicit_opt_in(
    set_connection: ConnectionSetter, opt_in: bool | str
) -> None:
    set_connection("http://sandbox:8080", allow_insecure_http=opt_in)
    assert SoundlinkHook().get_conn().base_url == "http://sandbox:8080"
    set_connection("http://sandbox:8080", allow_insecure_http=False)
    with pytest.raises(SoundlinkConfigurationError, match="allow_insecure_http"):
        SoundlinkHook().get_conn().base_url  # noqa: B018


def test_a_missing_api_key_names_the_connection(set_connection: ConnectionSetter) -> None:
    set_connection("https://api.getsoundlink.com", api_key=None)
    with pytest.raises(SoundlinkConfigurationError, match="connection 'soundlink_default' has no API key"):
        SoundlinkHook().get_conn().get_campaign("camp_x")


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
    from airflow_provider_soundlink.provider_info import get_provider_info

    (provider_form,) = get_provider_info()["connection-types"]
    widgets = SoundlinkHook.get_connection_form_widgets()
    kinds = {"IntegerField": "integer", "BooleanField": "boolean", "PasswordField": "string"}

    assert {
        name: (str(widget.args[0]), str(widget.kwargs["description"]), kinds[widget.field_class.__name__])
        for name, widget in widgets.items()
    } == {
        name: (
            field["label"],
            field["description"],
            next(kind for kind in field["schema"]["type"] if kind != "null"),
        )
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
    from airflow_provider_soundlink.provider_info import get_provider_info

    (connection_type,) = get_provider_info()["connection-types"]
    assert connection_type["connection-type"] == SoundlinkHook.conn_type == "soundlink"
    assert connection_type["hook-class-name"].endswith(f".{SoundlinkHook.__name__}")
    # Airflow 3's UI lists the type by this name; without it, by the bare "soundlink".
    assert connection_type["hook-name"] == SoundlinkHook.hook_name == "Soundlink"


def test_every_extra_explains_itself_and_names_its_default() -> None:
    from airflow_provider_soundlink.hooks.connection_form import EXTRA_FIELDS

    for field in EXTRA_FIELDS:
        assert "Default: " in field.description, field.name
        if field.placeholder is not None:
            assert f"Default: {field.placeholder}." in field.description


def test_the_documented_extras_are_the_forms_extras_with_the_forms_words() -> None:
    from airflow_provider_soundlink.hooks.connection_form import EXTRA_FIELDS

    documented = [line for line in CONNECTIONS_DOC.read_text().splitlines() if line.startswith("| extra `")]
    assert documented == [
        f"| extra `{field.name}` ({field.label}) | {field.description} |" for field in EXTRA_FIELDS
    ]


def test_the_hooks_client_counts_each_retry_in_airflows_metrics(
    set_connection: ConnectionSetter, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[str] = []
    monkeypatch.setattr(metrics.Stats, "incr", lambda name, *args, **kwargs: counted.append(name))
    set_connection(BASE_URL)
    client = SoundlinkHook(backoff_initial=0.001, backoff_max=0.002).get_conn()
    client.transport.session.mount(
        BASE_URL,
        FakeApi(api_error(503, "unavailable", "try later"), Answer(json={"data": {"campaignId": "camp_a"}})),
    )

    assert client.get_campaign("camp_a") == {"campaignId": "camp_a"}
    assert counted == ["soundlink.api.retries", "soundlink.api.retries.503"]
