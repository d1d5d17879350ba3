# tickvault — the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
UP_ARGS ?=

.PHONY: help install test test-tools test-unit test-integration test-e2e lint typecheck services db-upgrade clean \
	run demo compose-check compose-demo compose-down compose-images container-tools bench chaos bench-tools

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

install: $(STAMP)  ## create .venv and install tickvault with its dev extras (quick when nothing changed)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

services:  ## make sure PostgreSQL and Redis answer on loopback (starts local servers when down)
	@bash scripts/ensure-services.sh

lint: install  ## ruff (lint and format), mypy --strict and the import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install services test-tools  ## every test tier: unit, integration, e2e
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-tools: install  ## make sure the system tools the tests drive are installed (Chromium, a container engine)
	@bash scripts/ensure-test-tools.sh

container-tools: install  ## make sure a container engine is installed (Docker, else podman and podman-compose)
	@bash scripts/ensure-container-tools.sh

test-unit: install  ## only the unit tier (no servers needed)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-integration: install services  ## only the integration tier
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

test-e2e: install services test-tools  ## only the end-to-end tier
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

db-upgrade: install services  ## apply migrations (creates the database when missing)
	$(BIN)/tickvault db upgrade

run: install services  ## the whole pipeline on live Binance, in the foreground (Ctrl-C stops it)
	$(BIN)/tickvault up $(UP_ARGS)

demo: install services  ## the same offline on the replay exchange; RECORDING="a.gz b.gz" replays files
	$(BIN)/tickvault up --replay $(foreach r,$(RECORDING),--recording $(r)) \
		$(if $(SPEED),--speed $(SPEED)) $(UP_ARGS)

compose-check: install  ## validate docker-compose.yml and check it against the code
	$(BIN)/python -m pytest tests/unit/deploy $(PYTEST_ARGS)

compose-demo: install container-tools  ## the offline demo in containers (docker or podman); COMPOSE_ARGS="--scale writer=3"
	@bash scripts/compose.sh demo $(COMPOSE_ARGS)

compose-down: install container-tools  ## stop and remove the compose demo: containers, network, its volumes
	@bash scripts/compose.sh down

compose-images: install container-tools  ## build the stand-in images (Debian packages) used where registries are unreachable
	@bash scripts/build-standins.sh

bench: install bench-tools  ## benchmark suite on private servers (~33 min; each step's time in bench/results/*.json)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

chaos: install bench-tools  ## fault scenario on private servers; exits non-zero if a trade is lost or doubled
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

bench-tools:  ## make sure wrk and the PostgreSQL/Redis server binaries are installed
	@bash scripts/ensure-bench-tools.sh

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
