"""Apache Airflow provider for the Soundlink Metrics API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
"""The one place the version is written; pyproject.toml reads it from here."""


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""
    from airflow_provider_soundlink.hooks.connection_form import provider_connection_type

    return {
        "package-name": "airflow-provider-soundlink",
        "name": "Soundlink",
        "description": "Load Soundlink campaign metrics into Google BigQuery.",
        "versions": [__version__],
        "connection-types": [provider_connection_type()],
        # Named, not imported: Airflow reads this while it is still importing itself.
        "extra-links": [
            "airflow_provider_soundlink.operators.links.BigQueryTableLink",
            "airflow_provider_soundlink.operators.links.GcsFolderLink",
        ],
    }
