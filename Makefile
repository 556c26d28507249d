# The two commands that matter: `make demo` runs the whole pipeline on local stand-ins,
# `make test` runs every check. Both build what they need on first use (scripts/bootstrap.sh).
AF3 := .venvs/af3/bin
AF2 := .venvs/af2/bin
PYTEST_ARGS ?=
# Two test processes (pytest-xdist), each taking the next test as it is free: the end-to-end tests mostly
# wait on Airflow's daemons, so the second fills the other core.
XDIST := -n 2 --dist worksteal

.PHONY: bootstrap demo test docs unit integration e2e test-af3 test-af2 lint format bench bench-parse bench-scale bigquery-check services-up services-down clean

bootstrap:
	scripts/bootstrap.sh all

demo: bootstrap
	$(AF3)/python scripts/demo.py

test: bootstrap lint docs test-af3 test-af2

# The manual in docs/, warnings as errors.
docs:
	$(AF3)/mkdocs build --strict --quiet --site-dir site

# Each tier alone; the folder is the tier. unit: hermetic, for the edit loop (no server, no Airflow process).
unit:
	scripts/bootstrap.sh af3
	$(AF3)/python -m pytest tests/unit -q $(PYTEST_ARGS)

# The local stand-ins: the sandbox, fake-gcs-server, local-bigquery (the sandbox's own tests too).
integration: bootstrap
	$(AF3)/python -m pytest $(XDIST) tests/integration sandbox/tests $(PYTEST_ARGS)

# Real Airflow 3.3 and 2.11 installations running the example DAGs.
e2e: bootstrap
	$(AF3)/python -m pytest $(XDIST) tests/e2e $(PYTEST_ARGS)

# The whole suite on Airflow 3.3; end-to-end tests drive both Airflow versions' CLIs.
test-af3:
	$(AF3)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The hooks and operators again, imported by Airflow 2.11 (the client needs no Airflow: one run is enough).
test-af2:
	$(AF2)/python -m pytest $(XDIST) -p no:cacheprovider tests/unit/hooks tests/unit/operators \
		tests/integration/hooks tests/integration/operators $(PYTEST_ARGS)

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
	$(AF3)/python -m soundlink_stand_ins up

services-down:
	@if [ -x $(AF3)/python ]; then $(AF3)/python -m soundlink_stand_ins down; fi

clean: services-down
	rm -rf .venvs .run
