# The two commands that matter: `make demo` runs the whole pipeline on local stand-ins,
# `make test` runs every check. Both build what they need on first use (scripts/bootstrap.sh).
AF3 := .venvs/af3/bin
AF2 := .venvs/af2/bin
PYTEST_ARGS ?=

.PHONY: bootstrap demo test unit test-af3 test-af2 lint format bench bench-parse bench-scale bigquery-check services-up services-down clean

bootstrap:
	scripts/bootstrap.sh all

demo: bootstrap
	$(AF3)/python scripts/demo.py

test: bootstrap lint test-af3 test-af2

# The hermetic tier for the edit loop: no server, no Airflow process; under a minute.
unit:
	scripts/bootstrap.sh af3
	$(AF3)/python -m pytest -m "not integration and not e2e" -q $(PYTEST_ARGS)

# The whole suite on Airflow 3.3; end-to-end tests drive both Airflow versions' CLIs.
test-af3:
	$(AF3)/python -m pytest $(PYTEST_ARGS)

# The hook and operators again, imported by Airflow 2.11.
test-af2:
	$(AF2)/python -m pytest -p no:cacheprovider tests/hooks tests/operators $(PYTEST_ARGS)

lint:
	$(AF3)/ruff check .
	$(AF3)/ruff format --check .
	$(AF3)/mypy

format:
	$(AF3)/ruff check --fix .
	$(AF3)/ruff format .

bench: bootstrap
	$(AF3)/python benchmarks/run.py

# What parsing each example DAG file costs on top of Airflow (the dag processor re-parses them all the time).
bench-parse: bootstrap
	$(AF3)/python benchmarks/parse.py

# The daily DAG over a sandbox account of 3,000 campaigns: task instances, API calls and MERGEs;
# BACKFILL=1: the backfill DAG over 3 years for 200 campaigns.
bench-scale: bootstrap
	$(AF3)/python benchmarks/scale.py $(if $(BACKFILL),--backfill)

# Dry-runs the MERGE on your own dataset: make bigquery-check PROJECT=my-project DATASET=soundlink
bigquery-check: bootstrap
	$(AF3)/python -m airflow_provider_soundlink.bigquery_check --project "$(PROJECT)" --dataset "$(DATASET)"

services-up: bootstrap
	$(AF3)/python scripts/services.py up

services-down:
	$(AF3)/python scripts/services.py down

clean: services-down
	rm -rf .venvs .run
