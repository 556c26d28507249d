#!/usr/bin/env bash
# Builds the environments the tests and the demo run in, once; later calls return at once.
#   .venvs/af3  Airflow 3.3 + google provider + this package, the sandbox and the stand-ins (all editable)
#               + dev tools
#   .venvs/af2  Airflow 2.11 + google provider + the same three packages (editable)
#   .venvs/bq   local-bigquery on Python 3.13 (it needs >= 3.13), with DuckDB extensions preloaded
#   Debian packages: docker-compose (to validate docker-compose.yaml), redis-server and postgresql (the
#   platform end-to-end tests run Airflow on PostgreSQL with Celery and Redis), chromium (the UI test)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENVS="$ROOT/.venvs"
mkdir -p "$VENVS"

AIRFLOW3_VERSION=3.3.2
AIRFLOW2_VERSION=2.11.2
GOOGLE_PROVIDER_VERSION=22.8.0
# The operators report lineage when it is installed (the openlineage extra); the tests read the events.
OPENLINEAGE_PROVIDER_VERSION=2.20.3
CELERY_PROVIDER_VERSION=3.26.0
# celery 5.7 dropped celery.backends.database.retry, which the celery provider 3.26.0 imports.
CELERY_VERSION=5.5.3
PSYCOPG2_VERSION=2.9.13
# cryptography 51 made MultiFernet a class that takes no new attributes, and Airflow 2.11's get_fernet()
# sets one on it (is_encrypted): every connection with a password then fails to load.
AIRFLOW2_CRYPTOGRAPHY_VERSION=50.0.2
ASYNCPG_VERSION=0.32.0
# Drives Debian's Chromium through Airflow 3.3's UI in the end-to-end tests (its own browsers are never
# downloaded: the tests launch /usr/bin/chromium).
PLAYWRIGHT_VERSION=1.65.3
# Airflow's statsd extra: the end-to-end tests read the provider's metrics from a StatsD listener.
STATSD_VERSION=4.0.1
LOCAL_BIGQUERY_VERSION=0.3.2
DUCKDB_VERSION=1.5.5

if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi

stamp_ok() { [ -f "$1/.stamp" ] && [ "$(cat "$1/.stamp")" = "$2" ]; }

# Each Airflow runs on PostgreSQL in the platform tests (psycopg2); Airflow 3 also with Celery.
airflow_env() {
    local dir=$1 airflow_version=$2 extras=$3
    shift 3
    # The three editable packages' metadata: a changed dependency or entry point rebuilds the environment.
    local packages
    packages=$(cat pyproject.toml sandbox/pyproject.toml stand_ins/pyproject.toml | sha1sum | cut -c1-12)
    local want="airflow=$airflow_version google=$GOOGLE_PROVIDER_VERSION"
    want="$want openlineage=$OPENLINEAGE_PROVIDER_VERSION extras=$extras $* $packages"
    stamp_ok "$dir" "$want" && return 0
    echo "bootstrap: building $dir (Airflow $airflow_version)"
    rm -rf "$dir"
    uv venv --quiet --python "$(command -v python3)" "$dir"
    VIRTUAL_ENV="$dir" uv pip install --quiet \
        "apache-airflow==$airflow_version" \
        "apache-airflow-providers-google==$GOOGLE_PROVIDER_VERSION" \
        "apache-airflow-providers-openlineage==$OPENLINEAGE_PROVIDER_VERSION" \
        "psycopg2-binary==$PSYCOPG2_VERSION" \
        "statsd==$STATSD_VERSION" \
        "$@" \
        -e ".[$extras]" -e ./sandbox -e ./stand_ins
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

# docker-compose validates docker-compose.yaml in tests (`docker-compose config`; there is no Docker
# engine here); redis-server and PostgreSQL run under the platform tests, started by the tests themselves;
# headless Chromium walks Airflow's UI in the end-to-end tests.
system_packages() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "bootstrap: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" \
        || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
}

# Airflow 3 opens PostgreSQL through asyncpg as well; the UI tests drive its web UI with playwright.
af3_env() {
    airflow_env "$VENVS/af3" "$AIRFLOW3_VERSION" "dev,openlineage" \
        "apache-airflow-providers-celery==$CELERY_PROVIDER_VERSION" "celery[redis]==$CELERY_VERSION" \
        "asyncpg==$ASYNCPG_VERSION" "playwright==$PLAYWRIGHT_VERSION"
}
af2_env() {
    airflow_env "$VENVS/af2" "$AIRFLOW2_VERSION" "dev,openlineage" "cryptography==$AIRFLOW2_CRYPTOGRAPHY_VERSION"
}

case "${1:-all}" in
    af3) af3_env ;;
    af2) af2_env ;;
    bq) bigquery_env ;;
    system) system_packages ;;
    all)
        # Side by side: each build mostly waits on the package index or apt (about 30 s each here).
        pids=()
        af3_env & pids+=($!)
        bigquery_env & pids+=($!)
        af2_env & pids+=($!)
        system_packages & pids+=($!)
        failed=0
        for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
        exit "$failed"
        ;;
    *) echo "usage: $0 [af3|af2|bq|system|all]" >&2; exit 2 ;;
esac
