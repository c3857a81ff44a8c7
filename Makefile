# Merchantry: `make run` to start a demo shop, `make test` to run the whole suite.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

.PHONY: install run test lint format pytest docs docs-serve lock clean help

help:
	@echo "make run      install, migrate, seed the demo shop and serve it on http://127.0.0.1:8000"
	@echo "make test     lint and run the whole test suite"
	@echo "make install  create .venv and install the locked dependencies (idempotent)"
	@echo "make docs     build the documentation site strictly into site/"
	@echo "make lock     re-resolve uv.lock after changing pyproject.toml"

install: $(STAMP)

$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Merchantry needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv sync --frozen --python $(BIN)/python
	@touch $@

run: install
	$(BIN)/merchantry migrate --noinput
	$(BIN)/merchantry demo
	$(BIN)/merchantry serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/merchantry makemigrations --check --dry-run

# Two workers: the suite runs in half the time on a 2-core machine.
PYTEST_ARGS ?= -n 2

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint docs pytest

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve -a 127.0.0.1:8001

lock: install
	$(BIN)/uv lock

clean:
	rm -rf $(VENV) site
