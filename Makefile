# crm-mart. A newcomer needs two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export CRM_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CRM_DATA_DIR)/dagster_home
export PYTHONPATH := $(CURDIR)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SCALE ?= medium

.PHONY: setup browser demo test test-fast lint lint-sql hooks dagster sample-shop bench check-campaigns clean

## setup: create .venv if missing, install the pinned dependencies (requirements.lock) and
## the crm-mart command (the checkout itself, editable)
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# copied once: a dagster.yaml you changed is kept (compare it with ours after an upgrade)
$(DAGSTER_HOME)/dagster.yaml: dagster_project/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@if [ -e $@ ]; then cmp -s $< $@ || echo "note: keeping your $@; see $< for what changed"; \
		touch $@; else cp $< $@; fi

## demo: generate the sample shop, materialize every asset, print where everything is
demo: setup
	$(BIN)/crm-mart demo

## test: lint, then the whole test suite (on every core)
test: setup browser lint
	$(BIN)/python -m pytest -n auto --dist worksteal

## browser: Debian's chromium, which the report test opens the weekly report in (apt-get,
## as root or through sudo, when it is missing)
browser:
	@command -v chromium >/dev/null || { \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get install -y -qq chromium >/dev/null \
		|| { $$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null; }; }
	@command -v chromium >/dev/null || { echo "chromium is missing: apt-get install chromium"; exit 1; }

## hooks: run ruff and SQLFluff before every git commit (.pre-commit-config.yaml)
hooks: setup
	$(BIN)/pre-commit install

## test-fast: the unit tests and dbt's unit tests, without the whole-pipeline builds
test-fast: setup
	$(BIN)/python -m pytest -n auto --dist worksteal -m "not slow"

lint: setup lint-sql
	$(BIN)/ruff check dagster_project tests
	$(BIN)/ruff format --check dagster_project tests
	$(BIN)/mypy

## lint-sql: SQLFluff on the dbt models (part of lint)
lint-sql: setup
	@# SQLFluff compiles the dbt project: a throw-away warehouse, never the real one, and the
	@# default settings as dbt's vars (tests/sqlfluff_config.py)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT \
		&& $(BIN)/python -m tests.sqlfluff_config > $$tmp/pyproject.toml \
		&& CRM_DATA_DIR=$$tmp $(BIN)/sqlfluff lint --config $$tmp/pyproject.toml dbt/models

## dagster: the Dagster UI on http://127.0.0.1:3000 (workspace.yaml)
dagster: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/crm-mart prepare
	$(BIN)/dagster dev -w workspace.yaml

## sample-shop: regenerate the landing zone, e.g. make sample-shop ARGS="--scale small --format parquet"
sample-shop: setup
	$(BIN)/python -m dagster_project.sample_shop $(ARGS)

## check-campaigns: check the campaign catalogue (dagster_project/activate/campaigns.yml) without running anything
check-campaigns: setup
	$(BIN)/python -m dagster_project.activate.catalogue

## bench: time the full build and two daily runs, e.g. make bench SCALE=small (small | medium | large);
## ARGS=--regenerate generates the sample shop again instead of reusing it
bench: setup
	$(BIN)/python -m dagster_project.benchmark --scale $(SCALE) $(ARGS)

## clean: remove what the pipeline derived in the data folder (never the landing zone or the
## shop config), keep .venv
clean: setup
	$(BIN)/crm-mart clean
	rm -rf dbt/target dbt/logs
