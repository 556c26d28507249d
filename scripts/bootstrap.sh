#!/usr/bin/env bash
# Builds the environments the tests and the demo run in, once; later calls return at once.
#   .venvs/af3  Airflow 3.3 + google provider + this package (editable) + dev tools
#   .venvs/af2  Airflow 2.11 + google provider + this package (editable)
#   .venvs/bq   local-bigquery on Python 3.13 (it needs >= 3.13), with DuckDB extensions preloaded
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS="$ROOT/.venvs"
mkdir -p "$VENVS"

AIRFLOW3_VERSION=3.3.2
AIRFLOW2_VERSION=2.11.2
GOOGLE_PROVIDER_VERSION=22.8.0
LOCAL_BIGQUERY_VERSION=0.3.2
DUCKDB_VERSION=1.5.5

if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi

stamp_ok() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }

airflow_env() {
    local dir=$1 airflow_version=$2 extras=$3
    local want="airflow=$airflow_version google=$GOOGLE_PROVIDER_VERSION extras=$extras $(sha1sum pyproject.toml | cut -c1-12)"
    stamp_ok "$dir" "$want" && return 0
    echo "bootstrap: building $dir (Airflow $airflow_version)"
    rm -rf "$dir"
    uv venv --quiet --python "$(command -v python3)" "$dir"
    VIRTUAL_ENV="$dir" uv pip install --quiet \
        "apache-airflow==$airflow_version" \
        "apache-airflow-providers-google==$GOOGLE_PROVIDER_VERSION" \
        -e ".[$extras]"
    echo "$want" > "$dir/.stamp"
}

bigquery_env() {
    local dir="$VENVS/bq"
    local want="local-bigquery=$LOCAL_BIGQUERY_VERSION duckdb=$DUCKDB_VERSION"
    stamp_ok "$dir" "$want" && return 0
    echo "bootstrap: building $dir (local-bigquery $LOCAL_BIGQUERY_VERSION)"
    rm -rf "$dir"
    local py313
    py313="$(pyenv prefix 3.13.0 2>/dev/null)/bin/python3.13"
    [ -x "$py313" ] || py313=$(command -v python3.13)
    uv venv --quiet --python "$py313" "$dir"
    VIRTUAL_ENV="$dir" uv pip install --quiet \
        "local-bigquery==$LOCAL_BIGQUERY_VERSION" "duckdb==$DUCKDB_VERSION" duckdb-extensions \
        "duckdb-extension-icu==$DUCKDB_VERSION" "duckdb-extension-ducklake==$DUCKDB_VERSION" \
        "duckdb-extension-spatial==$DUCKDB_VERSION" "duckdb-extension-httpfs==$DUCKDB_VERSION"
    # DuckDB would otherwise try to download these at run time; the server runs with this HOME.
    mkdir -p "$dir/home"
    HOME="$dir/home" "$dir/bin/python" -c \
        "from duckdb_extensions import import_extension as i; [i(e) for e in ('icu','ducklake','spatial','httpfs')]"
    echo "$want" > "$dir/.stamp"
}

# Validates docker-compose.yaml in tests (`docker-compose config`); this machine has no Docker engine.
compose_validator() {
    command -v docker-compose >/dev/null 2>&1 && return 0
    echo "bootstrap: installing docker-compose"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends docker-compose \
        || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends docker-compose; }
}

case "${1:-all}" in
    af3) airflow_env "$VENVS/af3" "$AIRFLOW3_VERSION" "dev" ;;
    af2) airflow_env "$VENVS/af2" "$AIRFLOW2_VERSION" "dev" ;;
    bq) bigquery_env ;;
    compose) compose_validator ;;
    all)
        airflow_env "$VENVS/af3" "$AIRFLOW3_VERSION" "dev"
        bigquery_env
        airflow_env "$VENVS/af2" "$AIRFLOW2_VERSION" "dev"
        compose_validator
        ;;
    *) echo "usage: $0 [af3|af2|bq|compose|all]" >&2; exit 2 ;;
esac
