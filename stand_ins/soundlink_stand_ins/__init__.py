"""Start and stop the local stand-ins the tests, the benchmarks and the demo run against.

fake-gcs-server and local-bigquery for GCS and BigQuery (:mod:`.gcp`), the Soundlink sandbox
(:mod:`.sandbox`), and the PostgreSQL and Redis of the platform tests (:mod:`.platform_services`); each
runs in a process group of its own on 127.0.0.1 and is stopped by that group's id (:mod:`.processes`).
:mod:`.cli` keeps them running for a shell (``python -m soundlink_stand_ins up``); :mod:`.airflow_runner`
runs real Airflow installations, :mod:`.pipeline` checks what the example DAGs loaded.
"""

from __future__ import annotations

from soundlink_stand_ins.gcp import (
    DEFAULT_PROJECT,
    google_connection_json,
    start_fake_gcs,
    start_local_bigquery,
)
from soundlink_stand_ins.platform_services import (
    create_postgres_database,
    postgres_url,
    start_postgres,
    start_redis,
    stop_postgres,
)
from soundlink_stand_ins.processes import RunningService, ServiceError, free_port, stop_process_group
from soundlink_stand_ins.sandbox import SANDBOX_API_KEY, soundlink_connection_json, start_sandbox

__all__ = [
    "DEFAULT_PROJECT",
    "SANDBOX_API_KEY",
    "RunningService",
    "ServiceError",
    "create_postgres_database",
    "free_port",
    "google_connection_json",
    "postgres_url",
    "soundlink_connection_json",
    "start_fake_gcs",
    "start_local_bigquery",
    "start_postgres",
    "start_redis",
    "start_sandbox",
    "stop_postgres",
    "stop_process_group",
]
