# The two commands a new user needs: `make demo` and `make test`. Both create the
# environment in .venv/ first (pinned by constraints.txt) when it is missing or stale.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
DBT_VENV := .venv-dbt
SCALE ?= 1
# pytest-xdist: a worker per core; a file's tests stay together (they share module fixtures).
PARALLEL ?= -n auto --dist loadfile

.PHONY: venv demo test test-fast lint browser bench airflow lock clean

$(INSTALLED): setup.cfg pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "dagmesh needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --constraint constraints.txt --editable ".[dev]"
	touch $(INSTALLED)

venv: $(INSTALLED)

## Seed the example data, run the whole pharma mesh on DuckDB, print what was certified.
demo: $(INSTALLED)
	$(BIN)/dagmesh seed --scale $(SCALE)
	$(BIN)/dagmesh run

## Lint, type-check and run every test (end-to-end ones included), one test file per core at a time.
test: $(INSTALLED) lint browser
	$(BIN)/pytest $(PARALLEL)

## Debian's Chromium and its driver, for the Mesh page test (installed through apt once).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

## The tests without the slow end-to-end ones.
test-fast: $(INSTALLED)
	$(BIN)/pytest $(PARALLEL) -m "not e2e"

lint: $(INSTALLED)
	$(BIN)/ruff check plugins dags include tests bench
	$(BIN)/ruff format --check plugins dags include tests bench
	$(BIN)/mypy

BENCH_SIZES ?= 100 1000 10000

## DAG-parse time of the loader vs the same DAGs written by hand (100, 1,000, 10,000 domains),
## then `dagmesh run` vs `dagmesh run --airflow` on the example and vs `dbt build` on bench/shop,
## then the live chain in a local Airflow vs `dagmesh run` (about an hour on 2 cores).
bench: $(INSTALLED) $(DBT_VENV)/.installed
	$(BIN)/python bench/parse_bench.py $(BENCH_SIZES)
	$(BIN)/python bench/run_bench.py $(SCALE)
	$(BIN)/python bench/dbt_bench.py $(SCALE)
	$(BIN)/python bench/live_bench.py $(SCALE)

## dbt with the duckdb adapter for the bench, in its own environment (its pins conflict with Airflow's).
$(DBT_VENV)/.installed: bench/dbt-requirements.txt $(INSTALLED)
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(BIN)/uv pip install --python $(DBT_VENV)/bin/python --requirement bench/dbt-requirements.txt
	touch $@

## A local Airflow (UI on http://localhost:8080) running the example mesh; Ctrl-C stops it.
airflow: $(INSTALLED)
	test -f .dagmesh/warehouse.duckdb || $(BIN)/dagmesh seed --scale $(SCALE)
	$(BIN)/dagmesh airflow

## Re-pin every dependency (needs network access to PyPI).
lock: $(INSTALLED)
	$(BIN)/uv pip compile setup.cfg --extra dev --python-version 3.11 --no-header --output-file constraints.txt
	$(BIN)/uv pip compile bench/dbt-requirements.in --python-version 3.11 --no-header --output-file bench/dbt-requirements.txt

clean:
	rm -rf $(VENV) $(DBT_VENV) .dagmesh .pytest_cache .mypy_cache .ruff_cache
