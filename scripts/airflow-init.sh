#!/usr/bin/env bash
# What a deployment runs once before its Airflow daemons start: docker-compose.yaml's airflow-init, and the
# platform end-to-end tests (tests/e2e/test_platform_topology.py) before they start theirs.
#   1. migrate the metadata database;
#   2. create the pools the DAGs' tasks run in (Airflow does not create pools, and a task in a missing
#      pool never runs): soundlink_api with one slot per export shard, soundlink_bigquery_merge with one;
#   3. create the connections given as JSON in SOUNDLINK_CONNECTION_JSON and GOOGLE_CLOUD_CONNECTION_JSON,
#      if set (production keeps them in a secrets backend instead; see docs/deploying.md).
# It can run again: pools are set, connections replaced.
set -euo pipefail

airflow db migrate
airflow pools set soundlink_api "${SOUNDLINK_EXPORT_SHARDS:-4}" "concurrent Soundlink API calls"
airflow pools set soundlink_bigquery_merge 1 "one Soundlink MERGE at a time" --include-deferred

add_connection() {
    local name=$1 json=$2
    [ -n "$json" ] || return 0
    airflow connections delete "$name" >/dev/null 2>&1 || true
    airflow connections add "$name" --conn-json "$json"
}
add_connection soundlink_default "${SOUNDLINK_CONNECTION_JSON:-}"
add_connection google_cloud_default "${GOOGLE_CLOUD_CONNECTION_JSON:-}"
