# Images for the local stack in docker-compose.yaml; each service builds its own target.
# Versions match scripts/bootstrap.sh, where they are known to work together.

# The provider's own Airflow: the official image plus this package (no _PIP_ADDITIONAL_REQUIREMENTS at start-up).
FROM apache/airflow:3.3.2-python3.11 AS airflow
COPY --chown=airflow:root . /opt/soundlink
# Naming apache-airflow keeps pip from moving the image's Airflow to another version.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" "apache-airflow-providers-google==22.8.0" /opt/soundlink

# The Soundlink sandbox is its own distribution and needs only the standard library.
FROM python:3.11-slim AS sandbox
COPY sandbox /opt/soundlink-sandbox
RUN pip install --no-cache-dir /opt/soundlink-sandbox
EXPOSE 8080

# local-bigquery needs Python >= 3.13; 0.4.0 needs DuckDB extensions it downloads at run time.
FROM python:3.13-slim AS bigquery
RUN pip install --no-cache-dir "local-bigquery==0.3.2" "duckdb==1.5.5" duckdb-extensions \
        "duckdb-extension-icu==1.5.5" "duckdb-extension-ducklake==1.5.5" \
        "duckdb-extension-spatial==1.5.5" "duckdb-extension-httpfs==1.5.5" \
    && python -c "from duckdb_extensions import import_extension as i; [i(e) for e in ('icu','ducklake','spatial','httpfs')]"
EXPOSE 9050 9060
