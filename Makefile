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
AIRFLOW := bash infra/airflow/airflow.sh

KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
MLFLOW_PORT ?= 5000
export KAFKA_PORT REDIS_PORT MLFLOW_PORT

# What the tests and the demo talk to: the services started by `make services-up`.
SERVICE_ENV := KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_PORT) \
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 \
	MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT) \
	KAFKA_SASL_BOOTSTRAP_SERVERS=127.0.0.1:$(or $(KAFKA_SASL_PORT),$(shell echo $$(($(KAFKA_PORT) + 2)))) \
	KAFKA_SASL_TEST_USER=$(or $(KAFKA_SASL_TEST_USER),fraudstream) \
	KAFKA_SASL_TEST_PASSWORD=$(or $(KAFKA_SASL_TEST_PASSWORD),fraudstream-local-scram) \
	REDIS_TLS_URL=rediss://:$(or $(REDIS_TLS_PASSWORD),fraudstream-local-redis)@127.0.0.1:$(or $(REDIS_TLS_PORT),$(shell echo $$(($(REDIS_PORT) + 1))))/0 \
	LOCAL_TLS_CAFILE=$(or $(FRAUDSTREAM_STATE_DIR),$(CURDIR)/.local/services)/tls/ca.pem \
	REDIS_CLUSTER_TEST_NODES=$(shell p=$(or $(REDIS_CLUSTER_PORT),7001); echo 127.0.0.1:$$p,127.0.0.1:$$((p + 1)),127.0.0.1:$$((p + 2)))

PYTEST_ARGS ?=

# `make test` measures the coverage of libs/fraudstream, in the tests' own process and
# in the Python processes they start ([tool.coverage.*] in pyproject.toml; the data in
# .local/coverage), prints it per package and fails under the floor there (fail_under).
# `make test COVERAGE=` runs without it, e.g. with PYTEST_ARGS picking a few tests.
COVERAGE ?= --cov --cov-report=

# Linters built from the Go module proxy into .local/bin (cached; GOPATH and the build
# cache stay under .local too, so a fresh machine needs only Go itself).
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
TOOLS_BIN := $(CURDIR)/.local/bin
ACTIONLINT_VERSION ?= 1.7.12
KUSTOMIZE_VERSION ?= 5.8.1
GO_INSTALL := GOBIN=$(TOOLS_BIN) GOPATH=$(CURDIR)/.local/go GOCACHE=$(CURDIR)/.local/go/cache \
	GOFLAGS=-modcacherw GOTOOLCHAIN=local $(GO) install

.PHONY: help install lint format typecheck test test-unit services-up services-down \
	services-status env-example demo clean deploy-tools actionlint kustomize validate-deploy \
	airflow-install airflow-ui airflow-down audit console-screenshots coverage-html

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --all-extras
	@touch $@

install: .venv/.synced ## Create .venv with the locked dependencies

lint: install ## The pre-commit hooks over every file: ruff, import layers, whitespace, YAML/TOML, large files, keys
	$(RUN) pre-commit run --all-files --show-diff-on-failure

format: install ## Apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

typecheck: install ## mypy --strict over the package
	$(RUN) mypy

test-unit: install deploy-tools airflow-install ## Unit tests only (no services)
	$(RUN) pytest -m "not integration" $(PYTEST_ARGS)

test: install deploy-tools airflow-install ## Start the services, run the whole suite with coverage, stop the services
	@mkdir -p .local/coverage
	@$(SERVICES) up; \
	status=0; \
	$(SERVICE_ENV) $(RUN) pytest $(COVERAGE) $(PYTEST_ARGS) || status=$$?; \
	$(SERVICES) down > .local/services-down.log 2>&1 || status=$$((status ? status : 1)); \
	exit $$status

coverage-html: install ## HTML coverage report from the last `make test` (.local/coverage/html)
	$(RUN) coverage html

console-screenshots: install ## Retake docs/img/console-*.png: the console's browser test, with the services
	@mkdir -p .local
	@$(SERVICES) up; \
	status=0; \
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/img $(SERVICE_ENV) $(RUN) pytest tests/browser $(PYTEST_ARGS) || status=$$?; \
	$(SERVICES) down > .local/services-down.log 2>&1 || status=$$((status ? status : 1)); \
	exit $$status

# Airflow has its own uv project and venv (its pins clash with ours): docs/orchestration.md
infra/airflow/.venv/.synced: infra/airflow/pyproject.toml infra/airflow/uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --project infra/airflow
	@touch $@

airflow-install: install infra/airflow/.venv/.synced ## Create Airflow's own venv (infra/airflow/.venv)

airflow-ui: airflow-install ## Airflow standalone on 127.0.0.1:8080 (state in .local/airflow)
	@$(SERVICE_ENV) $(AIRFLOW) ui

airflow-down: ## Stop what airflow-ui started
	@$(AIRFLOW) down

services-up: install ## Start Kafka, Redis and MLflow on 127.0.0.1 (idempotent)
	@$(SERVICES) up

services-down: ## Stop exactly the services services-up started
	@$(SERVICES) down

services-status: ## Show which services are up
	@$(SERVICES) status

$(TOOLS_BIN)/.go-check:
	@test -x "$(GO)" || { echo "Go is needed to build actionlint and kustomize: install Go 1.26+ or set GO=/path/to/go" >&2; exit 1; }
	@mkdir -p $(TOOLS_BIN) && touch $@

$(TOOLS_BIN)/.actionlint-$(ACTIONLINT_VERSION): $(TOOLS_BIN)/.go-check
	$(GO_INSTALL) github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION)
	@touch $@

$(TOOLS_BIN)/.kustomize-$(KUSTOMIZE_VERSION): $(TOOLS_BIN)/.go-check
	$(GO_INSTALL) sigs.k8s.io/kustomize/kustomize/v5@v$(KUSTOMIZE_VERSION)
	@touch $@

actionlint: $(TOOLS_BIN)/.actionlint-$(ACTIONLINT_VERSION) ## Build actionlint into .local/bin
kustomize: $(TOOLS_BIN)/.kustomize-$(KUSTOMIZE_VERSION) ## Build kustomize into .local/bin

deploy-tools: actionlint kustomize ## The linters the deployment checks need (Go proxy, cached)

validate-deploy: install deploy-tools ## Offline checks: Dockerfile, compose, Kubernetes, workflows
	$(RUN) python -m fraudstream.deploy

env-example: install ## Regenerate .env.example and docs/configuration.md from the settings classes
	$(RUN) python -c "from fraudstream.config import render_env_example as r; open('.env.example', 'w').write(r())"
	$(RUN) python -c "from fraudstream.config import render_configuration_md as r; open('docs/configuration.md', 'w').write(r())"

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

DEMO_DURATION ?= 100

demo: install ## Replay, score and learn for about two and a half minutes (own Kafka, embedded Redis)
	@bash infra/local/demo.sh $(DEMO_DURATION)

clean: services-down ## Stop services, remove the venv, caches and local state
	@$(AIRFLOW) down >/dev/null 2>&1 || true
	rm -rf .venv infra/airflow/.venv .local .pytest_cache .ruff_cache .mypy_cache
