"""Airflow discovers the provider through its entry point and offers the ``soundlink`` connection type."""

from __future__ import annotations

from airflow.providers_manager import ProvidersManager


def test_airflow_lists_the_provider_and_its_connection_type() -> None:
    manager = ProvidersManager()
    assert "airflow-provider-soundlink" in manager.providers
    hook = manager.hooks["soundlink"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_soundlink.hooks.soundlink.SoundlinkHook"
    assert hook.connection_type == "soundlink"


def test_the_connection_form_relabels_fields_and_offers_the_extras() -> None:
    manager = ProvidersManager()
    behaviour = manager.field_behaviours["soundlink"]
    assert behaviour["relabeling"] == {"password": "API key", "host": "Base URL"}
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port", "extra"}
    widgets = {name for name in manager.connection_form_widgets if name.startswith("extra__soundlink__")}
    assert widgets == {
        f"extra__soundlink__{name}"
        for name in (
            "timeout",
            "export_timeout",
            "max_attempts",
            "retry_budget",
            "allow_insecure_http",
            "pseudonymisation_secret",
        )
    }
