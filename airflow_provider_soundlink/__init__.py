"""Apache Airflow provider for the Soundlink Metrics API.

Layers, each importing only from those before it: :mod:`.errors` (the one error family) and
:mod:`.core` (pure logic), :mod:`.client` (the API without Airflow), :mod:`.hooks` and :mod:`.triggers`,
:mod:`.operators`, and :mod:`.dag_factory` (DAGs built from the operators).
"""

from __future__ import annotations

__version__ = "0.1.0"
"""The one place the version is written; pyproject.toml reads it from here."""
