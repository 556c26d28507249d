"""Where the repository's checkout and its environments are: this package is installed editable from it."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENVS = REPO_ROOT / ".venvs"
AIRFLOW3_VENV = VENVS / "af3"
AIRFLOW2_VENV = VENVS / "af2"
LOCAL_BIGQUERY_ENV = Path(os.environ.get("SOUNDLINK_LOCAL_BIGQUERY_ENV", VENVS / "bq"))
"""The virtualenv local-bigquery runs in (it needs Python 3.13): scripts/bootstrap.sh bq builds it."""
DAGS_FOLDER = REPO_ROOT / "dags"
