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
            }
        ],
    }
