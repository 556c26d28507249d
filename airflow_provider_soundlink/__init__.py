"""Apache Airflow provider for the Soundlink Metrics API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-provider-soundlink",
        "name": "Soundlink",
        "description": "Load Soundlink campaign metrics into Google BigQuery.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "soundlink",
                "hook-class-name": "airflow_provider_soundlink.hooks.soundlink.SoundlinkHook",
                # Airflow 3 builds the connection form from these; 2.11 asks the hook's form methods.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {"host": "https://api.getsoundlink.com", "password": "sk_..."},
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "max_attempts": {
                        "label": "Max attempts per request",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "retry_budget": {
                        "label": "Retry time budget (seconds)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http to a non-loopback host (private networks only)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "pseudonymisation_key": {
                        "label": "Pseudonymisation key (hashes personal data)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                },
            }
        ],
    }
