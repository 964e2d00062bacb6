# fraudstream: every task a developer or CI runs. `make help` lists them.
#
# Only python3 (3.11+) and make are assumed. uv is installed with pip when missing;
# the services (Kafka, Redis, MLflow) are started as local processes by
# infra/local/services.sh, which installs what they need.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION ?= 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
SERVICES := bash infra/local/services.sh

KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
MLFLOW_PORT ?= 5000
export KAFKA_PORT REDIS_PORT MLFLOW_PORT

# What the tests and the demo talk to: the services started by `make services-up`.
SERVICE_ENV := KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_PORT) \
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 \
	MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT)

PYTEST_ARGS ?=

.PHONY: help install lint format typecheck test test-unit services-up services-down \
	services-status env-example demo clean audit

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-extras
	@touch $@

install: .venv/.synced ## Create .venv with the locked dependencies

lint: install ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install ## mypy --strict over the package
	$(RUN) mypy

test-unit: install ## Unit tests only (no services)
	$(RUN) pytest -m "not integration" $(PYTEST_ARGS)

test: install ## Start the services, run the whole suite, stop the services
	@mkdir -p .local
	@$(SERVICES) up; \
	status=0; \
	$(SERVICE_ENV) $(RUN) pytest $(PYTEST_ARGS) || status=$$?; \
	$(SERVICES) down > .local/services-down.log 2>&1 || status=$$((status ? status : 1)); \
	exit $$status

services-up: install ## Start Kafka, Redis and MLflow on 127.0.0.1 (idempotent)
	@$(SERVICES) up

services-down: ## Stop exactly the services services-up started
	@$(SERVICES) down

services-status: ## Show which services are up
	@$(SERVICES) status

env-example: install ## Regenerate .env.example from the settings classes
	$(RUN) python -c "from fraudstream.config import render_env_example as r; open('.env.example', 'w').write(r())"

# pip-audit of every locked package (uv.lock, hashed) against an advisory service:
# `pypi` (PyPI's JSON API) or `osv`. AUDIT_ARGS adds options, e.g. --strict to fail
# when a package could not be looked up.
AUDIT_SERVICE ?= pypi
AUDIT_ARGS ?=

audit: install ## Audit the locked dependencies for known vulnerabilities (pip-audit)
	@mkdir -p .local
	$(UV) export --frozen --all-extras --all-groups --no-emit-project --quiet \
		-o .local/requirements-audit.txt
	$(RUN) pip-audit -r .local/requirements-audit.txt --disable-pip \
		-s $(AUDIT_SERVICE) --progress-spinner off $(AUDIT_ARGS)

DEMO_DURATION ?= 120

demo: install ## Replay, score and learn for two minutes (embedded services if none run)
	$(RUN) fraudstream demo --duration $(DEMO_DURATION)

clean: services-down ## Stop services, remove the venv, caches and local state
	rm -rf .venv .local .pytest_cache .ruff_cache .mypy_cache
