"""Describe the provider to Airflow, which reads it through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_soundlink import __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: its package, connection type and operator extra links."""
    from airflow_provider_soundlink.hooks.connection_form import provider_connection_type

    return {
        "package-name": "airflow-provider-soundlink",
        "name": "Soundlink",
        "description": "Load Soundlink campaign metrics into Google BigQuery.",
        "versions": [__version__],
        "connection-types": [provider_connection_type()],
        # Named, not imported: Airflow reads this while it is still importing itself.
        "extra-links": [
            "airflow_provider_soundlink.operators.links.BigQueryJobLink",
            "airflow_provider_soundlink.operators.links.BigQueryTableLink",
            "airflow_provider_soundlink.operators.links.GcsFolderLink",
        ],
    }
