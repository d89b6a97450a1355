# One entry point for developers and CI: `make demo`, `make test`, `make check`, `make build`.
# Every target sets up what it needs itself (a virtualenv in .venv from the pinned requirements).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup demo up test test-unit test-integration check lint format build bench clean rds-ca

help:
	@echo "make demo    run the whole pipeline locally on sample events (moto + embedded PostgreSQL)"
	@echo "make up      start the local stack and keep it running (Ctrl-C stops it)"
	@echo "make test    run every test suite (unit, integration, build, infra)"
	@echo "make check   lint, format and security checks (ruff, bandit, hadolint, terraform fmt)"
	@echo "make build   build every function zip into target/"
	@echo "make bench   run the benchmarks and print figures with their ratios"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local demo

up: $(STAMP)
	$(BIN)/python -m local up

test: $(STAMP)
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest test/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest test/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -r shared producers consumers utilities local tools
	$(BIN)/hadolint Dockerfile
	bash -n build.sh deploy.sh
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	else echo "terraform not installed: skipping terraform fmt"; fi

check: lint

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

build: $(STAMP)
	./build.sh --all

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf target .local .pytest_cache .ruff_cache

# The RDS CA bundle, shipped in every zip so functions verify the database's certificate (verify-full).
# Needs internet; run it before `make build` in a deploy pipeline.
rds-ca:
	mkdir -p shared/certs
	curl -fsSL https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem -o shared/certs/rds-global-bundle.pem
