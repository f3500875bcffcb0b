# smartcare: `make demo` serves the demo hospital, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2

.PHONY: demo test install assets messages migrate lint types checkmigrations pytest clean serve worker translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8

$(STAMP): $(BIN)/python pyproject.toml requirements/dev.lock
	$(UV) pip install --quiet -p $(BIN)/python -r requirements/dev.lock
	$(UV) pip install --quiet -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

assets: node_modules/.package-lock.json
	npm run --silent build

messages: install
	cd src/smartcare && ../../$(BIN)/smartcare compilemessages --ignore=.venv -v 0

migrate: install
	$(BIN)/smartcare migrate --no-input -v 0

demo: install assets messages migrate
	$(BIN)/smartcare demo-data --seed 2026 --if-missing
	$(BIN)/smartcare run-demo

serve: install
	$(BIN)/smartcare serve

worker: install
	$(BIN)/smartcare worker

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy src

checkmigrations: install
	SMARTCARE_VAR_DIR=$$(mktemp -d) $(BIN)/smartcare makemigrations --check --dry-run -v 1

pytest: install assets messages
	$(BIN)/pytest $(PYTEST_ARGS)

test: install assets messages lint types checkmigrations pytest

# Refresh the translation catalogs after adding strings (then translate the new zh-Hans entries).
translations: install
	cd src/smartcare && ../../$(BIN)/smartcare makemessages -l zh_Hans -l en --ignore=static/* --no-obsolete
	cd src/smartcare && ../../$(BIN)/smartcare makemessages -d djangojs -l zh_Hans -l en --ignore=static/* || true

clean:
	rm -rf $(VENV) node_modules src/smartcare/web/static/web/dist var/test-*
