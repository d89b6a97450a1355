# One entry point for developers and CI: `make demo`, `make test`, `make check`, `make build`.
# Every target sets up what it needs itself (a virtualenv in .venv from the pinned requirements).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup demo up new test test-unit test-integration test-conformance kinesis-mock check format build bench clean rds-ca

# Every target, one line each (a test checks that none is missing).
help:
	@echo "  make help      this list"
	@echo "Develop:"
	@echo "  make setup     create .venv from the pinned requirements-dev.txt (every target does it when needed)"
	@echo "  make demo      run the whole pipeline locally on sample events (moto + embedded PostgreSQL)"
	@echo "  make up        start the local stack and keep it running (Ctrl-C stops it)"
	@echo "  make new KIND=consumer NAME=audit_sink [STREAM=errors]   a new function from a template (docs/adding-a-function.md)"
	@echo "  make test      run every test suite (unit, integration, conformance, build, infra, ...)"
	@echo "  make test-unit / make test-integration / make test-conformance   one suite"
	@echo "  make kinesis-mock   install kinesis-mock (npm kinesis-local) under .cache/kinesis-local"
	@echo "  make check     every linter: shellcheck (every shell script), hadolint, ruff, mypy --strict, bandit, terraform fmt + validate"
	@echo "  make format    ruff format and ruff check --fix"
	@echo "  make bench     run the benchmarks and print figures with their ratios"
	@echo "  make clean     remove target/, .local/ and the pytest and ruff caches"
	@echo "Build and ship:"
	@echo "  make rds-ca    fetch the RDS CA bundle and the RDS Proxy's roots into shared/certs/ (needs internet)"
	@echo "  make build     ./build.sh --all: every function zip and target/dependencies-layer.zip"
	@echo "  make upload NAME=error_source STAGE=qa [FORCE=1]   upload one built zip to its existing function"
	@echo "  make deploy STAGE=qa    deploy a stage: terraform apply on target/, migrate, smoke test (deploy_qa / deploy_prod)"
	@echo "  make tf-plan STAGE=qa   terraform plan of environments/qa.tfvars on the zips in target/ (changes nothing)"
	@echo "  make smoke STAGE=qa     smoke test of a deployed stage"
	@echo "  make smoke-local        smoke test against a local stack it starts and stops"
	@echo "CI (.gitlab-ci.yml runs these):"
	@echo "  make ci-check  make check, then tf-check (the check job)"
	@echo "  make tf-check  checkov on the Terraform, defaults and prod.tfvars"
	@echo "  make checkov   install checkov $(CHECKOV_VERSION) into .cache/checkov-venv"
	@echo "  make ci-test   pytest \$$PYTEST_ARGS (all suites when empty) with a JUnit report (the test job)"
	@echo "  make ci-build  make rds-ca, then make build (the build job)"
	@echo "  make ci-tools  install gitlab-ci-local $(GCL_VERSION) (under .cache/gcl) and rsync"
	@echo "  make ci-local  run the check, test and build jobs of .gitlab-ci.yml here (gitlab-ci-local)"

# About a minute and a quarter on a fresh machine: one line before, one after.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version'
	@echo "setup: installing requirements-dev.txt into $(VENV) (about a minute on a fresh machine)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@
	@echo "setup: $(VENV) is ready"

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local demo

up: $(STAMP)
	$(BIN)/python -m local up $(if $(PORT),--port $(PORT))

# KIND is consumer, producer or utility; STREAM is optional while pipeline.json has one stream.
new: $(STAMP)
	@test -n "$(KIND)" -a -n "$(NAME)" || { echo "usage: make new KIND=consumer|producer|utility NAME=name [STREAM=stream]" >&2; exit 2; }
	$(BIN)/python -m local new $(KIND) $(NAME) $(if $(STREAM),--stream $(STREAM))

# What the suites need beyond the venv, installed first: checkov (its own venv) for test/infra's scan,
# gitlab-ci-local for test/ci's pipeline runs (where npm and rsync can be had; otherwise those tests skip and
# say why), kinesis-mock for the conformance suite's second engine.
test: $(STAMP) checkov
	@$(MAKE) --no-print-directory kinesis-mock || echo "make test: kinesis-mock could not be installed (npm?); the conformance suite's second engine will skip" >&2
	@$(MAKE) --no-print-directory ci-tools || echo "make test: gitlab-ci-local could not be installed; test/ci's pipeline runs will skip" >&2
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest test/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest test/integration

# kinesis-mock (npm kinesis-local) goes to .cache/kinesis-local; the tests install it there themselves too.
kinesis-mock: $(STAMP)
	$(BIN)/python -c 'from local.kinesis_mock import install; print(install())'

test-conformance: $(STAMP) kinesis-mock
	$(BIN)/python -m pytest test/conformance

# Every shell script in the tree, by its first line (tracked files and new ones not ignored).
SHELL_SCRIPTS = $(shell git ls-files -co --exclude-standard 2>/dev/null | while read -r f; do \
	[ -f "$$f" ] && head -n1 "$$f" | grep -qE '^\#!.*[/ ](ba|da)?sh( |$$)' && echo "$$f"; done)

# The single lint entry; the check job runs it (make ci-check). terraform validate is offline here with the
# provider mirror (or a filled TF_PLUGIN_CACHE_DIR) and takes seconds, so it is part of it.
check: $(STAMP)
	$(BIN)/shellcheck $(SHELL_SCRIPTS)
	$(BIN)/hadolint Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -r shared producers consumers utilities local tools
	$(BIN)/mypy
	@if command -v terraform >/dev/null; then tools/ci_terraform.sh validate; \
	else echo "terraform not installed: skipping terraform fmt and validate (tools/install_terraform.sh installs it)"; fi

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: $(STAMP)
	./build.sh --all

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf target .local .pytest_cache .ruff_cache

# The RDS CA bundle and the Amazon Trust Services roots of RDS Proxy's certificate, shipped in every zip so the
# functions verify the database or the proxy (verify-full). Needs internet; ./build.sh refuses a database
# function's zip without it.
rds-ca:
	tools/fetch_rds_ca.sh

# =============================================================================================
# Delivery (docs/architecture.md, "Delivery"): what .gitlab-ci.yml runs, so CI and developers share one entry
# point. `make help` lists them with the rest.
# =============================================================================================

GCL_VERSION     := 4.73.0
GCL             := .cache/gcl/node_modules/.bin/gitlab-ci-local
CHECKOV_VERSION := 3.3.30
CHECKOV         := .cache/checkov-venv/bin/checkov
STAGE           ?= qa
PYTEST_ARGS     ?=
JUNIT_XML       ?= target/reports/junit.xml

.PHONY: ci-check tf-check checkov ci-test ci-build tf-plan deploy upload smoke smoke-local ci-tools ci-local

ci-check: check tf-check

# fmt and validate are make check's; this is the slower scan.
tf-check: checkov
	CHECKOV=$(CHECKOV) tools/ci_terraform.sh checkov

# checkov has its own virtualenv: its dependencies would clash with the project's pins. A venv that
# no longer runs (made through a link that is gone, another Python) is made again. venv and pip run
# from the physical path: scripts pip writes start with the path of the python that ran it, and a
# linked .cache (a CI cache, gitlab-ci-local's test checkout) must leave a venv that works without it.
checkov:
	@interpreter=$$(head -n1 $(CHECKOV) 2>/dev/null | cut -c3-); \
	if ! "$$interpreter" -c 'import importlib.metadata as m, sys; sys.exit(m.version("checkov") != "$(CHECKOV_VERSION)")' 2>/dev/null; then \
		set -e; rm -rf .cache/checkov-venv; mkdir -p .cache; venv="$$(cd .cache && pwd -P)/checkov-venv"; \
		echo "checkov: installing $(CHECKOV_VERSION) into .cache/checkov-venv (about a minute)..."; \
		$(PYTHON) -m venv "$$venv"; \
		"$$venv/bin/python" -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION); \
		echo "checkov: $(CHECKOV_VERSION) installed"; \
	fi

ci-test: $(STAMP)
	mkdir -p $(dir $(JUNIT_XML))
	$(BIN)/python -m pytest --junitxml=$(JUNIT_XML) $(PYTEST_ARGS)

# Deployable zips carry the RDS CA bundle (the database functions verify the server's certificate).
ci-build: rds-ca
	$(MAKE) build

tf-plan:
	tools/ci_terraform.sh plan $(STAGE)

# The one way to deploy a stage, from CI and by hand alike.
deploy: $(STAMP)
	PYTHON=$(BIN)/python tools/ci_deploy.sh $(STAGE)

# One built zip to its existing function, by hand (README, "One function by hand to QA").
upload: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make upload NAME=function STAGE=qa [FORCE=1]" >&2; exit 2; }
	$(BIN)/python -m tools.upload $(if $(FORCE),--force) $(NAME) $(STAGE)

smoke: $(STAMP)
	$(BIN)/python -m tools.smoke_test --stage $(STAGE)

smoke-local: $(STAMP)
	$(BIN)/python -m tools.smoke_test --start-local --interval 0.5 --timeout 60

# gitlab-ci-local runs .gitlab-ci.yml on this machine; 4.73.0 exactly (later versions crash on Node 20).
ci-tools:
	@command -v rsync >/dev/null || tools/install_packages.sh rsync
	@command -v rsync >/dev/null || { echo "rsync is needed by gitlab-ci-local: install it" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed to install gitlab-ci-local" >&2; exit 1; }
	@if [ "$$($(GCL) --version 2>/dev/null)" != "$(GCL_VERSION)" ]; then \
		npm install --prefix .cache/gcl --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GCL_VERSION); fi
	@echo "gitlab-ci-local $$($(GCL) --version) at $(GCL); rsync at $$(command -v rsync)"

# The jobs run in this working tree with the shell executor (their image: is ignored; gitlab-ci-local
# would still set CI_PROJECT_DIR to /builds/..., hence the variable). The test job runs the whole
# suite (less test/ci/test_gitlab_ci.py, which would start gitlab-ci-local again) unless PYTEST_ARGS
# narrows it: make ci-local PYTEST_ARGS=test/unit. Where the build job cannot download the RDS CA
# bundle, give it one: RDS_CA_URL=file:///path/to/bundle.pem (and AMAZON_TRUST_URL=file:///folder/of/roots)
ci-local: ci-tools
	$(GCL) --force-shell-executor --variable "CI_PROJECT_DIR=$(CURDIR)" --ignore-predefined-vars CI_PROJECT_DIR \
		--variable EVPIPE_IN_GITLAB_CI_LOCAL=1 --variable "PYTEST_ARGS=$(PYTEST_ARGS)" $(if $(RDS_CA_URL),--variable "RDS_CA_URL=$(RDS_CA_URL)") \
		$(if $(AMAZON_TRUST_URL),--variable "AMAZON_TRUST_URL=$(AMAZON_TRUST_URL)") check test build
