"""The ``soundlink`` connection form, written once: Airflow 3 reads it from the provider info
(``conn-fields`` as JSON schema), Airflow 2.11 from the hook's form methods (wtforms widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_soundlink.client.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_EXPORT_TIMEOUT_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_BUDGET_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
)

CONNECTION_TYPE = "soundlink"
HOOK_NAME = "Soundlink"
"""The connection type's name in Airflow's UI."""
HOOK_CLASS_NAME = "airflow_provider_soundlink.hooks.soundlink.SoundlinkHook"
HIDDEN_FIELDS = ("schema", "login", "port", "extra")
RELABELING = {"password": "API key", "host": "Base URL"}
PSEUDONYMISATION_SECRET = "pseudonymisation_secret"
"""The extra holding the secret personal data is hashed with: "secret" in its name makes Airflow's UI and
REST API hide it, as they hide extras named by a sensitive word."""
OLD_PSEUDONYMISATION_KEY = "pseudonymisation_key"
"""Its earlier name, shown in clear by Airflow; still read, with a deprecation warning."""
PSEUDONYMISATION_EXTRAS = (PSEUDONYMISATION_SECRET, OLD_PSEUDONYMISATION_KEY)


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's extras."""

    name: str
    label: str
    kind: str
    """``integer`` (a positive whole number), ``boolean`` or ``secret``."""
    description: str
    """The help text the form shows under the field, ending with its default."""
    placeholder: str | None = None


EXTRA_FIELDS = (
    ExtraField(
        "timeout",
        "Request timeout (seconds)",
        "integer",
        "Seconds one API request may take in total, however slowly the server sends. "
        f"Default: {DEFAULT_TIMEOUT_SECONDS:.0f}.",
        str(int(DEFAULT_TIMEOUT_SECONDS)),
    ),
    ExtraField(
        "export_timeout",
        "Export timeout per attempt (seconds)",
        "integer",
        "Seconds one attempt at an export stream may take in total; a broken attempt is fetched again. "
        f"Default: {DEFAULT_EXPORT_TIMEOUT_SECONDS:.0f}.",
        str(int(DEFAULT_EXPORT_TIMEOUT_SECONDS)),
    ),
    ExtraField(
        "max_attempts",
        "Max attempts per request",
        "integer",
        f"Attempts per API call before its error fails the task. Default: {DEFAULT_MAX_ATTEMPTS}.",
        str(DEFAULT_MAX_ATTEMPTS),
    ),
    ExtraField(
        "retry_budget",
        "Retry time budget (seconds)",
        "integer",
        "Seconds one API call may spend retrying; a Retry-After on a 429 or 5xx is waited as asked. "
        f"Default: {DEFAULT_RETRY_BUDGET_SECONDS:.0f}.",
        str(int(DEFAULT_RETRY_BUDGET_SECONDS)),
    ),
    ExtraField(
        "allow_insecure_http",
        "Allow plain http to a non-loopback host (private networks only)",
        "boolean",
        "Allows an http:// base URL whose host is not loopback, such as a container network's. "
        "Default: off (https only).",
    ),
    ExtraField(
        PSEUDONYMISATION_SECRET,
        "Pseudonymisation secret (hashes personal data)",
        "secret",
        "A long random secret: IP addresses and subscriber ids from link statistics are stored as its "
        "HMAC-SHA256. Needed only for link statistics; Airflow hides it. Default: none.",
    ),
)


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden fields, labels and placeholders, as ``get_ui_field_behaviour`` returns them."""
    placeholders = {"host": DEFAULT_BASE_URL, "password": "sk_..."}
    placeholders.update({field.name: field.placeholder for field in EXTRA_FIELDS if field.placeholder})
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": placeholders,
    }


def provider_connection_type() -> dict[str, Any]:
    """Return the connection type's entry in the provider info, which Airflow 3 builds the form from."""
    behaviour = ui_field_behaviour()
    return {
        "connection-type": CONNECTION_TYPE,
        "hook-class-name": HOOK_CLASS_NAME,
        "hook-name": HOOK_NAME,
        "ui-field-behaviour": {
            "hidden-fields": behaviour["hidden_fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        },
        "conn-fields": {
            field.name: {
                "label": field.label,
                "description": field.description,
                "schema": _json_schema(field),
            }
            for field in EXTRA_FIELDS
        },
    }


def form_widgets() -> dict[str, Any]:
    """Build the extras' wtforms fields, as Airflow 2.11's ``get_connection_form_widgets`` returns them."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, PasswordField
    from wtforms.validators import NumberRange, Optional

    def widget(field: ExtraField) -> Any:
        label, description = lazy_gettext(field.label), lazy_gettext(field.description)
        if field.kind == "integer":
            return IntegerField(
                label,
                description=description,
                validators=[Optional(), NumberRange(min=1)],
                widget=BS3TextFieldWidget(),
            )
        if field.kind == "boolean":
            return BooleanField(label, description=description)
        return PasswordField(label, description=description, widget=BS3PasswordFieldWidget())

    return {field.name: widget(field) for field in EXTRA_FIELDS}


def _json_schema(field: ExtraField) -> dict[str, Any]:
    if field.kind == "integer":
        return {"type": ["integer", "null"], "minimum": 1}
    if field.kind == "boolean":
        return {"type": ["boolean", "null"], "default": False}
    return {"type": ["string", "null"], "format": "password"}
