"""The client's default settings. A module of constants only: the provider info that Airflow reads
while it starts (the connection form) takes its placeholders from here without importing Airflow back."""

from __future__ import annotations

DEFAULT_BASE_URL = "https://api.getsoundlink.com"
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_EXPORT_TIMEOUT_SECONDS = 3600.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BUDGET_SECONDS = 300.0
